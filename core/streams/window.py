"""The one window function's building blocks: what a model window is, and fixed-length resampling.

An `InputSpec` says how raw clips become a model's inputs (stored in the model folder's
config as "inputs"); its `window(...)` is the `WindowSpec`. A `WindowSpec` says what a model consumes: `seconds` of time, resampled to `imu_steps` IMU
samples of `imu_channels` channels and `frames` camera frames. Training clips (UTD-MHAD,
synthetic, recorded sessions) and live windows from the SyncBuffer are all brought to this
shape with `resample`, so what is trained on is what is served.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.options import FLOW_INPUTS, FLOW_SOURCES, FROZEN_BACKBONES


@dataclass
class InputSpec:
    """How raw clips become model inputs; stored in the model folder's config as "inputs".

    visual:         the camera modality: "depth", "rgb", "skeleton", "motion" (colour video
                    as person-centred optical flow, core/motion.py; small CNN only) or
                    "depth-motion" (the same flow of the depth video)
    backbone:       frame backbone: "small-cnn" (trained) or a frozen one (FROZEN_BACKBONES)
    imu_steps:      IMU samples per window after resampling (128: the DESIGN's choice)
    skeleton_steps: joint frames per window for skeleton input
    frames:         camera frames per window
    frame_size:     square side in pixels of small-CNN frames (frozen backbones use IMAGE_SIZE)
    seconds:        fixed window length in seconds (recorded sessions and live windows);
                    None for clip datasets (UTD-MHAD), whose clips are resampled whole
    """

    visual: str = "depth"
    backbone: str = "small-cnn"
    imu_steps: int = 128
    skeleton_steps: int = 32
    frames: int = 16
    frame_size: int = 32
    seconds: float | None = None

    @property
    def visual_input(self) -> str:
        """"sequence" (skeleton joints), "features" (frozen backbone) or "frames" (small CNN)."""
        if self.visual == "skeleton":
            return "sequence"
        return "features" if self.backbone in FROZEN_BACKBONES else "frames"

    @property
    def source(self) -> str:
        """The recorded modality the input is computed from: "rgb" for motion, "depth" for
        depth-motion, else `visual`."""
        return FLOW_SOURCES.get(self.visual, self.visual)

    def check(self) -> None:
        """Check that the input can be built.

        Raises:
            C3tError: for an input that cannot be built: motion or depth-motion (optical flow) through a
                frozen ImageNet backbone, whose images it is not
        """
        if self.visual in FLOW_INPUTS and self.visual_input != "frames":
            raise C3tError(f"the {self.visual} input is optical flow, not an image: train it with --backbone small-cnn, "
                           f"not {self.backbone}")

    def window(self, imu_channels: int, seconds: float | None = None) -> "WindowSpec":
        """The WindowSpec live windows are cut with (`seconds` overrides the stored length)."""
        length = seconds or self.seconds or WindowSpec().seconds
        return WindowSpec(seconds=float(length), imu_steps=self.imu_steps, frames=self.frames,
                          imu_channels=int(imu_channels))

    def to_dict(self) -> dict:
        """The fields as a dict for config.json; `seconds` is left out when None."""
        d = dict(self.__dict__)
        if d["seconds"] is None:   # as before windows had a length: cache keys and old model folders stay valid
            del d["seconds"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        """From a model config's "inputs" (older folders lack some keys: their defaults apply)."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def default_frame_size(visual: str) -> int:
    """The small CNN's square frame side in pixels for a camera input: 48 for colour frames,
    32 for depth and the flow inputs (their crops follow the person already)."""
    return 48 if visual == "rgb" else 32


@dataclass(frozen=True)
class WindowSpec:
    """What a model consumes per window: `seconds` of time, resampled to `imu_steps` IMU
    samples of `imu_channels` channels and `frames` camera frames."""

    seconds: float = 2.5
    imu_steps: int = 128
    frames: int = 16
    imu_channels: int = 6

    def to_dict(self) -> dict:
        """The fields as a plain dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "WindowSpec":
        """A spec from `to_dict` output; unknown keys are ignored, missing ones get defaults."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def frame_indices(length: int, frames: int) -> np.ndarray:
    """`frames` evenly spaced indices into a clip of `length` frames (nearest frame: images are
    not blended, unlike `resample`). Shape (frames,), int."""
    return np.round(np.linspace(0, length - 1, frames)).astype(int)


def resample(x: np.ndarray, n: int, axis: int = 0) -> np.ndarray:
    """Linearly resample `x` to `n` evenly spaced points along `axis`, keeping both ends.

    Works for any trailing shape (IMU (T, C), skeleton (T, J, 3), frames (T, H, W)).
    A clip of one sample is repeated. Integer inputs come back as float32.

    Raises:
        C3tError: when `x` has no sample along `axis` (an empty clip or window).
    """
    x = np.asarray(x)
    length = x.shape[axis]
    if length == 0:
        raise C3tError(f"cannot resample an empty sequence (shape {x.shape}, axis {axis}) to {n} points: "
                       "the clip or window holds no sample; check the recording or the window's time span")
    x = np.moveaxis(x, axis, 0).astype(np.float32, copy=False)
    if length == 1:
        out = np.repeat(x, n, axis=0)
    else:
        pos = np.linspace(0.0, length - 1, n)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, length - 1)
        w = (pos - lo).astype(np.float32).reshape((n,) + (1,) * (x.ndim - 1))
        out = x[lo] * (1.0 - w) + x[hi] * w
    return np.moveaxis(out, 0, axis)
