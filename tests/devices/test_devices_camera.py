"""OpenCvCamera on a video file written here (the capture thread, pacing and checks are real)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.devices.camera import OpenCvCamera
from tests.conftest import SHARED, wait_until


def write_video(path, n=25, fps=50.0, size=(64, 48), step=8):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), step * i, dtype=np.uint8))
    writer.release()
    return path


def read_to_the_end(cam) -> list:
    """Every batch a file camera delivers: at the end of the file its queue closes and read returns []."""
    batches = []
    while True:
        got = cam.read(timeout=3.0)
        if not got:
            return batches
        batches += got


def test_reads_every_frame_of_a_file_in_real_time(tmp_path):
    path = write_video(tmp_path / "clip.avi")
    cam = OpenCvCamera(str(path))
    with cam:
        frame, t_latest = cam.read_latest(timeout=2.0)
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        batches = read_to_the_end(cam)
        health = cam.health()["camera"]
    frames = np.concatenate([b.values for b in batches])
    assert frames.shape == (25, 48, 64, 3)
    brightness = frames.reshape(25, -1).mean(axis=1)
    np.testing.assert_allclose(brightness, 8 * np.arange(25), atol=3)  # every frame, in order
    t_device = np.concatenate([b.t_device for b in batches])
    np.testing.assert_allclose(t_device, np.arange(25) / 50.0, atol=1e-6)
    t_host = np.concatenate([b.t_host for b in batches])
    span = t_host[-1] - t_host[0]
    assert span > 0.40        # paced at 50 fps: 24 intervals of 20 ms, not as fast as decoding (a busy CPU: later)
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
        return True, np.full((48, 64, 3), FakeCapture.budget % 251, np.uint8)   # a new picture each time

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
        wait_until(lambda: cam.health()["camera"].connects >= 2, what="the camera reopened")   # a busy CPU: later
        health = cam.health()["camera"]
    assert health.received == 5 and health.state == "reconnecting"
    assert "stopped delivering" in health.last_error and health.connects >= 2  # it reopened


# -- real cameras and files (issue 12) -----------------------------------------------------------
class WarmingCapture(FakeCapture):
    """A webcam whose first `cold` reads return (False, None) while it warms up."""

    cold = 3
    opened: list = []

    def __init__(self, index, *args):
        super().__init__(index)
        WarmingCapture.opened.append(index)
        self.reads = 0

    def read(self):
        self.reads += 1
        if self.reads <= self.cold:
            return False, None
        return super().read()


def test_a_warming_up_webcam_is_waited_for(monkeypatch):
    import cv2

    monkeypatch.setattr(cv2, "VideoCapture", WarmingCapture)
    monkeypatch.setattr(FakeCapture, "budget", 10**9)
    with OpenCvCamera(0) as cam:
        frame, _ = cam.read_latest(timeout=2.0)
    assert frame.shape == (48, 64, 3)
    from c3t.devices.discovery import list_cameras

    monkeypatch.setattr("glob.glob", lambda pattern: ["/dev/video0"])
    assert list_cameras(2) == [(0, "64x48 @ 15 fps")]
    monkeypatch.setattr(WarmingCapture, "cold", 10**9)   # never warms up: a clear error, in time
    with pytest.raises(C3tError, match="camera 0 opened but delivered no frame within 0.3 s"):
        OpenCvCamera(0, warmup_s=0.3).connect()


def test_device_nodes_and_their_symlinks_are_live_cameras(monkeypatch, tmp_path):
    import cv2

    from c3t.devices.spec import open_source

    monkeypatch.setattr(cv2, "VideoCapture", WarmingCapture)
    monkeypatch.setattr(WarmingCapture, "cold", 0)
    monkeypatch.setattr(WarmingCapture, "opened", [])
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    link = by_id / "usb-046d_HD_Pro_Webcam_C920-video-index0"
    link.symlink_to("/dev/video7")          # what /dev/v4l/by-id holds (the node is not here)
    other = by_id / "usb-capture-card"
    other.symlink_to("/dev/null")           # a character device that is not /dev/videoN
    for spec, opened in ((f"camera:{link}", 7), ("camera:/dev/video2", 2), (f"camera:{other}", str(other))):
        cam = open_source(spec)
        assert not cam.is_file
        cam.connect()
        cam.disconnect()
        assert WarmingCapture.opened[-1] == opened, spec
        assert cam.fps == 15.0
    assert open_source("camera:/dev/video2")._what == "camera /dev/video2"


def blank_frame(path, index: int) -> None:
    """Zero the JPEG data of frame `index` of an MJPG AVI (the chunk stays, undecodable)."""
    data = bytearray(path.read_bytes())
    movi = data.find(b"movi")
    pos = movi + 4
    for _ in range(index + 1):
        pos = data.find(b"00dc", pos)
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        start = pos + 8
        pos = start + size
    data[start:start + size] = bytes(size)
    path.write_bytes(bytes(data))


def test_an_undecodable_frame_is_skipped_counted_and_reported(tmp_path):
    path = write_video(tmp_path / "damaged.avi", n=60, fps=30.0, step=4)
    blank_frame(path, 30)
    cam = OpenCvCamera(str(path), realtime=False)
    with cam:
        batches = read_to_the_end(cam)
        health = cam.health()["camera"]
    frames = np.concatenate([b.values for b in batches])
    brightness = frames.reshape(len(frames), -1).mean(axis=1)
    np.testing.assert_allclose(brightness, 4 * np.array([i for i in range(60) if i != 30]), atol=3)
    assert health.received == 59 and health.dropped == 1
    assert "end of file (1 undecodable frames skipped)" in health.last_error


def test_the_rgb_reader_reads_past_an_undecodable_frame(tmp_path):
    from c3t.training import utd_mhad

    path = write_video(tmp_path / "a1_s1_t1_color.avi", n=40, fps=30.0, step=4)
    blank_frame(path, 12)
    with pytest.warns(UserWarning, match=r"1 undecodable frame\(s\) skipped \(frame 12\); read 39 frames"):
        frames = utd_mhad.load_rgb(path)
    assert frames.shape == (39, 48, 64, 3)


class UntrustedRateCapture(FakeCapture):
    fps = float("nan")

    def read(self):
        import time

        time.sleep(0.03)
        self.reads = getattr(self, "reads", 0) + 1
        return True, np.full((48, 64, 3), self.reads % 251, np.uint8)


@pytest.mark.parametrize("reported", [0.0, float("nan"), 1000.0, 90000.0])
def test_an_untrusted_frame_rate_is_measured_and_an_explicit_fps_wins(monkeypatch, reported):
    import cv2

    monkeypatch.setattr(cv2, "VideoCapture", UntrustedRateCapture)
    monkeypatch.setattr(UntrustedRateCapture, "fps", reported)
    with OpenCvCamera(0) as cam:
        assert cam.fps is None and cam.health()["camera"].nominal_hz is None   # not made up
        end = time.monotonic() + 10
        while cam.fps is None and time.monotonic() < end:
            cam.read(timeout=0.1)
        health = cam.health()["camera"]
    assert cam.fps is not None and 8 <= cam.fps <= 34     # ~30 fps, slower on a loaded machine
    assert health.nominal_hz == cam.fps
    with OpenCvCamera(0, fps=25) as cam:
        assert cam.fps == 25.0 and cam.health()["camera"].nominal_hz == 25.0


WEBCAM = SHARED / "data" / "webcam-people"


def misreporting_capture(monkeypatch, fps: float, times: bool = True):
    """cv2.VideoCapture on real files, but reporting `fps` as the rate (and with `times=False`
    0 as every frame's time), as files from some recorders do."""
    import cv2

    real = cv2.VideoCapture

    class Misreporting:
        def __init__(self, *args):
            self.cap = real(*args)

        def get(self, prop):
            if prop == cv2.CAP_PROP_FPS:
                return fps
            return self.cap.get(prop) if times or prop != cv2.CAP_PROP_POS_MSEC else 0.0

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Misreporting)


