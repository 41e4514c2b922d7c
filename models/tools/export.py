"""Export facenet-pytorch networks to ONNX (opset 17, one file each) with the manifest embedded."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from models.detector import ONET_FILE, PNET_FILE, RNET_FILE
from models.runtime import MANIFEST_KEY, Manifest
from models.tools.facenet_weights import sha256_file
from models.tools.reference import facenet_pytorch

OPSET = 17
MTCNN_MODEL_ID = "mtcnn-facenet-pytorch-2.6.0"


def export_onnx(
    module: torch.nn.Module,
    sample: torch.Tensor,
    path: Path,
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    manifest: Manifest,
) -> Path:
    """Trace ``module`` to ONNX at ``path`` (written atomically) and store ``manifest`` in it."""
    module.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            module,
            (sample,),
            str(partial),
            opset_version=OPSET,
            dynamo=False,
            input_names=["input"],
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    write_manifest(partial, manifest)
    partial.replace(path)
    return path


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Replace the manifest in an ONNX file's metadata_props, keeping everything else."""
    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != MANIFEST_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = MANIFEST_KEY, manifest.to_json()
    model.producer_name = "labgate"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_mtcnn(out_dir: Path) -> list[Path]:
    """P-Net (dynamic batch, height and width), R-Net and O-Net (dynamic batch)."""
    fp = facenet_pytorch()
    data = Path(str(fp.__file__)).parent / "data"
    nets = [
        (PNET_FILE, fp.PNet(), "pnet.pt", torch.zeros(1, 3, 24, 32), ["reg", "prob"],
         {"input": {0: "batch", 2: "height", 3: "width"}}, (0, 0)),
        (RNET_FILE, fp.RNet(), "rnet.pt", torch.zeros(2, 3, 24, 24), ["reg", "prob"],
         {"input": {0: "batch"}}, (24, 24)),
        (ONET_FILE, fp.ONet(), "onet.pt", torch.zeros(2, 3, 48, 48), ["reg", "landmarks", "prob"],
         {"input": {0: "batch"}}, (48, 48)),
    ]
    paths = []
    for file_name, net, weights, sample, outputs, axes, size in nets:
        axes = {**axes, **{name: {0: "batch"} for name in outputs}}
        manifest = Manifest(
            model_id=MTCNN_MODEL_ID,
            kind=f"mtcnn-{file_name.split('-')[1].split('.')[0]}",
            architecture="MTCNN",
            weights_source=f"facenet-pytorch==2.6.0 wheel, data/{weights}",
            weights_sha256=sha256_file(data / weights),
            input_size=size,
            colour="RGB",
            mean=127.5,
            std=128.0,
            licence="MIT (facenet-pytorch); weights from Zhang et al. 2016 MTCNN",
        )
        paths.append(export_onnx(net, sample, out_dir / file_name, outputs, axes, manifest))
    return paths


def export_embedder(state_dict: dict[str, torch.Tensor], path: Path, manifest: Manifest) -> Path:
    """InceptionResnetV1 -> ONNX with a dynamic batch; output 'embedding' is L2-normalised."""
    fp = facenet_pytorch()
    net = fp.InceptionResnetV1()
    net.load_state_dict(_without_classifier(state_dict), strict=True)
    height, width = manifest.input_size
    return export_onnx(
        net,
        torch.zeros(2, 3, height, width),
        path,
        ["embedding"],
        {"input": {0: "batch"}, "embedding": {0: "batch"}},
        manifest,
    )


def torch_embedder(state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The same network on torch, for parity checks against the exported file."""
    net = facenet_pytorch().InceptionResnetV1()
    net.load_state_dict(_without_classifier(state_dict), strict=True)
    return net.eval()


def _without_classifier(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """facenet-pytorch's release files carry a 'logits' classifier we do not use."""
    return {k: v for k, v in state_dict.items() if not k.startswith("logits.")}
