"""Training on recorded sessions: windows cut with the SyncBuffer, roles from the labels, end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest

from c3t.app.cli import main
from c3t.core.session.format import Label, Session, write_labels
from c3t.core.session.writer import Recorder, RecorderConfig, StreamSpec
from c3t.core.streams.contract import Batch
from c3t.training import splits as S
from c3t.training.prepare import prepare
from c3t.training.session_dataset import Windowing, plan_windows

IMU_HZ, FPS, SECONDS = 100.0, 30.0, 24.0


def clock_session(folder, labels):
    """IMU channel 0 = the sample's true time, a frame's colour = its number: a window shows
    exactly which instants it was cut from. The IMU sends device time (offset 100 s)."""
    rec = Recorder(folder, [StreamSpec("imu", "imu", IMU_HZ), StreamSpec("camera", "camera", FPS)],
                   config=RecorderConfig(fsync=False))
    rng = np.random.default_rng(0)
    for k in range(0, int(SECONDS * IMU_HZ), 5):
        t = np.arange(k, k + 5) / IMU_HZ
        values = rng.normal(size=(5, 6)).astype(np.float32)
        values[:, 0] = t
        rec.write(Batch("imu", np.full(5, rec.t0 + t[-1] + 0.004), values, t_device=100.0 + t, seq=np.arange(k, k + 5)))
    for i in range(int(SECONDS * FPS)):
        image = np.zeros((1, 48, 64, 3), np.uint8)
        image[..., 0], image[..., 1] = 8 * (i % 30), 8 * (i // 30)     # blue, green (BGR): steps the codec keeps apart
        rec.write(Batch("camera", [rec.t0 + i / FPS + 0.002], image))
    for lb in labels:
        rec.add_label(lb.start, lb.end, lb.cls, lb.use)
    rec.close()
    return folder


LABELS = [Label(2.0, 4.6, "wave"), Label(6.0, 8.5, "clap"), Label(10.0, 12.8, "wave", "check"),
          Label(14.0, 16.5, "clap", "check"), Label(18.0, 20.7, "wave", "check"), Label(21.0, 23.5, "clap", "check")]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("sessions")
    clock_session(root / "a", LABELS)
    clock_session(root / "b", [Label(3.0, 5.5, "clap"), Label(8.0, 10.5, "wave")])
    return root


def overlaps(a0, a1, b0, b1):
    return min(a1, b1) > max(a0, b0)


def test_windows_are_cut_at_the_recorded_times(sessions, tmp_path):
    data = prepare(sessions, "rgb", backbone="small-cnn", cache_dir=tmp_path, progress=False)
    W = data.spec.seconds
    assert W == 2.5 and data.imu.shape[1:] == (128, 6) and data.visual.shape[1:] == (16, 3, 48, 48)
    t_end = np.array([float(k.split("@")[1]) for k in data.keys])
    for i in range(0, len(t_end), 7):
        grid = np.linspace(t_end[i] - W, t_end[i], 128)
        # the IMU's device clock was mapped onto session time: channel 0 reads back the instants
        np.testing.assert_allclose(data.imu[i, :, 0], grid, atol=0.012)
        # each of the 16 frames is the one nearest in time to its instant (RGB after colour_input)
        rgb = data.visual[i].mean(axis=(2, 3)) * 255
        frame_no = np.round(rgb[:, 2] / 8) + 30 * np.round(rgb[:, 1] / 8)
        expected = np.round((np.linspace(t_end[i] - W, t_end[i], 16) - 0.002) * FPS)
        assert np.abs(frame_no - expected).max() <= 1, (frame_no, expected)
    assert data.spec.to_dict()["seconds"] == 2.5


def test_roles_keep_checking_segments_out_of_training(sessions, tmp_path):
    data = prepare(sessions, backbone="small-cnn", cache_dir=tmp_path, progress=False)
    roles, groups = data.extra["roles"], data.extra["groups"]
    assert data.classes == ["clap", "wave"] and set(roles) == {"har", "align", "check"}
    assert (data.labels[roles == "align"] == -1).all() and (data.labels[roles != "align"] >= 0).all()
    W = data.spec.seconds
    t_end = np.array([float(k.split("@")[1]) for k in data.keys])
    session_of = np.array([k.split("/")[0] for k in data.keys])
    checks = [(lb.start, lb.end) for lb in LABELS if lb.use == "check"]
    for i in np.flatnonzero((roles != "check") & (session_of == "a")):
        assert not any(overlaps(t_end[i] - W, t_end[i], a, b) for a, b in checks), data.keys[i]
    for i in np.flatnonzero(roles == "align"):
        spans = LABELS if session_of[i] == "a" else [Label(3.0, 5.5, "x"), Label(8.0, 10.5, "x")]
        assert not any(overlaps(t_end[i] - W, t_end[i], lb.start, lb.end) for lb in spans)
    for seed in range(4):
        split = S.split_for(data, seed)
        train = np.concatenate([split["har"], split["align"]])
        assert (roles[train] != "check").all() and set(roles[split["val"]]) == set(roles[split["test"]]) == {"check"}
        assert not set(groups[split["val"]]) & set(groups[split["test"]])   # a segment is wholly val or test
        assert len(split["val"]) + len(split["test"]) == int((roles == "check").sum())
    har, align, val, test = S.views(data, split)
    assert not hasattr(align, "labels") and not hasattr(har, "imu")


def test_labels_edited_after_recording_are_used(sessions, tmp_path):
    data = prepare(sessions, backbone="small-cnn", cache_dir=tmp_path, progress=False)
    path = sessions / "b" / "labels.csv"
    original = path.read_text()
    try:
        write_labels(path, [Label(3.0, 5.5, "clap"), Label(8.0, 10.5, "wave", "check")])
        edited = prepare(sessions, backbone="small-cnn", cache_dir=tmp_path, progress=False)
    finally:
        path.write_text(original)
    assert (edited.extra["roles"] == "check").sum() > (data.extra["roles"] == "check").sum()
    again = prepare(sessions, backbone="small-cnn", cache_dir=tmp_path, progress=False)   # from the cache
    np.testing.assert_array_equal(again.visual, data.visual)
    assert again.keys == data.keys


def test_frozen_backbone_features_are_computed_per_frame(sessions, tmp_path, monkeypatch):
    """With a frozen backbone each distinct frame goes through it once, and a window's features
    are its frames' features in order (a stand-in backbone: the mean of each colour channel)."""
    import torch

    import c3t.core.model.backbones as B

    calls = []

    class MeanColour(torch.nn.Module):
        out_dim = 3

        def forward(self, images):
            calls.append(len(images))
            return images.mean(dim=(2, 3))

    monkeypatch.setattr(B, "load_backbone", lambda name: MeanColour())
    feats = prepare(sessions, "rgb", backbone="efficientnet-lite0", cache_dir=tmp_path, progress=False)
    frames = prepare(sessions, "rgb", backbone="small-cnn", cache_dir=tmp_path, progress=False)
    assert feats.keys == frames.keys and feats.visual.shape == (len(feats.keys), 16, 3)
    np.testing.assert_allclose(feats.visual, frames.visual.mean(axis=(3, 4)), atol=0.02)   # 112 px vs 48 px resize
    assert sum(calls) <= 2 * int(SECONDS * FPS)          # each frame at most once (two sessions)


