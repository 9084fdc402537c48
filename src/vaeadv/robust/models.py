"""ResNet18, CIFAR variant of the torchvision layout (3×3 stem, max-pool kept), with normalisation inside.

Parameter names follow torchvision (``conv1.weight``, ``layer1.0.bn1.running_mean``, ``fc.weight``...), and
the normalisation constants are non-persistent buffers, so a state dict for that layout loads unchanged.
Every caller hands the model images in pixel space [0,1].
"""

from __future__ import annotations

import tempfile
import urllib.request
from pathlib import Path

import torch
import torch.nn as nn

from vaeadv.checkpoints import load_checkpoint, load_state
from vaeadv.errors import VaeadvError
from vaeadv.registry import checked_file

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.247, 0.243, 0.261)


class Normalize(nn.Module):
    """(x − mean) / std per channel; part of the model so attacks work in pixel units."""

    def __init__(self, mean=CIFAR10_MEAN, std=CIFAR10_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 64, normalize: bool = True,
                 mean=CIFAR10_MEAN, std=CIFAR10_STD) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std) if normalize else nn.Identity()
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)  # CIFAR stem: 32 → 32
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)  # kept, as in the course's model: 32 → 16
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.layer1 = self._stage(width, widths[0], 1)  # 16
        self.layer2 = self._stage(widths[0], widths[1], 2)  # 8
        self.layer3 = self._stage(widths[1], widths[2], 2)  # 4
        self.layer4 = self._stage(widths[2], widths[3], 2)  # 2
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_planes: int, planes: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.normalize(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 10, *, width: int = 64, normalize: bool = True, weights: str | None = None,
             sha256: str | None = None) -> ResNet18:
    """The CIFAR ResNet18; ``weights`` is a shipped name (``vaeadv-resnet18``), a local file or a URL of a state
    dict (or a vaeadv/Lightning checkpoint) for the torchvision layout."""
    model = ResNet18(num_classes, width=width, normalize=normalize)
    if weights:
        load_weights(model, weights, sha256)
    return model


def _fetch(url: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="vaeadv-weights-")) / Path(url).name
    try:
        urllib.request.urlretrieve(url, tmp)
    except OSError as exc:
        raise VaeadvError(f"could not download weights from {url} ({exc}).") from None
    return tmp


def load_weights(model: nn.Module, source: str | Path, sha256: str | None = None) -> nn.Module:
    """Load a torchvision-layout state dict into ``model`` (always ``weights_only=True``; fp16 files are cast to the
    model's dtype). ``source`` is a shipped name, a file or a URL; a shipped file is checked against its manifest's
    SHA-256, any other against ``sha256`` when given, before it is unpickled. Accepts a bare state dict or a
    checkpoint holding one under ``state_dict`` (Lightning's ``model.`` prefix is stripped)."""
    path, state = read_weights(source, sha256)
    load_state(model, state, path, "CIFAR ResNet18")
    return model


def read_weights(source: str | Path, sha256: str | None = None) -> tuple[Path, dict[str, torch.Tensor]]:
    """(local file, the ResNet's tensors) for a shipped name, a file or a URL: the one path every loader takes,
    so each gets the manifest's (or the given) SHA-256 check before unpickling, and weights-only loading."""
    path = checked_file(source, sha256, fetch=_fetch)
    return path, network_state(load_checkpoint(path, "ResNet18 weights"))


def network_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The ResNet's tensors from a bare state dict or a (Lightning) checkpoint holding one."""
    state = checkpoint.get("state_dict", checkpoint)
    state = state if isinstance(state, dict) else checkpoint
    return {k.removeprefix("model."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_classifier(source: str | Path) -> ResNet18:
    """An eval-mode fp32 ResNet18 from a ``vaeadv robust train`` checkpoint, a torchvision-layout state dict, or a
    shipped name such as ``vaeadv-resnet18``; the width is read from the weights themselves."""
    path, state = read_weights(source)
    model = ResNet18(10, width=width_of(state))
    load_state(model, state, path, "CIFAR ResNet18")
    return model.float().eval()


def width_of(state: dict[str, torch.Tensor]) -> int:
    """The base width of a ResNet18 state dict (the stem's output channels); 64 when there is no stem."""
    stem = state.get("conv1.weight")
    return int(stem.shape[0]) if stem is not None and stem.ndim == 4 else 64
