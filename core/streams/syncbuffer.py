"""SyncBuffer: every stream on the host clock, in fixed memory, and the model window cut from it.

    buf = SyncBuffer(seconds=30)
    buf.add_stream("imu", "imu", rate_hz=200)
    buf.add_stream("camera", "camera", rate_hz=30)
    for batch in source.read(0.1): buf.ingest(batch)
    w = buf.window(buf.latest_common_time(), WindowSpec())   # w.imu, w.frames, w.imu_mask ...

Each stream is a ring of fixed capacity (`seconds` x rate; cameras keep `camera_seconds`).
A sample's time on the common (host monotonic) axis is:
- its device time mapped through the stream's `ClockModel` when the device sends timestamps,
- `seq / rate_hz` mapped the same way when it sends only sequence numbers,
- its host arrival time otherwise.
The clock fit keeps improving; a window re-maps the samples of the current clock epoch with the
newest fit. Gaps (no sample for longer than `gap_s`, i.e. max(5 periods, min_gap_s)) are
recorded per stream.

`window(t_end, spec)` returns [t_end - spec.seconds, t_end] in the layout the models take:
IMU (spec.imu_steps, channels) float32 and frames (spec.frames, H, W, 3) uint8, with a mask per
step. IMU samples are brought to `spec.imu_steps` with `c3t.core.streams.window.resample` (index-linear,
exactly as training clips are) over each stretch without a gap; frames are the nearest frame in
time to evenly spaced instants (never blended). Steps inside a gap, or more than 1.5 sample
periods before the first or after the last sample, are masked and zero; by default any missing step raises C3tError (`allow_missing` tolerates a fraction).
"""
from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.streams.clock import ClockModel
from c3t.core.streams.contract import STREAM_KINDS, Batch, Source
from c3t.core.streams.window import WindowSpec, resample

log = logging.getLogger(__name__)
MAX_RING_BYTES = 1 << 30   # one stream's ring at most (1 GiB: 5 s of 1080p at 30 fps is 0.93 GB)


class Ring:
    """Fixed-capacity arrays of one stream, written in arrival order, overwriting the oldest."""

    def __init__(self, capacity: int, sample_shape: tuple, dtype):
        self.capacity = capacity
        self.values = np.zeros((capacity,) + tuple(sample_shape), dtype=dtype)
        self.t = np.full(capacity, np.nan)          # common-axis time as mapped at ingest
        self.t_host = np.full(capacity, np.nan)
        self.t_device = np.full(capacity, np.nan)   # device (or seq-derived) time; nan if none
        self.epoch = np.full(capacity, -1, dtype=np.int64)
        self.head = 0        # next write position
        self.count = 0       # samples held (<= capacity)
        self.written = 0     # samples ever written

    def write(self, values, t, t_host, t_device, epoch) -> None:
        """Append n samples (values (n, *sample_shape) and per-sample times in seconds and clock
        epochs) after the newest, overwriting the oldest; of more than `capacity` only the
        newest are kept."""
        n = len(t)
        if n > self.capacity:  # keep the newest
            values, t, t_host, t_device, epoch = (a[-self.capacity:] for a in (values, t, t_host, t_device, epoch))
            n = self.capacity
        first = min(n, self.capacity - self.head)
        for dst, src in ((self.values, values), (self.t, t), (self.t_host, t_host),
                         (self.t_device, t_device), (self.epoch, epoch)):
            dst[self.head:self.head + first] = src[:first]
            dst[:n - first] = src[first:]
        self.head = (self.head + n) % self.capacity
        self.count = min(self.capacity, self.count + n)
        self.written += n

    def order(self) -> np.ndarray:
        """Ring positions of the held samples, oldest first."""
        start = (self.head - self.count) % self.capacity
        return (start + np.arange(self.count)) % self.capacity


