"""The #30 commands end to end: `c3t live --lsl-out` received by a pylsl inlet in another process,
`--jsonl` rows with class names, `c3t export SESSION --xdf` / `c3t import xdf`, `c3t devices`'s LSL
streams."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")   # the `lsl` extra; only a missing package skips
pyxdf = pytest.importorskip("pyxdf")

from c3t.app.cli import main
from tests.conftest import HANG_S
from tests.core.model.test_predictor import c3t_folder  # noqa: F401  (the fixture: a small exported model)
from tests.core.session.test_xdf import T0, recorded_session


def test_live_publishes_every_decision_over_lsl_with_class_names(c3t_folder, tmp_path):  # noqa: F811
    name = f"c3t-live-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, "-m", "c3t.app.cli", "live", "--model", str(c3t_folder), "--imu",
                             "sim?seed=1", "--seconds", "6", "--jsonl", "--lsl-out", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        found = pylsl.resolve_byprop("name", name, timeout=HANG_S)
        probs_found = pylsl.resolve_byprop("name", f"{name}-probabilities", timeout=HANG_S)
        assert found and probs_found, "the decision streams did not appear"
        decisions, probs = pylsl.StreamInlet(found[0]), pylsl.StreamInlet(probs_found[0])
        info = probs.info(timeout=HANG_S)
        ch, labels = info.desc().child("channels").child("channel"), []
        for _ in range(info.channel_count()):
            labels.append(ch.child_value("label"))
            ch = ch.next_sibling()
        decisions.open_stream(HANG_S)
        probs.open_stream(HANG_S)
        got = []
        while proc.poll() is None or decisions.samples_available():
            sample, t = decisions.pull_sample(timeout=0.5)
            if sample is not None:
                p, tp = probs.pull_sample(timeout=HANG_S)
                got.append((sample[0], float(sample[1]), p, t, tp))
        out, err = proc.communicate(timeout=HANG_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and got, f"{len(rows)} decisions printed, {len(got)} received"
    assert all(row["classes"] == labels for row in rows)              # --jsonl names the classes too
    tail = rows[len(rows) - len(got):]        # every decision from the moment this inlet was connected
    for row, (cls, conf, p, t, tp) in zip(tail, got):
        assert cls == row["action"] and conf == pytest.approx(row["confidence"], abs=2e-4)
        np.testing.assert_allclose(p, row["probs"], atol=1e-4)
        assert t == tp                                    # both stamped with the window's end
    assert np.all(np.diff([g[3] for g in got]) > 0)


def test_export_and_import_xdf_from_the_command_line(tmp_path, capsys):
    session = recorded_session(tmp_path / "s")
    assert main(["export", str(tmp_path / "s"), "--xdf", str(tmp_path / "s.xdf")]) == 0
    assert "imu: 700 samples" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "s"), "--xdf", str(tmp_path / "s.xdf")]) == 2      # exists: no --force
    assert "--force" in capsys.readouterr().err
    streams, _ = pyxdf.load_xdf(str(tmp_path / "s.xdf"), dejitter_timestamps=False)
    imu = next(s for s in streams if s["info"]["name"] == ["imu"])
    np.testing.assert_array_equal(imu["time_stamps"], T0 + session.imu["imu"].t)
    assert main(["import", "xdf", str(tmp_path / "s.xdf"), "--out", str(tmp_path / "back")]) == 0
    assert "session written to" in capsys.readouterr().out and (tmp_path / "back" / "imu.csv").is_file()
    assert main(["export"]) == 2 and "SESSION --xdf FILE" in capsys.readouterr().err


def test_devices_lists_the_lsl_streams(capsys, monkeypatch):
    name = f"c3t-devices-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "IMU", 6, 100.0, pylsl.cf_float32, name)
    outlet = pylsl.StreamOutlet(info)
    monkeypatch.setattr("c3t.devices.discovery.list_cameras", lambda *a: [])   # no camera probing on a test machine
    assert main(["devices", "--lsl-wait", "5"]) == 0
    out = capsys.readouterr().out
    assert f"lsl:{name}" in out and "IMU" in out and "100 Hz" in out and "http:PORT" in out
    del outlet
