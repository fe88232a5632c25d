"""ST, CA, C3T and the supervised baselines: one `train` function, schedules inside.

    align-first  L_CL on D_Align trains f1, f2; then f1, f2 frozen and h trained on D_HAR
    combined     every step: L_CE on a D_HAR batch + L_CL on a D_Align batch, all parameters
    st           teacher f1 + h on D_HAR; pseudo-labels on D_Align's camera; student f2 + h_imu
    supervised-* one encoder + h on labelled data (supervised-imu sees IMU labels: upper bound)

Model selection uses D_Val only: the state with the best D_Val top-1 (IMU for everything that
predicts from IMU, camera for supervised-visual and the ST teacher) is kept.
"""
from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from c3t.core.errors import C3tError
from c3t.core.losses import info_nce
from c3t.core.models import ModelConfig, UmaModel
from c3t.training.splits import CameraLabelled, Checking, ImuLabelled, Pairs

SCHEDULES = ("align-first", "combined")


@dataclass
class TrainConfig:
    method: str = "c3t"
    schedule: str = "combined"
    epochs: int = 80
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    seed: int = 0
    augment: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class Cancelled(Exception):
    pass


# ---------------------------------------------------------------- augmentation

def _time_index(b: int, t: int, start: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    pos = start[:, None] + frac[:, None] * torch.linspace(0, 1, t)[None, :]
    return (pos * (t - 1)).round().long().clamp(0, t - 1)  # (b, t)


def crop_time(x: torch.Tensor, start: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    """Take [start, start + frac] of each clip (fractions of its length) and stretch it back."""
    idx = _time_index(len(x), x.shape[1], start, frac)
    return x[torch.arange(len(x))[:, None], idx]


def augment_pair(visual, imu, gen):
    """The same random temporal crop on both modalities, IMU gain and noise, camera jitter."""
    b = len(visual) if visual is not None else len(imu)
    frac = 0.8 + 0.2 * torch.rand(b, generator=gen)
    start = (1 - frac) * torch.rand(b, generator=gen)
    if imu is not None:
        imu = crop_time(imu, start, frac)
        imu = imu * (0.9 + 0.2 * torch.rand(b, 1, imu.shape[2], generator=gen)) + 0.02 * torch.randn(imu.shape, generator=gen)
    if visual is not None:
        visual = crop_time(visual, start, frac)
        if visual.dim() == 5:  # images: shift by up to 2 pixels
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
            visual = torch.roll(visual, (dy, dx), dims=(3, 4))
        else:
            visual = visual * (1 + 0.02 * torch.randn(b, 1, visual.shape[2], generator=gen))
    return visual, imu


# ---------------------------------------------------------------- helpers

def _batches(n: int, size: int, gen: torch.Generator):
    order = torch.randperm(n, generator=gen)
    for i in range(0, n, size):
        idx = order[i : i + size]
        if len(idx) > 1:  # BatchNorm needs two samples
            yield idx


def _fit_norm(model: UmaModel, imu: np.ndarray | None, visual: np.ndarray | None) -> None:
    if imu is not None:
        model.imu_mean.copy_(torch.from_numpy(imu.mean(axis=(0, 1))).view_as(model.imu_mean))
        model.imu_std.copy_(torch.from_numpy(imu.std(axis=(0, 1)) + 1e-6).view_as(model.imu_std))
    if visual is not None:
        axes = tuple(i for i in range(visual.ndim) if i != 2)
        model.visual_mean.copy_(torch.from_numpy(visual.mean(axis=axes)).view_as(model.visual_mean))
        model.visual_std.copy_(torch.from_numpy(visual.std(axis=axes) + 1e-6).view_as(model.visual_std))


@torch.no_grad()
def predict(model: UmaModel, imu=None, visual=None, batch: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities (and C3T attention) for arrays of clips, in eval mode."""
    model.eval()
    dev = next(model.parameters()).device
    n = len(imu if imu is not None else visual)
    probs, atts = [], []
    for i in range(0, n, batch):
        p, a = model(
            imu=None if imu is None else torch.from_numpy(imu[i : i + batch]).to(dev),
            visual=None if visual is None else torch.from_numpy(visual[i : i + batch]).to(dev),
        )
        probs.append(p.cpu().numpy())
        if a is not None:
            atts.append(a.cpu().numpy())
    return np.concatenate(probs), (np.concatenate(atts) if atts else None)


def top1(model, labels, imu=None, visual=None) -> float:
    p, _ = predict(model, imu=imu, visual=visual)
    return float((p.argmax(1) == labels).mean())


class _Trainer:
    def __init__(self, model: UmaModel, cfg: TrainConfig, progress, cancel):
        self.model, self.cfg = model, cfg
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.progress = progress or (lambda info: None)
        self.cancel = cancel

    def run(self, phase: str, params, epochs: int, step: Callable[[], float], score: Callable[[], float], batches: int,
            frozen=()):
        """AdamW + cosine decay for `epochs`; keeps the state with the best D_Val score.

        Modules in `frozen` stay in eval mode, so their BatchNorm statistics do not move."""
        opt = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * batches))
        best, best_state = -1.0, None
        for epoch in range(epochs):
            self.model.train()
            for module in frozen:
                module.eval()
            losses = []
            for loss in step():
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            val = score()
            if val > best:
                best, best_state = val, copy.deepcopy(self.model.state_dict())
            self.progress({"phase": phase, "epoch": epoch + 1, "epochs": epochs, "loss": float(np.mean(losses)), "val_top1": val, "best_val_top1": best})
        self.model.load_state_dict(best_state)
        return best


def train(cfg: TrainConfig, model_cfg: ModelConfig, har: CameraLabelled | None, align: Pairs | None,
          val: Checking, imu_labelled: ImuLabelled | None = None, progress=None,
          cancel: threading.Event | None = None) -> tuple[UmaModel, dict]:
    """Train one method. D_Align arrives as `Pairs`, which has no labels to leak."""
    if cfg.schedule not in SCHEDULES:
        raise C3tError(f"unknown schedule {cfg.schedule!r}; expected one of {SCHEDULES}")
    torch.manual_seed(cfg.seed)
    model = UmaModel(model_cfg)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t = _Trainer(model, cfg, progress, cancel)
    g, bs, aug = t.gen, cfg.batch, cfg.augment
    tensor = torch.from_numpy

    def ce_batches(x, y, encode, head):
        x, y = tensor(x), tensor(y)

        def step():
            for idx in _batches(len(x), bs, g):
                xb = x[idx]
                if aug:
                    xb = augment_pair(xb, None, g)[0] if encode == model.encode_visual else augment_pair(None, xb, g)[1]
                yield F.cross_entropy(head(encode(xb.to(dev)))[0], y[idx].to(dev))
        return step

    def align_loss(vb, ib):
        if aug:
            vb, ib = augment_pair(vb, ib, g)
        zv, zi = model.encode_visual(vb.to(dev)), model.encode_imu(ib.to(dev))
        return info_nce(zv.flatten(0, 1), zi.flatten(0, 1), cfg.temperature)

    imu_val = lambda: top1(model, val.labels, imu=val.imu)  # noqa: E731
    vis_val = lambda: top1(model, val.labels, visual=val.visual)  # noqa: E731
    info = {}
    m = cfg.method
    with torch.no_grad():
        if m == "supervised-imu":
            _fit_norm(model, imu_labelled.imu, None)
        else:
            _fit_norm(model, align.imu if align is not None else None, np.concatenate([har.visual, align.visual]) if align is not None else har.visual)
    model.to(dev)

    if m == "supervised-visual":
        info["best_val_top1"] = t.run("har", model.parameters(), cfg.epochs, ce_batches(har.visual, har.labels, model.encode_visual, model.h), vis_val, -(-len(har.labels) // bs))
    elif m == "supervised-imu":
        if imu_labelled is None:
            raise C3tError("supervised-imu needs the IMU-labelled upper-bound data")
        info["best_val_top1"] = t.run("imu", model.parameters(), cfg.epochs, ce_batches(imu_labelled.imu, imu_labelled.labels, model.encode_imu, model.h), imu_val, -(-len(imu_labelled.labels) // bs))
    elif m == "st":
        teacher_params = list(model.f1.parameters()) + list(model.h.parameters())
        info["teacher_val_top1"] = t.run("teacher", teacher_params, cfg.epochs, ce_batches(har.visual, har.labels, model.encode_visual, model.h), vis_val, -(-len(har.labels) // bs))
        probs, _ = predict(model, visual=align.visual)
        pseudo = probs.argmax(1)
        info["pseudo_label_classes"] = int(len(np.unique(pseudo)))
        student_params = list(model.f2.parameters()) + list(model.h_imu.parameters())
        info["best_val_top1"] = t.run("student", student_params, cfg.epochs, ce_batches(align.imu, pseudo, model.encode_imu, model.h_imu), imu_val, -(-len(pseudo) // bs))
    elif cfg.schedule == "align-first":
        vis_t, imu_t = tensor(align.visual), tensor(align.imu)

        def align_step():
            for idx in _batches(len(imu_t), bs, g):
                yield align_loss(vis_t[idx], imu_t[idx])

        enc_params = list(model.f1.parameters()) + list(model.f2.parameters())
        # no labels exist in this phase, so the last state is kept (score = epoch number)
        epoch_counter = iter(range(10**9))
        t.run("align", enc_params, cfg.epochs, align_step, lambda: float(next(epoch_counter)), -(-len(imu_t) // bs))
        info["best_val_top1"] = t.run("har", model.h.parameters(), cfg.epochs, ce_batches(har.visual, har.labels, model.encode_visual, model.h), imu_val, -(-len(har.labels) // bs), frozen=(model.f1, model.f2))
    else:  # combined
        hv, hy = tensor(har.visual), tensor(har.labels)
        av, ai = tensor(align.visual), tensor(align.imu)
        n_steps = max(len(hy), len(ai)) // bs

        def combined_step():
            har_idx, align_idx = _cycle(len(hy), bs, g), _cycle(len(ai), bs, g)
            for _ in range(max(1, n_steps)):
                hi, ai_ = next(har_idx), next(align_idx)
                xb = hv[hi]
                if aug:
                    xb = augment_pair(xb, None, g)[0]
                loss_ce = F.cross_entropy(model.h(model.encode_visual(xb.to(dev)))[0], hy[hi].to(dev))
                yield loss_ce + align_loss(av[ai_], ai[ai_])

        info["best_val_top1"] = t.run("combined", model.parameters(), cfg.epochs, combined_step, imu_val, max(1, n_steps))
    model.eval().cpu()
    return model, info


def _cycle(n: int, size: int, gen):
    while True:
        yield from _batches(n, min(size, n), gen)
