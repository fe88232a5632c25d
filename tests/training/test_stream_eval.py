"""The streaming benchmark: temporal-segmentation metrics on hand-made sequences with known
answers, and held-out data played through SyncBuffer -> StreamingPredictor on simulated time
(clip datasets, recorded sessions, the simulator), deterministic."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.core.model.folder import save_model
from c3t.core.model.networks import ModelConfig, build_model
from c3t.core.options import NO_ACTION, frame_grid
from c3t.core.streams.window import InputSpec
from c3t.training import stream_metrics as M
from c3t.training.stream_eval import bench_stream, report_lines, truth_at
from c3t.training.synth import SynthConfig, write_dataset

R = NO_ACTION


# ----------------------------------------------------------------------------- metrics

def test_runs_and_frame_accuracy():
    assert M.runs(["a", "a", "b", R, R, "a"]) == [("a", 0, 2), ("b", 2, 3), (R, 3, 5), ("a", 5, 6)]
    assert M.runs([]) == []
    # "no action" during an action is wrong; during a rest a class is wrong
    assert M.frame_accuracy(["a", R, "b", R], ["a", "a", R, R]) == 0.5
    assert M.frame_accuracy([], []) is None


def test_settled_mask_leaves_out_a_second_after_each_change():
    t = np.arange(12) * 0.25
    truths = ["a"] * 6 + ["b"] * 6            # change at t = 1.5
    mask = M.settled_mask(t, truths, 1.0)
    assert mask.tolist() == [False] * 4 + [True] * 2 + [False] * 4 + [True] * 2


def test_macro_f1_over_true_classes():
    # a: tp 1, decided 1, true 2 -> 2/3; rest: tp 1, decided 2, true 1 -> 2/3; b: tp 1, 1, 1 -> 1
    got = M.macro_f1(["a", R, R, "b"], ["a", "a", R, "b"])
    assert got == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_edit_score_levenshtein_over_segments_background_left_out():
    truth = ["a"] * 4 + [R] * 2 + ["b"] * 4 + ["c"] * 4
    assert M.edit_score(["a"] * 3 + [R] * 4 + ["b"] * 3 + ["c"] * 4, truth) == 100.0   # same order, other edges
    assert M.edit_score(["a"] * 10 + ["c"] * 4, truth) == pytest.approx(100 * (1 - 1 / 3))   # b missing
    # over-segmentation: a, b, a, b, c against a, b, c: 2 insertions in 5
    assert M.edit_score(["a", "b", "a", "b", "c"], ["a", "b", "c"]) == pytest.approx(100 * (1 - 2 / 5))
    assert M.edit_score([R, R], [R, R]) == 100.0
    assert M.edit_score(["a"], [R]) == 0.0


def test_f1_at_k_iou_and_one_match_per_true_segment():
    truth = ["a"] * 4 + ["b"] * 4
    pred = ["a"] * 2 + ["b"] * 6            # a: IoU 2/4; b: IoU 4/6
    assert M.f1_counts(pred, truth, 0.5) == (2, 0, 0)
    assert M.f1_counts(pred, truth, 0.6) == (1, 1, 1)   # a falls under the threshold
    assert M.f1(1, 1, 1) == 0.5
    # a second decided segment of an already matched true segment is a false positive
    pred = ["a"] * 2 + [R] + ["a"]
    assert M.f1_counts(pred, ["a"] * 4, 0.1) == (1, 1, 0)
    assert M.f1(*M.f1_counts(pred, ["a"] * 4, 0.1)) == pytest.approx(2 / 3)
    # wrong class never matches; background segments are not counted
    assert M.f1_counts(["b"] * 4 + [R] * 2, ["a"] * 4 + [R] * 2, 0.1) == (0, 1, 1)
    assert M.f1(0, 0, 0) == 1.0


def test_detection_delay_and_missed():
    t = np.arange(20) * 0.25
    segments = [(1.0, 3.0, "a"), (3.0, 5.0, "b"), (0.0, 1.0, R)]
    decisions = truth_at(t, [(1.5, 3.0, "a")])           # "a" from 1.5 s, "b" never
    delays, missed = M.detection_delays(t, decisions, segments)
    assert delays == [0.5] and missed == 1


def test_false_starts_count_decided_segments_starting_in_rest():
    truths = [R] * 8 + ["a"] * 4
    decisions = [R, "b", "b", R, R, R, R, "a", "a", "a", "a", "a"]    # b starts in rest; a starts in rest too
    assert M.false_starts(decisions, truths, 0.25) == (2, 2.0)
    assert M.false_starts([R] * 7 + ["a"] * 5, truths, 0.25) == (1, 2.0)
    assert M.false_starts(["a"] * 10 + [R] * 2, ["a"] * 10 + [R] * 2, 0.25) == (0, 0.5)   # runs on into rest


def test_stream_figures_and_accumulator_agree():
    t = np.arange(16) * 0.25
    truths = [R] * 4 + ["a"] * 6 + [R] * 6
    decisions = [R] * 5 + ["a"] * 6 + [R] * 3 + ["b"] * 2
    fig = M.stream_figures([M.Part(t, decisions, truths, 0.25)])
    assert fig["hops"] == 16 and fig["frame_accuracy"] == pytest.approx(12 / 16)
    assert fig["f1_50"] == pytest.approx(M.f1(1, 1, 0), abs=1e-4) and fig["edit"] == pytest.approx(50.0)
    assert fig["delay_s_median"] == 0.25 and fig["detected"] == 1 and fig["actions"] == 1
    assert fig["false_starts"] == 1 and fig["rest_minutes"] == pytest.approx(2.5 / 60, abs=1e-3)
    assert fig["false_starts_per_min"] == pytest.approx(60 / 2.5, abs=1e-3)
    score = M.StreamScore(0.25)
    for ti, d, g in zip(t, decisions, truths):
        score.add(ti, d, None if g == R else g)
    assert score.figures() == fig
    # the yardstick: the truth itself, one / two / four hops late (an action of 6 hops between rests)
    assert fig["lagged_truth_accuracy"] == {"0.25": 14 / 16, "0.5": 12 / 16, "1": 8 / 16}
    lines = M.figure_lines(fig)
    assert len(lines) == 4 and lines[-1].endswith("0.25 / 0.5 / 1 s late scores 87.5 / 75.0 / 50.0% frame accuracy")
    assert M.lagged_truth_accuracy(t, truths, 0.0) == 1.0 and M.lagged_truth_accuracy([], [], 0.5) is None


# ----------------------------------------------------------------------------- playback

CLASSES = ["right arm swipe to the left", "right hand wave", "right arm throw"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny `c3t synth` dataset (3 actions, 2 people) and an untrained C3T rgb model on it
    whose D_Test is person 2's clips (the benchmark needs a model, not a good one)."""
    tmp = tmp_path_factory.mktemp("stream")
    data = tmp / "synth"
    write_dataset(data, SynthConfig(subjects=2, reps=1, seed=4, actions=["swipe_left", "wave", "throw"],
                                    width=64, height=48), progress=False)
    torch.manual_seed(0)
    spec = InputSpec(visual="rgb", frame_size=16, frames=4, imu_steps=32)
    cfg = ModelConfig(method="c3t", num_classes=4, visual_input="frames", visual_channels=3, latent=16, width=16,
                      t_rec=4, head_layers=1, head_heads=2, frame_grid=frame_grid("rgb"))
    split = {"seed": 0, "test": [f"a{a}_s2_t1" for a in (1, 2, 3)], "val": [f"a{a}_s1_t1" for a in (1, 2, 3)]}
    folder = save_model(tmp / "model", build_model(cfg).eval(), inputs=spec.to_dict(), classes=CLASSES + [NO_ACTION],
                        training={}, dataset=str(data), split=split)
    return folder, data


