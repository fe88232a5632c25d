"""The one window function's building blocks: what a model window is, and fixed-length resampling.

A `WindowSpec` says what a model consumes: `seconds` of time, resampled to `imu_steps` IMU
samples of `imu_channels` channels and `frames` camera frames. Training clips (UTD-MHAD,
synthetic, recorded sessions) and live windows from the SyncBuffer are all brought to this
shape with `resample`, so what is trained on is what is served.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class WindowSpec:
    seconds: float = 2.5
    imu_steps: int = 128
    frames: int = 16
    imu_channels: int = 6

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "WindowSpec":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def resample(x: np.ndarray, n: int, axis: int = 0) -> np.ndarray:
    """Linearly resample `x` to `n` evenly spaced points along `axis`, keeping both ends.

    Works for any trailing shape (IMU (T, C), skeleton (T, J, 3), frames (T, H, W)).
    A clip of one sample is repeated. Integer inputs come back as float32.
    """
    x = np.asarray(x)
    length = x.shape[axis]
    if length == 0:
        raise ValueError("cannot resample an empty sequence")
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
