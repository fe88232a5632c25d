"""UMA splits and the views of the data that each part of training may see.

The split is seeded and stratified by class: per class, 40% D_HAR, 40% D_Align, 10% D_Val,
10% D_Test. Each split becomes a view holding only what its role allows:

    CameraLabelled (D_HAR)    camera + labels
    Pairs          (D_Align)  camera + IMU, no labels at all (the class has no field for them)
    Checking       (D_Val / D_Test)  IMU + camera + labels, for model selection and scoring

IMU labels reach training only through `upper_bound`, for the supervised IMU and fusion
baselines that are reported as upper bounds, never through the UMA methods.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c3t.core.errors import C3tError

SPLITS = ("har", "align", "val", "test")
FRACTIONS = (0.4, 0.4, 0.1, 0.1)


def uma_split(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Indices per split; within each class the boundaries are rounded cumulative fractions."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {name: [] for name in SPLITS}
    bounds = np.cumsum(FRACTIONS)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        cuts = [0] + [int(round(b * len(idx))) for b in bounds]
        for name, lo, hi in zip(SPLITS, cuts[:-1], cuts[1:]):
            parts[name].extend(idx[lo:hi].tolist())
    out = {name: np.array(sorted(v), dtype=np.int64) for name, v in parts.items()}
    for name in ("har", "align"):
        if len(out[name]) == 0:
            raise C3tError(f"the dataset is too small for a UMA split: D_{name} would be empty")
    return out


@dataclass(frozen=True)
class CameraLabelled:
    visual: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Pairs:
    visual: np.ndarray
    imu: np.ndarray


@dataclass(frozen=True)
class Checking:
    imu: np.ndarray
    visual: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class UpperBound:
    imu: np.ndarray
    visual: np.ndarray
    labels: np.ndarray


def views(data, split: dict[str, np.ndarray]):
    """(D_HAR, D_Align, D_Val, D_Test) views of prepared data."""
    har, align, val, test = (split[n] for n in SPLITS)
    return (
        CameraLabelled(data.visual[har], data.labels[har]),
        Pairs(data.visual[align], data.imu[align]),
        Checking(data.imu[val], data.visual[val], data.labels[val]),
        Checking(data.imu[test], data.visual[test], data.labels[test]),
    )


def upper_bound(data, split: dict[str, np.ndarray]) -> UpperBound:
    """IMU + camera with labels from D_HAR and D_Align: only for the supervised upper bounds."""
    idx = np.concatenate([split["har"], split["align"]])
    return UpperBound(data.imu[idx], data.visual[idx], data.labels[idx])


def to_json(data, split: dict[str, np.ndarray], seed: int) -> dict:
    return {"seed": seed, "fractions": dict(zip(SPLITS, FRACTIONS)),
            **{name: [data.keys[i] for i in split[name]] for name in SPLITS}}
