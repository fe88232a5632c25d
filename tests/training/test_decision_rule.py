"""The live decision rule (#28): the online decoders, its choice on D_Val streams, and the model
folder's rule reaching the StreamingPredictor."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3t.core.errors import C3tError
from c3t.core.model.folder import save_model
from c3t.core.model.inference import TorchEngine
from c3t.core.model.networks import ModelConfig, UmaModel
from c3t.core.model.predictor import DecisionSmoother, PredictorSettings, StreamingPredictor
from c3t.core.options import NO_ACTION
from c3t.core.streams.syncbuffer import SyncBuffer
from c3t.core.streams.window import InputSpec
from c3t.training.decision_rule import candidates, choose, decide, store

CLASSES = ["a", "b", "c"]


def p(*row):
    return np.array(row, dtype=float)


def test_hysteresis_holds_an_action_through_a_dip_and_min_duration_drops_a_blip():
    dip = [p(.8, .1, .1), p(.45, .3, .25), p(.8, .1, .1)]
    plain = DecisionSmoother(CLASSES, history=1, threshold=0.5)
    assert [plain.update(x)[0] for x in dip] == ["a", NO_ACTION, "a"]
    held = DecisionSmoother(CLASSES, history=1, threshold=0.5, decoder="hysteresis", release=0.1)
    assert [held.update(x)[0] for x in dip] == ["a", "a", "a"]
    deep = DecisionSmoother(CLASSES, history=1, threshold=0.5, decoder="hysteresis", release=0.1)
    assert [deep.update(x)[0] for x in [p(.8, .1, .1), p(.3, .35, .35)]] == ["a", NO_ACTION]   # below the release: let go
    switch = DecisionSmoother(CLASSES, history=1, threshold=0.5, decoder="hysteresis", release=0.3)
    assert [switch.update(x)[0] for x in [p(.8, .1, .1), p(.25, .7, .05)]] == ["a", "b"]        # another class reached it
    a, b = p(.8, .1, .1), p(.1, .8, .1)
    steady = DecisionSmoother(CLASSES, history=1, threshold=0.5, decoder="min-duration", min_hops=2)
    assert [steady.update(x)[0] for x in [a, a, b, a, b, b]] == [NO_ACTION, "a", "a", "a", "a", "b"]
    steady.reset()
    assert steady.update(p(.8, .1, .1))[0] == NO_ACTION    # a fresh start waits min_hops too
    with pytest.raises(C3tError, match="decoder"):
        DecisionSmoother(CLASSES, decoder="viterbi")
    with pytest.raises(C3tError, match="min_hops"):
        PredictorSettings(decoder="min-duration", min_hops=0)


def test_the_hmm_filter_rides_out_flicker_and_follows_steady_evidence():
    a, b = p(.7, .15, .15), p(.15, .7, .15)
    hmm = DecisionSmoother(CLASSES, history=1, threshold=0.0, decoder="hmm", switch=0.05)
    assert [hmm.update(x)[0] for x in [a, a, a, a, b, a, a]] == ["a"] * 7           # one window of b is flicker
    assert [hmm.update(x)[0] for x in [b] * 4][-1] == "b"                           # b window after window: a change
    plain = DecisionSmoother(CLASSES, history=1, threshold=0.0)
    assert [plain.update(x)[0] for x in [a, a, b, a]] == ["a", "a", "b", "a"]
    hmm.reset()
    assert hmm.update(b) == ("b", pytest.approx(0.7))       # a fresh start: the scores alone
    doubtful = DecisionSmoother(CLASSES, history=1, threshold=0.9, decoder="hmm", switch=0.3)
    assert doubtful.update(p(.4, .3, .3))[0] == NO_ACTION   # the filtered belief below the threshold
    for bad in (0.0, 1.0):
        with pytest.raises(C3tError, match="switch"):
            PredictorSettings(decoder="hmm", switch=bad)
    assert {r["switch"] for r in candidates() if r["decoder"] == "hmm"} == {0.01, 0.03, 0.1, 0.3}
    from c3t.app.runtime.live import decision_rule

    assert "HMM filter steadies it (a change expected every 8.3 s)" in decision_rule(
        PredictorSettings(decoder="hmm", switch=0.03))


def flicker_streams(seed: int, hops: int = 400):
    """Streams of 3 classes in runs of 8-20 hops whose raw top class is right 65% of the time,
    else a random other class: what a model on windows across action edges gives."""
    rng = np.random.default_rng(seed)
    t, truths, probs = [], [], []
    while len(truths) < hops:
        c = int(rng.integers(3))
        for _ in range(int(rng.integers(8, 21))):
            shown = c if rng.random() < 0.65 else int(rng.choice([k for k in range(3) if k != c]))
            row = np.full(3, 0.15)
            row[shown] = 0.7
            probs.append(row)
            truths.append(CLASSES[c])
    t = np.arange(len(truths)) * 0.25
    return [(t, np.array(probs), truths)]


def test_the_rule_is_chosen_on_val_and_beats_the_default_on_held_out_streams():
    chosen = choose(flicker_streams(0), CLASSES, 0.25)
    rule = chosen["rule"]
    assert chosen["tried"] == len(candidates()) and rule != PredictorSettings().rule()
    assert chosen["val"]["frame_accuracy"] > chosen["default_val"]["frame_accuracy"]
    # a fresh stream of the same kind (the choice saw none of it): the chosen rule still beats the default
    (_, probs, truths), = flicker_streams(1)
    right = lambda r: np.mean(np.array(decide(probs, CLASSES, r)) == np.array(truths))
    assert right(rule) > right(PredictorSettings().rule()) + 0.1


@pytest.fixture
def imu_model(tmp_path):
    torch.manual_seed(0)
    model = UmaModel(ModelConfig(method="c3t", num_classes=3, visual_input="sequence", visual_channels=63,
                                 width=16, latent=16, t_rec=8)).eval()
    return save_model(tmp_path / "m", model, inputs=InputSpec(visual="skeleton", seconds=2.5).to_dict(), classes=CLASSES,
                      training={}, dataset="")


def test_the_model_folders_rule_is_what_the_predictor_uses_unless_told_otherwise(imu_model):
    chosen = {"rule": {**PredictorSettings().rule(), "history": 6, "threshold": 0.3, "decoder": "min-duration",
                       "min_hops": 3}, "val": {}, "default_val": {}, "tried": 1}
    store(imu_model, chosen)
    assert json.loads((imu_model / "config.json").read_text())["decision"]["history"] == 6
    buffer = SyncBuffer(seconds=10)
    buffer.add_stream("imu", "imu", 100.0, channels=6)
    live = StreamingPredictor(TorchEngine(imu_model), buffer)
    s = live.settings
    assert (s.history, s.threshold, s.decoder, s.min_hops) == (6, 0.3, "min-duration", 3)
    assert (live.smoother.decoder, live.smoother.min_hops, live.smoother._probs.maxlen) == ("min-duration", 3, 6)
    own = StreamingPredictor(TorchEngine(imu_model), buffer, PredictorSettings(history=2, from_model=False))
    assert (own.settings.history, own.settings.decoder) == (2, "none")


def test_the_live_pipeline_shows_the_rule_it_uses(imu_model):
    from c3t.app.runtime.live import LivePipeline, decision_rule

    store(imu_model, {"rule": {**PredictorSettings().rule(), "history": 6, "decoder": "hysteresis", "release": 0.2},
                      "val": {}, "default_val": {}, "tried": 1})
    live = LivePipeline(backend="torch")
    live.set_model(imu_model)
    assert (live.rule.history, live.rule.decoder) == (6, "hysteresis")
    assert "holds down to 30%" in decision_rule(live.rule)
    live.set_predictor_settings(PredictorSettings(history=2, from_model=False))
    assert (live.rule.history, live.rule.decoder) == (2, "none")
