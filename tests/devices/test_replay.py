"""ReplaySource: a recorded session played back as a live source."""
from __future__ import annotations

import time

import numpy as np
import pytest
from tests.core.session.test_session import feed, new_recorder

from c3t.core.errors import C3tError
from c3t.core.session.format import Session
from c3t.core.session.record_loop import record
from c3t.core.streams.syncbuffer import SyncBuffer
from c3t.core.streams.window import WindowSpec
from c3t.devices.replay import ReplaySource
from c3t.devices.spec import open_source
from tests.conftest import HANG_S


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replay") / "s"
    rec = new_recorder(folder, segment_s=1.0)
    feed(rec, 4.0)
    rec.add_label(1.0, 2.0, "wave")
    rec.close()
    return folder


def play(source, limit_s=HANG_S):   # the limit only ends a hang: play waits for the end of the session
    batches, started = [], time.monotonic()
    with source:
        while time.monotonic() - started < limit_s:
            got = source.read(0.1)
            batches += got
            if not got and all(h.state == "stopped" for h in source.health().values()):
                break
    return batches, time.monotonic() - started


def test_replay_delivers_every_sample_once_at_the_asked_speed(session_dir):
    source = open_source(f"replay:{session_dir}?speed=8")
    assert isinstance(source, ReplaySource) and source.streams == ["imu", "camera"]
    assert source.health()["imu"].nominal_hz == pytest.approx(200 * 8)
    batches, wall = play(source)
    s = Session(session_dir)
    imu = [b for b in batches if b.stream == "imu"]
    values = np.concatenate([b.values for b in imu])
    np.testing.assert_array_equal(values, s.imu["imu"].values)
    assert np.concatenate([b.seq for b in imu]).tolist() == s.imu["imu"].seq.tolist()
    frames = [b for b in batches if b.stream == "camera"]
    assert len(frames) == 120
    t_host = np.concatenate([b.t_host for b in imu])
    np.testing.assert_allclose(np.diff(t_host), np.diff(s.imu["imu"].t) / 8, atol=1e-9)
    t_device = np.concatenate([b.t_device for b in imu])
    np.testing.assert_allclose(np.diff(t_device), np.diff(s.imu["imu"].t_device) / 8, atol=1e-9)
    assert wall > 0.45          # 4 s of session at 8x is paced (0.5 s), not played as fast as possible


def test_replay_feeds_a_syncbuffer_and_knows_the_labels(session_dir):
    source = ReplaySource(str(session_dir), speed=4)
    buf = SyncBuffer(seconds=10, camera_seconds=5)
    labels = []
    with source:
        buf.add_source(source)
        while True:
            got = source.read(0.1)
            buf.extend(got)
            for b in got:
                labels.append(source.truth_at(b.t_host[-1]))
            if not got and source.health()["imu"].state == "stopped":
                break
    w = buf.window(buf.latest_common_time(), WindowSpec(seconds=0.5))   # the replayed 0.5 s = 2 s of session
    assert w.complete and w.frames.shape == (16, 48, 64, 3)
    assert "wave" in labels and None in labels
    segs = source.segments(0, time.monotonic())
    assert len(segs) == 1 and segs[0][2] == "wave" and segs[0][1] - segs[0][0] == pytest.approx(1.0 / 4)


def test_recording_a_replay_gives_back_the_session_times(session_dir, tmp_path):
    source = ReplaySource(str(session_dir), speed=5, streams="imu")
    m = record(tmp_path / "again", [(source, ["imu"])], truth="check")
    assert m["time_scale"] == 5 and m["stop_reason"] == "the source ended"
    again, original = Session(tmp_path / "again"), Session(session_dir)
    a, o = again.imu["imu"], original.imu["imu"]
    assert len(a) == len(o)
    np.testing.assert_array_equal(a.values, o.values)
    np.testing.assert_allclose(np.diff(a.t), np.diff(o.t), atol=2e-5)   # session seconds again, not host seconds
    assert [(lb.cls, lb.use) for lb in again.labels] == [("wave", "check")]
    (start, end, _), = again.label_spans()
    assert end - start == pytest.approx(1.0, abs=0.01)


def test_replay_errors_name_the_problem(tmp_path, session_dir):
    with pytest.raises(C3tError, match="does not exist"):
        open_source(f"replay:{tmp_path / 'nope'}").connect()
    with pytest.raises(C3tError, match="no stream 'gyro'"):
        open_source(f"replay:{session_dir}?streams=gyro").connect()
    with pytest.raises(C3tError, match="speed=0"):
        open_source(f"replay:{session_dir}?speed=0")
    with pytest.raises(C3tError, match="unknown parameter 'sped'"):
        open_source(f"replay:{session_dir}?sped=2")
