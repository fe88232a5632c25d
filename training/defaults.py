"""The configuration `c3t train` uses when no tuning flag is given: the best found on D_Val.

How each value was chosen (D_Val only, seed 0, UTD-MHAD) is in docs/results.md.
"""
from __future__ import annotations

BASE = {"epochs": 80, "schedule": "combined", "backbone": "small-cnn", "temperature": 0.1}
OVERRIDES: dict[tuple[str, str], dict] = {}
VISUAL_BACKBONE = {"rgb": "efficientnet-lite0", "depth": "small-cnn", "skeleton": "small-cnn"}


def defaults_for(method: str, visual: str) -> dict:
    d = dict(BASE, backbone=VISUAL_BACKBONE.get(visual, "small-cnn"))
    d.update(OVERRIDES.get((method, visual), {}))
    d.update(OVERRIDES.get((method, "*"), {}))
    return d
