"""Model selection that cannot pick a bad model (#29, #32): D_Val too small to choose falls back
to a label-free rule in every phase, the rules' disagreement is measured without labels, and
label-free early stopping ends a phase whose alignment loss has levelled off."""
import dataclasses

import numpy as np
import torch

from c3t.core.options import MIN_VAL_CLIPS, VAL_FALLBACK
from c3t.training import splits as S
from c3t.training.methods import TrainConfig, _Trainer, predict, selection_rule, train
from c3t.training.pipeline import selection_check
from tests.training.test_learning import _tiny_c3t


def _checking(n: int, independent: int | None = None) -> S.Checking:
    return S.Checking(np.zeros((n, 4, 6), np.float32), np.zeros((n, 4, 8), np.float32), np.zeros(n, np.int64), independent)


def test_a_d_val_too_small_to_resolve_epochs_falls_back_to_a_label_free_rule():
    rule, why = selection_rule("val", _checking(MIN_VAL_CLIPS))
    assert (rule, why) == ("val", "")
    rule, why = selection_rule("val", _checking(9))
    assert rule == VAL_FALLBACK and "9 independent clips" in why and "11 points" in why   # 100/9, binomial 50/sqrt(9) = 17
    # 40 windows from 3 labelled segments are 3 independent clips, not 40
    rule, why = selection_rule("val", _checking(40, independent=3))
    assert rule == VAL_FALLBACK and "3 independent clips" in why
    assert selection_rule("val", _checking(0))[0] == VAL_FALLBACK
    assert selection_rule("align-loss", _checking(3)) == ("align-loss", "")   # a label-free ask is kept as asked


def test_session_windows_count_once_per_labelled_segment():
    data = type("D", (), {})()
    data.imu, data.visual = np.zeros((6, 4, 6), np.float32), np.zeros((6, 4, 8), np.float32)
    data.labels = np.array([0, 0, 0, 1, 1, -1])
    data.extra = {"groups": np.array(["s#0", "s#0", "s#0", "s#1", "s#1", ""])}
    split = {"har": np.array([], np.int64), "align": np.array([5]), "val": np.array([0, 1, 2, 3, 4]), "test": np.array([], np.int64)}
    _, _, val, _ = S.views(data, split)
    assert val.clips == 2 and len(val.labels) == 5


def test_the_fallback_holds_in_every_phase_and_is_recorded():
    """A tiny D_Val (fewer than MIN_VAL_CLIPS clips): the schedule and the refinement both keep
    their last state, so the model is the last-epoch alternative, and info says why."""
    (har, align, val, _), mcfg, cfg = _tiny_c3t()
    assert val.clips < MIN_VAL_CLIPS
    alternatives: dict = {}
    model, info = train(dataclasses.replace(cfg, epochs=3, refine_epochs=2), mcfg, har, align, val, alternatives=alternatives)
    assert info["selection"]["asked"] == "val" and info["selection"]["used"] == VAL_FALLBACK and info["selection"]["why"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, alternatives["last"][2][k]), k
    # the refinement started from the schedule's last state: the same as asking for "last" outright
    asked_last, info_last = train(dataclasses.replace(cfg, epochs=3, refine_epochs=2, select="last"), mcfg, har, align, val)
    assert "why" not in info_last["selection"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, asked_last.state_dict()[k]), k


def _run(scores, select="last", patience=0, align=None, epochs=None):
    """A one-parameter _Trainer.run over len(scores) epochs (or `epochs`); returns (kept D_Val
    score, the weight kept, the weight after each epoch, progress reports, trainer)."""
    net = torch.nn.Linear(3, 1)
    after = []

    def step():
        yield net(torch.ones(2, 3)).pow(2).mean()
        after.append(net.weight.detach().clone())

    seen, it, al = [], iter(scores), iter(align or [])
    trainer = _Trainer(net, TrainConfig(lr=0.1, patience=patience, select=select), seen.append, None)
    kept = trainer.run("p", net.parameters(), epochs or len(scores), step, lambda: next(it), 1,
                       align_score=(lambda: next(al)) if align is not None else None)
    return kept, net.weight.detach(), after, seen, trainer


