"""From prepared data to a trained, scored model: split, train, evaluate (used by the CLI,
the experiments and the app's retraining)."""
from __future__ import annotations

import time

from c3t.core.models import ModelConfig
from c3t.training import splits as S
from c3t.training.defaults import defaults_for
from c3t.training.evaluate import evaluate_all
from c3t.training.methods import UPPER_BOUNDS, TrainConfig, train


def fit(data, method: str, seed: int = 0, schedule: str | None = None, epochs: int | None = None,
        progress=None, cancel=None, temperature: float | None = None, require_checking: bool = True,
        noise_augment: float = 0.0, **model_overrides):
    """Train `method` on a seeded UMA split of `data`; returns (model, metrics, train config, split).

    `require_checking=False` lets recorded sessions without check labels train (splits.role_split):
    with an empty D_Val the last state is kept, and metrics["val"] / ["test"] are {} when empty."""
    started = time.time()
    d = defaults_for(method, data.spec.visual)
    split = S.split_for(data, seed, require_checking)
    har, align, val, test = S.views(data, split)
    cfg = TrainConfig(method=method, schedule=schedule or d["schedule"], epochs=epochs or d["epochs"], seed=seed,
                      temperature=d["temperature"] if temperature is None else temperature, noise_augment=noise_augment)
    model_cfg = ModelConfig(method=method, num_classes=len(data.classes), visual_input=data.spec.visual_input,
                            visual_channels=data.visual.shape[2], **model_overrides)
    upper = S.upper_bound(data, split) if method in UPPER_BOUNDS else None
    model, info = train(cfg, model_cfg, har, align, val, upper, progress=progress, cancel=cancel)
    scored = {name: evaluate_all(model, clips) if len(clips.labels) else {} for name, clips in (("val", val), ("test", test))}
    metrics = {**scored, "train_info": info,
               "train_seconds": round(time.time() - started, 1),
               "sizes": {"har": len(har.labels), "align": len(align.imu), "val": len(val.labels), "test": len(test.labels)}}
    return model, metrics, cfg, split