def test_plan_rules(tmp_path):
    s = Session(clock_session(tmp_path / "s", [Label(2.0, 3.0, "short"), Label(3.4, 7.0, "long", "check")]))
    plan = plan_windows(s, Windowing(seconds=2.5, hop_s=0.25, min_cover=0.8, max_other=0.2, rule=None))   # inside one segment
    short = [p.t_end for p in plan if p.cls == "short"]
    # a 1 s camera-labelled segment: windows hold >= 0.8 s of it, and touch nothing of the check segment at 3.4 s
    assert short == [2.8, 3.05, 3.3]
    long = [p for p in plan if p.cls == "long"]
    assert long and all(p.role == "check" and 3.4 + 2.0 - 1e-6 <= p.t_end <= 7.0 + 0.5 + 1e-6 for p in long)
    assert all(p.t_end - 2.5 >= 7.0 or p.t_end <= 2.0 for p in plan if p.role == "align")


def test_an_action_shorter_than_the_window_between_labelled_rests_is_trained_on(tmp_path):
    """A quick gesture (1.8 s, under the 2.5 s window) between labelled rests: every window that
    holds it holds more than 20% rest, so windows inside one segment (rule None) gave it none and
    training refused the recording ("no har labels" for a class the camera had labelled twice).
    The default windows, as live cuts them (rule "end"), are labelled by the action at their end."""
    no = "no action"
    s = Session(clock_session(tmp_path / "s", [Label(1.0, 3.0, no), Label(3.0, 4.8, "swipe"), Label(4.8, 8.0, no)]))
    assert not [p for p in plan_windows(s, Windowing(rule=None)) if p.cls == "swipe"]
    swipe = [p.t_end for p in plan_windows(s, Windowing()) if p.cls == "swipe"]
    assert len(swipe) == 8 and all(3.0 <= t < 4.8 for t in swipe)   # every hop (0.25 s) whose window ends in it
    np.testing.assert_allclose(np.diff(swipe), 0.25)


