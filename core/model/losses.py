"""Losses for aligning the camera and IMU latents."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between paired rows of a and b, both (N, D) and L2-normalised.

    Row i of a and row i of b are the positive pair; every other row is a negative. For C3T
    the rows are all (clip, time step) pairs of a batch, so step k of one modality is pulled
    to step k of the same clip in the other and pushed from every other step and clip.
    Its minimum is 0, reached when each positive similarity dominates its row and column.
    """
    logits = a @ b.t() / temperature
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