@pytest.mark.skipif(not WEBCAM.is_dir(), reason="../shared/data/webcam-people is not here")
@pytest.mark.parametrize("reported", [0.0, float("nan"), 1000.0])
def test_a_file_with_an_untrusted_frame_rate_plays_at_its_frame_times(monkeypatch, reported):
    """A real 30 fps webcam clip (47 frames) whose container reports 0, NaN or 1000 fps (a WebM's
    time base): the rate comes from its frame times, it plays in ~1.5 s, and fps= still wins."""
    misreporting_capture(monkeypatch, reported)
    clip = str(WEBCAM / "eat.mkv")
    for fps, seconds in ((None, 46 / 30), (60, 46 / 60)):
        cam = OpenCvCamera(clip, fps=fps)
        with cam:
            batches = read_to_the_end(cam)
            health = cam.health()["camera"]
        t_host = np.concatenate([b.t_host for b in batches])
        assert len(t_host) == 47 and health.received == 47
        assert cam.file_hz == 30.0 and cam.fps == (fps or 30.0) and health.nominal_hz == cam.fps
        assert 0.9 * seconds < t_host[-1] - t_host[0] < seconds + 0.5, (fps, t_host[-1] - t_host[0])


@pytest.mark.skipif(not WEBCAM.is_dir(), reason="../shared/data/webcam-people is not here")
def test_a_file_without_a_rate_or_frame_times_asks_for_fps_and_plays_at_it(monkeypatch):
    misreporting_capture(monkeypatch, float("nan"), times=False)
    clip = str(WEBCAM / "eat.mkv")
    with pytest.raises(C3tError, match=r"reports a frame rate of nan, which cannot be right, and its frame "
                                       r"times give none either; pass fps="):
        OpenCvCamera(clip).connect()
    cam = OpenCvCamera(clip, fps=60)
    with cam:
        batches = read_to_the_end(cam)
    t_host = np.concatenate([b.t_host for b in batches])
    assert len(t_host) == 47 and cam.fps == 60.0 and cam.file_hz is None
    assert 0.9 * 46 / 60 < t_host[-1] - t_host[0] < 46 / 60 + 0.5     # paced by frame index
