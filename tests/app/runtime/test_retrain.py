"""One-click retraining (app/runtime/retrain.py): a real retrain in a worker process from simulated
sessions, cancelling, bad requests, the model store; and training with an empty D_Val."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from c3t.app.runtime.retrain import ModelStore, RetrainJob, RetrainRequest, retrain
from c3t.core.errors import C3tError
from c3t.core.model.inference import open_engine
from c3t.core.model.predictor import DECODERS


# A retrain beside other work (load 6-11 on 2 cores) takes many times its idle time: the tests wait for
# the job's own events, and these bounds only end a hang (the worker's death is an event too: poll()).
HANG_S = 1800.0
pytestmark = pytest.mark.timeout(2 * HANG_S)


def wait(job: RetrainJob, timeout: float = HANG_S, until=None) -> list[dict]:
    """Poll like a GUI timer until a terminal event (or `until(event)`); returns every event.
    `timeout` only bounds a hang."""
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in job.poll():
            events.append(e)
            if e["kind"] in RetrainJob.TERMINAL or (until and until(e)):
                return events
        time.sleep(0.05)
    job.cancel()
    raise AssertionError(f"no end after {timeout} s; events: {events[-5:]}")


@pytest.fixture(scope="module")
def sessions(sim_sessions):
    return sim_sessions.folders   # 01-align, 02-har, 03-check


@pytest.fixture(scope="module")
def cache(sim_sessions):
    return sim_sessions.cache


@pytest.fixture(scope="module")
def retrained(sessions, cache, tmp_path_factory):
    """One real retrain through RetrainJob: C3T with the defaults (motion through the small CNN), 12 epochs
    (and refinement's 6)."""
    store = ModelStore(tmp_path_factory.mktemp("store") / "models")
    started = time.monotonic()
    job = RetrainJob(RetrainRequest(sessions=sessions, method="c3t", epochs=12, cache=cache), store)
    events = wait(job)
    assert job.join(HANG_S) and not job.running
    return store, events, time.monotonic() - started


def test_retrain_writes_an_exported_version_that_the_live_engine_opens(retrained, sessions):
    store, events, seconds = retrained
    assert events[-1]["kind"] == "done", events[-1]
    version, metrics = events[-1]["version"], events[-1]["metrics"]
    phases = [e for e in events if e["kind"] == "phase"]
    prepare = [e["fraction"] for e in phases if e["phase"] == "prepare"]
    assert prepare[0] == 0.0 and prepare[-1] == 1.0 and len(prepare) == 1 + len(sessions)
    epochs = [e for e in phases if e["phase"] == "combined"]
    assert [e["epoch"] for e in epochs] == list(range(1, 13)) and epochs[-1]["fraction"] == 1.0
    assert all(np.isfinite(e["loss"]) and 0 <= e["val_top1"] <= 1 for e in epochs)
    assert [e["phase"] for e in phases][-1] == "export"

    # scored on the checking session's windows only: 4 classes (3 actions + the rests between them)
    assert metrics["classes"] == ["jogging in place", "no action", "right hand wave", "squat (two arms stretch out)"]
    n = metrics["checking_windows"]
    assert n == metrics["sizes"]["val"] + metrics["sizes"]["test"] >= 30
    confusion = np.array(metrics["imu_confusion"])
    assert confusion.shape == (4, 4) and confusion.sum() == n
    assert metrics["imu_top1"] == pytest.approx(np.trace(confusion) / n)
    assert metrics["imu_top1"] >= 0.6, metrics     # chance 0.25; measured 0.88-0.98 over seeds
    assert 0 <= metrics["camera_top1"] <= 1 and metrics["sizes"]["har"] > 20 and metrics["sizes"]["align"] > 50
    assert "note" not in metrics

    # the version: a model folder with ONNX files and links to its sessions; nothing half-written left
    folder = store.root / version.split("/")[-1]
    assert folder.name.startswith("v001-c3t-") and not [p for p in store.root.iterdir() if p.name.startswith(".")]
    files = {p.name for p in folder.iterdir()}
    assert {"imu.onnx", "camera.onnx", "fusion.onnx", "export.json", "weights.pt"} <= files
    config = json.loads((folder / "config.json").read_text())
    assert config["inputs"]["visual"] == "motion"                  # the sessions' default camera input
    assert config["model"]["frame_grid"] == 4                      # the flow's small CNN keeps where it moves (defaults.FRAME_GRID)
    assert config["decision"]["decoder"] in DECODERS   # the live rule, chosen on D_Val's windows
    assert metrics["decision"]["rule"] == config["decision"] and metrics["decision"]["val"]["hops"] > 0
    assert ("backbone.onnx" in files) == (config["model"]["visual_input"] == "features")   # small CNN: none
    assert sorted(p.name for p in (folder / "sessions").iterdir()) == ["01-align", "02-har", "03-check"]
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["checking"]["imu_top1"] == metrics["imu_top1"]

    engine = open_engine(folder)
    assert engine.backend == "onnxruntime", engine.note
    torch_engine = open_engine(folder, backend="torch")
    from c3t.training.export import real_windows

    windows = real_windows(folder, torch_engine.config, clips=2, camera=False)   # cut from the version's own sessions/
    for i in range(2):
        probs, attention = engine.run("imu", imu=windows.imu[i : i + 1])
        expected, _ = torch_engine.run("imu", imu=windows.imu[i : i + 1])
        assert probs.shape == (4,) and attention.shape == (8,) and abs(probs.sum() - 1) < 1e-5
        np.testing.assert_allclose(probs, expected, atol=1e-4)
    print(f"retrain through the worker process took {seconds:.1f} s; IMU top-1 {metrics['imu_top1']:.3f}, "
          f"camera {metrics['camera_top1']:.3f}, sizes {metrics['sizes']}")


def test_store_lists_activates_and_survives_broken_folders(retrained):
    store = retrained[0]
    (store.root / "v007-c3t-20240101-000000").mkdir()
    (store.root / "v007-c3t-20240101-000000" / "config.json").write_text("{not json")
    (store.root / "holiday photos").mkdir()
    (store.root / "notes.txt").write_text("not a folder")
    try:
        versions = store.versions()
        assert [v.name.split("-")[0] for v in versions] == ["v007", "v001", "holiday photos"]
        good = versions[1]
        assert good.broken is None and good.onnx and good.method == "c3t" and good.schedule == "combined"
        assert len(good.classes) == 4 and 0.6 <= good.imu_top1 <= 1 and not good.active
        assert "damaged" in versions[0].broken and "no config.json" in versions[2].broken
        assert store.active() is None
        with pytest.raises(C3tError, match="cannot activate v007.*damaged"):
            store.activate(versions[0])
        assert store.activate(good) == good.path and store.active() == good.path
        assert [v.active for v in store.versions()] == [False, True, False]
        assert json.loads((store.root / "active.json").read_text())["version"] == good.name
        assert store.activate(good.name) == good.path                      # by name too
        with pytest.raises(C3tError, match="not a version in the model store"):
            store.activate(store.root.parent)
        assert store.new_version_path("ca").name.startswith("v008-ca-")   # after the highest number, broken or not
        (store.root / "active.json").write_text("garbage")
        assert store.active() is None and all(not v.active for v in store.versions())
    finally:
        import shutil

        shutil.rmtree(store.root / "v007-c3t-20240101-000000")
        shutil.rmtree(store.root / "holiday photos")
        (store.root / "notes.txt").unlink()


def test_decoders_are_not_compared_on_the_session_they_would_be_chosen_on(retrained, sim_sessions):
    """`c3t bench stream --decoders` chooses each decoder's rule on D_Val and scores it on D_Test; a
    retrain's D_Val and D_Test are halves of one checking session, so the comparison is refused."""
    from c3t.training.stream_eval import bench_stream

    store, events, _ = retrained
    folder = store.root / events[-1]["version"].split("/")[-1]
    with pytest.raises(C3tError, match=r"same sessions \(03-check\).*chosen on the data it is scored on"):
        bench_stream(folder, sim_sessions.root, decoders=True)


def test_cancel_mid_training_leaves_no_version(retrained, sessions, cache):
    store = retrained[0]
    before = sorted(p.name for p in store.root.iterdir())
    # grace_s: the worker must stop on the event by itself however long a busy CPU makes an epoch
    job = RetrainJob(RetrainRequest(sessions=sessions, method="ca", epochs=500, cache=cache), store, start=False,
                     grace_s=HANG_S)
    assert job.poll() == [] and not job.running and job.join(0) and job.staging is None
    job.start()
    job.start()                                   # once only
    assert job.staging.is_dir() and job.running   # the number is reserved while it runs
    events = wait(job, until=lambda e: e["kind"] == "phase" and e.get("epoch") == 2)
    job.cancel()
    events += wait(job)
    assert job.join(HANG_S)
    assert events[-1] == {"kind": "cancelled"}
    assert job._process.exitcode == 0          # the worker stopped on the event, it was not killed
    assert sorted(p.name for p in store.root.iterdir()) == before
    assert job.poll() == []                    # one terminal event, once


def test_a_killed_worker_leaves_nothing_and_says_so(retrained, sessions, cache):
    store = retrained[0]
    before = sorted(p.name for p in store.root.iterdir())
    job = RetrainJob(RetrainRequest(sessions=sessions, epochs=500, cache=cache), store)
    wait(job, until=lambda e: e.get("epoch") == 1)
    job._process.kill()                        # as the OS would (out of memory...)
    events = wait(job)
    assert events[-1]["kind"] == "error" and "ended unexpectedly (exit code -9); nothing was written" in events[-1]["message"]
    assert sorted(p.name for p in store.root.iterdir()) == before


def test_error_in_the_worker_comes_back_as_an_event(sessions, cache, tmp_path):
    """Only the checking session: no camera-labelled windows to learn from (a C3tError in the child)."""
    store = ModelStore(tmp_path / "models")
    job = RetrainJob(RetrainRequest(sessions=[sessions[2]], epochs=2, cache=cache), store)
    events = wait(job)
    assert events[-1]["kind"] == "error"
    assert events[-1]["message"] == ("class 'jogging in place' has check (IMU) labels but no har (camera) labels in the "
                                     "selected sessions: the model cannot learn it. Record camera-labelled clips of it "
                                     "(c3t record --label ...)")
    assert "detail" not in events[-1]          # a user error: the message alone, no traceback
    assert job.join(HANG_S) and store.versions() == [] and not list(store.root.iterdir())


def test_bad_requests_fail_at_construction(sessions, tmp_path):
    with pytest.raises(C3tError, match="no sessions selected"):
        RetrainRequest(sessions=[])
    (tmp_path / "not-a-session").mkdir()
    with pytest.raises(C3tError, match="not-a-session is not a recorded session"):
        RetrainRequest(sessions=[sessions[0], tmp_path / "not-a-session"])
    with pytest.raises(C3tError, match="supports the methods"):
        RetrainRequest(sessions=sessions, method="st")
    with pytest.raises(C3tError, match="unknown schedule"):
        RetrainRequest(sessions=sessions, schedule="sometimes")
    with pytest.raises(C3tError, match="holds no recorded sessions"):
        RetrainRequest(sessions=sessions, base=tmp_path / "not-a-session")
    r = RetrainRequest(sessions=[str(sessions[0].parent)], base=sessions[0].parent)   # a folder of sessions; duplicates once
    assert r.session_folders() == sessions and r.schedule == "combined"
    assert r.visual == "motion" and r.backbone == "small-cnn"          # the sessions' default camera input
    assert RetrainRequest(sessions=sessions, visual="rgb").backbone == "efficientnet-lite0"
    with pytest.raises(C3tError, match="rgb or motion, not 'depth'"):
        RetrainRequest(sessions=sessions, visual="depth")


def test_utd_mhad_cannot_be_a_base(sessions, utd_root):   # skipped where ../shared/data/utd-mhad is missing
    with pytest.raises(C3tError, match="UTD-MHAD folder: it has no RGB video"):
        RetrainRequest(sessions=sessions, base=utd_root)


@pytest.fixture
def one_torch_thread():
    """In-process training on one thread (the worker process sets its own): on a shared, busy CPU
    torch's spinning worker threads made it several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sessions_without_checking_train_and_say_so(sessions, cache, tmp_path, one_torch_thread):
    """No check labels selected: D_Val is empty, training keeps its last state, nothing is scored."""
    version, metrics = retrain(RetrainRequest(sessions=sessions[:2], epochs=1, cache=cache), ModelStore(tmp_path))
    assert metrics["imu_top1"] is None and metrics["imu_confusion"] is None and metrics["checking_windows"] == 0
    assert metrics["note"].startswith("no checking (IMU-labelled) sessions selected")
    assert metrics["sizes"]["val"] == 0 and metrics["sizes"]["har"] > 20
    assert (version / "imu.onnx").exists() and ModelStore(tmp_path).versions()[0].imu_top1 is None


def test_an_empty_val_keeps_the_last_state_and_a_scored_one_the_best():
    from c3t.training.methods import TrainConfig, _Trainer

    def run(scores):
        net = torch.nn.Linear(3, 1)
        after_epoch = []

        def step():
            yield net(torch.ones(2, 3)).pow(2).mean()
            after_epoch.append(net.weight.detach().clone())   # the state this epoch ends in

        seen = []
        it = iter(scores)
        best = _Trainer(net, TrainConfig(lr=0.1), seen.append, None).run("p", net.parameters(), len(scores), step,
                                                                         lambda: next(it), 1)
        return best, net.weight.detach(), after_epoch, seen

    best, weight, states, seen = run([float("nan")] * 3)       # what an empty D_Val scores (methods.top1)
    assert best is None and torch.equal(weight, states[-1]) and not torch.equal(states[0], states[-1])
    assert [s["val_top1"] for s in seen] == [None] * 3 and seen[-1]["best_val_top1"] is None
    best, weight, states, _ = run([0.5, 0.9, 0.1])
    assert best == 0.9 and torch.equal(weight, states[1])


def test_a_failed_export_keeps_the_trained_version_on_torch(sessions, cache, tmp_path, monkeypatch):
    import c3t.training.export as export

    def broken(folder, **kwargs):
        raise C3tError("ONNX parity check failed for the camera path: onnxruntime and torch differ by 0.5")

    monkeypatch.setattr(export, "export_model", broken)
    store = ModelStore(tmp_path / "models")
    events = []
    version, metrics = retrain(RetrainRequest(sessions=sessions, method="c3t", epochs=2, cache=cache), store,
                               events.append)
    assert version.is_dir() and (version / "weights.pt").is_file() and not list(version.glob("*.onnx"))
    assert metrics["onnx"] == {"used": False, "reason": "ONNX parity check failed for the camera path: "
                                                        "onnxruntime and torch differ by 0.5"}
    assert json.loads((version / "metrics.json").read_text())["checking"]["onnx"]["used"] is False
    assert any("runs with the torch backend" in e.get("text", "") for e in events if e["kind"] == "log")
    assert open_engine(version).backend == "torch"
    assert [v.path for v in store.versions()] == [version]


def test_parity_tolerance_grows_with_the_chain_of_float32_sums():
    from torch import nn

    from c3t.training.export import parity_tolerance

    small, large = nn.Linear(100, 100), nn.Linear(2000, 2000)   # 10 k and 4 M weights
    assert 1e-4 < parity_tolerance([small]) < 2e-4 < parity_tolerance([large]) < 1e-2


def test_a_models_folder_that_cannot_be_written_is_said_before_training(tmp_path):
    (tmp_path / "file").write_text("a file where the models folder should be")
    for root in (tmp_path / "file", tmp_path / "file" / "models"):
        with pytest.raises(C3tError, match="cannot be written .* choose another models folder"):
            ModelStore(root).reserve("c3t")
    staging, target = ModelStore(tmp_path / "models").reserve("c3t")
    assert staging.is_dir() and target.name.startswith("v001-c3t-")
