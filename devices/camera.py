"""OpenCvCamera: a camera index, a video file or a stream URL, read by a capture thread.

    cam = OpenCvCamera(0, width=640, height=480, fps=30)
    with cam:
        frame, t_host = cam.read_latest()    # the newest frame, for a live view
        batches = cam.read(timeout=0.1)      # every frame since the last call, for recording

The capture thread stamps each frame with the host arrival time, keeps the newest one for
`read_latest` and queues every frame (up to `queue_size`; older ones are dropped and counted)
for `read`. `connect` checks that the requested size and rate were applied and that a first
frame arrives, and says what the camera does instead. A live camera that stops delivering for
`stall_timeout` seconds is reported (state "reconnecting", `last_error`) and reopened; a file
ends with state "stopped" (or starts again with `loop`). Files play at their own frame rate
(`realtime`), with the file's frame times as `t_device`.

Real cameras and files, as they are:
- A webcam may return no frame for its first reads while it warms up: `connect` retries for
  `warmup_s` seconds before giving up.
- Device nodes are live cameras: camera:/dev/video2, and symlinks to them such as
  camera:/dev/v4l/by-id/usb-...-video-index0 (opened by the index they resolve to; any other
  character device by its path).
- A frame of a file that cannot be decoded is skipped, counted as dropped and reported in
  `last_error`; reading goes on to the real end (core/video.py).
- A live camera that delivers no new picture (the same frame, or the same frame time, again and
  again: a frozen driver) has its repeats held back; if a new picture comes within
  `stall_timeout` they are delivered, else they are dropped (counted in `repeated`) and the time
  is an outage, like a camera whose reads fail (unplugged): `warning`, a gap once frames come back.
- A live camera's rate is measured during its first second; a reported (or requested) rate more
  than RATE_DOUBT times off (a 30 fps camera reporting 480) is replaced by it, with a warning.
- A reported frame rate that cannot be trusted (0, NaN, above `MAX_TRUSTED_FPS`) is not used: a
  live camera's rate is measured from frame arrival during the first second (`nominal_hz` stays
  None until then, so nothing is sized from a rate nobody measured); a file's from its own frame
  times (`file_rate`; a browser's WebM or MKV often reports 1000 fps, its time base). An explicit
  `fps=` always wins; a file plays at it as fast or slow as its frame times say.
"""
from __future__ import annotations

import logging
import math
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.session.video import FrameReader
from c3t.core.streams.contract import Batch, Health
from c3t.devices.base import StreamHealth, ThreadedSource

MAX_TRUSTED_FPS = 500.0     # a reported rate above this (or 0, NaN) is measured instead
RATE_DOUBT = 1.5            # a live rate measured this many times off the reported one replaces it
MEASURE_S = 1.0             # seconds of frame arrivals that measure an untrusted rate
VIDEO_NODE = re.compile(r"/dev/video(\d+)")
log = logging.getLogger(__name__)


@dataclass
class OpenCvCameraConfig:
    """Settings of an OpenCvCamera; the fields are the camera: spec's query parameters.
    Rates are in frames per second, sizes in pixels, times in seconds; `clock` stamps arrivals
    (host seconds)."""

    source: int | str = 0                 # device index, video file path or URL
    fps: float | None = None              # live: requested rate; file: playback rate (default: the file's)
    width: int | None = None
    height: int | None = None
    realtime: bool = True                 # files: deliver at the frame rate, like a camera
    loop: bool = False                    # files: start again at the end
    queue_size: int = 256                 # frames held for read() before the oldest are dropped
    stall_timeout: float = 2.0            # seconds without a frame before the camera counts as stalled
    fps_tolerance: float = 0.1            # relative difference accepted between requested and actual fps
    reopen_interval: float = 1.0
    warmup_s: float = 2.0                 # live: seconds to wait for a first frame while the camera warms up
    stream: str = "camera"
    clock: Callable[[], float] = time.monotonic


def describe(source: int | str) -> str:
    """How messages name a source: 'camera 0', 'camera /dev/video2' or "video 'clip.mp4'"."""
    if isinstance(source, int) or is_device_node(source):
        return f"camera {source}"
    return f"video {source!r}"


