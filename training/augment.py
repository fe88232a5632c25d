"""Time-series transforms on batches of fixed-length clips (time is axis 1).

Training augmentation (`augment_pair`) and the test-time noise of the paper's robustness
table (`apply_noise`: crop, misalign, dilate, all) share `take_segment`.
"""
from __future__ import annotations

import numpy as np
import torch

from c3t.core.options import NOISES


def take_segment(x: torch.Tensor, start: torch.Tensor, frac: torch.Tensor, place: torch.Tensor | None = None) -> torch.Tensor:
    """Per clip, the segment [start, start + frac] (fractions of its length).

    place=None stretches the segment over the whole window (the action looks slower).
    Otherwise the segment keeps its speed and is placed at `place` (fraction of the free
    space) in the window, the rest filled with its edge values (shifted and cut off).
    """
    b, t = x.shape[:2]
    u = torch.linspace(0, 1, t)[None, :]
    if place is None:
        pos = start[:, None] + frac[:, None] * u
    else:
        offset = place[:, None] * (1 - frac[:, None])
        pos = start[:, None] + (u - offset).clamp(min=0).minimum(frac[:, None])
    idx = (pos * (t - 1)).round().long().clamp(0, t - 1)
    return x[torch.arange(b)[:, None], idx]


def augment_pair(visual, imu, gen: torch.Generator, strong: float = 0.0, flow: bool = False):
    """The same random temporal crop on both modalities, IMU gain and noise, camera jitter.

    strong: the share of clips that get a paper-style perturbation instead of the mild crop
    (training-time noise augmentation): a random 20-60% of the clip, either stretched over
    the window (dilate) or kept at its speed and shifted (crop); the same on both modalities.
    flow: the camera clips are the motion input (B, T, 2, s, s) (core/motion.py): they get
    `jitter_flow` instead of the images' pixel shift."""
    b = len(visual) if visual is not None else len(imu)
    frac = 0.8 + 0.2 * torch.rand(b, generator=gen)
    place = None
    if strong > 0:
        pick = torch.rand(b, generator=gen) < strong
        frac = torch.where(pick, 0.2 + 0.4 * torch.rand(b, generator=gen), frac)
        shifted = pick & (torch.rand(b, generator=gen) < 0.5)
        place = torch.where(shifted, torch.rand(b, generator=gen), torch.full((b,), -1.0))
    start = (1 - frac) * torch.rand(b, generator=gen)

    def segment(x):
        """The batch's shared crop applied to `x` (B, T, ...): stretched over the window, or for
        the clips picked for a shifted crop, kept at its speed and placed in the window."""
        stretched = take_segment(x, start, frac)
        if place is None or not bool((place >= 0).any()):
            return stretched
        kept = take_segment(x, start, frac, place.clamp(min=0))
        mask = (place >= 0).view(-1, *([1] * (x.dim() - 1)))
        return torch.where(mask, kept, stretched)

    if imu is not None:
        imu = segment(imu)
        gain = 0.9 + 0.2 * torch.rand(b, 1, imu.shape[2], generator=gen)
        imu = imu * gain + 0.02 * torch.randn(imu.shape, generator=gen)
    if visual is not None:
        visual = segment(visual)
        if flow:
            visual = jitter_flow(visual, gen)
        elif visual.dim() == 5:  # images: shift by up to 2 pixels
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
            visual = torch.roll(visual, (dy, dx), dims=(3, 4))
        else:
            visual = visual * (1 + 0.02 * torch.randn(b, 1, visual.shape[2], generator=gen))
    return visual, imu


def jitter_flow(flow: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per clip of motion input (B, T, 2, s, s): the same random zoom (x0.85..1.15) and shift
    (+-5% of the crop each way) of every frame's flow field, resampled bilinearly (zeros
    outside), and its displacements scaled by x0.7..1.3: another crop of the person and
    another speed of moving. Chosen on held-out training people over either part alone
    (docs/results.md, "camera input")."""
    import torch.nn.functional as F

    b, t, c, h, w = flow.shape
    zoom = 0.85 + 0.3 * torch.rand(b, generator=gen)
    shift = 0.2 * (torch.rand(b, 2, generator=gen) - 0.5)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = zoom, zoom, shift
    grid = F.affine_grid(theta, [b, t * c, h, w], align_corners=False)
    out = F.grid_sample(flow.reshape(b, t * c, h, w), grid, align_corners=False).view(b, t, c, h, w)
    return out * (0.7 + 0.6 * torch.rand(b, 1, 1, 1, 1, generator=gen))


def apply_noise(imu: np.ndarray, visual: np.ndarray, noise: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's test-time perturbations, seeded:

    crop      a random 60% of the clip, shifted in the window, same on both modalities
    misalign  that crop on the IMU only, the camera left as it was
    dilate    a random 50% of the clip stretched over the window (both): the action slower
    all       dilate, then crop, then an extra IMU-only crop
    misalign-imu  the gyroscope's channels (3-5) shifted in time against the accelerometer's
              (0-2) by a random 10-30% of the clip, earlier or later, the edge value filling
              what is shifted out (np.roll would wrap the clip's end round to its start)

The paper's misalignment shifts one modality in time against the other (camera against
IMU). Scored on the IMU alone, "misalign" leaves the camera out and is then the IMU's crop,
the same as "crop"; "misalign-imu" is the shift that remains inside an IMU-only test: its
two sensors' streams out of step, as when a board stamps the gyroscope late.

    Raises:
        ValueError: for a `noise` not in NOISES
    """
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; expected one of {NOISES}")
    if noise == "none":
        return imu, visual
    gen = torch.Generator().manual_seed(seed)
    b = len(imu)
    imu_t, vis_t = torch.from_numpy(imu), torch.from_numpy(visual)

    def crop(*xs):
        """A random 60% of each clip, kept at its speed and shifted in the window, applied to each of `xs`."""
        frac = torch.full((b,), 0.6)
        start, place = 0.4 * torch.rand(b, generator=gen), torch.rand(b, generator=gen)
        return [take_segment(x, start, frac, place) for x in xs]

    if noise in ("dilate", "all"):
        frac = torch.full((b,), 0.5)
        start = 0.5 * torch.rand(b, generator=gen)
        imu_t, vis_t = take_segment(imu_t, start, frac), take_segment(vis_t, start, frac)
    if noise in ("crop", "all"):
        imu_t, vis_t = crop(imu_t, vis_t)
    if noise in ("misalign", "all"):
        (imu_t,) = crop(imu_t)
    if noise == "misalign-imu":
        imu_t = imu_t.clone()
        t = imu_t.shape[1]
        lag = ((0.1 + 0.2 * torch.rand(b, generator=gen)) * t).round().long()
        lag = torch.where(torch.rand(b, generator=gen) < 0.5, -lag, lag)   # later (+) or earlier (-)
        idx = (torch.arange(t)[None, :] - lag[:, None]).clamp(0, t - 1)
        imu_t[:, :, 3:6] = imu_t[torch.arange(b)[:, None], idx][:, :, 3:6]
    return imu_t.numpy(), vis_t.numpy()
