"""Models trained as served (#28): clip datasets cut into the live windows per split, labelled as
the streaming benchmark scores, with no D_Val / D_Test clip reaching training; recorded sessions
cut across action edges; the `c3t train` default."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.core.options import NO_ACTION
from c3t.core.session.format import Label, Session
from c3t.training import splits as S
from c3t.training.session_dataset import Windowing, plan_windows
from c3t.training.stream_windows import StreamWindowing, build_stream, prepare_windows, window_label, windows_or_clips
from tests.training.test_sessions_training import clock_session

IMU_HZ = 50.0
ACTIONS, SUBJECTS, TRIALS = 2, 4, 4


def clip_id(a: int, s: int, t: int) -> float:
    """A value unique to each clip: its IMU's accel x holds it at every sample."""
    return float(100 * a + 10 * s + t)


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    """A UTD-MHAD layout whose every IMU sample names its clip (accel x = clip_id), clips 1.6-3.0 s."""
    root = tmp_path_factory.mktemp("marked")
    (root / "Inertial").mkdir()
    (root / "Skeleton").mkdir()
    rng = np.random.default_rng(0)
    for a in range(1, ACTIONS + 1):
        for s in range(1, SUBJECTS + 1):
            for t in range(1, TRIALS + 1):
                n = int(rng.integers(80, 150))
                imu = rng.normal(size=(n, 6))
                imu[:, 0] = clip_id(a, s, t)
                skel = rng.normal(size=(20, 3, int(n * 0.6))) * 0.1
                skel[1, 1] += 0.5   # the shoulder centre above the hip: a torso length
                scipy.io.savemat(root / "Inertial" / f"a{a}_s{s}_t{t}_inertial.mat", {"d_iner": imu})
                scipy.io.savemat(root / "Skeleton" / f"a{a}_s{s}_t{t}_skeleton.mat", {"d_skel": skel})
    (root / "classes.txt").write_text("one\ntwo\n")
    return root


def _ids(keys) -> set[float]:
    return {clip_id(*(int(x) for x in (k.split("_")[0][1:], k.split("_")[1][1:], k.split("_")[2][1:]))) for k in keys}


@pytest.mark.parametrize("protocol,rest", [("cross-subject", 0.0), ("random", 1.5), ("new-user", 0.0)])
def test_no_checking_clip_reaches_a_training_window(marked, tmp_path, protocol, rest):
    data = prepare_windows(marked, "skeleton", seed=1, protocol=protocol, windowing=StreamWindowing(rest_s=rest),
                           cache_dir=tmp_path, progress=False)
    split, clips = data.extra["split"], data.extra["split_json"]
    assert S.split_for(data, 1, protocol=protocol) is split
    checking = _ids(clips["val"]) | _ids(clips["test"])
    assert checking and not checking & (_ids(clips["har"]) | _ids(clips["align"]))
    for name in ("har", "align"):
        rows = split[name]
        assert len(rows)
        # by content: no IMU sample of a D_Val / D_Test clip in any D_HAR / D_Align window
        seen = data.imu[rows][:, :, 0]
        assert not np.isin(np.round(seen, 6), np.array(sorted(checking))).any(), name
        # and by record: no window lists a checking clip among its sources
        assert not {k for i in rows for k in data.extra["sources"][i]} & set(clips["val"] + clips["test"])
        # every training clip's samples do reach its split's windows
        assert _ids(clips[name]) <= set(np.round(seen, 6).ravel().tolist())
    assert (data.labels[split["align"]] == -1).all()                     # unlabelled pairs
    assert (data.labels[split["har"]] >= 0).all() and (data.labels[split["val"]] >= 0).all()
    assert data.spec.seconds == 2.5
    assert (data.classes[-1] == NO_ACTION) == (rest > 0)


def test_windows_are_cut_and_labelled_as_the_benchmark_plays_them(marked, tmp_path):
    w = StreamWindowing(rest_s=1.0)
    data = prepare_windows(marked, "skeleton", seed=0, protocol="cross-subject", windowing=w, cache_dir=tmp_path,
                           progress=False)
    test = data.extra["split"]["test"]
    keys = data.extra["split_json"]["test"]
    order = np.random.default_rng(0).permutation(len(keys))   # stream_eval.clip_dataset_streams' order
    # the windows' end times step by the live hop from the first full window
    t_end = data.extra["t_end"][test]
    assert np.allclose(np.diff(t_end), 0.25) and abs(t_end[0] - 2.5) < 1e-9
    # re-derive each window's truth from the played order: the clip (or rest) holding the window's end
    starts, t = [], 0.0
    for k, i in enumerate(order):
        if k:
            t += 1.0
        a = keys[i]
        n = len(scipy.io.loadmat(marked / "Inertial" / f"{a}_inertial.mat")["d_iner"])
        starts.append((t, t + n / IMU_HZ, int(a.split("_")[0][1:]) - 1))
        t += n / IMU_HZ
    truth = [next((c for a, b, c in starts if a <= e < b), ACTIONS) for e in t_end]   # ACTIONS: the no action index
    assert (data.labels[test] == np.array(truth)).all()   # start inclusive, end exclusive: as stream_eval.truth_at
    # the IMU of the window ending at a clip's end is that clip's samples
    e = data.extra["t_end"][test]
    last = np.flatnonzero(e < starts[2][1])[-1]
    assert np.isclose(data.imu[test[last], -1, 0], clip_id(*[int(x[1:]) for x in keys[order[2]].split("_")]), atol=1e-3)