@dataclass
class StreamInfo:
    """The SyncBuffer's state for one stream: kind, nominal rate (Hz), its ring (None until the
    sample shape is known), clock model, gap threshold (seconds), the gaps seen as (start, end)
    pairs, and the newest sample time on the common axis."""

    name: str
    kind: str
    rate_hz: float
    ring: Ring | None
    capacity: int
    sample_shape: tuple | None     # (C,) or (H, W, 3); fixed by add_stream or the first batch
    clock: ClockModel
    gap_s: float
    gaps: deque
    last_t: float = -math.inf


@dataclass
class Window:
    """One model window cut by `SyncBuffer.window`: [t_start, t_end] in host seconds, the IMU
    and/or frames it holds and a mask per step saying where data was present; a stream not
    asked for stays None."""

    t_start: float
    t_end: float
    imu: np.ndarray | None = None          # (imu_steps, C) float32
    imu_mask: np.ndarray | None = None     # (imu_steps,) bool: True where data was present
    frames: np.ndarray | None = None       # (frames, H, W, 3) uint8 BGR
    frame_mask: np.ndarray | None = None   # (frames,) bool
    frame_times: np.ndarray | None = None  # (frames,) common-axis time of each chosen frame

    @property
    def complete(self) -> bool:
        """True when every step of every stream in the window has data."""
        return all(m is None or bool(m.all()) for m in (self.imu_mask, self.frame_mask))


