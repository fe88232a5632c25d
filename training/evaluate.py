"""Scores: top-1 / top-3 on IMU, camera or fusion, and a confusion matrix."""
from __future__ import annotations

import numpy as np

from c3t.core.errors import C3tError
from c3t.training.augment import apply_noise
from c3t.training.methods import predict

MODALITIES = ("imu", "visual", "fusion")


def topk(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Top-k accuracy (0..1): the share of clips whose label is among the k most probable
    classes. `probs` (N, num_classes), `labels` (N,) int; NaN for N = 0."""
    best = np.argsort(-probs, axis=1)[:, :k]
    return float((best == labels[:, None]).any(axis=1).mean())


def confusion(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> list[list[int]]:
    """Confusion matrix counts as nested lists: row = true class, column = predicted class
    (argmax of `probs` (N, num_classes)), num_classes x num_classes."""
    m = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(m, (labels, probs.argmax(1)), 1)
    return m.tolist()


def macro_f1(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """F1 per class averaged over the classes present in `labels` (0..1)."""
    m = np.asarray(confusion(probs, labels, num_classes), dtype=float)
    tp, predicted, actual = np.diag(m), m.sum(0), m.sum(1)
    f1 = np.divide(2 * tp, predicted + actual, out=np.zeros_like(tp), where=(predicted + actual) > 0)
    return float(f1[actual > 0].mean()) if (actual > 0).any() else float("nan")


def supports(model_cfg, modality: str) -> bool:
    """True if a model of `model_cfg` (a ModelConfig) predicts from `modality` ("imu", "visual",
    "fusion"; ModelConfig.paths): supervised-imu only from IMU, supervised-visual only from the
    camera, early and attention fusion only from both, every other model from all three."""
    return modality in model_cfg.paths


def evaluate(model, imu: np.ndarray, visual: np.ndarray, labels: np.ndarray, modality: str,
             noise: str = "none", noise_seed: int = 0) -> dict:
    """Scores on one modality; `noise` perturbs the clips first (training/augment.py).

    Raises:
        C3tError: for a `modality` not in MODALITIES, or one the model has no path for
    """
    imu, visual = apply_noise(imu, visual, noise, noise_seed)
    if modality not in MODALITIES:
        raise C3tError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    if not supports(model.cfg, modality):
        raise C3tError(f"a {model.cfg.method} model has no {modality} path; try --modality {' or '.join(model.cfg.paths)}")
    probs, _ = predict(
        model,
        imu=imu if modality in ("imu", "fusion") else None,
        visual=visual if modality in ("visual", "fusion") else None,
    )
    return {
        "modality": modality,
        "noise": noise,
        "top1": topk(probs, labels, 1),
        "top3": topk(probs, labels, 3),
        "macro_f1": macro_f1(probs, labels, model.cfg.num_classes),
        "n": int(len(labels)),
        "confusion": confusion(probs, labels, model.cfg.num_classes),
    }


def evaluate_all(model, clips) -> dict:
    """Every modality the model supports on a Checking view: {modality: scores}."""
    return {m: evaluate(model, clips.imu, clips.visual, clips.labels, m) for m in MODALITIES if supports(model.cfg, m)}