def test_label_rules_end_and_majority():
    x = [np.zeros((100, 6)), np.zeros((100, 6))]   # 2 s of class 0, then 2 s of class 1
    stream = build_stream(x, [np.zeros((3, 63)), np.zeros((3, 63))], [0, 1], ["a", "b"], IMU_HZ)
    ends = np.array([2.25, 3.0, 3.5])
    assert window_label(stream, ends, 2.5, "end").tolist() == [1, 1, 1]
    assert window_label(stream, ends, 2.5, "majority").tolist() == [0, 0, 1]
    with pytest.raises(C3tError, match="rule"):
        StreamWindowing(rule="first")


def test_train_defaults_to_windows_and_clips_stay_for_the_paper(marked, tmp_path, capsys):
    assert windows_or_clips(marked, "skeleton", "small-cnn", clips=False) == (True, "")
    assert windows_or_clips(marked, "skeleton", "small-cnn", clips=True)[0] is False
    on_clips, note = windows_or_clips(marked, "rgb", "efficientnet-lite0", clips=False)
    assert not on_clips and "whole clips" in note
    out = tmp_path / "m"
    assert main(["train", "--dataset", str(marked), "--visual", "skeleton", "--method", "c3t", "--epochs", "2",
                 "--protocol", "cross-subject", "--cache", str(tmp_path / "c"), "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["inputs"]["seconds"] == 2.5                         # the window length, used live
    assert set(config["decision"]) >= {"smoothing", "history", "threshold", "decoder"}   # chosen on D_Val streams
    split = json.loads((out / "split.json").read_text())
    assert split["test"] and all(k.startswith("a") for k in split["test"])   # clip keys: the benchmark plays them
    assert split["windows"]["har"] > len(split["har"])
    assert "live decision rule" in capsys.readouterr().out
    # the streaming benchmark plays D_Test's clips with the model's rule, or the built-in one to compare
    for rule, expected in (("model", config["decision"]), ("default", {"history": 4, "threshold": 0.5, "decoder": "none"})):
        assert main(["bench", "stream", "--model", str(out), "--dataset", str(marked), "--rule", rule, "--json"]) == 0
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert report["hops"] > 100 and report["clip_top1"] is not None
        assert {k: report["settings"][k] for k in ("history", "threshold", "decoder")} == \
            {k: expected[k] for k in ("history", "threshold", "decoder")}


def test_sessions_cut_across_action_edges(tmp_path):
    s = Session(clock_session(tmp_path / "s", [Label(2.0, 4.6, "wave"), Label(4.6, 6.0, NO_ACTION),
                                                 Label(6.0, 8.5, "clap"), Label(12.0, 14.0, "wave", "check")]))
    plan = plan_windows(s, Windowing(hop_s=0.25, rule="end"))
    har = [p for p in plan if p.role == "har"]
    ends = [p.t_end for p in har]
    assert np.allclose(np.diff(ends), 0.25) and 2.5 <= ends[0] < 2.75 and 8.25 <= ends[-1] < 8.5   # from the first full window
    for p in har:   # labelled by the span holding the window's end, across edges
        assert p.cls == ("wave" if p.t_end < 4.6 else NO_ACTION if p.t_end < 6.0 else "clap")
    check = [p for p in plan if p.role == "check"]
    assert check and all(12.0 <= p.t_end < 14.0 for p in check)
    assert all(p.t_end <= 12.0 or p.role == "check" for p in plan if p.role != "align")   # no har window over the check segment


def test_depth_windows_take_cached_per_frame_crops(utd_root, tmp_path):
    from tests.conftest import link_subset

    root = link_subset(utd_root, tmp_path / "d", actions=[1, 22], subjects=[1, 2], trials=[1, 2, 3, 4],
                       modalities=("Inertial", "Depth"))
    first = prepare_windows(root, "depth", seed=0, protocol="random", cache_dir=tmp_path / "c", progress=False)
    assert first.visual.shape[1:] == (16, 1, 32, 32) and first.spec.seconds == 2.5
    assert 0 <= first.visual.min() and first.visual.max() <= 2 and first.visual.max() > 1   # depth_input's scale
    cached = sorted((tmp_path / "c").rglob("*.npy"))
    assert 0 < len(cached) <= 16                                 # one per depth file (by content), all of its frames
    again = prepare_windows(root, "depth", seed=0, protocol="random", cache_dir=tmp_path / "c", progress=False)
    assert np.array_equal(first.visual, again.visual) and sorted((tmp_path / "c").rglob("*.npy")) == cached
