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
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from c3t.core.errors import C3tError
from c3t.devices.base import Batch, Health, StreamHealth, ThreadedSource


@dataclass
class OpenCvCameraConfig:
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
    stream: str = "camera"
    clock: Callable[[], float] = time.monotonic


def describe(source: int | str) -> str:
    return f"camera {source}" if isinstance(source, int) else f"video {source!r}"


class OpenCvCamera(ThreadedSource):
    def __init__(self, config: OpenCvCameraConfig | int | str = 0, **overrides):
        if not isinstance(config, OpenCvCameraConfig):
            config = OpenCvCameraConfig(source=config, **overrides)
        if isinstance(config.source, str) and config.source.isdigit():
            config.source = int(config.source)
        self.config = config
        self.spec = f"camera:{config.source}"
        self._what = describe(config.source)
        self._health = StreamHealth(nominal_hz=config.fps)
        self._init_reader(config.queue_size)
        self._cap = None
        self._first: tuple[np.ndarray, float, float] | None = None  # frame read by connect()
        self._latest: tuple[np.ndarray, float] | None = None
        self._latest_lock = threading.Condition()
        self.frame_size: tuple[int, int] | None = None   # (width, height) actually delivered
        self.fps: float | None = None                     # rate actually delivered (nominal)

    @property
    def is_file(self) -> bool:
        src = self.config.source
        return isinstance(src, str) and "://" not in src

    @property
    def streams(self) -> list[str]:
        return [self.config.stream]

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
        if self._cap is not None:
            return
        import cv2

        c = self.config
        if self.is_file and not os.path.isfile(c.source):
            raise C3tError(f"{self._what}: no such file. Give an existing video file, a camera "
                           "index (camera:0) or a URL (camera:rtsp://...)")
        cap = cv2.VideoCapture(c.source)
        if not cap.isOpened():
            raise C3tError(f"{self._what} could not be opened. " + self._open_hint())
        try:
            self._apply_settings(cap)
            ok, frame = cap.read()
            if not ok or frame is None:
                raise C3tError(f"{self._what} opened but delivered no frame. " + self._open_hint())
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
        if isinstance(self.config.source, int):
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
        reported = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if self.is_file:
            if reported <= 0 and not c.fps:
                raise C3tError(f"{self._what} does not say its frame rate; pass fps=...")
            self.fps = float(c.fps or reported)
            return
        if c.fps and reported > 0 and abs(reported - c.fps) > c.fps_tolerance * c.fps:
            raise C3tError(f"{self._what} runs at {reported:g} fps, not the requested {c.fps:g}; "
                           "ask for a rate it supports (often 30 or 15), or leave fps unset")
        self.fps = float(c.fps or reported or 0.0) or None

    def start(self) -> None:
        if self.running:
            return
        self.connect()
        self._start_reader(f"OpenCvCamera {self.config.source}")

    def read_latest(self, timeout: float = 1.0) -> tuple[np.ndarray, float]:
        """(newest frame, its host time). Waits up to `timeout` for a first frame; raises
        C3tError if none came or the newest is older than `stall_timeout`."""
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
        self._stop_reader(3.0)
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        if self._thread is not None:
            self.stop()
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
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

    def _run(self) -> None:
        import cv2

        c, clock = self.config, self.config.clock
        file_t0 = None
        if self._first is not None:
            frame, t_host, pos = self._first
            self._first = None
            file_t0 = time.monotonic() - pos
            if self.is_file:   # playback starts now, not when connect() peeked at the first frame
                self._deliver(frame, clock(), pos)
            else:
                self._deliver(frame, t_host, None)
        last_frame_t = clock()
        while not self._stop.is_set():
            if self._cap is None:   # reopening a stalled live camera
                if not self._reopen():
                    self._stop.wait(c.reopen_interval)
                continue
            ok, frame = self._cap.read()
            now = clock()
            if ok and frame is not None:
                if self.is_file:
                    pos = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    if c.realtime:
                        due = file_t0 + pos * (self._file_fps() / self.fps)
                        self._stop.wait(max(0.0, due - time.monotonic()))
                        now = clock()
                    self._deliver(frame, now, pos)
                else:
                    self._deliver(frame, now, None)
                last_frame_t = now
                continue
            if self.is_file:
                if c.loop:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    file_t0 = time.monotonic() + 1.0 / self.fps
                    continue
                self._health.set(last_error=f"{self._what}: end of file", state="stopped")
                self._queue.close()
                return
            if now - last_frame_t > c.stall_timeout:
                self._health.outage_begins(last_frame_t)
                self._health.error(f"{self._what} stopped delivering frames (none for "
                                   f"{now - last_frame_t:.1f} s); reopening")
                self._cap.release()
                self._cap = None
            else:
                self._stop.wait(0.005)

    def _file_fps(self) -> float:
        import cv2

        return float(self._cap.get(cv2.CAP_PROP_FPS) or self.fps)

    def _reopen(self) -> bool:
        import cv2

        cap = cv2.VideoCapture(self.config.source)
        if not cap.isOpened():
            cap.release()
            return False
        self._apply_settings(cap)
        self._cap = cap
        self._health.connected()
        return True
