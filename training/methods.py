"""ST, CA, C3T and the baselines: one `train` entry point, one function per recipe.

CA and C3T schedules:
    align-first   L_CL on D_Align trains f1, f2; then f1, f2 frozen and h trained on D_HAR
    har-first     L_CE on D_HAR trains f1 and h; then f1 frozen and f2 aligned to it on D_Align
    interspersed  alternate one epoch of L_CE (f1, h) and one epoch of L_CL (f1, f2)
    combined      every step: L_CE on a D_HAR batch + L_CL on a D_Align batch, all parameters
                  (with `virtual_weight`: + that weight x L_CE of the same D_HAR batch's virtual IMU,
                  computed from its skeleton, through f2 + h; no IMU label)
Others:
    st                 teacher f1 + h on D_HAR; pseudo-labels on D_Align's camera; student f2 + h_imu
                       (hard labels as the paper; or `soft_threshold`: the teacher's probabilities
                       as soft targets, only for clips it is at least that confident about)
    fusion-pl          g(camera, imu) on D_HAR with a zero IMU latent; pseudo-labels D_Align;
                       retrained on D_Align's IMU with a zero camera latent (the paper's appendix)
    supervised-visual  f1 + h on D_HAR
    supervised-imu     f2 + h on IMU labels of D_HAR + D_Align   (upper bound: sees IMU labels)
    supervised-fusion  f1, f2 + h on both, same labels           (upper bound: sees IMU labels)

Ensembles (ModelConfig.members = K > 1, `c3t train --members K`): K members of one
configuration, each trained as one model would be on the same split with its own random
streams (member 0 is the single model of the seed); the model predicts their mean
probabilities (core/models.Ensemble).

Model selection (`TrainConfig.select`, `c3t train --select`), per training phase:
    val         (default) the state with the best D_Val top-1 (IMU for everything that predicts
                from IMU, camera for supervised-visual and the camera teachers)
    last        the last epoch's state: no label of any kind chooses the epoch (strict UMA)
    align-loss  the state with the lowest alignment loss (InfoNCE, no augmentation) on D_Align,
                which has no labels; phases that do not align keep their last state (strict UMA)
The rule is decided once per training (`selection_rule`) and holds in every phase, so a
refinement starts from the schedule's state under the same rule. "val" needs a D_Val that can
tell epochs apart: with fewer than MIN_VAL_CLIPS independent clips (core/options.py, the
binomial resolution of its top-1) it falls back to VAL_FALLBACK (label-free) and says why in
info["selection"]. Whatever is chosen, the final phase's states under all three rules can be
handed back (`train(..., alternatives={})`), so one run reports every rule beside the one kept.

Early stopping (`TrainConfig.patience` = P > 0), label-free: in a phase that aligns, once the
alignment loss on D_Align (align-loss's criterion) has not improved by PLATEAU_TOL for P epochs,
the learning rate anneals from where it is to 0 over P more epochs (a new cosine) and the phase
ends there; otherwise the cosine runs over the phase's `epochs`. Progress reports carry `seconds_left`: the phase's
mean epoch time x its epochs still to run plus those of the phases still to come.

Epoch length (`TrainConfig.epoch_steps` = S > 0): an epoch ends after at most S batches of its
shuffled pass. The recipe's 80 epochs were chosen on clip datasets of up to ~320 training clips
(10 batches of 32 per epoch); a recorded session's windows overlap (a 2.5 s window every 0.25 s
over labelled time), so one pass over them is many passes over the same seconds and 80 full
passes train several times longer for little new. S keeps the recipe's number of steps.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import threading
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from c3t.core.errors import C3tError
from c3t.core.model.losses import info_nce
from c3t.core.model.networks import Ensemble, ModelConfig, UmaModel
from c3t.core.options import (
    FLOW_INPUTS,
    MIN_VAL_CLIPS,
    REFINE_KEEP,
    SCHEDULES,
    SELECTIONS,
    VAL_FALLBACK,
    TrainConfig,
    option_problems,
)
from c3t.training.augment import augment_pair
from c3t.training.distributed import current as ranks
from c3t.training.splits import CameraLabelled, Checking, Pairs, UpperBound

REFINE_SEED = 7919   # offset of the refinement's random streams from cfg.seed
STUDENT_SEED = 7927  # offset of a soft-label ST student's random streams from cfg.seed
MEMBER_SEED = 104729  # offset of an ensemble member's random streams from the previous member's
IGNORED = -100       # pseudo-label of a pair that adds no loss
PLATEAU_TOL = 0.01   # early stopping: an alignment loss improves when it drops by this share of the best
PHASES = {"align-first": 2, "har-first": 2, "st": 2, "fusion-pl": 2}   # training phases of a recipe (others: 1)


class Cancelled(Exception):
    """Raised by train() when its `cancel` event is set: training stopped between two steps."""
    pass



# ---------------------------------------------------------------- helpers

def _batches(n: int, size: int, gen: torch.Generator):
    order = torch.randperm(n, generator=gen)
    for i in range(0, n, size):
        idx = ranks().shard(order[i : i + size])   # under --distributed, this process's part (training/distributed.py)
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
    """Top-1 accuracy; NaN when there are no clips (an empty D_Val)."""
    if len(labels) == 0:
        return float("nan")
    p, _ = predict(model, imu=imu, visual=visual)
    return float((p.argmax(1) == labels).mean())


def selection_rule(select: str, val: Checking) -> tuple[str, str]:
    """The rule that chooses the kept state in every phase, and why it differs from `select`
    ("" when it does not). "val" needs D_Val to resolve epochs: with n < MIN_VAL_CLIPS
    independent clips (Checking.clips) one clip moves its top-1 by 100/n points and its
    binomial standard error is up to 50/sqrt(n) points, so the best of many epochs on it is
    mostly chance; then VAL_FALLBACK, which needs no label, is used instead (core/options.py)."""
    if select != "val":
        return select, ""
    n = val.clips
    if n == 0:
        return VAL_FALLBACK, f"D_Val is empty, so the {VAL_FALLBACK} epoch is kept (no label chooses it)"
    if n < MIN_VAL_CLIPS:
        return VAL_FALLBACK, (f"D_Val holds {n} independent clip{'s' if n > 1 else ''} (fewer than {MIN_VAL_CLIPS}): one "
                              f"clip moves its top-1 by {100 / n:.0f} points and its standard error is up to "
                              f"{50 / math.sqrt(n):.0f} points, too coarse to choose an epoch; the {VAL_FALLBACK} "
                              f"epoch is kept instead (no label chooses it). Record more checking segments "
                              f"(c3t record --truth --check) for D_Val to choose")
    return select, ""


class _Trainer:
    def __init__(self, model: UmaModel, cfg: TrainConfig, progress, cancel, select: str | None = None):
        self.model, self.cfg = model, cfg
        self.select = select or cfg.select   # the rule in force (selection_rule), in every phase
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.progress = progress or (lambda info: None)
        self.cancel = cancel
        self.plan: list[int] = []    # epochs of each phase from the next run on (train fills it), for seconds_left
        self.stopped: dict[str, int] = {}   # phase -> the epoch early stopping ended it at
        self.history: list[dict] = []       # every epoch's report (train_info["history"])
        self.on_epoch = None   # train()'s on_epoch: called with (model, report) before training and after each epoch

    def run(self, phase: str, params, epochs: int, step: Callable[[], float], score: Callable[[], float], batches: int,
            frozen=(), align_score: Callable[[], float] | None = None):
        """AdamW + cosine decay for up to `epochs`; keeps the state `self.select` chooses (module
        docstring) and returns its D_Val score. A NaN score (no D_Val windows, or a phase without
        labels) selects nothing: the last state is kept and None returned. `align_score`: the
        phase's alignment loss on D_Align (lower is better), for `select="align-loss"` and early
        stopping (cfg.patience).

        Modules in `frozen` stay in eval mode, so their BatchNorm statistics do not move.
        `self.alternatives` ends as {rule: (epoch, D_Val score or None, state)} for this phase."""
        opt = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        if self.cfg.epoch_steps:   # an epoch of at most epoch_steps batches (module docstring)
            batches = min(batches, self.cfg.epoch_steps)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * batches))
        if self.plan:
            self.plan.pop(0)   # this phase; the rest are still to come
        patience = self.cfg.patience if align_score is not None else 0
        best_align, since, end = float("inf"), 0, epochs
        kept: dict[str, tuple] = {}   # rule -> (epoch, val, state, criterion)
        if self.on_epoch is not None and not self.history:   # the untrained model
            self.on_epoch(self.model, {"phase": phase, "epoch": 0, "epochs": epochs})
        started = time.monotonic()
        for epoch in range(epochs):
            if epoch >= end:
                break
            self.model.train()
            for module in frozen:
                module.eval()
            losses = []
            batch_losses = itertools.islice(step(), self.cfg.epoch_steps) if self.cfg.epoch_steps else step()
            for loss in ranks().steps(batch_losses, self.model):
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            val = score()
            scored = not np.isnan(val)
            a_loss = align_score() if align_score is not None else float("nan")
            candidates = {"val": -val if scored else None, "align-loss": None if np.isnan(a_loss) else a_loss}
            for rule, crit in candidates.items():
                if crit is not None and (rule not in kept or crit < kept[rule][3]):
                    kept[rule] = (epoch + 1, val if scored else None, copy.deepcopy(self.model.state_dict()), crit)
            last_val = val if scored else None
            if patience and not np.isnan(a_loss):   # early stopping on the alignment loss's plateau
                best_align, since = (a_loss, 0) if a_loss < best_align * (1 - PLATEAU_TOL) else (best_align, since + 1)
                if since >= patience and end == epochs and epoch + 1 + patience < epochs:
                    end = epoch + 1 + patience
                    for group in opt.param_groups:   # a new cosine from the learning rate reached, to 0 at `end`
                        group["initial_lr"] = group["lr"]
                    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, patience * batches))
            best_val = kept["val"][1] if "val" in kept else None
            per_epoch = (time.monotonic() - started) / (epoch + 1)
            report = {"phase": phase, "epoch": epoch + 1, "epochs": end, "loss": float(np.mean(losses)),
                      "val_top1": val if scored else None, "best_val_top1": best_val,
                      "seconds_left": per_epoch * (end - epoch - 1 + sum(self.plan)),
                      **({"align_loss": a_loss} if align_score is not None else {})}
            self.history.append({k: report[k] for k in ("phase", "epoch", "loss", "val_top1", "align_loss") if k in report})
            self.progress(report)
            if self.on_epoch is not None:
                self.on_epoch(self.model, report)
        if not epochs:
            self.alternatives = {}
            return None
        kept["last"] = (min(end, epochs), last_val, copy.deepcopy(self.model.state_dict()), 0.0)   # the model as it is now
        self.alternatives = {rule: v[:3] for rule, v in kept.items()}
        if end < epochs:
            self.stopped[phase] = end
        chosen = kept.get(self.select, kept["last"])
        if chosen is not kept["last"]:
            self.model.load_state_dict(chosen[2])
        return chosen[1]


class _Recipes:
    """The training recipes; each fills `info` and leaves the best D_Val state in the model."""

    def __init__(self, cfg: TrainConfig, model: UmaModel, har, align, val, upper, progress, cancel, camera=None, teacher=None,
                 select: str | None = None):
        self.cfg, self.model, self.har, self.align, self.val, self.upper = cfg, model, har, align, val, upper
        self.camera, self.teacher = camera, teacher
        self.t = _Trainer(model, cfg, progress, cancel, select)
        self.aug_gen = ranks().augment_generator(self.t.gen)   # self.t.gen itself in one process
        self.dev = next(model.parameters()).device
        self.info: dict = {}
        # a learnable temperature is a trainer parameter, not part of the model
        self.log_temp = torch.nn.Parameter(torch.tensor(np.log(0.07), device=self.dev)) if cfg.temperature == 0 else None

    # --- building blocks
    def aug(self, visual, imu):
        """Training augmentation of a batch (either side may be None)."""
        if not self.cfg.augment:
            return visual, imu
        return augment_pair(visual, imu, self.aug_gen, self.cfg.noise_augment, flow=self.camera in FLOW_INPUTS)

    def _n(self, n: int) -> int:
        return max(1, -(-n // self.cfg.batch))

    def ce_step(self, x, y, modality: str, head):
        """An epoch of cross-entropy on one modality (the other latent absent)."""
        x, y = torch.from_numpy(x), torch.from_numpy(np.asarray(y))
        m, g = self.model, self.t.gen

        def step():
            """One epoch of shuffled batches (augmented if cfg.augment): yields each batch's loss."""
            for idx in _batches(len(x), self.cfg.batch, g):
                xb = x[idx]
                if modality == "visual":
                    xb = self.aug(xb, None)[0]
                    z = m.fused(None, m.encode_visual(xb.to(self.dev)))
                else:
                    xb = self.aug(None, xb)[1]
                    z = m.fused(m.encode_imu(xb.to(self.dev)), None)
                yield F.cross_entropy(head(z)[0], y[idx].to(self.dev))
        return step

    def align_loss(self, vb, ib):
        """The alignment loss of one D_Align batch: both sides augmented with the same crop,
        encoded to L2-normalised latents (B, t, latent) (t = t_rec for C3T, 1 for CA) and flattened
        to (B * t, latent), then symmetric InfoNCE (core/losses.info_nce) at the configured or
        learned temperature. So C3T pulls step k of a clip to step k of the same clip in the other
        modality (the paper's C3T), CA the whole clips (the paper's CA)."""
        vb, ib = self.aug(vb, ib)
        zv, zi = self.model.encode_visual(vb.to(self.dev)), self.model.encode_imu(ib.to(self.dev))
        temp = self.log_temp.exp().clamp(min=0.01) if self.log_temp is not None else self.cfg.temperature
        return info_nce(*ranks().gather(zv.flatten(0, 1), zi.flatten(0, 1)), temp)   # the global batch's pairs

    def align_step(self):
        """An epoch of L_CL on D_Align: a step function yielding align_loss per shuffled batch."""
        vis, imu = torch.from_numpy(self.align.visual), torch.from_numpy(self.align.imu)

        def step():
            """One epoch of shuffled D_Align batches: yields each batch's alignment loss."""
            for idx in _batches(len(imu), self.cfg.batch, self.t.gen):
                yield self.align_loss(vis[idx], imu[idx])
        return step

    def har_step(self):
        """An epoch of L_CE on D_HAR: camera clips through f1 and the head h, with the camera labels."""
        return self.ce_step(self.har.visual, self.har.labels, "visual", self.model.h)

    @torch.no_grad()
    def align_eval(self) -> float:
        """Mean alignment loss on D_Align in eval mode, unaugmented, fixed batches: the label-free
        selection criterion (lower is better)."""
        self.model.eval()
        temp = self.log_temp.exp().clamp(min=0.01).item() if self.log_temp is not None else self.cfg.temperature
        vis, imu, losses = torch.from_numpy(self.align.visual), torch.from_numpy(self.align.imu), []
        for i in range(0, len(imu) - 1, self.cfg.batch):
            vb, ib = vis[i : i + self.cfg.batch].to(self.dev), imu[i : i + self.cfg.batch].to(self.dev)
            if len(ib) > 1:
                zv, zi = self.model.encode_visual(vb), self.model.encode_imu(ib)
                losses.append(info_nce(zv.flatten(0, 1), zi.flatten(0, 1), temp).item())
        return float(np.mean(losses)) if losses else float("nan")

    def imu_val(self):
        """D_Val top-1 from the IMU (0..1; NaN when D_Val is empty)."""
        return top1(self.model, self.val.labels, imu=self.val.imu)

    def vis_val(self):
        """D_Val top-1 from the camera (0..1; NaN when D_Val is empty)."""
        return top1(self.model, self.val.labels, visual=self.val.visual)

    def params(self, *modules, align: bool = False):
        """Parameters of `modules`, plus the learnable temperature in phases that align."""
        extra = [self.log_temp] if align and self.log_temp is not None else []
        return [p for m in modules for p in m.parameters()] + extra

    def n_har(self):
        """Batches per epoch over D_HAR (at least 1)."""
        return self._n(len(self.har.labels))

    def n_align(self):
        """Batches per epoch over D_Align (at least 1)."""
        return self._n(len(self.align.imu))

    # --- recipes
    def supervised_visual(self):
        """supervised-visual: f1 + h trained with cross-entropy on D_HAR, selected on D_Val's camera top-1."""
        self.info["best_val_top1"] = self.t.run("har", self.model.parameters(), self.cfg.epochs, self.har_step(), self.vis_val, self.n_har())

    def supervised_imu(self):
        """supervised-imu (an upper bound: sees IMU labels): f2 + h trained with cross-entropy on
        the UpperBound IMU clips, selected on D_Val's IMU top-1."""
        m, u = self.model, self.upper
        step = self.ce_step(u.imu, u.labels, "imu", m.h)
        self.info["best_val_top1"] = self.t.run("imu", m.parameters(), self.cfg.epochs, step, self.imu_val, self._n(len(u.labels)))

    def supervised_fusion(self):
        """supervised-fusion (an upper bound: sees IMU labels): the model's fusion (ModelConfig.fusion)
        trained with cross-entropy on both modalities of the UpperBound clips (late fusion: the sum
        of its two classifiers' losses), selected on D_Val's fused top-1."""
        m, u = self.model, self.upper
        imu, vis, y = torch.from_numpy(u.imu), torch.from_numpy(u.visual), torch.from_numpy(u.labels)

        def step():
            """One epoch of shuffled UpperBound batches: yields each batch's fused cross-entropy loss."""
            for idx in _batches(len(y), self.cfg.batch, self.t.gen):
                vb, ib = self.aug(vis[idx], imu[idx])
                yb = y[idx].to(self.dev)
                yield sum(F.cross_entropy(x, yb) for x in m.fusion_logits(ib.to(self.dev), vb.to(self.dev)))

        score = lambda: top1(m, self.val.labels, imu=self.val.imu, visual=self.val.visual)  # noqa: E731
        self.info["best_val_top1"] = self.t.run("fusion", m.parameters(), self.cfg.epochs, step, score, self._n(len(y)))

    def _pseudo_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """The teacher's targets on D_Align's camera clips and the indices of the clips they are
        for: the argmax class of every clip (the paper's ST), or with cfg.soft_threshold the
        teacher's class probabilities (N_kept, classes) of the clips whose top probability
        reaches it (all clips if none does)."""
        probs, _ = predict(self.model, visual=self.align.visual)
        self.info["pseudo_label_classes"] = int(len(np.unique(probs.argmax(1))))
        if self.cfg.soft_threshold is None:
            return probs.argmax(1), np.arange(len(probs))
        keep = np.flatnonzero(probs.max(1) >= self.cfg.soft_threshold)
        keep = keep if len(keep) else np.arange(len(probs))
        self.info["pseudo_labels_kept"] = int(len(keep))
        return probs[keep].astype(np.float32), keep

    def _teacher_then_student(self, phases: tuple[str, str], student_head) -> None:
        """f1 + h learn D_HAR's camera labels (phase phases[0], selected on D_Val's camera top-1);
        their predictions on D_Align's camera clips are pseudo-labels (_pseudo_labels), which
        f2 + `student_head` learn from D_Align's IMU clips (phase phases[1], selected on D_Val's
        IMU top-1)."""
        m = self.model
        if self.teacher is None:
            self.info["teacher_val_top1"] = self.t.run(phases[0], self.params(m.f1, m.h), self.cfg.epochs, self.har_step(), self.vis_val,
                                                       self.n_har())
        else:   # the teacher of a stored ST model (train's `start`)
            for name in ("f1", "h"):
                getattr(m, name).load_state_dict({k[len(name) + 1:]: v for k, v in self.teacher.items() if k.startswith(name + ".")})
            self.info["teacher_from_start"] = True
        if self.cfg.soft_threshold is not None:   # the same student whether its teacher was trained here or not
            torch.manual_seed(self.cfg.seed + STUDENT_SEED)
            self.t.gen.manual_seed(self.cfg.seed + STUDENT_SEED)
        targets, keep = self._pseudo_labels()
        step = self.ce_step(self.align.imu[keep], targets, "imu", student_head)
        self.info["best_val_top1"] = self.t.run(phases[1], self.params(m.f2, student_head), self.cfg.epochs, step, self.imu_val,
                                                self._n(len(keep)))

    def st(self):
        """The paper's Student-Teacher (ST): the teacher f1 + h pseudo-labels D_Align for the
        student f2 + h_imu, which has its own head."""
        self._teacher_then_student(("teacher", "student"), self.model.h_imu)

    def fusion_pl(self):
        """The paper's appendix sensor-fusion pseudo-label baseline: g = f1, f2 and a shared h on
        concatenated latents. f1 + h learns D_HAR (zero IMU latent), pseudo-labels D_Align's camera
        clips, then f2 + the same h learn them from D_Align's IMU (zero camera latent)."""
        self._teacher_then_student(("camera", "imu"), self.model.h)

    def align_first(self):
        """Schedule align-first (CA, C3T): L_CL on D_Align trains f1 and f2 (last state kept, or
        the lowest alignment loss), then with f1, f2 frozen the head h learns D_HAR (selected on
        D_Val's IMU top-1)."""
        m = self.model
        no_labels = lambda: float("nan")  # noqa: E731  nothing to select on in this phase: keep the last state
        self.t.run("align", self.params(m.f1, m.f2, align=True), self.cfg.epochs, self.align_step(), no_labels, self.n_align(),
                   align_score=self.align_eval)
        self.info["best_val_top1"] = self.t.run("har", m.h.parameters(), self.cfg.epochs, self.har_step(), self.imu_val,
                                                self.n_har(), frozen=(m.f1, m.f2))

    def har_first(self):
        """Schedule har-first (CA, C3T): L_CE on D_HAR trains f1 and h, then with them frozen f2
        is aligned to f1 on D_Align (selected on D_Val's IMU top-1)."""
        m = self.model
        self.info["camera_val_top1"] = self.t.run("har", self.params(m.f1, m.h), self.cfg.epochs, self.har_step(), self.vis_val, self.n_har())
        self.info["best_val_top1"] = self.t.run("align", self.params(m.f2, align=True), self.cfg.epochs, self.align_step(), self.imu_val,
                                                self.n_align(), frozen=(m.f1, m.h), align_score=self.align_eval)

    def interspersed(self):
        """Schedule interspersed (CA, C3T): each epoch is one pass of L_CE on D_HAR and one of
        L_CL on D_Align, all parameters trained."""
        har, align = self.har_step(), self.align_step()

        def step():
            """One epoch: every D_HAR batch's cross-entropy, then every D_Align batch's alignment loss."""
            yield from har()
            yield from align()

        self.info["best_val_top1"] = self.t.run("interspersed", self.params(self.model, align=True), self.cfg.epochs, step, self.imu_val,
                                                self.n_har() + self.n_align(), align_score=self.align_eval)

    def combined(self):
        """Schedule combined (the default for CA and C3T): every step adds L_CE of a D_HAR batch
        and L_CL of a D_Align batch, all parameters trained; an epoch is max(|D_HAR|, |D_Align|) //
        batch steps, the smaller set cycled."""
        self._joint("combined", self.cfg.epochs)

    def refine(self):
        """Pseudo-label refinement after a CA / C3T schedule: the model's camera + IMU prediction on
        each D_Align pair (no label) is that pair's pseudo-label, kept for the REFINE_KEEP most
        confident pairs of each predicted class (the rest add no L_CE); then `refine_epochs` of
        the combined steps, each adding L_CE of the D_Align IMU clips against their pseudo-labels,
        so f2 and h learn the D_Align wearers' own IMU signals while the alignment holds."""
        probs, _ = predict(self.model, imu=self.align.imu, visual=self.align.visual)
        pseudo, confidence = probs.argmax(1), probs.max(1)
        for c in np.unique(pseudo):
            mine = np.flatnonzero(pseudo == c)
            dropped = mine[np.argsort(confidence[mine], kind="stable")[: int(len(mine) * (1 - REFINE_KEEP))]]
            pseudo[dropped] = IGNORED
        self.info["refine_pseudo_label_classes"] = int(len(np.unique(pseudo[pseudo != IGNORED])))
        self.info["refine_pseudo_labels_kept"] = int((pseudo != IGNORED).sum())
        self._joint("refine", self.cfg.refine_epochs, torch.from_numpy(pseudo))

    def _joint(self, phase: str, epochs: int, pseudo: torch.Tensor | None = None):
        """`epochs` of steps that each add L_CE on a D_HAR batch (camera), L_CL on a D_Align batch,
        with cfg.virtual_weight that weight x L_CE of the D_HAR batch's virtual IMU (f2 + h, the
        camera labels), and with `pseudo` (one class per D_Align pair, IGNORED for none) L_CE of
        the D_Align batch's IMU clips against it (mean over the batch's clips that have one)."""
        model, batch, gen, dev = self.model, self.cfg.batch, self.t.gen, self.dev
        har_visual = torch.from_numpy(self.har.visual)      # (N_HAR, T, ...) camera windows, as the input kind has them
        har_labels = torch.from_numpy(self.har.labels)      # (N_HAR,) camera labels
        har_virtual_imu = torch.from_numpy(self.har.virtual_imu) if self.cfg.virtual_weight else None   # (N_HAR, steps, C)
        align_visual = torch.from_numpy(self.align.visual)  # (N_Align, T, ...)
        align_imu = torch.from_numpy(self.align.imu)        # (N_Align, steps, C)
        n_steps = max(1, max(len(har_labels), len(align_imu)) // batch)

        def step():
            """One epoch of n_steps: yields each step's summed loss (a scalar)."""
            har_batches, align_batches = _cycle(len(har_labels), batch, gen), _cycle(len(align_imu), batch, gen)
            for _ in range(n_steps):
                har_idx, align_idx = next(har_batches), next(align_batches)   # (B,) and (B,) clip indices
                visual = self.aug(har_visual[har_idx], None)[0]               # (B, T, ...)
                logits = model.h(model.encode_visual(visual.to(dev)))[0]      # (B, t, latent) -> (B, classes)
                labels = har_labels[har_idx].to(dev)                          # (B,)
                loss = F.cross_entropy(logits, labels)                        # L_CE on D_HAR, scalar
                if har_virtual_imu is not None:
                    virtual = self.aug(None, har_virtual_imu[har_idx])[1]     # (B, steps, C)
                    logits = model.h(model.encode_imu(virtual.to(dev)))[0]    # (B, classes)
                    loss = loss + self.cfg.virtual_weight * F.cross_entropy(logits, labels)
                if pseudo is not None:
                    imu = self.aug(None, align_imu[align_idx])[1]             # (B, steps, C)
                    targets = pseudo[align_idx].to(dev)                       # (B,) a class, or IGNORED
                    logits = model.h(model.encode_imu(imu.to(dev)))[0]        # (B, classes)
                    ce_sum = F.cross_entropy(logits, targets, ignore_index=IGNORED, reduction="sum")   # scalar
                    loss = loss + ce_sum / max(1, int((targets != IGNORED).sum()))   # mean over the pairs that have one
                yield loss + self.align_loss(align_visual[align_idx], align_imu[align_idx])   # + L_CL (InfoNCE)

        self.info["best_val_top1"] = self.t.run(phase, self.params(model, align=True), epochs, step, self.imu_val, n_steps,
                                                align_score=self.align_eval)


UPPER_BOUNDS = ("supervised-imu", "supervised-fusion")


def training_device():
    """The torch.device training runs on: the first CUDA GPU when torch sees one, else the CPU.
    Every batch goes to it as it is drawn (the data stay in host memory); the trained model comes
    back on the CPU. c3t never needs a GPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(dev) -> str:
    """`dev` (a torch.device) as it is recorded in train_info["device"]: "cpu", or
    "cuda (NVIDIA H200)" with the GPU's name."""
    return f"cuda ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else dev.type


def train(cfg: TrainConfig, model_cfg: ModelConfig, har: CameraLabelled | None, align: Pairs | None,
          val: Checking, upper: UpperBound | None = None, progress=None,
          cancel: threading.Event | None = None, alternatives: dict | None = None,
          start: dict | None = None, camera: str | None = None, on_epoch=None) -> tuple[UmaModel | Ensemble, dict]:
    """Train one method. D_Align arrives as `Pairs`, which has no labels to leak; IMU labels
    arrive only as `upper` (UpperBound), which only the supervised upper bounds accept.
    With model_cfg.members > 1 the result is an Ensemble of that many members, each trained as
    one model would be (_train_members).

    The info dict returned holds, besides each recipe's entries, "selection" ({"asked", "used",
    "why"?}: selection_rule), "history" (every epoch's phase, epoch, loss, val_top1, align_loss),
    "early_stopped_at_epoch" ({phase: epoch}, when cfg.patience ended a phase) and "device".

    `alternatives`, if given, is filled with the final phase's state under each selection rule:
    {rule: (epoch, D_Val top-1 or None, state_dict)} (rules: SELECTIONS). `start`, with
    cfg.refine_epochs > 0: the state_dict of the same configuration trained without refinement
    (same seed, data and split); the schedule is then not trained again and the refinement
    continues from it. With ST and cfg.soft_threshold: the state_dict of the same ST trained
    with hard labels; its teacher (f1, h) is taken instead of trained again. The refinement and
    the soft-label student reseed their random streams, so the model is the same either way.
    `camera`: the camera input's name (InputSpec.visual); flow clips (FLOW_INPUTS) are augmented as flow
    fields (augment.jitter_flow). `on_epoch(model, report)`, if given, is called with the model
    in training before its first step (report epoch 0) and after every epoch (the progress
    report), e.g. to draw its latents as alignment goes on (training/figures.py); it must leave
    the model as it found it. Ensembles do not call it.

    Raises:
        C3tError: for an unknown schedule or selection, refinement asked of a method other than CA /
            C3T, a `start` without refinement or with a learned temperature (not part of the state), a
            virtual_weight outside C3T / CA's combined schedule or without D_HAR's virtual IMU, or IMU
            labels given to a method that must not see them
        Cancelled: when `cancel` is set (between two steps)
    """
    if model_cfg.members > 1:
        return _train_members(cfg, model_cfg, har, align, val, upper, progress, cancel, alternatives, start, camera)
    m = cfg.method
    if cfg.schedule not in SCHEDULES:
        raise C3tError(f"unknown schedule {cfg.schedule!r}; expected one of {SCHEDULES}")
    if cfg.select not in SELECTIONS:
        raise C3tError(f"unknown model selection {cfg.select!r}; expected one of {SELECTIONS}")
    for field, why in option_problems(m, cfg.schedule, cfg.refine_epochs, cfg.soft_threshold, cfg.virtual_weight):
        raise C3tError(f"{field}={getattr(cfg, field)}: {why}; not {m} ({cfg.schedule})")
    if cfg.virtual_weight and (har is None or har.virtual_imu is None):
        raise C3tError(f"virtual_weight={cfg.virtual_weight}: the virtual IMU regularises c3t and ca with D_HAR's "
                       f"virtual IMU (CameraLabelled.virtual_imu), which was not given")
    teacher = start if m == "st" and cfg.soft_threshold is not None else None
    if start is not None and teacher is None and not (cfg.refine_epochs and cfg.temperature):
        raise C3tError("a start state skips the schedule (refine_epochs > 0 and a fixed temperature) or the teacher "
                       "(st with soft_threshold)")
    if (upper is not None) != (m in UPPER_BOUNDS):
        raise C3tError(f"{m}: IMU labels (UpperBound) go to {' and '.join(UPPER_BOUNDS)} only, and they need them")
    torch.manual_seed(cfg.seed)
    model = UmaModel(model_cfg)
    with torch.no_grad():
        if upper is not None:
            _fit_norm(model, upper.imu, upper.visual)
        else:
            _fit_norm(model, None if align is None else align.imu,
                      har.visual if align is None else np.concatenate([har.visual, align.visual]))
    dev = training_device()
    model.to(dev)
    rule, why = selection_rule(cfg.select, val)
    r = _Recipes(cfg, model, har, align, val, upper, progress, cancel, camera, teacher, rule)
    r.t.on_epoch = on_epoch
    r.info["device"] = device_name(dev)
    r.info["selection"] = {"asked": cfg.select, "used": rule, **({"why": why} if why else {})}
    recipe = cfg.schedule if m in ("c3t", "ca") else m
    schedule_runs = start is None or teacher is not None
    r.t.plan = ([cfg.epochs] * PHASES.get(recipe, 1) if schedule_runs else []) + ([cfg.refine_epochs] if cfg.refine_epochs else [])
    if schedule_runs:
        getattr(r, recipe.replace("-", "_"))()
    else:
        model.load_state_dict(start)
        r.info["refined_from_start"] = True
    if cfg.refine_epochs:   # checked above: CA or C3T only
        torch.manual_seed(cfg.seed + REFINE_SEED)      # the same streams whether the schedule ran here or not
        r.t.gen.manual_seed(cfg.seed + REFINE_SEED)
        r.refine()
    if r.t.stopped:
        r.info["early_stopped_at_epoch"] = dict(r.t.stopped)
    r.info["history"] = r.t.history
    if r.log_temp is not None:
        r.info["learned_temperature"] = round(r.log_temp.exp().item(), 4)
    if alternatives is not None:
        alternatives.update(getattr(r.t, "alternatives", {}))
    model.eval().cpu()
    return model, r.info


def _train_members(cfg: TrainConfig, model_cfg: ModelConfig, har, align, val, upper, progress, cancel, alternatives,
                   start, camera) -> tuple[Ensemble, dict]:
    """train() for an ensemble (model_cfg.members > 1): member k is the same configuration trained
    alone on the same data, its random streams (initialisation, batch order, augmentation)
    started from cfg.seed + k * MEMBER_SEED, so member 0 is the single model of cfg.seed.
    `start` is an Ensemble state ("members.K." keys), split per member; `alternatives` gets, per
    selection rule, the ensemble of every member's state under that rule (the members' epochs as
    a list, D_Val top-1 None).
    info holds each member's info under "members"."""
    ensemble = Ensemble(model_cfg)
    infos, member_alternatives = [], []
    for k, member in enumerate(ensemble.members):
        prefix = f"members.{k}."
        member_start = None if start is None else {key[len(prefix):]: v for key, v in start.items() if key.startswith(prefix)}
        told = None if progress is None else (lambda info, k=k: progress({**info, "member": k + 1, "members": model_cfg.members}))
        alt: dict = {}
        trained, info = train(dataclasses.replace(cfg, seed=cfg.seed + k * MEMBER_SEED), member.cfg, har, align, val, upper,
                              told, cancel, alt, member_start, camera)
        member.load_state_dict(trained.state_dict())
        infos.append(info)
        member_alternatives.append(alt)
    if alternatives is not None:
        for rule in [r for r in member_alternatives[0] if all(r in a for a in member_alternatives)]:
            state = {f"members.{k}.{key}": v for k, a in enumerate(member_alternatives) for key, v in a[rule][2].items()}
            alternatives[rule] = ([a[rule][0] for a in member_alternatives], None, state)   # each member's epoch
    return ensemble.eval(), {"members": infos, "selection": infos[0]["selection"]}


def _cycle(n: int, size: int, gen):
    while True:
        yield from _batches(n, min(size, n), gen)