def test_clip_stream_is_deterministic_and_scored(tiny):
    folder, data = tiny
    a = bench_stream(folder, data, split="test", rest_s=1.0, seed=3)
    b = bench_stream(folder, data, split="test", rest_s=1.0, seed=3)
    assert a["figures"] == b["figures"]
    fig = a["figures"]
    assert a["modalities"] == ["imu", "camera"] and a["data"] == "3 clips"
    assert fig["actions"] == 3 and fig["hops"] > 10 and 0 <= fig["frame_accuracy"] <= 1
    assert fig["rest_minutes"] > 0 and fig["clip_top1"] is not None
    assert "rest: 1 s between clips" in report_lines(a)[0]
    imu_only = bench_stream(folder, data, split="all", predict_from="imu", seed=3)
    assert imu_only["modalities"] == ["imu"] and imu_only["data"] == "6 clips"
    assert imu_only["figures"]["rest_minutes"] == 0 and imu_only["figures"]["false_starts_per_min"] is None


def test_the_seed_orders_the_same_clips(tiny):
    from c3t.core.model.folder import read_model_config
    from c3t.training.stream_eval import clip_dataset_streams

    folder, data = tiny
    config = read_model_config(folder)
    orders = [[seq.key for seq, _ in clip_dataset_streams(folder, data, config, "all", 0.0, seed, False)[1]]
              for seed in (0, 1, 0)]
    assert orders[0] == orders[2] and orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])
    assert len(orders[0]) == 6