def test_missing_roles_say_what_to_record(tmp_path):
    clock_session(tmp_path / "only", [Label(2.0, 4.6, "wave")])
    data = prepare(tmp_path, backbone="small-cnn", cache_dir=tmp_path / "cache", progress=False)
    with pytest.raises(Exception, match="no D_val windows.*--check"):
        S.split_for(data, 0)


@pytest.fixture
def one_torch_thread():
    """Training here runs on one thread: on a shared, busy CPU torch's spinning worker threads
    made it about 10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.timeout(1800)   # trains 10 epochs (+ 5 of refinement): minutes beside other work, not the suite's 300 s
def test_end_to_end_simulated_sessions_train_c3t(sim_sessions, tmp_path, capsys, one_torch_thread):
    """A simulated person recorded (unlabelled, camera-labelled, IMU-labelled for checking: the
    shared SimSessions, 3 actions, 110 s at 12x), C3T trained with `c3t train`, the IMU scored on
    the checking session: a short version of `c3t bench sessions`, which measures the full figure."""
    root, folders = sim_sessions.root, sim_sessions.folders
    for f in folders:
        s = Session(f)
        assert s.closed_cleanly and not [p for p in s.problems if "corrupt" in p]
    assert not Session(folders[0]).labels and {lb.use for lb in Session(folders[2]).labels} == {"check"}
    model = tmp_path / "model"
    assert main(["train", "--dataset", str(root), "--method", "c3t", "--backbone", "small-cnn", "--epochs", "10",
                 "--cache", str(sim_sessions.cache), "--out", str(model), "--quiet"]) == 0
    metrics = json.loads((model / "metrics.json").read_text())
    split = json.loads((model / "split.json").read_text())
    assert split["assignment"] == "recorded roles"
    assert all(k.startswith("03-check/check@") for k in split["val"] + split["test"])
    assert not any(k.startswith("03-check/check@") for k in split["har"] + split["align"])
    assert metrics["sizes"]["test"] >= 15
    assert metrics["test"]["imu"]["top1"] >= 0.7, metrics["test"]["imu"]
    capsys.readouterr()
    assert main(["eval", "--model", str(model), "--split", "test", "--cache", str(sim_sessions.cache), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["n"] == metrics["sizes"]["test"] and scored["top1"] == pytest.approx(metrics["test"]["imu"]["top1"])


def test_the_model_says_how_its_session_windows_were_cut(sessions, tmp_path):
    """split.json stores the Windowing (the streaming benchmark cuts the checking windows again
    the same way); a model from before it did was cut inside segments, with its keys' steps."""
    from dataclasses import asdict

    from c3t.training.stream_eval import windowing_of

    data = prepare(sessions, backbone="small-cnn", cache_dir=tmp_path, progress=False)
    stored = S.to_json(data, S.split_for(data, 0), 0)
    assert stored["windowing"] == asdict(Windowing()) and windowing_of(stored) == Windowing()
    legacy = {"har": ["a/har@2.0", "a/har@2.5"], "align": ["a/align@9.0", "a/align@10.0"]}
    assert windowing_of(legacy) == Windowing(hop_s=0.5, align_hop_s=1.0, rule=None)
