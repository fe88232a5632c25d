"""Helpers every live adapter builds on: thread-safe health counters (StreamHealth), the
batch queue a reader thread fills (BatchQueue), the reader-thread life cycle (ThreadedSource,
MultiStreamSource) and delivery. The contract itself (Batch, Health, Source, stream kinds) is
c3t.core.streams.contract.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from abc import abstractmethod
from typing import Any

import numpy as np

from c3t.core.streams.contract import Batch, Health, Source

log = logging.getLogger(__name__)

class StreamHealth:
    """Thread-safe counters for one stream; `snapshot()` returns a Health copy. Connects, outages
    (reconnecting), new error messages and rejected (malformed) data are also logged, under `name`
    (the source's spec or stream, for the log only)."""

    def __init__(self, nominal_hz: float | None = None, rate_window_s: float = 2.0, name: str = "stream"):
        self.name = name
        self._lock = threading.Lock()
        self._h = Health(nominal_hz=nominal_hz)
        self._arrivals: collections.deque[tuple[float, int]] = collections.deque()
        self._rate_window_s = rate_window_s
        self._outage_start: float | None = None
        self._last_seq: int | None = None

    def set(self, **fields: Any) -> None:
        """Set Health fields by name, e.g. set(state="stopped", nominal_hz=100.0).

        Raises:
            AttributeError: for a name that is not a Health field
        """
        with self._lock:
            for k, v in fields.items():
                if not hasattr(self._h, k):
                    raise AttributeError(f"Health has no field {k!r}")
                setattr(self._h, k, v)

    def count(self, n: int, t_host: float) -> None:
        """Count `n` samples that arrived at host time `t_host` (seconds); arrivals older than
        `rate_window_s` before it are forgotten (they only feed measured_hz)."""
        with self._lock:
            self._h.received += n
            self._arrivals.append((t_host, n))
            while self._arrivals and self._arrivals[0][0] < t_host - self._rate_window_s:
                self._arrivals.popleft()

    def connected(self) -> None:
        """The device was (re)opened."""
        with self._lock:
            self._h.connects += 1
            if self._outage_start is None:
                self._h.state = "connected"
            connects = self._h.connects
        log.info("%s: connected%s", self.name, f" again (connect {connects})" if connects > 1 else "")

    def sequence(self, seq: np.ndarray) -> None:
        """Count samples the device numbered but never delivered as dropped. A step back or a
        jump of 10000 or more is a device restart, not a loss."""
        with self._lock:
            prev = self._last_seq
            for s in seq.tolist():
                if prev is not None and 1 < s - prev < 10_000:
                    self._h.dropped += s - prev - 1
                prev = s
            self._last_seq = prev

    def drop(self, n: int = 1, malformed: bool = False) -> None:
        """Count `n` samples as dropped; with `malformed=True` also as malformed (lines or
        packets that could not be parsed)."""
        with self._lock:
            self._h.dropped += n
            if malformed:
                self._h.malformed += n
        if malformed:
            log.debug("%s: rejected %d malformed sample(s)", self.name, n)

    def add(self, name: str, n: int = 1) -> None:
        """Add `n` to the integer Health field `name` (e.g. "duplicates", "repeated"). Raises
        AttributeError for a name that is not a Health field."""
        with self._lock:
            setattr(self._h, name, getattr(self._h, name) + n)

    def error(self, message: str) -> None:
        """Keep `message` as the stream's last_error (the newest message wins); a new message is logged."""
        with self._lock:
            new, self._h.last_error = message != self._h.last_error, message
        if new:
            log.info("%s: %s", self.name, message)

    def outage_begins(self, t_host: float) -> None:
        """The device went away at t_host (last good data); state becomes reconnecting."""
        with self._lock:
            began = self._outage_start is None
            if began:
                self._outage_start = t_host
            self._h.state = "reconnecting"
        if began:
            log.info("%s: no data since host time %.3f s; reconnecting", self.name, t_host)

    def outage_ends(self, t_host: float) -> None:
        """Data flows again at t_host; the outage is recorded as a gap."""
        with self._lock:
            gap = None
            if self._outage_start is not None:
                gap = (self._outage_start, t_host)
                self._h.gaps.append(gap)
                self._outage_start = None
            self._h.state = "connected"
        if gap is not None:
            log.info("%s: data again after a %.2f s gap", self.name, gap[1] - gap[0])

    def snapshot(self, now: float | None = None) -> Health:
        """A copy of the stream's Health at host time `now` (seconds; None: time.monotonic()),
        with measured_hz the arrival rate in Hz over the last `rate_window_s` seconds (0.0 from
        fewer than two arrivals) and the diagnosis applied (Health.diagnosed)."""
        with self._lock:
            h = Health(**{k: getattr(self._h, k) for k in Health.__dataclass_fields__})
            h.gaps = list(self._h.gaps)
            h.outage_since = self._outage_start
            h.diagnosis = None
            h.diagnosed(self._h.diagnosis)
            now = time.monotonic() if now is None else now
            recent = [(t, n) for t, n in self._arrivals if t >= now - self._rate_window_s]
            if len(recent) >= 2:
                span = recent[-1][0] - recent[0][0]
                h.measured_hz = (sum(n for _, n in recent) - recent[0][1]) / span if span > 0 else 0.0
            else:
                h.measured_hz = 0.0
            return h


def imu_batch(stream: str, t_host, rows, lead=None, leading: str = "none",
              time_scale: float = 1.0) -> Batch:
    """An IMU Batch from parsed rows; `lead` is the leading column (device time or sequence)."""
    t_device = seq = None
    if leading == "timestamp":
        t_device = np.asarray(lead, dtype=np.float64) * time_scale
    elif leading == "seq":
        seq = np.asarray(lead, dtype=np.int64)
    return Batch(stream, np.asarray(t_host, dtype=np.float64), np.asarray(rows, dtype=np.float32), t_device, seq)


class BatchQueue:
    """Thread-safe FIFO of Batches: the reader thread puts, `Source.read` drains."""

    def __init__(self, max_batches: int = 10_000):
        self._items: collections.deque[Batch] = collections.deque()
        self._cond = threading.Condition()
        self._max = max_batches
        self._closed = False
        self.overflowed = 0   # batches discarded because nobody read them

    def put(self, batch: Batch) -> None:
        """Append `batch` and wake the readers. When `max_batches` are already waiting, the
        oldest is discarded and counted in `overflowed`."""
        with self._cond:
            if len(self._items) >= self._max:
                self._items.popleft()
                self.overflowed += 1
            self._items.append(batch)
            self._cond.notify_all()

    def get_all(self, timeout: float | None = None) -> list[Batch]:
        """Every waiting batch, oldest first, emptying the queue. With none waiting, waits up
        to `timeout` seconds (None: until one comes or close() is called); [] if none came."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait_for(lambda: self._items or self._closed, timeout)
            out = list(self._items)
            self._items.clear()
            return out

    def close(self) -> None:
        """Wake waiting readers; they get what is left, then []."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Undo close(): get_all waits for batches again (the source is started anew)."""
        with self._cond:
            self._closed = False


class ThreadedSource(Source):
    """A Source whose samples come from one reader thread (`_run`) into a BatchQueue: the
    start / read / stop life cycle the serial, camera, replay and simulated adapters share.

    Subclasses call `_init_reader()` in __init__, start with `_start_reader(name)` once
    connected, end with `_stop_reader(join_s)`, and let `_run` loop until `_stop` is set."""

    def _init_reader(self, max_batches: int = 10_000) -> None:
        self._queue = BatchQueue(max_batches=max_batches)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        """True while the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _start_reader(self, name: str) -> None:
        self._stop.clear()
        self._queue.reopen()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _stop_reader(self, join_s: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=join_s)
            self._thread = None
        self._queue.close()

    def start(self) -> None:
        """Connect if needed and start the reader thread, named after the source; no-op while running.
        Raises what connect() raises."""
        if self.running:
            return
        self.connect()
        self._start_reader(f"{type(self).__name__} {self.name}")

    def read(self, timeout: float | None = None) -> list[Batch]:
        """Drain the reader thread's BatchQueue (see Source.read)."""
        return self._queue.get_all(timeout)

    @abstractmethod
    def _run(self) -> None: ...


class MultiStreamSource(ThreadedSource):
    """A ThreadedSource with several streams, each with its StreamHealth in `self._health`
    (stream name -> StreamHealth): the stop / disconnect / health code the replay and the
    simulator share. `_health_now()` is the time health rates are measured at (None: now on
    the host clock; the simulator on simulated time gives its own)."""

    _health: dict[str, StreamHealth]

    def _set_state(self, state: str) -> None:
        for h in self._health.values():
            h.set(state=state)

    def stop(self) -> None:
        """Stop the reader thread (waiting up to 5 s for it) and mark every stream "stopped";
        batches already queued can still be read."""
        self._stop_reader(5.0)
        self._set_state("stopped")

    def disconnect(self) -> None:
        """stop(), then mark every stream "disconnected" (these sources hold no device to
        release)."""
        self.stop()
        self._set_state("disconnected")

    def _health_now(self) -> float | None:
        return None

    def health(self) -> dict[str, Health]:
        """{stream: Health} of every stream, rates measured at `_health_now()`."""
        now = self._health_now()
        return {name: h.snapshot(now) for name, h in self._health.items()}


class Duplicates:
    """Samples delivered twice: the same sequence number (or device time) with the same values
    as one of the last `memory` samples. A link can deliver a sample twice (a BLE notification
    callback registered twice after a reconnection, a backend that repeats notifications); a
    device restart reuses sequence numbers, but not with the same values."""

    def __init__(self, memory: int = 1024):
        self._seen: collections.OrderedDict = collections.OrderedDict()
        self._memory = memory

    def keep(self, batch: Batch) -> np.ndarray | None:
        """A boolean mask of the batch's samples that are new, or None for a batch without
        sequence numbers or device times (nothing to tell a repeat by)."""
        keys = batch.seq if batch.seq is not None else batch.t_device
        if keys is None:
            return None
        mask = np.ones(len(batch), bool)
        for i, key in enumerate(keys.tolist()):
            row = batch.values[i].tobytes()
            if self._seen.get(key) == row:
                mask[i] = False
                continue
            self._seen[key] = row
            self._seen.move_to_end(key)
            if len(self._seen) > self._memory:
                self._seen.popitem(last=False)
        return mask


def deliver(health: StreamHealth, queue: BatchQueue, batch: Batch, duplicates: Duplicates | None = None) -> float | None:
    """Account for one decoded IMU batch in `health` (duplicates left out and counted when
    `duplicates` is given, numbering gaps, the end of an outage, arrivals) and queue it for
    read(). Returns its last t_host (host seconds), or None when every sample was a duplicate."""
    mask = duplicates.keep(batch) if duplicates is not None else None
    if mask is not None and not mask.all():
        health.add("duplicates", int((~mask).sum()))
        if not mask.any():
            return None
        batch = Batch(batch.stream, batch.t_host[mask], batch.values[mask],
                      None if batch.t_device is None else batch.t_device[mask],
                      None if batch.seq is None else batch.seq[mask])
    if batch.seq is not None:
        health.sequence(batch.seq)
    last = float(batch.t_host[-1])
    health.outage_ends(float(batch.t_host[0]))
    health.count(len(batch), last)
    queue.put(batch)
    return last


class LineSource(ThreadedSource):
    """A ThreadedSource of one IMU stream of text lines, parsed by a lineformat.LineStream: what
    the serial and network sources share. Subclasses set `config` (with `stream`), `spec`,
    `_health` (a StreamHealth) and `_lines` (from `_line_stream(**fields)`), and pass every
    lineformat.Parsed to `_emit`, which delivers it and keeps `_last_sample_t`."""

    _lines: Any
    _last_sample_t: float | None = None

    def _line_stream(self, **extra):
        """A LineStream for `config`'s line-format fields (channels, rate_hz, leading, time_scale,
        detect_seconds) and `extra` ones (baud=, units=), naming the source by `spec`."""
        from c3t.devices.lineformat import LineStream

        c = self.config
        return LineStream(channels=c.channels, rate_hz=c.rate_hz, leading=c.leading, time_scale=c.time_scale,
                          detect_seconds=c.detect_seconds, source=self.spec, **extra)

    @property
    def streams(self) -> list[str]:
        """The one IMU stream, named by `config.stream` (default "imu")."""
        return [self.config.stream]

    @property
    def lines(self):
        """The line parser (lineformat.LineStream): byte and line counts, the first raw lines, the layout."""
        return self._lines

    @property
    def layout(self):
        """Channels, rate and leading column (lineformat.LineLayout) once known (after the first second)."""
        return self._lines.layout

    def _emit(self, parsed) -> None:
        plan = self._lines.unit_plan
        if parsed.layout_fixed is not None and plan is not None and plan.note:
            log.warning("%s", plan.note)   # units decided without being told: said once
        last = deliver_lines(self._health, self._queue, parsed, self.layout, self.config.stream)
        if last is not None:
            self._last_sample_t = last


def deliver_lines(health: StreamHealth, queue: BatchQueue, parsed, layout, stream: str) -> float | None:
    """Account for what one LineStream feed produced (`parsed`: lineformat.Parsed; `layout`: the
    LineStream's layout, None while detecting) in `health` (malformed lines, device errors, the
    layout once fixed) and queue its samples as one IMU batch of `stream`. Returns the batch's last
    t_host (host seconds), or None when it held no sample. The serial and network line sources
    share it."""
    if parsed.malformed:
        health.drop(parsed.malformed, malformed=True)
    for message in parsed.device_errors:
        health.error(message)
    if parsed.layout_fixed is not None:
        health.set(nominal_hz=parsed.layout_fixed.rate_hz, channels=parsed.layout_fixed.channels)
    if not len(parsed):
        return None
    batch = imu_batch(stream, parsed.t_host, parsed.rows, parsed.lead, layout.leading, layout.time_scale)
    return deliver(health, queue, batch)
