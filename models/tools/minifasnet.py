"""MiniFASNet (Silent-Face anti-spoofing, Apache-2.0 weights) written from its state dicts' shapes.

The network is a small MobileFaceNet-style classifier (the MiniFASNet paper: a pruned MobileFaceNet,
80x80 input, optionally with squeeze-and-excitation): a 3x3 stride-2 convolution and a depthwise
3x3, then bottleneck blocks (1x1 expand -> depthwise 3x3 -> 1x1 linear projection; a residual add
inside a stage, stride 2 between stages), a 1x1 convolution to 512 channels, a global depthwise
convolution over the 5x5 map, a linear layer to 128, BatchNorm1d, and a 3-way classifier (class 1 is
live). Pruning leaves every block with its own widths, so every width and kernel is read from the
checkpoint here rather than written down: the same code builds MiniFASNetV2 and MiniFASNetV1SE, and
loading is strict.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

STAGES = ("conv_23", "conv_3", "conv_34", "conv_4", "conv_45", "conv_5")
DOWNSAMPLING = {"conv_23", "conv_34", "conv_45"}  # between stages: stride 2, no residual


class SlopedMax(nn.PReLU):
    """PReLU computed as max(x, slope * x): the same function, bit for bit, while every slope is at most 1
    (``minifasnet`` checks it), and it exports as Mul + Max, which onnxruntime runs in its blocked
    (NCHWc) layout. Its PRelu kernel broadcasts the per-channel slope element by element and forces a
    layout change around every activation: with it one MiniFASNet cost 4.2 ms of CPU per face here,
    with Mul + Max 2.2 ms."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, x * self.weight.view(1, -1, 1, 1))


class ConvUnit(nn.Sequential):
    """Convolution + BatchNorm (+ PReLU unless ``linear``), no bias."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
                 linear: bool = False) -> None:
        parts: dict[str, nn.Module] = {
            "conv": nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2 if kernel == 3 else 0, groups=groups,
                              bias=False),
            "bn": nn.BatchNorm2d(c_out),
        }
        if not linear:
            parts["prelu"] = SlopedMax(c_out)
        super().__init__()
        for name, module in parts.items():
            self.add_module(name, module)


class Excitation(nn.Module):
    """Squeeze-and-excitation: global average -> 1x1 (reduce) -> BN -> ReLU -> 1x1 -> BN -> sigmoid gate."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(reduced)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.relu(self.bn1(self.fc1(gate)))
        return x * torch.sigmoid(self.bn2(self.fc2(gate)))


class Bottleneck(nn.Module):
    """1x1 expand (PReLU) -> depthwise 3x3 (PReLU) -> 1x1 linear projection [-> SE] [+ input]."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, stride: int, residual: bool,
                 excitation: int | None = None) -> None:
        super().__init__()
        self.conv = ConvUnit(c_in, c_mid, 1)
        self.conv_dw = ConvUnit(c_mid, c_mid, 3, stride, groups=c_mid)
        self.project = ConvUnit(c_mid, c_out, 1, linear=True)
        self.se_module = Excitation(c_out, excitation) if excitation else None
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            y = self.se_module(y)
        return x + y if self.residual else y


class Stage(nn.Module):
    def __init__(self, blocks: list[Bottleneck]) -> None:
        super().__init__()
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MiniFASNet(nn.Module):
    """The classifier; ``forward`` returns logits (N, classes) of BGR 0-255 input (N, 3, 80, 80)."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        width = shapes["conv1.conv.weight"][0]
        self.conv1 = ConvUnit(shapes["conv1.conv.weight"][1], width, 3, 2)
        self.conv2_dw = ConvUnit(width, width, 3, 1, groups=width)
        channels = width
        for name in STAGES:
            if name in DOWNSAMPLING:
                setattr(self, name, _bottleneck(shapes, name, channels, stride=2, residual=False))
            else:
                count = 1 + max(int(m.group(1)) for k in shapes if (m := re.match(rf"{name}\.model\.(\d+)\.", k)))
                setattr(self, name, Stage([_bottleneck(shapes, f"{name}.model.{i}", channels, 1, True)
                                           for i in range(count)]))
            channels = shapes[f"{name}.project.conv.weight" if name in DOWNSAMPLING
                              else f"{name}.model.0.project.conv.weight"][0]
        wide = shapes["conv_6_sep.conv.weight"][0]
        self.conv_6_sep = ConvUnit(channels, wide, 1)
        kernel = shapes["conv_6_dw.conv.weight"][2]
        self.conv_6_dw = ConvUnit(wide, wide, kernel, groups=wide, linear=True)
        self.conv_6_flatten = nn.Flatten()
        embedding = shapes["linear.weight"][0]
        self.linear = nn.Linear(wide, embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)
        self.drop = nn.Dropout(0.0)
        self.prob = nn.Linear(embedding, shapes["prob.weight"][0], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2_dw(self.conv1(x))
        for name in STAGES:
            x = getattr(self, name)(x)
        x = self.conv_6_flatten(self.conv_6_dw(self.conv_6_sep(x)))
        return self.prob(self.drop(self.bn(self.linear(x))))


class LiveProbability(nn.Module):
    """Softmax of the logits: what the ONNX file outputs."""

    def __init__(self, net: MiniFASNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def _bottleneck(shapes: dict[str, tuple[int, ...]], prefix: str, c_in: int, stride: int,
                residual: bool) -> Bottleneck:
    c_mid = shapes[f"{prefix}.conv.conv.weight"][0]
    c_out = shapes[f"{prefix}.project.conv.weight"][0]
    se = shapes.get(f"{prefix}.se_module.fc1.weight")
    return Bottleneck(c_in, c_mid, c_out, stride, residual, se[0] if se else None)


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors without DataParallel's ``module.`` prefix."""
    raw = torch.load(path, map_location="cpu", weights_only=True)
    return {k.removeprefix("module."): v for k, v in raw.items()}


def minifasnet(path: Path) -> MiniFASNet:
    """The network built from ``path``'s shapes, its weights loaded strictly, in eval mode."""
    state = load_state_dict(path)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    net = MiniFASNet(shapes)
    net.load_state_dict(state, strict=True)
    steep = [k for k, v in state.items() if k.endswith("prelu.weight") and float(v.max()) > 1.0]
    if steep:
        raise ValueError(f"{path}: PReLU slopes above 1 in {', '.join(steep)}; max(x, slope * x) would not be PReLU")
    return net.eval()
