"""Issue 31: a live camera that stops delivering new pictures (unplugged, frozen, frame times that
stop) and one that reports a plausible but false rate, through OpenCvCamera with a
cv2.VideoCapture stand-in (the capture thread, the recorder and the session reader are real)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from c3t.app.cli import main
from c3t.core.session.format import Session
from c3t.core.session.record_loop import record
from c3t.core.streams.contract import Batch
from c3t.core.streams.syncbuffer import SyncBuffer
from c3t.devices.camera import OpenCvCamera
from tests.conftest import wait_until

REAL_CAPTURE = cv2.VideoCapture


class LiveCapture:
    """A live camera: a new picture every read (10 ms apart) until `new_frames` reads, then as
    `after` says: "unplugged" (read fails, reopening fails), "frozen" (the same picture `stuck`
    times, then new ones again) or "stuck-time" (its frame time stops advancing for `stuck` reads)."""

    after, new_frames, stuck, fps, size = "unplugged", 30, 60, 0.0, (64, 48)   # fps 0: rate not reported
    reads = 0
    unplugged = False

    def __new__(cls, index, *args):
        if isinstance(index, str):   # a file (the recorder checks its video segments): the real thing
            return REAL_CAPTURE(index, *args)
        return super().__new__(cls)

    def __init__(self, index, *args):
        self.pos = 0.0

    def isOpened(self):
        return not LiveCapture.unplugged

    def set(self, prop, value):
        return True

    def get(self, prop):
        import cv2

        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_POS_MSEC: self.pos}.get(prop, 0.0)

    def read(self):
        import time

        time.sleep(0.01)
        k = LiveCapture.reads
        LiveCapture.reads += 1
        stuck = self.new_frames <= k < self.new_frames + self.stuck
        if self.after == "unplugged" and k >= self.new_frames:
            LiveCapture.unplugged = True
            return False, None
        picture = self.new_frames - 1 if stuck and self.after == "frozen" else k
        if not (stuck and self.after == "stuck-time"):
            self.pos = 1000.0 + 33.3 * k
        w, h = self.size
        frame = np.full((h, w, 3), picture % 251, np.uint8)
        frame[0, 0, 0] = k % 256 if self.after == "stuck-time" else frame[0, 0, 0]   # new pixels, old frame time
        return True, frame

    def release(self):
        pass


@pytest.fixture
def capture(monkeypatch):
    monkeypatch.setattr(cv2, "VideoCapture", LiveCapture)
    monkeypatch.setattr(LiveCapture, "reads", 0)
    monkeypatch.setattr(LiveCapture, "unplugged", False)
    return LiveCapture


def test_an_unplugged_camera_is_a_gap_in_the_session_and_c3t_info_says_so(capture, tmp_path, capsys):
    """Unplugged mid-recording (read() fails from then on, reopening fails): the session records the
    outage to its end, `c3t info` shows the gap and what the camera said."""
    cam = OpenCvCamera(0, stall_timeout=0.3, reopen_interval=0.05)
    out = tmp_path / "s"
    done = []

    def progress(p):
        done.append(cam.health()["camera"].state)

    record(out, [(cam, ["camera"])], duration=None, stop=_stop_when(lambda: "reconnecting" in done and
                                                                    len(done) > done.index("reconnecting") + 3),
           progress=progress, progress_s=0.1)
    session = Session(out)
    frames = session.cameras["camera"]
    gaps = [g for g in session.gaps() if g.stream == "camera"]
    assert len(frames) == 30
    assert len(gaps) == 1 and gaps[0].start == pytest.approx(frames.t[-1])
    assert gaps[0].end == pytest.approx(session.manifest["stopped_at_s"]) and gaps[0].seconds > 0.3
    assert session.manifest["source_outages"]["camera"][0][1] == session.manifest["stopped_at_s"]
    assert any("camera 0 stopped delivering frames" in p for p in session.problems)
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "  gaps: 1, " in text and "camera " in text.split("  gaps: 1, ")[1].splitlines()[0]
    assert "problem: stream 'camera' while recording: at the end: camera 0 stopped delivering frames" in text


def _stop_when(condition):
    import threading

    class Stop(threading.Event):
        def is_set(self):
            return condition()

    return Stop()


@pytest.mark.parametrize("after", ["frozen", "stuck-time"])
def test_a_camera_that_repeats_its_picture_is_an_outage_not_frames(capture, monkeypatch, after):
    """The same picture (or the same frame time) over and over for longer than stall_timeout: the
    repeats are not delivered, they are counted, said, and the time is a gap once new pictures come."""
    monkeypatch.setattr(LiveCapture, "after", after)
    monkeypatch.setattr(LiveCapture, "fps", 0.0)     # no rate reported: measured, without a warning of its own
    cam = OpenCvCamera(0, stall_timeout=0.2, reopen_interval=0.01)
    batches = []
    with cam:
        wait_until(lambda: batches.extend(cam.read(0.05)) or LiveCapture.reads > 30 + 60 + 20, what="the camera's reads")
        health = wait_until(lambda: (h := cam.health()["camera"]).gaps and h, what="the gap")
    t = np.concatenate([b.t_host for b in batches])
    pictures = np.concatenate([b.values[:, 1, 1, 0] for b in batches]).astype(int)
    assert health.repeated > 0 and len(health.gaps) == 1
    assert "delivers no new picture" in health.warning
    assert len(np.unique(pictures[:30])) == 30          # the new pictures, each once
    start, end = health.gaps[0]
    assert start == pytest.approx(t[29]) and end > start + 0.2


def test_a_plausible_but_false_frame_rate_is_replaced_by_the_measured_one(capture, monkeypatch):
    """A 30 fps 1280x720 camera reporting 480 fps: the measured rate wins within a second and says
    so; a SyncBuffer sized from the report stays within its byte bound."""
    monkeypatch.setattr(LiveCapture, "after", "none")
    monkeypatch.setattr(LiveCapture, "fps", 480.0)
    monkeypatch.setattr(LiveCapture, "size", (1280, 720))
    with OpenCvCamera(0) as cam:
        assert cam.fps == 480.0           # reported, not yet checked
        wait_until(lambda: cam.read(0.05) is not None and cam.fps != 480.0, what="the measured rate")
        health = cam.health()["camera"]
    assert cam.fps <= 100 and health.nominal_hz == cam.fps
    assert "reports 480 fps but delivers" in health.warning
    buf = SyncBuffer(camera_seconds=5.0)
    buf.add_stream("camera", "camera", 480.0)
    buf.ingest(Batch("camera", [0.0], np.zeros((1, 720, 1280, 3), np.uint8)))
    assert buf._streams["camera"].ring.values.nbytes <= buf.max_ring_bytes


def test_probe_explains_a_frozen_camera_and_a_false_rate(capture, monkeypatch, capsys):
    monkeypatch.setattr(LiveCapture, "after", "frozen")
    monkeypatch.setattr(LiveCapture, "stuck", 10**9)
    assert main(["probe", "camera:0", "--seconds", "3"]) == 0
    out = capsys.readouterr().out
    assert "repeated frames (no new picture)" in out and "  warning: camera 0 delivers no new picture" in out
    monkeypatch.setattr(LiveCapture, "after", "none")
    monkeypatch.setattr(LiveCapture, "fps", 480.0)
    monkeypatch.setattr(LiveCapture, "reads", 0)
    assert main(["probe", "camera:0", "--seconds", "2"]) == 0
    out = capsys.readouterr().out
    assert "  warning: camera 0 reports 480 fps but delivers" in out
