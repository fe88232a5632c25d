"""Write a session folder (format: c3t.core.session.format) while sources capture.

    rec = Recorder("sessions/s1", [StreamSpec("imu", "imu", 200), StreamSpec("camera", "camera", 30)])
    for batch in source.read(0.05): rec.write(batch)      # never waits on the disk
    rec.add_label(3.0, 5.5, "wave", "har")
    rec.close("done")

`write` only queues the batch; a background writer thread appends it to the files, flushes and
fsyncs them every `flush_s` (at most 1 s), cuts the video into `segment_s` segments and
finalises each before starting the next. So a killed recording loses at most the last flush
interval of samples and the open video segment (about `segment_s` + `flush_s`).

A full disk (ENOSPC, or less than `min_free_bytes` left before a new segment) stops the writer:
it frees a small space reserve made at the start, finalises what it can, and `failure` holds a
message saying what happened and that the data written so far is kept. The same happens if the
disk falls `max_backlog_s` behind the capture. The caller (`record`) checks `failure` and stops.

The loop that drives sources into a Recorder (CLI, GUI) is c3t.core.session.record_loop.record.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import math
import os
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from c3t.core.atomic_file import fsync_dir, write_json_atomic
from c3t.core.errors import C3tError
from c3t.core.session.format import (
    FORMAT,
    FRAME_COLUMNS,
    LABEL_COLUMNS,
    LABELS,
    MANIFEST,
    PART,
    SEGMENT,
    USES,
    VERSION,
    Label,
    check_person,
    imu_columns,
    label_line,
)
from c3t.core.streams.clock import ClockModel
from c3t.core.streams.contract import STREAM_KINDS, Batch

log = logging.getLogger(__name__)

RESERVE = ".space-reserve"
SECRET_FIELDS = ("token", "password", "secret")   # config fields never written to a manifest
DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


@dataclass
class RecorderConfig:
    """How a Recorder writes: video segment length and flush interval (seconds), whether to
    fsync, MJPG quality, how far (seconds) the writer may lag before the recording stops, and the
    disk space (bytes) reserved for closing and kept free."""

    segment_s: float = 1.0          # video segment length (session seconds)
    flush_s: float = 0.5            # flush + fsync interval of the open files (<= 1 s)
    fsync: bool = True              # also push to the disk, not only to the OS (survives power loss)
    jpeg_quality: int = 90          # MJPG quality, 1..100
    max_backlog_s: float = 30.0     # the writer may fall this far behind the capture, then the recording stops
    reserve_bytes: int = 1 << 20    # freed on a full disk so the session can still be closed
    min_free_bytes: int = 16 << 20  # stop before the disk is this full

    def check(self) -> None:
        """Check the settings.

        Raises:
            C3tError: when flush_s is not in (0, 1], segment_s is not above 0 or jpeg_quality is not in
                1..100
        """
        if not 0 < self.flush_s <= 1.0:
            raise C3tError(f"flush_s={self.flush_s}: must be in (0, 1] seconds (data is flushed at least every second)")
        if self.segment_s <= 0:
            raise C3tError(f"segment_s={self.segment_s}: must be above 0 seconds")
        if not 1 <= self.jpeg_quality <= 100:
            raise C3tError(f"jpeg_quality={self.jpeg_quality}: must be 1..100")


@dataclass
class StreamSpec:
    """One stream to record: its name (also its file names), kind ("imu" or "camera"), nominal
    rate in Hz of session time (None: unknown) and the index of its device in the manifest."""

    name: str                      # "imu", "camera", ...: also the file names
    kind: str                      # "imu" or "camera"
    nominal_hz: float | None = None  # in session time
    device: int = 0                # index into the manifest's devices


class DiskFull(Exception):
    """Raised inside the writer thread when the disk is full or nearly so; the Recorder turns
    it into a C3tError in `failure`."""
    pass


def jsonable(obj) -> dict:
    """A config dataclass as a JSON-safe dict (code such as clocks and factories left out, secrets
    such as a source's token shown as "(hidden)": a session folder gets shared)."""
    out = {}
    items = dataclasses.asdict(obj).items() if dataclasses.is_dataclass(obj) else dict(obj or {}).items()
    for k, v in items:
        if k in SECRET_FIELDS and v is not None:
            out[k] = "(hidden)"
            continue
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[k] = v
    return out


# -- one file per stream --------------------------------------------------------------------
class _ImuFile:
    def __init__(self, path: Path):
        self.path = path
        self.f = None
        self.channels: int | None = None

    def write(self, t, t_device, seq, values) -> None:
        """Append samples as CSV lines (times to the microsecond, values with %.9g); the first
        call creates the file and its header. Raises C3tError when the channel count changes."""
        values = np.asarray(values, dtype=np.float32).reshape(len(t), -1)
        if self.f is None:
            self.channels = values.shape[1]
            self.f = open(self.path, "x", encoding="ascii", newline="\n")
            self.f.write(",".join(imu_columns(self.channels)) + "\n")
        elif values.shape[1] != self.channels:
            raise C3tError(f"{self.path}: a batch with {values.shape[1]} channels after {self.channels}; "
                           "the device changed its output format during the recording")
        # %.9g keeps every bit of a float32; times to the microsecond
        lines = [f"{a:.6f},{b:.6f},{int(c)}," + ",".join(f"{v:.9g}" for v in row)
                 for a, b, c, row in zip(t.tolist(), t_device.tolist(), seq.tolist(), values.tolist())]
        self.f.write("\n".join(lines) + "\n")

    def flush(self, fsync: bool) -> None:
        """Flush the CSV to the OS, and to the disk when `fsync`."""
        if self.f is not None:
            self.f.flush()
            if fsync:
                _fsync(self.f)

    def close(self, fsync: bool) -> None:
        """Flush and close the CSV (nothing if it was never opened)."""
        if self.f is not None:
            self.flush(fsync)
            self.f.close()
            self.f = None


RATE_FRAMES = 10   # a camera of unknown rate: frames held back to measure it before the first segment opens


class _CameraFile:
    def __init__(self, folder: Path, table: Path, fps: float | None, cfg: RecorderConfig, check_space):
        self.folder, self.table_path, self.cfg, self.check_space = folder, table, cfg, check_space
        self.fps = fps or 30.0
        self._held: list | None = None if fps else []   # unknown rate: (t, t_device, seq, image) until measured
        self.table = None
        self.writer = None
        self.segment = -1
        self.segment_t0 = -math.inf
        self.segment_frames = 0
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.bytes_video = 0
        self.segment_bytes: dict[str, int] = {}   # finalised segment file -> its size (the manifest's `segments`)

    def write(self, t, t_device, seq, images) -> None:
        """Append frames (H, W, 3) uint8 BGR to the open video segment and their rows to the
        frame table, starting a new segment every `segment_s`. A camera of unknown rate has its
        first RATE_FRAMES frames held back until their times give the rate the video files'
        headers declare (each frame keeps its own time in the table either way). Raises
        C3tError for a frame of another type or size than the first."""
        if self.table is None:
            self.table = open(self.table_path, "x", encoding="ascii", newline="\n")
            self.table.write(",".join(FRAME_COLUMNS) + "\n")
        for i in range(len(t)):
            image = images[i]
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise C3tError(f"{self.folder}: frames must be (H, W, 3) uint8 BGR, got {image.shape} {image.dtype}")
            size = (image.shape[1], image.shape[0])
            if self.size is None:
                self.size = size
            elif size != self.size:
                raise C3tError(f"{self.folder}: the camera changed its frame size from {self.size} to {size} "
                               "during the recording; record again with a fixed size (camera:0?width=..&height=..)")
            if self._held is not None:
                self._held.append((t[i], t_device[i], seq[i], image))
                if len(self._held) >= RATE_FRAMES:
                    self._release_held()
                continue
            self._put(t[i], t_device[i], seq[i], image)

    def _release_held(self) -> None:
        """Measure the rate from the held frames' times (30 fps when they cannot tell), then write them."""
        held, self._held = self._held, None
        if len(held) > 1 and held[-1][0] > held[0][0]:
            self.fps = (len(held) - 1) / (held[-1][0] - held[0][0])
        for frame in held:
            self._put(*frame)

    def _put(self, t, t_device, seq, image) -> None:
        if self.writer is None or t - self.segment_t0 >= self.cfg.segment_s:
            self.finish_segment()
            self._open_segment(float(t))
        self.writer.write(image)
        self.table.write(f"{self.frames},{self.segment},{t:.6f},{t_device:.6f},{int(seq)}\n")
        self.frames += 1
        self.segment_frames += 1

    def _open_segment(self, t: float) -> None:
        import cv2

        self.check_space()
        self.segment += 1
        self.segment_t0 = t
        self.segment_frames = 0
        path = self.folder / PART.format(self.segment)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), float(self.fps), self.size)
        if not writer.isOpened():
            raise C3tError(f"OpenCV cannot write MJPG video to {path}; check that the folder is writable")
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(self.cfg.jpeg_quality))
        self.writer = writer

    def finish_segment(self) -> None:
        """Close the open segment, check it holds every frame, sync it, then rename it final."""
        import cv2

        if self.writer is None:
            return
        self.writer.release()
        self.writer = None
        part = self.folder / PART.format(self.segment)
        final = self.folder / SEGMENT.format(self.segment)
        cap = cv2.VideoCapture(str(part))
        try:
            got = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
        finally:
            cap.release()
        if got != self.segment_frames:   # OpenCV does not report write errors: a full disk shows here
            self.check_space()
            raise DiskFull(f"video segment {part.name} holds {got} of its {self.segment_frames} frames "
                           "(the disk could not take them)")
        with open(part, "rb+") as f:
            if self.cfg.fsync:
                _fsync(f)
        self.flush(self.cfg.fsync)          # the segment's table rows reach the disk before the segment counts
        part.replace(final)
        if self.cfg.fsync:
            fsync_dir(self.folder)
        self.segment_bytes[final.name] = final.stat().st_size
        self.bytes_video += self.segment_bytes[final.name]

    def flush(self, fsync: bool) -> None:
        """Flush the frame table to the OS, and to the disk when `fsync` (segments are synced
        when they are finalised)."""
        if self.table is not None:
            self.table.flush()
            if fsync:
                _fsync(self.table)

    def close(self, fsync: bool) -> None:
        """Write frames still held back for the rate, finalise the open segment, then flush and
        close the frame table."""
        if self._held:
            self._release_held()
        self.finish_segment()
        if self.table is not None:
            self.flush(fsync)
            self.table.close()
            self.table = None

    def abandon(self, discard: bool = False) -> None:
        """After a failure: release the writer without the checks. The .part file stays unless
        `discard` (a full disk: its frames are unreadable anyway, the reader drops a segment
        that was never finalised, and its bytes are the room the session needs to close)."""
        if self.writer is not None:
            with contextlib.suppress(Exception):  # OpenCV raises cv2.error, or nothing at all
                self.writer.release()
            self.writer = None
            if discard:
                (self.folder / PART.format(self.segment)).unlink(missing_ok=True)
        if self.table is not None:
            with contextlib.suppress(OSError):
                self.table.close()
            self.table = None