class SyncBuffer:
    """Streams on one host-clock axis in fixed memory, and the model windows cut from them; see
    the module docstring. `seconds` (IMU) and `camera_seconds` size the rings; a gap is no
    sample for max(`gap_periods` periods, `min_gap_s`) seconds, and up to `max_gaps` are kept
    per stream. A ring takes at most `max_ring_bytes` bytes, whatever rate it was given."""

    def __init__(self, seconds: float = 30.0, camera_seconds: float = 5.0, clock_history_s: float = 30.0,
                 gap_periods: float = 5.0, min_gap_s: float = 0.2, max_gaps: int = 1000,
                 max_ring_bytes: int = MAX_RING_BYTES):
        self.seconds = seconds
        self.camera_seconds = camera_seconds
        self.clock_history_s = clock_history_s
        self.gap_periods = gap_periods
        self.min_gap_s = min_gap_s
        self.max_gaps = max_gaps
        self.max_ring_bytes = max_ring_bytes
        self._streams: dict[str, StreamInfo] = {}

    # -- streams -----------------------------------------------------------------------
    def add_stream(self, name: str, kind: str, rate_hz: float, *, channels: int | None = None,
                   frame_shape: tuple | None = None, seconds: float | None = None) -> None:
        """Register a stream. Its sample shape is fixed here or by its first batch.

        Raises:
            C3tError: for a `kind` not in STREAM_KINDS or a `rate_hz` that is not above 0
        """
        if kind not in STREAM_KINDS:
            raise C3tError(f"stream {name!r}: kind {kind!r} is not one of {STREAM_KINDS}")
        if not rate_hz or rate_hz <= 0:
            raise C3tError(f"stream {name!r}: a positive rate_hz is needed to size its ring (got {rate_hz!r})")
        if seconds is None:
            seconds = self.seconds if kind == "imu" else self.camera_seconds
        shape = (channels,) if channels else (tuple(frame_shape) if frame_shape else None)
        capacity = int(math.ceil(seconds * rate_hz * 1.25)) + 8
        info = StreamInfo(name, kind, float(rate_hz), None, capacity, shape,
                          ClockModel(history_s=self.clock_history_s),
                          max(self.gap_periods / rate_hz, self.min_gap_s), deque(maxlen=self.max_gaps))
        if shape is not None:
            info.ring = self._new_ring(info)
        self._streams[name] = info

    def add_source(self, source: Source, rates: dict[str, float] | None = None) -> None:
        """Register every stream of a Source, with its nominal rate (from health() or `rates`).

        Raises:
            C3tError: for a stream whose rate is not known yet and not given in `rates`
        """
        health = source.health()
        for name in source.streams:
            rate = (rates or {}).get(name) or health[name].nominal_hz
            if not rate:
                raise C3tError(f"{source.name}: stream {name!r} does not know its rate yet; "
                               f"pass rates={{'{name}': HZ}} (or set rate_hz in the source's config)")
            self.add_stream(name, "camera" if name.startswith("camera") else "imu", rate)

    @property
    def streams(self) -> list[str]:
        """The names of the registered streams, in the order they were added."""
        return list(self._streams)

    def _new_ring(self, info: StreamInfo) -> Ring:
        """The stream's ring, `info.capacity` samples but at most `max_ring_bytes` (a camera that
        reports a false high rate, e.g. 480 fps for 30, would otherwise ask for gigabytes)."""
        dtype = np.float32 if info.kind == "imu" else np.uint8
        sample_bytes = int(np.prod(info.sample_shape or (1,))) * np.dtype(dtype).itemsize
        fits = max(16, self.max_ring_bytes // max(1, sample_bytes))
        if info.capacity > fits:
            log.warning("stream %r: a ring of %d samples (%.0f s at %g Hz) would take %.1f GB; kept to %d samples "
                        "(%.0f MB)", info.name, info.capacity, info.capacity / info.rate_hz, info.rate_hz,
                        info.capacity * sample_bytes / 1e9, fits, fits * sample_bytes / 1e6)
            info.capacity = fits
        return Ring(info.capacity, info.sample_shape, dtype)

    def _info(self, name: str) -> StreamInfo:
        try:
            return self._streams[name]
        except KeyError:
            raise C3tError(f"SyncBuffer has no stream {name!r} (it has {self.streams}); "
                           "add it with add_stream(name, kind, rate_hz) first") from None

    def clock(self, name: str) -> ClockModel:
        """The stream's device-to-host ClockModel. Raises C3tError for an unknown stream."""
        return self._info(name).clock

    def gaps(self, name: str) -> list[tuple[float, float]]:
        """The stream's gaps as (last sample before, first sample after) in host seconds,
        oldest first (at most `max_gaps`). Raises C3tError for an unknown stream."""
        return list(self._info(name).gaps)

    def received(self, name: str) -> int:
        """Samples ever ingested for the stream, including those the ring has since dropped.
        Raises C3tError for an unknown stream."""
        info = self._info(name)
        return info.ring.written if info.ring else 0

    def latest_time(self, name: str) -> float | None:
        """The newest sample time (host seconds, as mapped at ingest) of the stream, or None
        before its first sample. Raises C3tError for an unknown stream."""
        info = self._info(name)
        return None if info.last_t == -math.inf else info.last_t

    def latest_common_time(self, names: list[str] | None = None) -> float | None:
        """The newest time every stream has reached (the natural `t_end` for a live window)."""
        times = [self.latest_time(n) for n in (names or self.streams)]
        return None if not times or any(t is None for t in times) else min(times)

    # -- ingest ------------------------------------------------------------------------
    def ingest(self, batch: Batch) -> None:
        """Add one Batch (from Source.read).

        Raises:
            C3tError: for a stream that was not registered (add_stream), or a batch whose sample shape
                differs from the stream's
        """
        info = self._info(batch.stream)
        n = len(batch)
        if n == 0:
            return
        values = np.asarray(batch.values)
        if info.sample_shape is None:
            info.sample_shape = values.shape[1:]
            info.ring = self._new_ring(info)
        if values.shape[1:] != info.sample_shape:
            raise C3tError(f"stream {info.name!r}: batch samples have shape {values.shape[1:]}, "
                           f"the stream was set up for {info.sample_shape}")
        t_host = batch.t_host
        t_device = None
        if batch.t_device is not None:
            t_device = batch.t_device
        elif batch.seq is not None:
            t_device = batch.seq / info.rate_hz
        epoch = np.full(n, info.clock.epoch, dtype=np.int64)
        if t_device is None:
            t = t_host.copy()
            t_device = np.full(n, np.nan)
            epoch[:] = -1
        else:
            prior = info.clock.to_host(t_device) if info.clock.ready else t_host
            resets = info.clock.update(t_device, t_host)
            t = np.empty(n)
            bounds = [0] + resets + [n]
            final_epoch = info.clock.epoch
            for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
                # a reset inside the batch: the piece before it keeps the previous fit's mapping,
                # the last piece gets the new fit, anything between only has its arrival time
                ep = final_epoch - (len(bounds) - 2 - k)
                epoch[a:b] = ep
                if ep == final_epoch:
                    t[a:b] = info.clock.to_host(t_device[a:b])
                else:
                    t[a:b] = prior[a:b] if k == 0 else t_host[a:b]
        self._record_gaps(info, t)
        info.ring.write(values, t, t_host, t_device, epoch)

    def extend(self, batches) -> None:
        """`ingest` each batch in turn (e.g. the list Source.read returns)."""
        for b in batches:
            self.ingest(b)

    def _record_gaps(self, info: StreamInfo, t: np.ndarray) -> None:
        prev = np.concatenate([[info.last_t], t[:-1]])
        jump = np.flatnonzero((t - prev > info.gap_s) & np.isfinite(prev))
        for i in jump:
            info.gaps.append((float(prev[i]), float(t[i])))
        info.last_t = max(info.last_t, float(t[-1]))

    # -- read --------------------------------------------------------------------------
    def samples(self, name: str, t0: float = -math.inf, t1: float = math.inf):
        """(times, values) of a stream held in [t0, t1], oldest first, times re-mapped with the
        current clock fit."""
        info = self._info(name)
        t, pos = self._held(info, t0, t1)
        return t, (info.ring.values[pos] if info.ring is not None else None)

    def _held(self, info: StreamInfo, t0: float, t1: float):
        """(times, ring positions) of the samples in [t0, t1], sorted by time."""
        if info.ring is None or info.ring.count == 0:
            return np.empty(0), np.empty(0, dtype=np.int64)
        pos = info.ring.order()
        t = self._times(info, pos)
        keep = (t >= t0) & (t <= t1)
        pos, t = pos[keep], t[keep]
        order = np.argsort(t, kind="stable")
        return t[order], pos[order]

    @staticmethod
    def _times(info: StreamInfo, pos: np.ndarray) -> np.ndarray:
        ring = info.ring
        t = ring.t[pos].copy()
        if info.clock.ready:
            current = ring.epoch[pos] == info.clock.epoch
            if current.any():
                t[current] = info.clock.to_host(ring.t_device[pos[current]])
        return t

    def window(self, t_end: float, spec: WindowSpec, *, imu: str | None = "auto",
               camera: str | None = "auto", allow_missing: float = 0.0) -> Window:
        """The model window [t_end - spec.seconds, t_end]; see the module docstring.

        `imu`/`camera` name the streams ("auto": "imu"/"camera" if registered, None: skip).

        Raises:
            C3tError: when there is no IMU or camera stream to cut, or when more than `allow_missing` of
                a stream's share of the window has no data (the message names the stream and what to do)
        """
        t_start = t_end - spec.seconds
        out = Window(t_start, t_end)
        imu = ("imu" if "imu" in self._streams else None) if imu == "auto" else imu
        camera = ("camera" if "camera" in self._streams else None) if camera == "auto" else camera
        if imu is None and camera is None:
            raise C3tError(f"SyncBuffer.window: no imu or camera stream to cut (streams: {self.streams})")
        if imu is not None:
            out.imu, out.imu_mask = self._imu_window(self._info(imu), t_start, t_end, spec)
            self._check_missing(imu, out.imu_mask, t_start, t_end, allow_missing)
        if camera is not None:
            out.frames, out.frame_mask, out.frame_times = self._frame_window(self._info(camera), t_start, t_end, spec)
            self._check_missing(camera, out.frame_mask, t_start, t_end, allow_missing)
        return out

    def _coverage(self, info: StreamInfo, t: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """True where a grid instant is not in a gap: the samples either side are close enough."""
        if len(t) == 0:
            return np.zeros(len(grid), dtype=bool)
        right = np.searchsorted(t, grid, side="left")
        left = right - 1
        t_left = np.where(left >= 0, t[np.clip(left, 0, len(t) - 1)], -np.inf)
        t_right = np.where(right < len(t), t[np.clip(right, 0, len(t) - 1)], np.inf)
        exact = t_right == grid
        edge_s = 1.5 / info.rate_hz   # beyond the first/last sample: at most 1.5 periods
        near_left = grid - t_left <= edge_s
        near_right = t_right - grid <= edge_s
        inside = t_right - t_left <= info.gap_s
        edge = (np.isinf(t_right) & near_left) | (np.isinf(t_left) & near_right)
        return exact | inside | edge

    def _imu_window(self, info: StreamInfo, t_start, t_end, spec: WindowSpec):
        if info.kind != "imu":
            raise C3tError(f"stream {info.name!r} is a {info.kind} stream, not an IMU")
        if info.sample_shape is not None and info.sample_shape[0] != spec.imu_channels:
            raise C3tError(f"stream {info.name!r} has {info.sample_shape[0]} channels; the window "
                           f"spec wants {spec.imu_channels} (check the device or the model's channel layout)")
        margin = info.gap_s
        t, values = self.samples(info.name, t_start - margin, t_end + margin)
        grid = np.linspace(t_start, t_end, spec.imu_steps)
        out = np.zeros((spec.imu_steps, spec.imu_channels), dtype=np.float32)
        mask = self._coverage(info, t, grid)
        # each run of covered steps is resampled from the samples inside its time span
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        for k0, k1 in zip(edges[::2], edges[1::2]):
            lo, hi = grid[k0], grid[k1 - 1]
            inside = np.flatnonzero((t >= lo) & (t <= hi))
            if len(inside) == 0:  # a run shorter than one sample period: the nearest sample
                inside = np.array([int(np.argmin(np.abs(t - (lo + hi) / 2)))])
            out[k0:k1] = resample(values[inside], k1 - k0)
        holes = ~np.isfinite(out).all(axis=1)   # values the device sent as nan ("nan", "ovf"): missing data
        out[holes] = 0.0
        return out, mask & ~holes

    def _frame_window(self, info: StreamInfo, t_start, t_end, spec: WindowSpec):
        if info.kind != "camera":
            raise C3tError(f"stream {info.name!r} is a {info.kind} stream, not a camera")
        t, pos = self._held(info, t_start - info.gap_s, t_end + info.gap_s)
        grid = np.linspace(t_start, t_end, spec.frames)
        mask = self._coverage(info, t, grid)
        shape = info.sample_shape or (1, 1, 3)
        out = np.zeros((spec.frames,) + tuple(shape), dtype=np.uint8)
        times = np.full(spec.frames, np.nan)
        if len(t):
            right = np.clip(np.searchsorted(t, grid), 0, len(t) - 1)
            left = np.clip(right - 1, 0, len(t) - 1)
            nearest = np.where(np.abs(t[left] - grid) <= np.abs(t[right] - grid), left, right)
            out[mask] = info.ring.values[pos[nearest[mask]]]
            times[mask] = t[nearest[mask]]
        return out, mask, times

    def _check_missing(self, name: str, mask: np.ndarray, t_start: float, t_end: float, allow: float) -> None:
        missing = 1.0 - float(mask.mean())
        if missing > allow:
            info = self._streams[name]
            newest = self.latest_time(name)
            where = "no data yet" if newest is None else f"newest sample at {newest:.3f} s"
            raise C3tError(
                f"stream {name!r}: {missing:.0%} of the window [{t_start:.3f}, {t_end:.3f}] s has no data "
                f"({where}; gaps longer than {info.gap_s:.3f} s count as missing). Wait for data, "
                f"use latest_common_time() as t_end, or pass allow_missing to get a mask instead."
            )
