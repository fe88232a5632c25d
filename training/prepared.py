"""`Prepared`: a dataset as fixed-shape model inputs, whatever its source (UTD-MHAD, `c3t
synth` output, recorded sessions), and where prepared inputs are cached."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c3t.core.streams.window import InputSpec


@dataclass
class Prepared:
    """Every clip or window of a dataset as model inputs (N rows throughout).

    classes:  class names; labels index them (-1: unlabelled, D_Align windows of sessions)
    keys:     (N,) a stable name per clip, e.g. "a3_s1_t2" or "session/role@t_end"
    subjects: (N,) the person per clip (UTD-MHAD's sS; a session index for recordings)
    imu:      (N, imu_steps, channels) float32
    visual:   (N, steps, 63) skeleton, (N, frames, C, s, s) frames or (N, frames, D) features
    spec:     how the inputs were made (stored in the model folder)
    extra:    source-specific arrays (recorded sessions: roles, groups, people, usable...)
    trials:   (N,) UTD-MHAD's trial number tT; None for recorded sessions
    """

    classes: list[str]
    keys: list[str]
    labels: np.ndarray
    subjects: np.ndarray
    imu: np.ndarray
    visual: np.ndarray
    spec: InputSpec
    root: str = ""
    extra: dict = field(default_factory=dict)
    trials: np.ndarray | None = None


def default_cache_dir() -> Path:
    """Where prepared camera inputs are cached: $XDG_CACHE_HOME/c3t, else ~/.cache/c3t."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "c3t"
