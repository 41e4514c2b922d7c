"""facenet-pytorch, loaded as the reference implementation (tools and tests only; imports torch).

facenet-pytorch 2.6.0 is installed with ``--no-deps`` because it pins an old torch. Its package
``__init__`` imports torchvision, which has no CPU build for torch 2.13 here; it uses only two
torchvision functions, so we register a small stand-in module for them before importing it.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import torch


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS with torchvision's semantics: IoU over (x2-x1)*(y2-y1) areas, keep by score."""
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order].double()
    area = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    suppressed = torch.zeros(len(b), dtype=torch.bool)
    keep: list[int] = []
    for i in range(len(b)):
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(b[i, 2], b[:, 2]) - torch.maximum(b[i, 0], b[:, 0])).clamp(min=0)
        h = (torch.minimum(b[i, 3], b[:, 3]) - torch.maximum(b[i, 1], b[:, 1])).clamp(min=0)
        inter = w * h
        suppressed |= inter / (area[i] + area - inter) > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """torchvision.ops.boxes.batched_nms: NMS independently per index by offsetting boxes."""
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.long)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return _nms(boxes + offsets[:, None], scores, iou_threshold)


def to_tensor(pic: Any) -> torch.Tensor:
    """torchvision.transforms.functional.to_tensor for the float HWC arrays facenet-pytorch passes."""
    array = np.asarray(pic)
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    return tensor.div(255) if array.dtype == np.uint8 else tensor


def install_torchvision_standin() -> None:
    """Make ``import torchvision`` resolve to the two functions facenet-pytorch needs."""
    if "torchvision" in sys.modules:
        return
    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    boxes.batched_nms = batched_nms  # type: ignore[attr-defined]
    functional.to_tensor = to_tensor  # type: ignore[attr-defined]
    ops.boxes = boxes  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    tv.ops = ops  # type: ignore[attr-defined]
    tv.transforms = transforms  # type: ignore[attr-defined]
    sys.modules.update(
        {
            "torchvision": tv,
            "torchvision.ops": ops,
            "torchvision.ops.boxes": boxes,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
        }
    )


def facenet_pytorch() -> types.ModuleType:
    """Import facenet_pytorch (with the torchvision stand-in) and return the package."""
    install_torchvision_standin()
    try:
        import facenet_pytorch as package
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "facenet-pytorch is not installed; the model tools need it: "
            "pip install --no-deps facenet-pytorch==2.6.0 (make setup does this)"
        ) from exc
    return package