def test_sessions_and_simulator_play(tiny, tmp_path):
    from c3t.app.runtime.sim_sessions import record_simulated_sessions
    from c3t.devices.simulated import DATA_BATCH_S, SimulatedSource

    folder, _ = tiny
    sessions = tmp_path / "sessions"
    record_simulated_sessions(sessions, 0, 20.0, 12.0, actions="swipe_left,wave,throw", sim_seed=4, size=(64, 48))
    r = bench_stream(folder, sessions, split="all")
    assert r["kind"] == "sessions" and r["data"] == "2 sessions: 01-har, 02-check"
    assert r["figures"]["hops"] > 0 and r["figures"]["clip_top1"] is not None and r["note"] is None

    def person(**kw):
        return SimulatedSource(realtime=False, batch_s=DATA_BATCH_S, **kw)

    sim = bench_stream(folder, None, sim_person=person, people=1, seconds=10.0, predict_from="imu")
    assert sim["kind"] == "sim" and "simulated person 3 (world 4)" in sim["data"]   # synth had people 1-2
    assert sim["figures"]["hops"] == len(np.arange(2.5, 10.0 + 1e-9, 0.25)) and sim["figures"]["clip_top1"] is None


def test_refusals(tiny):
    folder, data = tiny
    with pytest.raises(C3tError, match="--split"):
        bench_stream(folder, data, split="train")
    with pytest.raises(C3tError, match="--rest"):
        bench_stream(folder, data, rest_s=-1)
    with pytest.raises(C3tError, match="not one of the model's classes"):
        (data / "classes.txt").write_text("x\ny\nz\n")
        try:
            bench_stream(folder, data)
        finally:
            (data / "classes.txt").write_text("\n".join(CLASSES) + "\n")


def test_cli_prints_the_table_and_a_json_last_line(tiny, capsys):
    folder, data = tiny
    assert main(["bench", "stream", "--model", str(folder), "--dataset", str(data), "--rest", "1", "--from", "imu",
                 "--decoders", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("played 3 clips (test, order seed 0) from imu") and "frame accuracy" in lines[1]
    got = json.loads(lines[-1])
    for key in ("frame_accuracy", "f1_50", "edit", "delay_s_median", "false_starts_per_min", "clip_top1", "hops"):
        assert key in got
    assert got["kind"] == "clips" and got["hops"] > 0 and got["rest_minutes"] > 0
    # --decoders: the built-in rule, then each decoder's rule chosen on the 3 D_Val clips, all scored on D_Test
    assert [row["decoder"] for row in got["decoders"]] == ["built-in", "none", "hysteresis", "min-duration", "hmm"]
    assert got["decoders_chosen_on"] == "D_Val: 3 clips"
    assert all(row["rule"]["decoder"] == row["decoder"] for row in got["decoders"][1:])
    assert got["decoders"][0]["figures"]["hops"] == got["hops"]
    # the built-in row re-decodes the played probabilities: the same figures as playing with the built-in rule
    assert main(["bench", "stream", "--model", str(folder), "--dataset", str(data), "--rest", "1", "--from", "imu",
                 "--rule", "default", "--json"]) == 0
    played = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert got["decoders"][0]["figures"]["frame_accuracy"] == played["frame_accuracy"]
    assert any(line.startswith("hmm ") for line in lines)
    assert main(["bench", "stream", "--model", str(folder), "--dataset", str(data), "--split", "val",
                 "--decoders"]) == 2
    assert "leave out --split val" in capsys.readouterr().err
    assert main(["bench", "stream", "--model", str(folder)]) == 2
    assert "give --dataset DIR" in capsys.readouterr().err


def test_live_pipeline_prints_the_stream_figures_at_the_end(tiny, capsys):
    """`c3t live` / `c3t demo --headless` with ground truth: each hop's decision against the action at its
    time, and the benchmark's lines at the end (the simulator on unpaced simulated time: no waiting)."""
    from c3t.app.runtime.headless import HeadlessRun
    from c3t.app.runtime.live import LivePipeline

    folder, _ = tiny
    live = LivePipeline(backend="torch")
    live.set_model(folder)
    spec = "sim?realtime=false&seed=4&subject=3&camera=false&imu_hz=50&actions=swipe_left,wave,throw"
    assert HeadlessRun(live, spec, None, 8.0, jsonl=False, data_seconds=True).run() == 0
    score = live.stream_score
    assert len(score.t) >= 8.0 / 0.25 and score.figures()["hops"] == len(score.t)
    assert set(score.truths) <= set(CLASSES) | {NO_ACTION} and len(set(score.truths)) >= 2
    out = capsys.readouterr().out
    assert "stream: hops" in out and "stream: segments: edit" in out


def test_session_window_steps_are_read_off_the_split_keys():
    from c3t.training.stream_eval import windowing_of

    split = {"har": ["s1/har@3.000", "s1/har@3.500", "s1/har@4.000", "s1/har@9.100"],
             "test": ["s2/check@5.006", "s2/check@5.506"], "align": ["s1/align@2.5", "s1/align@3.5", "s1/align@4.5"]}
    w = windowing_of(split)
    assert (w.hop_s, w.align_hop_s) == (0.5, 1.0)
    for other in ({}, {"test": ["a1_s2_t1"]}):   # Windowing's defaults
        assert (windowing_of(other).hop_s, windowing_of(other).align_hop_s) == (0.25, 0.5)