def _fsync(f) -> None:
    os.fsync(f.fileno())


# -- the recorder ------------------------------------------------------------------------------
@dataclass
class _Track:
    spec: StreamSpec
    file: object
    received: int = 0
    written: int = 0
    first_t: float | None = None
    last_t: float | None = None
    clock: ClockModel = field(default_factory=ClockModel)


class Recorder:
    """Writes one session folder from batches given to `write`, on a background thread; see
    the module docstring. Creating it makes the folder, its files and the manifest. `person`: who
    wore the IMU (the manifest's "person"; None: not said).

    Raises:
        C3tError: for a non-empty folder, no streams, duplicate stream names, an unknown kind, a
            time_scale not above 0, bad RecorderConfig values, a person's name check_person refuses or a
            full disk
    """

    def __init__(self, folder, streams: list[StreamSpec], devices: list[dict] | None = None, time_scale: float = 1.0,
                 config: RecorderConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 t0: float | None = None, person: str | None = None):
        self.config = config or RecorderConfig()
        self.config.check()
        person = check_person(person)
        if not streams:
            raise C3tError("nothing to record: no streams given")
        if time_scale <= 0:
            raise C3tError(f"time_scale={time_scale} must be above 0")
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            raise C3tError(f"stream names must be unique, got {names}")
        for s in streams:
            if s.kind not in STREAM_KINDS:
                raise C3tError(f"stream {s.name!r}: kind {s.kind!r} is not 'imu' or 'camera'")
        self.folder = Path(folder)
        self.time_scale = float(time_scale)
        self.clock = clock
        self._prepare_folder()
        self.t0 = clock() if t0 is None else float(t0)   # t0: the sources' own time axis (simulated time)
        created = time.time()
        self.manifest = {
            "format": FORMAT, "version": VERSION, "app_version": _app_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(created)), "created_unix": round(created, 3),
            "person": person,
            "host_t0": self.t0, "time_scale": self.time_scale,
            "time": "t = (host monotonic arrival time - host_t0) * time_scale, in seconds",
            "devices": list(devices or []),
            "streams": {s.name: self._stream_meta(s) for s in streams},
            "labels": LABELS,
            "recorder": dataclasses.asdict(self.config),
            "closed": False,
        }
        self._tracks: dict[str, _Track] = {}
        for s in streams:
            if s.kind == "imu":
                f = _ImuFile(self.folder / f"{s.name}.csv")
            else:
                (self.folder / s.name).mkdir()
                f = _CameraFile(self.folder / s.name, self.folder / f"{s.name}.csv", s.nominal_hz, self.config,
                                self._check_space)
            self._tracks[s.name] = _Track(s, f)
        self._labels = open(self.folder / LABELS, "x", encoding="utf-8", newline="\n")
        self._labels.write(",".join(LABEL_COLUMNS) + "\n")
        self._make_reserve()
        write_json_atomic(self.folder / MANIFEST, self.manifest, self.config.fsync)
        log.info("recording into %s: %s", self.folder, ", ".join(s.name for s in streams))
        self._items: deque = deque()
        self._in_flight = 0            # items taken by the writer but not yet written
        self._cond = threading.Condition()
        self._closing = False
        self._closed = False
        self._failure: C3tError | None = None
        self._unwritten = 0
        self._lags: deque = deque(maxlen=100_000)
        self._lag_max = 0.0
        self._backlog_max = 0.0
        self._writer_cpu = 0.0
        self._thread = threading.Thread(target=self._run, name=f"c3t-recorder {self.folder.name}", daemon=True)
        self._thread.start()

    def _prepare_folder(self) -> None:
        f = self.folder
        if f.exists() and (not f.is_dir() or any(f.iterdir())):
            raise C3tError(f"{f} already exists and is not empty; record into a new folder "
                           "(a session is never overwritten)")
        self._made = [p for p in (f, *f.parents) if not p.exists()]   # the folders this recorder creates, deepest first
        try:
            f.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise C3tError(f"cannot create the session folder {f}: {exc.strerror}; choose another --out") from None

    def _stream_meta(self, s: StreamSpec) -> dict:
        meta = {"kind": s.kind, "device": s.device, "nominal_hz": s.nominal_hz}
        if s.kind == "imu":
            meta.update(file=f"{s.name}.csv", channels=None, columns=None)
        else:
            meta.update(table=f"{s.name}.csv", folder=s.name, size=None, codec="MJPG",
                        segment_s=self.config.segment_s)
        return meta

    def _make_reserve(self) -> None:
        if self.config.reserve_bytes <= 0:
            return
        try:
            with open(self.folder / RESERVE, "wb") as f:
                f.write(b"\0" * self.config.reserve_bytes)
                f.flush()
                if self.config.fsync:
                    _fsync(f)
        except OSError as exc:
            (self.folder / RESERVE).unlink(missing_ok=True)
            if exc.errno in DISK_FULL:
                raise C3tError(f"the disk holding {self.folder} is full; free some space or record elsewhere") from None
            raise

    # -- the capture side (never touches the disk) -------------------------------------------
    def session_time(self, t_host) -> np.ndarray:
        """Session seconds (float64) of host times: (t_host - t0) * time_scale."""
        return (np.asarray(t_host, dtype=np.float64) - self.t0) * self.time_scale

    def write(self, batch: Batch) -> None:
        """Queue one Batch (from Source.read) for writing. Does nothing once the recorder failed
        (check `failure`).

        Raises:
            C3tError: when the recorder was closed
        """
        if self._closed or self._closing:
            raise C3tError(f"recorder for {self.folder} is closed; start a new recording")
        track = self._tracks.get(batch.stream)
        if track is None:
            raise C3tError(f"the recording of {self.folder} has no stream {batch.stream!r} (it has {list(self._tracks)})")
        if self._failure is not None:
            self._unwritten += len(batch)
            return
        now = self.clock()
        with self._cond:
            if self._items:
                backlog = now - self._items[0][1]
                self._backlog_max = max(self._backlog_max, backlog)
                if backlog > self.config.max_backlog_s and self._failure is None:
                    self._failure = C3tError(
                        f"the disk holding {self.folder} is too slow: writing fell {backlog:.0f} s behind the "
                        "capture, so the recording stopped. What was written is kept; record to a faster disk "
                        "or lower the camera's size or rate.")
            track.received += len(batch)
            self._items.append((batch, now))
            self._cond.notify_all()

    def add_label(self, start: float, end: float | None, cls: str, use: str = "har") -> None:
        """Append a label (session seconds; end None = to the end of the recording).

        Raises:
            C3tError: for a `use` not in USES or an `end` not after `start`
        """
        if use not in USES:
            raise C3tError(f"label use {use!r} must be one of {USES}")
        if end is not None and end <= start:
            raise C3tError(f"label {cls!r}: end {end} must be after start {start}")
        with self._cond:
            self._items.append((Label(float(start), None if end is None else float(end), cls, use), self.clock()))
            self._cond.notify_all()

    @property
    def failure(self) -> C3tError | None:
        """Why the writer stopped (full or too slow disk, a write error), or None while it runs."""
        return self._failure

    def sync(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (not necessarily flushed)."""
        with self._cond:
            return self._cond.wait_for(lambda: (not self._items and not self._in_flight) or self._failure is not None
                                       or not self._thread.is_alive(), timeout)

    def written_until(self) -> float | None:
        """The session time every stream with data has been written up to (None before any data)."""
        lasts = [t.last_t for t in self._tracks.values() if t.last_t is not None]
        return min(lasts) if lasts else None

    def counts(self) -> dict[str, dict[str, int]]:
        """Per stream, the samples received by `write` and those written to the files so far."""
        return {n: {"received": t.received, "written": t.written} for n, t in self._tracks.items()}

    def stats(self, with_bytes: bool = False) -> dict:
        """Writer lag (capture -> flushed), backlog, writer CPU; `bytes` on disk (walks the folder) if asked."""
        lags = np.array(self._lags) if self._lags else np.zeros(1)
        with self._cond:
            backlog = (self.clock() - self._items[0][1]) if self._items else 0.0
        return {"lag_median_s": float(np.median(lags)), "lag_p99_s": float(np.percentile(lags, 99)),
                "lag_max_s": float(self._lag_max), "backlog_s": float(backlog), "backlog_max_s": float(self._backlog_max),
                "writer_cpu_s": float(self._writer_cpu), "unwritten": int(self._unwritten),
                **({"bytes": _folder_bytes(self.folder)} if with_bytes else {})}

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        cpu0 = time.thread_time()
        next_flush = self.clock() + self.config.flush_s
        pending: list[float] = []
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._items or self._closing,
                                        timeout=max(0.0, next_flush - self.clock()))
                    items = list(self._items)
                    self._items.clear()
                    self._in_flight = len(items)
                    closing = self._closing
                for item, t_in in items:
                    if isinstance(item, Label):
                        self._labels.write(label_line(item))
                    else:
                        self._write_batch(item)
                    pending.append(t_in)
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()
                now = self.clock()
                if now >= next_flush or closing:
                    self._flush()
                    done = self.clock()
                    for t_in in pending:
                        self._lags.append(done - t_in)
                        self._lag_max = max(self._lag_max, done - t_in)
                    pending.clear()
                    next_flush = done + self.config.flush_s
                if closing:
                    with self._cond:
                        if not self._items:
                            break
            for t in self._tracks.values():
                t.file.close(self.config.fsync)
            self._labels.flush()
            if self.config.fsync:
                _fsync(self._labels)
            self._labels.close()
        except DiskFull as exc:
            self._fail_disk_full(str(exc))
        except OSError as exc:
            if exc.errno in DISK_FULL:
                self._fail_disk_full(f"{exc.strerror} writing {exc.filename or self.folder}")
            else:
                self._fail(C3tError(f"writing the session {self.folder} failed: {exc}; the recording stopped, "
                                    "what was written before is kept"))
        except C3tError as exc:
            self._fail(exc)
        except Exception as exc:   # a bug: stop recording loudly rather than lose data silently
            self._fail(C3tError(f"the session writer for {self.folder} failed: {type(exc).__name__}: {exc}; "
                                "the recording stopped, what was written before is kept"))
        finally:
            self._writer_cpu = time.thread_time() - cpu0

    def _write_batch(self, batch) -> None:
        track = self._tracks[batch.stream]
        n = len(batch)
        if n == 0:
            return
        t = self.session_time(batch.t_host)
        t_device = np.full(n, np.nan) if batch.t_device is None else np.asarray(batch.t_device, dtype=np.float64)
        seq = np.full(n, -1, dtype=np.int64) if batch.seq is None else np.asarray(batch.seq, dtype=np.int64)
        first = track.written == 0
        track.file.write(t, t_device, seq, np.asarray(batch.values))
        track.written += n
        if track.first_t is None:
            track.first_t = float(t[0])
        track.last_t = float(t[-1])
        device = t_device if batch.t_device is not None else (
            seq / track.spec.nominal_hz if batch.seq is not None and track.spec.nominal_hz else None)
        if device is not None:
            track.clock.update(device, t)
        if first:
            self._describe_stream(track)

    def _describe_stream(self, track: _Track) -> None:
        """The first batch fixes the channel count / frame size: put it in the manifest."""
        meta = self.manifest["streams"][track.spec.name]
        f = track.file
        if isinstance(f, _ImuFile):
            meta["channels"] = f.channels
            meta["columns"] = imu_columns(f.channels)
        else:
            meta["size"] = list(f.size)
        write_json_atomic(self.folder / MANIFEST, self.manifest, self.config.fsync)

    def _flush(self) -> None:
        for t in self._tracks.values():
            t.file.flush(self.config.fsync)
        self._labels.flush()
        if self.config.fsync:
            _fsync(self._labels)
        self._check_space()

    def _check_space(self) -> None:
        free = shutil.disk_usage(self.folder).free
        if free < self.config.min_free_bytes:
            raise DiskFull(f"only {free / 1e6:.1f} MB left, less than the {self.config.min_free_bytes / 1e6:.0f} MB "
                           "the recorder keeps free")

    def _fail(self, error: C3tError) -> None:
        log.info("recording into %s failed: %s", self.folder, error)
        with self._cond:
            self._failure = self._failure or error
            self._unwritten += sum(len(b) for b, _ in self._items if not isinstance(b, Label))
            self._items.clear()
        for t in self._tracks.values():
            if isinstance(t.file, _CameraFile):
                t.file.abandon()
            else:
                try:
                    t.file.close(False)
                except OSError:
                    pass
        try:
            self._labels.close()
        except OSError:
            pass

    def _fail_disk_full(self, why: str) -> None:
        # Room to close the session properly: first the unfinished video segment (releasing its
        # writer flushes frames and an index, which would eat the reserve), then the reserve.
        for t in self._tracks.values():
            if isinstance(t.file, _CameraFile):
                t.file.abandon(discard=True)
        (self.folder / RESERVE).unlink(missing_ok=True)
        t = max((tr.last_t or 0.0) for tr in self._tracks.values())
        self._fail(C3tError(
            f"the disk holding {self.folder} is full ({why}): the recording stopped at {t:.1f} s. Everything "
            f"written before that is kept and readable (`c3t info {self.folder}`). Free some space or record "
            "to another disk."))

    # -- closing --------------------------------------------------------------------------------
    def _outages(self, h, end: float) -> list[list]:
        """A source's outages (Health.gaps, and one still going on at the close) as [start, end]
        in session seconds; an outage still going on ends at the session's end `end`."""
        spans = [(a, b) for a, b in h.gaps] + ([(h.outage_since, None)] if h.outage_since is not None else [])
        return [[round(float(self.session_time(a)), 6), round(float(self.session_time(b)), 6) if b is not None else end]
                for a, b in spans]

    def discard(self) -> None:
        """Close and remove the session, for a recording that failed before it recorded anything (a
        device that would not open): no stub is left to be refused later as "an empty session". Only
        what this recorder created goes: the folder was new or empty, so every file in it is the
        recorder's; the folder and the parents it made are removed, an empty folder it was given is
        kept."""
        self.close("discarded")
        for path in sorted(self.folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        for folder in self._made:
            try:
                folder.rmdir()
            except OSError:   # something else was put there meanwhile: keep it
                break

    def close(self, reason: str = "stopped", health: dict | None = None) -> dict:
        """Write what is queued, finalise the files and mark the session closed; returns the
        manifest. After a failure the session is closed as far as the disk allows."""
        if self._closed:
            return self.manifest
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._closed = True
        m = self.manifest
        m["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        m["stop_reason"] = f"failed: {self._failure}" if self._failure else reason
        m["duration_s"] = round(max([t.last_t for t in self._tracks.values() if t.last_t is not None] or [0.0]), 6)
        m["counts"] = {n: t.written for n, t in self._tracks.items()}
        m["measured_hz"] = {n: (round((t.written - 1) / (t.last_t - t.first_t), 4)
                                if t.written > 1 and t.last_t > t.first_t else None) for n, t in self._tracks.items()}
        m["source_dropped"] = {n: int(h.dropped) for n, h in (health or {}).items() if n in self._tracks}
        m["stopped_at_s"] = round(max(float(self.session_time(self.clock())), m["duration_s"]), 6)
        m["source_outages"] = {n: self._outages(h, m["stopped_at_s"]) for n, h in (health or {}).items()
                               if n in self._tracks and (h.gaps or h.outage_since is not None)}
        m["source_problems"] = {n: _source_problems(h) for n, h in (health or {}).items()
                                if n in self._tracks and _source_problems(h)}
        m["clock_fits"] = {n: ({**dataclasses.asdict(t.clock.fit), "epoch": t.clock.epoch} if t.clock.ready else None)
                           for n, t in self._tracks.items()}
        for n, t in self._tracks.items():
            if isinstance(t.file, _CameraFile):   # `c3t info` checks the files against these sizes
                m["streams"][n]["segments"] = dict(t.file.segment_bytes)
            names = getattr((health or {}).get(n), "channel_names", None)
            if m["streams"][n]["kind"] == "imu" and names and len(names) == m["streams"][n].get("channels"):
                m["streams"][n]["channel_names"] = list(names)   # the CSV keeps ch0..chN; the board's names live here
            units = getattr((health or {}).get(n), "units", None)
            if m["streams"][n]["kind"] == "imu" and units:
                m["streams"][n]["units"] = list(units)           # what each channel was recorded in (g, deg/s)
                m["streams"][n]["units_note"] = getattr(health[n], "units_note", None)
            if not m["streams"][n]["nominal_hz"]:
                h = (health or {}).get(n)
                hz = h.nominal_hz / self.time_scale if h is not None and h.nominal_hz else m["measured_hz"][n]
                m["streams"][n]["nominal_hz"] = hz
        st = self.stats(with_bytes=True)
        m["writer"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in st.items()}
        m["closed"] = True
        try:
            write_json_atomic(self.folder / MANIFEST, m, self.config.fsync)
            (self.folder / RESERVE).unlink(missing_ok=True)
        except OSError as exc:
            m["closed"] = False
            if self._failure is None:
                self._failure = C3tError(f"could not finish the manifest of {self.folder} ({exc.strerror}); "
                                         "the data is kept, `c3t info` will call the session not closed cleanly")
        log.info("session %s closed (%s): manifest %s, %s bytes written", self.folder, reason,
                 "written" if m["closed"] else "NOT finished", st.get("bytes"))
        return m


def _source_problems(h) -> list[str]:
    """What a source said about data it could not deliver whole (Health's counters and messages),
    as sentences for the manifest's `source_problems`."""
    out = []
    for n, what in ((h.missing, "values were not numbers (kept as nan)"), (h.duplicates, "duplicates were dropped"),
                    (h.repeated, "frames were no new picture (frozen; not recorded)"),
                    (h.malformed, "lines or packets could not be read")):
        if n:
            out.append(f"{n} {what}")
    if h.warning:
        out.append(h.warning)
    if h.outage_since is not None and h.last_error:
        out.append(f"at the end: {h.last_error}")
    return out


def _folder_bytes(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        if p.is_file() and p.name != RESERVE:
            try:
                total += p.stat().st_size
            except OSError:
                pass
    return total


def _app_version() -> str:
    try:
        from importlib.metadata import version

        return version("c3t")
    except Exception:
        return "unknown"
