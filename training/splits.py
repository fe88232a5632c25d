"""UMA splits and the views of the data that each part of training may see.

The split is seeded and stratified by class: per class, 40% D_HAR, 40% D_Align, 10% D_Val,
10% D_Test. Each split becomes a view holding only what its role allows:

    CameraLabelled (D_HAR)    camera + labels
    Pairs          (D_Align)  camera + IMU, no labels at all (the class has no field for them)
    Checking       (D_Val / D_Test)  IMU + camera + labels, for model selection and scoring

IMU labels reach training only through `upper_bound`, for the supervised IMU and fusion
baselines that are reported as upper bounds, never through the UMA methods.

Recorded sessions are not split at random: each window already has a role from its labels
(training/sessions.py), and `role_split` keeps it. `split_for` picks the right one.
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


def role_split(roles: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int,
               require_checking: bool = True) -> dict[str, np.ndarray]:
    """The split of recorded sessions: "har" windows -> D_HAR, "align" -> D_Align, and "check"
    windows -> D_Val or D_Test by labelled segment (`groups`): per class, a seeded half of its
    check segments goes to D_Val, the rest to D_Test, so windows of one segment never sit in both.
    Check windows never reach D_HAR or D_Align, whatever the seed.

    Without `require_checking`, D_Val and D_Test may be empty (sessions with no check labels,
    or one check segment per class): training then keeps its last state, and nothing is scored."""
    roles, labels, groups = np.asarray(roles).astype(str), np.asarray(labels), np.asarray(groups).astype(str)
    rng = np.random.default_rng(seed)
    val_groups, test_groups = [], []
    check = roles == "check"
    for c in np.unique(labels[check]):
        g = np.unique(groups[check & (labels == c)])
        rng.shuffle(g)
        half = len(g) // 2
        val_groups += g[:half].tolist()
        test_groups += g[half:].tolist()
    out = {"har": np.flatnonzero(roles == "har"), "align": np.flatnonzero(roles == "align"),
           "val": np.flatnonzero(check & np.isin(groups, val_groups)),
           "test": np.flatnonzero(check & np.isin(groups, test_groups))}
    needs = {"har": "camera-labelled clips (c3t record --label NAME)",
             "align": "unlabelled recordings (c3t record without --label)",
             "val": "at least two segments of a class marked for checking (c3t record --label NAME --check)",
             "test": "segments marked for checking (c3t record --label NAME --check)"}
    for name in SPLITS if require_checking else ("har", "align"):
        if len(out[name]) == 0:
            raise C3tError(f"the sessions give no D_{name} windows: record {needs[name]}")
    return {k: v.astype(np.int64) for k, v in out.items()}


def split_for(data, seed: int, require_checking: bool = True) -> dict[str, np.ndarray]:
    """The split training uses: recorded roles where the data has them, else `uma_split`
    (`require_checking`: see role_split)."""
    extra = getattr(data, "extra", None) or {}
    if "roles" in extra:
        return role_split(extra["roles"], data.labels, extra["groups"], seed, require_checking)
    return uma_split(data.labels, seed)


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
    """IMU + camera with labels from D_HAR and D_Align: only for the supervised upper bounds.
    (Unlabelled windows of recorded sessions, label -1, have nothing to give them.)"""
    idx = np.concatenate([split["har"], split["align"]])
    idx = idx[data.labels[idx] >= 0]
    return UpperBound(data.imu[idx], data.visual[idx], data.labels[idx])


def to_json(data, split: dict[str, np.ndarray], seed: int) -> dict:
    assigned = {"assignment": "recorded roles"} if "roles" in (getattr(data, "extra", None) or {}) else \
        {"fractions": dict(zip(SPLITS, FRACTIONS))}
    return {"seed": seed, **assigned,
            **{name: [data.keys[i] for i in split[name]] for name in SPLITS}}