def is_device_node(path: str) -> bool:
    """True for a camera device path: /dev/videoN (present or not), or any path (a symlink such
    as /dev/v4l/by-id/...) that resolves to /dev/videoN or to a character device."""
    if not isinstance(path, str) or "://" in path:
        return False
    real = os.path.realpath(path)
    if VIDEO_NODE.fullmatch(path) or VIDEO_NODE.fullmatch(real):
        return True
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return path.startswith("/dev/")


def capture_target(source: int | str) -> int | str:
    """What cv2.VideoCapture opens for a source: a device node resolving to /dev/videoN opens as
    index N (the backends all take that), anything else as given."""
    if isinstance(source, str) and is_device_node(source):
        m = VIDEO_NODE.fullmatch(os.path.realpath(source)) or VIDEO_NODE.fullmatch(source)
        if m:
            return int(m.group(1))
    return source


def first_frame(cap, warmup_s: float, clock=time.monotonic) -> np.ndarray | None:
    """The first frame of an opened capture, retrying for `warmup_s` seconds while a camera
    warms up (its first reads return no frame); None if none came."""
    end = clock() + warmup_s
    while True:
        ok, frame = cap.read()
        if ok and frame is not None:
            return frame
        if clock() >= end:
            return None
        time.sleep(0.05)


def file_rate(path: str, seconds: float = MEASURE_S, max_frames: int = 240) -> float | None:
    """The frame rate (fps) of a video file measured from its own frame times
    (CAP_PROP_POS_MSEC) over its first `seconds` (at most `max_frames` frames, not decoded): the
    median step, snapped to a common rate; None if the times do not rise or give no trusted rate."""
    import cv2

    from c3t.devices.lineformat import snap_rate

    cap = cv2.VideoCapture(path)
    times = []
    try:
        while len(times) < max_frames and cap.grab():
            times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
            if times[-1] - times[0] >= seconds:
                break
    finally:
        cap.release()
    steps = np.diff(times)
    steps = steps[steps > 0]
    return trusted_fps(snap_rate(1.0 / float(np.median(steps)))) if len(steps) else None


def trusted_fps(reported) -> float | None:
    """A frame rate a capture reported, or None if it cannot be trusted (0, NaN, absurdly high)."""
    try:
        fps = float(reported)
    except (TypeError, ValueError):
        return None
    return fps if math.isfinite(fps) and 0 < fps <= MAX_TRUSTED_FPS else None


