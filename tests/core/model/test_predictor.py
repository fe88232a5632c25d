"""StreamingPredictor: smoothing and threshold, scoring, and windows from a real SyncBuffer."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.core.model.folder import save_model
from c3t.core.model.inference import OnnxEngine, TorchEngine
from c3t.core.model.networks import ModelConfig, UmaModel
from c3t.core.model.predictor import (
    NO_ACTION,
    DecisionSmoother,
    LiveInputs,
    PredictorSettings,
    RunningAccuracy,
    StreamingPredictor,
    window_truth,
)
from c3t.core.model.preprocess import as_backbone_images, frames_input
from c3t.core.streams.contract import Batch
from c3t.core.streams.syncbuffer import SyncBuffer
from c3t.core.streams.window import InputSpec
from c3t.training.export import export_model
from c3t.training.utd_mhad import UTD_CLASSES
from tests.conftest import link_subset

# ----------------------------------------------------------------------------- decisions


def test_mean_smoothing_lags_a_change_and_thresholds_to_no_action():
    s = DecisionSmoother(["a", "b", "c"], "mean", history=3, threshold=0.5)
    a, b, flat = [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.34, 0.33, 0.33]
    got = [s.update(p) for p in (a, a, b, b, flat, flat, flat)]
    actions = [g[0] for g in got]
    assert actions == ["a", "a", "a", "b", "b", NO_ACTION, NO_ACTION]
    np.testing.assert_allclose([g[1] for g in got],
                               [0.9, 0.9, (0.9 + 0.9 + 0.1) / 3, (0.8 + 0.8 + 0.05) / 3, (0.8 + 0.8 + 0.33) / 3,
                                (0.8 + 0.33 + 0.33) / 3, 0.34], atol=1e-9)
    s.reset()
    assert s.update(b) == ("b", pytest.approx(0.8))


def test_majority_vote_counts_low_confidence_windows_as_no_action():
    s = DecisionSmoother(["a", "b"], "majority", history=4, threshold=0.5)
    seq = [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.4], [0.2, 0.8], [0.1, 0.9]]
    got = [s.update(p) for p in seq]
    assert [g[0] for g in got] == ["a", "a", "a", "a", "b", "b"]
    np.testing.assert_allclose([g[1] for g in got], [1, 1, 2 / 3, 0.5, 0.5, 0.75])
    tie = DecisionSmoother(["a", "b"], "majority", history=2, threshold=0.5)
    tie.update([0.9, 0.1])
    assert tie.update([0.2, 0.8]) == ("b", 0.5)  # a tie goes to the latest vote
    strict = DecisionSmoother(["a", "b"], "majority", history=2, threshold=0.6)
    strict.update([0.9, 0.1])
    assert strict.update([0.2, 0.8])[0] == NO_ACTION  # half the votes is below 0.6
    unsure = DecisionSmoother(["a", "b"], "majority", history=3, threshold=0.6)
    for p in ([0.55, 0.45], [0.5, 0.5], [0.9, 0.1]):
        out = unsure.update(p)
    assert out == (NO_ACTION, pytest.approx(2 / 3))  # two unsure windows outvote one sure one


def test_smoother_and_settings_reject_bad_input():
    with pytest.raises(C3tError, match="smoothing"):
        DecisionSmoother(["a"], "median")
    with pytest.raises(C3tError, match="out of range"):
        PredictorSettings(hop_s=0)
    with pytest.raises(ValueError, match="expected 2 probabilities"):
        DecisionSmoother(["a", "b"]).update([1.0, 0.0, 0.0])


def test_running_accuracy_leaves_out_the_first_window_after_each_change():
    acc = RunningAccuracy()
    truths = ["x", "x", "x", "y", "y", "y", NO_ACTION, NO_ACTION]
    decisions = ["x", "x", "y", "x", "y", "y", "y", NO_ACTION]
    marks = [acc.update(d, t) for d, t in zip(decisions, truths)]
    assert marks == [None, True, False, None, True, True, None, True]
    assert (acc.correct, acc.scored, acc.skipped) == (4, 5, 3)
    assert acc.accuracy == pytest.approx(0.8)


def test_window_truth_is_the_majority_over_the_window():
    def truth_at(t):
        return "a" if t < 1.0 else (None if t < 2.0 else "b")

    assert window_truth(truth_at, 0.0, 1.6) == "a"            # 5 samples of a, 4 of rest
    assert window_truth(truth_at, 0.9, 2.5) == NO_ACTION       # a rest counts as no action
    assert window_truth(truth_at, 2.0, 3.0) == "b"


# ----------------------------------------------------------------------------- on a SyncBuffer


@pytest.fixture(scope="module")
def c3t_folder(utd_root, tmp_path_factory):
    """An (untrained) C3T skeleton model, exported: the streaming machinery does not need accuracy."""
    tmp = tmp_path_factory.mktemp("pred")
    data = link_subset(utd_root, tmp / "d", actions=[4], subjects=[1], trials=[1], modalities=("Inertial", "Skeleton"))
    torch.manual_seed(0)
    model = UmaModel(ModelConfig(method="c3t", num_classes=27, visual_input="sequence", visual_channels=63,
                                 width=32, latent=32, t_rec=8)).eval()
    save_model(tmp / "m", model, inputs=InputSpec(visual="skeleton").to_dict(), classes=list(UTD_CLASSES),
               training={}, dataset=str(data))
    export_model(tmp / "m", clips=1, log=lambda *a: None)
    return tmp / "m"


RATE = 100.0


def imu_batches(t0, t1, rng, skip=None):
    """100 Hz 6-channel IMU in packets of 5 with a device clock (30 ms offset) and arrival jitter."""
    d = np.arange(round(t0 * RATE), round(t1 * RATE)) / RATE
    if skip:
        d = d[(d < skip[0]) | (d >= skip[1])]
    accel = np.stack([np.sin(2 * np.pi * 0.7 * d), np.cos(2 * np.pi * 0.5 * d), 1 + 0 * d], 1)
    gyro = 150 * np.stack([np.sin(2 * np.pi * 1.1 * d), 0 * d, np.cos(2 * np.pi * 0.3 * d)], 1)
    values = np.concatenate([accel, gyro], 1).astype(np.float32)
    for i in range(0, len(d), 5):
        sl = slice(i, i + 5)
        arrival = d[sl][-1] + 0.030 + rng.uniform(0, 0.004)
        yield Batch("imu", np.full(len(d[sl]), arrival), values[sl], t_device=d[sl])


def run_stream(predictor, buffer, batches):
    out = []
    for b in batches:
        buffer.ingest(b)
        p = predictor.poll()
        if p is not None:
            out.append(p)
    return out


def imu_buffer():
    buffer = SyncBuffer(seconds=20)
    buffer.add_stream("imu", "imu", RATE, channels=6)
    return buffer


def test_predictor_on_a_syncbuffer_predicts_every_hop_and_matches_torch(c3t_folder):
    rng = np.random.default_rng(0)
    batches = list(imu_batches(0.0, 6.0, rng))
    buffer = imu_buffer()
    predictor = StreamingPredictor(OnnxEngine(c3t_folder), buffer, PredictorSettings(hop_s=0.25))
    preds = run_stream(predictor, buffer, batches)
    assert predictor.modalities == ("imu",) and predictor.spec.seconds == 2.5 and predictor.spec.imu_steps == 128
    t = np.array([p.t for p in preds])
    assert t[0] >= 2.5 and len(preds) == pytest.approx((6.0 - 2.5) / 0.25, abs=2)  # only full windows
    assert np.all(np.diff(t) >= 0.25 - 1e-9) and np.all(np.diff(t) < 0.25 + 0.1)
    for p in preds:
        assert p.backend == "onnxruntime" and p.modalities == ("imu",)
        assert p.probs.shape == (27,) and abs(p.probs.sum() - 1) < 1e-5
        assert p.attention.shape == (8,) and abs(p.attention.sum() - 1) < 1e-5
        assert p.top == UTD_CLASSES[int(p.probs.argmax())]
        assert p.latency_ms > 0 and set(p.stages_ms) == {"window", "preprocess", "model", "smoothing"}
        row = p.to_json()
        assert {"t", "action", "confidence", "probs", "attention", "latency_ms"} <= set(row)
    # the same windows through eager torch: the same probabilities
    twin = StreamingPredictor(TorchEngine(c3t_folder), buffer, PredictorSettings(hop_s=0.25))
    for p in preds[::3]:
        q = twin.step(p.t)
        assert q.backend == "torch"
        assert np.abs(p.probs - q.probs).max() < 1e-4 and np.abs(p.attention - q.attention).max() < 1e-4


def test_predictor_waits_out_a_gap_in_the_imu(c3t_folder):
    rng = np.random.default_rng(1)
    buffer = imu_buffer()
    predictor = StreamingPredictor(OnnxEngine(c3t_folder), buffer, PredictorSettings(hop_s=0.25))
    preds = run_stream(predictor, buffer, imu_batches(0.0, 9.0, rng, skip=(4.0, 5.0)))
    t = np.array([p.t for p in preds])
    assert len(buffer.gaps("imu")) == 1
    # no window that overlaps the second without data; predictions resume once past it
    assert not np.any((t > 4.0 + 0.03) & (t - 2.5 < 5.0 + 0.03))
    assert np.any(t < 4.1) and np.any(t > 8.0)


class CountingEngine:
    """A stand-in engine for an rgb "features" model that records what it is asked, so the
    test can see which frames reach the backbone and which path runs."""

    backend = "stub"
    paths = ("imu", "camera", "fusion")

    def __init__(self, visual="rgb"):
        self.classes = ["a", "b"]
        self.config = {"classes": self.classes, "model": {"method": "c3t", "visual_input": "features", "imu_channels": 6},
                       "inputs": {"visual": visual, "imu_steps": 128, "frames": 16, "frame_size": 48}}
        self.method = "c3t"
        self.featurised = []    # mean pixel value of every image the backbone saw
        self.calls = []         # (path, visual input)

    def features(self, images):
        self.featurised.extend(images.mean(axis=(1, 2, 3)).tolist())
        return np.repeat(images.mean(axis=(1, 2, 3))[:, None], 4, axis=1).astype(np.float32)

    def run(self, path, imu=None, visual=None):
        self.calls.append((path, visual))
        return np.array([0.7, 0.3]), None


def camera_batches(t0, t1, rng):
    """30 fps frames whose colour encodes their index, with a device clock that the buffer keeps
    re-fitting (so a frame's time moves a little from one window to the next)."""
    for i in range(round(t0 * 30), round(t1 * 30)):
        d = i / 30
        frame = np.full((1, 24, 32, 3), (i * 7) % 250, np.uint8)
        yield Batch("camera", [d + 0.015 + rng.uniform(0, 0.006)], frame, t_device=[d])


def test_camera_frames_reach_the_backbone_once_and_fuse_with_the_imu():
    rng = np.random.default_rng(2)
    engine = CountingEngine()
    buffer = imu_buffer()
    buffer.add_stream("camera", "camera", 30.0)
    predictor = StreamingPredictor(engine, buffer, PredictorSettings(hop_s=0.25))
    assert predictor.modalities == ("imu", "camera")
    merged = sorted(list(imu_batches(0.0, 8.0, rng)) + list(camera_batches(0.0, 8.0, rng)), key=lambda b: b.t_host[-1])
    preds, expected = [], []
    for b in merged:
        buffer.ingest(b)
        p = predictor.poll()
        if p is not None:
            preds.append(p)  # what the window's frames look like, read right away (the camera ring is short)
            expected.append(buffer.window(p.t, predictor.spec).frames.reshape(16, -1).mean(axis=1) / 255.0)
    assert len(preds) >= 18 and all(p.modalities == ("imu", "camera") for p in preds)
    assert {c[0] for c in engine.calls} == {"fusion"}
    assert all("backbone" in p.stages_ms for p in preds)
    # every frame went through the backbone at most once, although windows overlap and the
    # clock re-fits move frame times a little between windows
    assert len(engine.featurised) == len(set(engine.featurised))
    assert len(engine.featurised) <= 8 * 30 and len(engine.featurised) < 16 * len(preds)
    # and each window's features are those of its own frames, in time order
    for want, (_, visual) in zip(expected, engine.calls):
        np.testing.assert_allclose(visual[0, :, 0], want, atol=2e-3)
    # the camera stalls, the IMU goes on: predictions continue on the IMU alone
    stalled = run_stream(predictor, buffer, imu_batches(8.0, 10.0, rng))
    assert len(stalled) >= 5 and stalled[-1].modalities == ("imu",) and engine.calls[-1][0] == "imu"


@pytest.mark.parametrize("kind, visual", [("frames", "rgb"), ("features", "rgb"), ("frames", "motion")])
def test_live_camera_inputs_are_the_training_inputs(kind, visual):
    """A window of 16 colour frames becomes exactly what training/prepare.py makes of a clip."""
    rng = np.random.default_rng(3)
    video = rng.integers(0, 256, size=(16, 60, 80, 3), dtype=np.uint8)
    engine = CountingEngine(visual=visual)
    engine.config["model"]["visual_input"] = kind
    engine.seen = []
    engine.features = lambda images: engine.seen.append(images) or np.zeros((len(images), 4), np.float32)
    live, _ = LiveInputs(engine.config, engine).camera(video, np.arange(16) / 6.0)
    spec = InputSpec(visual=visual, backbone="small-cnn" if kind == "frames" else "efficientnet-lite0", frame_size=48)
    if kind == "frames":
        np.testing.assert_array_equal(live[0], frames_input(video, spec, 48))
    else:
        np.testing.assert_array_equal(np.concatenate(engine.seen), as_backbone_images(frames_input(video, spec, 112)))


def test_a_depth_model_cannot_take_a_colour_camera():
    buffer = imu_buffer()
    buffer.add_stream("camera", "camera", 30.0)
    with pytest.raises(C3tError, match="camera modality is depth.*leave out --camera"):
        StreamingPredictor(CountingEngine(visual="depth"), buffer)
    with pytest.raises(C3tError, match="nothing to predict from"):
        StreamingPredictor(CountingEngine(), SyncBuffer())


# ----------------------------------------------------------------------------- c3t live


def test_live_on_the_simulated_imu_prints_predictions_with_ground_truth(c3t_folder, capsys):
    from c3t.devices.simulated import SimulatedSource

    classes = SimulatedSource(seed=1).classes
    assert main(["live", "--model", str(c3t_folder), "--imu", "sim?seed=1", "--seconds", "4", "--jsonl"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) >= 4  # the first window fills after 2.5 s, then one per 0.25 s hop
    for row in rows:
        assert {"t", "action", "confidence", "probs", "attention", "latency_ms", "truth", "accuracy"} <= set(row)
        assert len(row["probs"]) == 27 and len(row["attention"]) == 8 and row["latency_ms"] > 0
        assert row["action"] in UTD_CLASSES + [NO_ACTION] and row["truth"] in classes + [NO_ACTION]
        assert row["accuracy"] is None or 0 <= row["accuracy"] <= 1
    t = [row["t"] for row in rows]
    assert t[0] >= 2.4 and all(b - a >= 0.25 - 1e-6 for a, b in zip(t, t[1:]))
    assert "predictions (onnxruntime)" in captured.err and "smoothed accuracy" in captured.err


def test_live_refuses_a_camera_the_model_cannot_use(c3t_folder, capsys):
    assert main(["live", "--model", str(c3t_folder), "--imu", "sim", "--camera", "sim", "--seconds", "1"]) == 2
    assert "camera modality is skeleton" in capsys.readouterr().err
    assert main(["live", "--model", str(c3t_folder), "--seconds", "1"]) == 2
    assert "give an IMU source, a camera source or both" in capsys.readouterr().err
