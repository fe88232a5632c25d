"""OpenCvCamera on a video file written here (the capture thread, pacing and checks are real)."""
from __future__ import annotations

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.devices.camera import OpenCvCamera


def write_video(path, n=25, fps=50.0, size=(64, 48)):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), 8 * i, dtype=np.uint8))
    writer.release()
    return path


def test_reads_every_frame_of_a_file_in_real_time(tmp_path):
    path = write_video(tmp_path / "clip.avi")
    cam = OpenCvCamera(str(path))
    with cam:
        frame, t_latest = cam.read_latest(timeout=2.0)
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        batches = []
        while True:  # at the end of the file the queue closes and read returns []
            got = cam.read(timeout=3.0)
            if not got:
                break
            batches += got
        health = cam.health()["camera"]
    frames = np.concatenate([b.values for b in batches])
    assert frames.shape == (25, 48, 64, 3)
    brightness = frames.reshape(25, -1).mean(axis=1)
    np.testing.assert_allclose(brightness, 8 * np.arange(25), atol=3)  # every frame, in order
    t_device = np.concatenate([b.t_device for b in batches])
    np.testing.assert_allclose(t_device, np.arange(25) / 50.0, atol=1e-6)
    t_host = np.concatenate([b.t_host for b in batches])
    span = t_host[-1] - t_host[0]
    assert 0.40 < span < 0.9  # paced at 50 fps: 24 intervals of 20 ms, not as fast as decoding
    assert cam.fps == 50.0 and cam.frame_size == (64, 48)
    assert health.received == 25 and health.dropped == 0
    assert health.state == "stopped" and "end of file" in health.last_error


def test_stale_latest_frame_is_an_error(tmp_path):
    path = write_video(tmp_path / "short.avi", n=3)
    clock_offset = [0.0]
    import time

    cam = OpenCvCamera(str(path), realtime=False, stall_timeout=0.5,
                       clock=lambda: time.monotonic() + clock_offset[0])
    with cam:
        cam.read_latest(timeout=2.0)
        clock_offset[0] = 5.0  # five seconds pass without a frame
        with pytest.raises(C3tError, match="stopped delivering frames"):
            cam.read_latest()


def test_cannot_open_and_wrong_size_are_clear_errors(tmp_path):
    with pytest.raises(C3tError, match="no such file"):
        OpenCvCamera(str(tmp_path / "missing.mp4")).connect()
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(C3tError, match="could not be opened|delivered no frame"):
        OpenCvCamera(str(bad)).connect()
    path = write_video(tmp_path / "clip.avi", n=3)
    with pytest.raises(C3tError, match="delivers 64x48, not the requested 640x480"):
        OpenCvCamera(str(path), width=640, height=480).connect()


class FakeCapture:
    """Stands in for cv2.VideoCapture of a live camera: fixed size and rate, can go dark."""

    budget = 10**9   # frames left, across reopenings
    fps = 15.0

    def __init__(self, index):
        self.index, self.props = index, {}

    def isOpened(self):
        return True

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def get(self, prop):
        import cv2

        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        import time

        time.sleep(0.01)
        if FakeCapture.budget <= 0:
            return False, None
        FakeCapture.budget -= 1
        return True, np.zeros((48, 64, 3), np.uint8)

    def release(self):
        pass


def test_live_camera_rate_is_checked_and_a_dark_camera_is_reported(monkeypatch):
    import cv2

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    with pytest.raises(C3tError, match="camera 0 runs at 15 fps, not the requested 30"):
        OpenCvCamera(0, fps=30).connect()
    monkeypatch.setattr(FakeCapture, "budget", 5)
    cam = OpenCvCamera("0", fps=15, stall_timeout=0.2, reopen_interval=0.05)
    with cam:
        assert cam.fps == 15.0 and cam.config.source == 0
        frame, _ = cam.read_latest()
        assert frame.shape == (48, 64, 3)
        import time

        time.sleep(0.5)
        with pytest.raises(C3tError, match="camera 0 stopped delivering frames"):
            cam.read_latest()
        health = cam.health()["camera"]
    assert health.received == 5 and health.state == "reconnecting"
    assert "stopped delivering" in health.last_error and health.connects >= 2  # it reopened