class OpenCvCamera(ThreadedSource):
    """A camera (index, device node, URL) or a video file as a camera: (1, H, W, 3) uint8 BGR
    batches. connect() raises C3tError naming the camera or file and what to do."""

    def __init__(self, config: OpenCvCameraConfig | int | str = 0, **overrides):
        if not isinstance(config, OpenCvCameraConfig):
            config = OpenCvCameraConfig(source=config, **overrides)
        if isinstance(config.source, str) and config.source.isdigit():
            config.source = int(config.source)
        self.config = config
        self.spec = f"camera:{config.source}"
        self._what = describe(config.source)
        self._health = StreamHealth(nominal_hz=config.fps, name=self.spec)
        self._init_reader(config.queue_size)
        self._cap = None
        self._first: tuple[np.ndarray, float, float] | None = None  # frame read by connect()
        self._latest: tuple[np.ndarray, float] | None = None
        self._latest_lock = threading.Condition()
        self.frame_size: tuple[int, int] | None = None   # (width, height) actually delivered
        self.fps: float | None = None                     # rate actually delivered (nominal)
        self.file_hz: float | None = None                 # files: the rate of the file's own frame times
        self._reader: FrameReader | None = None           # files: skips undecodable frames
        self._arrivals: list[float] = []                  # live: the first second of frames, to measure the rate
        self.reported_fps: float | None = None            # live: the rate the camera says it runs at
        self._prev_frame: np.ndarray | None = None        # live: the last new picture
        self._prev_pos: float | None = None               # live: its frame time (ms), where the backend gives one
        self._repeats: list[float] = []                   # live: arrival times of repeats of it, held back

    @property
    def is_file(self) -> bool:
        """True when `config.source` is a video file path (not an index, a device node or a URL)."""
        src = self.config.source
        return isinstance(src, str) and "://" not in src and not is_device_node(src)

    @property
    def streams(self) -> list[str]:
        """The one stream, named by `config.stream` (default "camera")."""
        return [self.config.stream]

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
        """Open the camera, file or URL with cv2.VideoCapture, apply the requested size and rate,
        and read a first frame (a live camera gets `warmup_s` seconds). No-op when open.

        Raises:
            C3tError: naming the camera or file and what to do, for a file that does not exist, a
                capture that does not open, no first frame, frames that are not (H, W, 3) colour, a size
                other than the requested width x height, a file whose frame rate cannot be trusted
                without fps=, or a live rate more than `fps_tolerance` off the requested one
        """
        if self._cap is not None:
            return
        import cv2

        c = self.config
        if self.is_file and not os.path.isfile(c.source):
            raise C3tError(f"{self._what}: no such file. Give an existing video file, a camera "
                           "index (camera:0) or a URL (camera:rtsp://...)")
        cap = cv2.VideoCapture(capture_target(c.source))
        if not cap.isOpened():
            raise C3tError(f"{self._what} could not be opened. " + self._open_hint())
        try:
            self._apply_settings(cap)
            if self.is_file:
                self._reader = FrameReader(cap)
                frame = self._reader.next()
            else:
                frame = first_frame(cap, c.warmup_s)
            if frame is None:
                waited = "" if self.is_file else f" within {c.warmup_s:g} s"
                raise C3tError(f"{self._what} opened but delivered no frame{waited}. " + self._open_hint())
            t_host = c.clock()
            self._check_settings(cap, frame)
        except BaseException:
            cap.release()
            raise
        self._cap = cap
        self._first = (frame, t_host, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
        self._health.set(nominal_hz=self.fps, last_error=None)
        self._health.connected()

    def _open_hint(self) -> str:
        if not self.is_file and "://" not in str(self.config.source):
            return ("Check that it is connected and not in use by another program; `c3t devices` "
                    "lists the cameras that open.")
        if self.is_file:
            return "Check that the file is a video OpenCV can decode (mp4/avi with a common codec)."
        return "Check the URL, the network and the credentials; try it in a video player."

    def _apply_settings(self, cap) -> None:
        import cv2

        c = self.config
        if self.is_file:
            return
        if c.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width)
        if c.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height)
        if c.fps:
            cap.set(cv2.CAP_PROP_FPS, c.fps)

    def _check_settings(self, cap, frame: np.ndarray) -> None:
        import cv2

        c = self.config
        h, w = frame.shape[:2]
        self.frame_size = (w, h)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise C3tError(f"{self._what} delivers frames of shape {frame.shape}, not colour (H, W, 3)")
        if (c.width and c.width != w) or (c.height and c.height != h):
            wanted = f"{c.width or w}x{c.height or h}"
            fix = ("resize the file or leave width/height unset" if self.is_file else
                   "ask for a size the camera supports, or leave width/height unset")
            raise C3tError(f"{self._what} delivers {w}x{h}, not the requested {wanted}; {fix}")
        raw = cap.get(cv2.CAP_PROP_FPS)
        reported = trusted_fps(raw)
        if self.is_file:
            self.file_hz = reported or file_rate(c.source)
            if self.file_hz is None and not c.fps:
                raise C3tError(f"{self._what} reports a frame rate of {raw!r}, which cannot be right, and its "
                               "frame times give none either; pass fps=... (e.g. camera:clip.mp4?fps=30)")
            self.fps = float(c.fps or self.file_hz)
            return
        if c.fps and reported and abs(reported - c.fps) > c.fps_tolerance * c.fps:
            raise C3tError(f"{self._what} runs at {reported:g} fps, not the requested {c.fps:g}; "
                           "ask for a rate it supports (often 30 or 15), or leave fps unset")
        # an explicit fps wins; an untrusted report is measured from arrivals (see _measure), and
        # so is a trusted one: a plausible rate can be false too (a 30 fps camera reporting 480)
        self.reported_fps = reported
        self.fps = float(c.fps or reported) if (c.fps or reported) else None

    def start(self) -> None:
        """Connect if needed and start the capture thread (no-op while it runs)."""
        if self.running:
            return
        self.connect()
        self._start_reader(f"OpenCvCamera {self.config.source}")

    def read_latest(self, timeout: float = 1.0) -> tuple[np.ndarray, float]:
        """(newest frame, its host time). Waits up to `timeout` for a first frame.

        Raises:
            C3tError: when no frame came within `timeout`, or the newest is older than `stall_timeout`
        """
        with self._latest_lock:
            self._latest_lock.wait_for(lambda: self._latest is not None, timeout)
            latest = self._latest
        if latest is None:
            raise C3tError(f"{self._what}: no frame within {timeout:g} s of asking "
                           f"({self._health.snapshot().last_error or 'is it started?'})")
        age = self.config.clock() - latest[1]
        if age > self.config.stall_timeout:
            h = self._health.snapshot()
            raise C3tError(f"{self._what} stopped delivering frames {age:.1f} s ago"
                           f" ({h.last_error or h.state}). Check the cable and that no other program took it.")
        return latest

    def stop(self) -> None:
        """Stop the capture thread (waiting up to 3 s); state "stopped". Frames already queued
        can still be read."""
        self._stop_reader(3.0)
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        """stop() if running and release the capture; state "disconnected". Safe to call twice."""
        if self._thread is not None:
            self.stop()
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
        """{stream: Health}; dropped counts queue overflow and undecodable frames skipped."""
        h = self._health.snapshot(self.config.clock())
        h.dropped += self._queue.overflowed
        return {self.config.stream: h}

    # -- capture thread ----------------------------------------------------------------
    def _deliver(self, frame: np.ndarray, t_host: float, t_device: float | None) -> None:
        with self._latest_lock:
            self._latest = (frame, t_host)
            self._latest_lock.notify_all()
        self._queue.put(Batch(self.config.stream, [t_host], frame[None],
                              None if t_device is None else [t_device]))
        self._health.outage_ends(t_host)
        self._health.count(1, t_host)
        if self._arrivals is not None and not self.is_file:
            self._measure(t_host)

    def _measure(self, t_host: float) -> None:
        """A live camera's rate from the frames that arrived during the first `MEASURE_S`
        seconds: it becomes the rate when none was known, and replaces a rate the camera reported
        (or was asked for) that is more than RATE_DOUBT times off, with a warning."""
        self._arrivals.append(t_host)
        span = self._arrivals[-1] - self._arrivals[0]
        if span >= MEASURE_S and len(self._arrivals) >= 3:
            from c3t.devices.lineformat import snap_rate

            measured = snap_rate((len(self._arrivals) - 1) / span)
            self._arrivals = None
            if self.fps is not None and 1 / RATE_DOUBT <= measured / self.fps <= RATE_DOUBT:
                return
            if self.fps is not None:
                said = "reports" if not self.config.fps else "was asked for and reports"
                message = (f"{self._what} {said} {self.fps:g} fps but delivers {measured:g}; "
                           f"using the measured {measured:g} fps (buffers and video files are sized from it)")
                self._health.set(warning=message)
                self._health.error(message)
                log.warning(message)
            self.fps = measured
            self._health.set(nominal_hz=self.fps)

    def _no_new_picture(self, frame: np.ndarray) -> bool:
        """True when a live camera's frame is no new picture: the same frame time as the one
        before (where the backend reports frame times), or the same pixels. A real sensor's noise
        makes two pictures differ even of a still scene, so equal frames are a repeat (a frozen
        driver, a USB camera that lost its stream, a virtual camera showing a still image)."""
        import cv2

        pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        prev, prev_pos = self._prev_frame, self._prev_pos
        self._prev_pos = pos if pos and pos > 0 else None
        if prev_pos is not None and pos == prev_pos:
            return True
        return prev is not None and prev.shape == frame.shape and \
            np.array_equal(prev[::16, ::16], frame[::16, ::16]) and np.array_equal(prev, frame)

    def _next_file_frame(self):
        """The next decodable frame of the file (None at its end); undecodable ones are
        skipped, counted as dropped and reported."""
        before = self._reader.skipped
        frame = self._reader.next()
        skipped = self._reader.skipped - before
        if skipped:
            self._health.drop(skipped)
            at = ", ".join(map(str, self._reader.skipped_at[-skipped:][:5]))
            self._health.error(f"{self._what}: frame {at} could not be decoded and was skipped "
                               f"({self._reader.skipped} so far)")
        return frame

    def _run(self) -> None:
        import cv2

        c, clock = self.config, self.config.clock
        file_t0 = None
        if self._first is not None:
            frame, t_host, pos = self._first
            self._first = None
            if self.is_file:   # playback starts now, not when connect() peeked at the first frame
                file_t0 = time.monotonic() - self._playback_time(pos)
                self._deliver(frame, clock(), pos)
            else:
                self._prev_frame = frame
                self._deliver(frame, t_host, None)
        last_frame_t = clock()
        while not self._stop.is_set():
            if self._cap is None:   # reopening a stalled live camera
                if not self._reopen():
                    self._stop.wait(c.reopen_interval)
                continue
            if self.is_file:
                frame = self._next_file_frame()
            else:
                ok, frame = self._cap.read()
                frame = frame if ok else None
            now = clock()
            if frame is not None and not self.is_file and self._no_new_picture(frame):
                self._repeats.append(now)   # held: delivered if a new picture follows in time
                frame = None
            if frame is not None:
                if self.is_file:
                    pos = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    if c.realtime:
                        due = file_t0 + self._playback_time(pos)
                        self._stop.wait(max(0.0, due - time.monotonic()))
                        now = clock()
                    self._deliver(frame, now, pos)
                else:
                    for t in self._repeats:   # the same picture again, but the camera went on
                        self._deliver(self._prev_frame, t, None)
                    self._repeats = []
                    self._prev_frame = frame
                    self._deliver(frame, now, None)
                last_frame_t = now
                continue
            if self.is_file:
                if c.loop:
                    self._reader.rewind()
                    file_t0 = time.monotonic() + 1.0 / self.fps
                    continue
                skipped = f" ({self._reader.skipped} undecodable frames skipped)" if self._reader.skipped else ""
                self._health.set(last_error=f"{self._what}: end of file{skipped}", state="stopped")
                self._queue.close()
                return
            if now - last_frame_t > c.stall_timeout:
                self._health.outage_begins(last_frame_t)
                if self._repeats:   # frozen: the same picture (or frame time) over and over
                    self._health.add("repeated", len(self._repeats))
                    message = (f"{self._what} delivers no new picture: the same frame again and again for "
                               f"{now - last_frame_t:.1f} s (frozen driver, or a still image); the "
                               f"{len(self._repeats)} repeats are not recorded as frames, the time is a gap; reopening")
                    self._repeats = []
                else:
                    message = f"{self._what} stopped delivering frames (none for {now - last_frame_t:.1f} s); reopening"
                self._health.error(message)
                self._health.set(warning=message)
                log.warning(message)
                self._cap.release()
                self._cap = None
            else:
                self._stop.wait(0.005)

    def _playback_time(self, pos: float) -> float:
        """When the file frame just read, at `pos` s in the file, is due after playback began (s):
        its time scaled from the file's rate to `fps`, or its index / `fps` when the file's frame
        times give no rate."""
        if self.file_hz:
            return pos * self.file_hz / self.fps
        return (self._reader.position - 1) / self.fps

    def _reopen(self) -> bool:
        import cv2

        cap = cv2.VideoCapture(capture_target(self.config.source))
        if not cap.isOpened():
            cap.release()
            return False
        self._apply_settings(cap)
        self._cap = cap
        self._health.connected()
        return True