def test_the_last_rule_keeps_the_last_state_whatever_d_val_says():
    kept, weight, after, _, _ = _run([0.9, 0.1, 0.2])
    assert kept == 0.2 and torch.equal(weight, after[-1])
    kept, weight, after, _, _ = _run([0.9, 0.1, 0.2], select="val")
    assert kept == 0.9 and torch.equal(weight, after[0])


def test_early_stopping_anneals_and_ends_a_phase_whose_alignment_loss_levelled_off():
    flat = [2.0, 1.5, 1.49, 1.495, 1.492] + [1.49] * 20   # no 1% gain after epoch 2
    _, weight, after, seen, trainer = _run([float("nan")] * 25, patience=2, align=flat, epochs=25)
    # epochs 3 and 4 bring no 1% gain on 1.5 -> from epoch 4 the learning rate anneals over 2 more epochs
    assert len(after) == 6 and trainer.stopped == {"p": 6} and torch.equal(weight, after[-1])
    assert [s["epochs"] for s in seen] == [25, 25, 25, 6, 6, 6]
    assert all(s["seconds_left"] >= 0 for s in seen) and seen[-1]["seconds_left"] == 0
    assert trainer.alternatives["last"][0] == 6
    _, _, after, _, trainer = _run([float("nan")] * 8, patience=0, align=flat[:8])
    assert len(after) == 8 and trainer.stopped == {}   # patience 0: every epoch runs


def test_the_time_left_counts_the_phases_still_to_come():
    net = torch.nn.Linear(3, 1)
    seen = []

    def step():
        yield net(torch.ones(2, 3)).pow(2).mean()

    trainer = _Trainer(net, TrainConfig(lr=0.1), seen.append, None)
    trainer.plan = [2, 3]   # this phase: 2 epochs, then one of 3
    trainer.run("first", net.parameters(), 2, step, lambda: float("nan"), 1)
    first = [s["seconds_left"] for s in seen]
    assert first[0] > 0 and first[1] > 0 and trainer.plan == [3]   # after its last epoch, the next phase is still ahead


def test_selection_check_warns_when_the_kept_state_and_a_label_free_one_disagree():
    (har, align, val, _), mcfg, cfg = _tiny_c3t()
    alternatives: dict = {}
    model, _ = train(dataclasses.replace(cfg, epochs=3), mcfg, har, align, val, alternatives=alternatives)
    same = selection_check(model, alternatives, align, "last")
    assert same["warning"] == "" and set(same["disagreement"]) == {"align-loss"}
    # a "last" state that predicts, for every clip, the class the kept model predicts least often
    kept_counts = np.bincount(predict(model, imu=align.imu)[0].argmax(1), minlength=mcfg.num_classes)
    odd = {k: v.clone() for k, v in alternatives["last"][2].items()}
    odd["h.out.bias"][int(kept_counts.argmin())] += 1e4
    check = selection_check(model, {**alternatives, "last": (3, None, odd)}, align, "val")
    assert check["disagreement"]["last"] >= 1 - kept_counts.min() / len(align.imu) > 0.2
    assert "--select last" in check["warning"] and "D_Align" in check["warning"]


def test_an_epoch_ends_after_epoch_steps_batches():
    """TrainConfig.epoch_steps: an epoch of a long pass (overlapping session windows) stops after
    that many batches; 0 runs the whole pass."""
    def steps_run(cap):
        net = torch.nn.Linear(3, 1)
        taken = []

        def step():
            for _ in range(5):   # a pass of 5 batches
                taken.append(1)
                yield net(torch.ones(2, 3)).pow(2).mean()

        _Trainer(net, TrainConfig(lr=0.1, epoch_steps=cap), None, None).run("p", net.parameters(), 3, step,
                                                                            lambda: float("nan"), 5)
        return len(taken)

    assert steps_run(0) == 15 and steps_run(2) == 6
