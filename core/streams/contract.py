"""The one interface every live source implements (hardware, simulation, replay).

Contract
--------
A `Source` is built from a config dataclass (kept as `source.config`) and owns one or more
named streams (`source.streams`, e.g. ["imu"] or ["imu", "camera"]). Its life is

    connect()     open the device; raises C3tError (naming the device and what to do) if it
                  cannot. Cheap to call twice.
    start()       begin acquisition (usually a background thread).
    read(timeout) return every Batch that arrived since the last call, oldest first, in
                  arrival order per stream. Waits at most `timeout` seconds for the first batch
                  (None: wait until one arrives or the source stops); returns [] on timeout or
                  once stopped and drained. Never raises for a transient device problem: those
                  are reported through health() and the source reconnects by itself.
    stop()        end acquisition; batches already received can still be read.
    disconnect()  release the device. Safe to call in any state, and twice.
    health()      {stream name: Health} - rates, counters, state, last error, gaps.

`with source:` does connect()+start() on entry and stop()+disconnect() on exit.

Every sample is stamped with `t_host` = time.monotonic() at arrival on this machine. Where the
device sends its own clock or a sequence number, those travel alongside (`t_device`, `seq`);
the SyncBuffer's clock model turns device time into host time. Values: IMU batches are
(n, C) float32; camera batches are (n, H, W, 3) uint8 BGR frames.

Adapters (devices/) build on devices/base.py's helpers (StreamHealth, BatchQueue,
ThreadedSource) so every adapter reports the same way.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IMU = "imu"
CAMERA = "camera"
STREAM_KINDS = (IMU, CAMERA)
STATES = ("disconnected", "connected", "no samples", "reconnecting", "stopped")


@dataclass
class Batch:
    """Samples of one stream that arrived together."""

    stream: str                 # "imu" or "camera"
    t_host: np.ndarray          # (n,) float64, time.monotonic() seconds at arrival
    values: np.ndarray          # imu: (n, C) float32 ; camera: (n, H, W, 3) uint8 BGR
    t_device: np.ndarray | None = None   # (n,) float64 seconds on the device clock, if sent
    seq: np.ndarray | None = None        # (n,) int64 sequence numbers, if any

    def __post_init__(self) -> None:
        self.t_host = np.asarray(self.t_host, dtype=np.float64).reshape(-1)
        n = len(self.t_host)
        if len(self.values) != n:
            raise ValueError(f"Batch({self.stream!r}): {len(self.values)} values for {n} host times")
        for name in ("t_device", "seq"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr, dtype=np.float64 if name == "t_device" else np.int64).reshape(-1)
                if len(arr) != n:
                    raise ValueError(f"Batch({self.stream!r}): {len(arr)} {name} for {n} host times")
                setattr(self, name, arr)

    def __len__(self) -> int:
        return len(self.t_host)


@dataclass
class Health:
    """How one stream is doing, as the GUI's status bar and `c3t devices` show it."""

    nominal_hz: float | None = None      # configured or auto-detected rate; None if unknown
    measured_hz: float = 0.0             # arrival rate over the last few seconds
    received: int = 0                    # samples delivered
    dropped: int = 0                     # samples lost or skipped (includes malformed)
    last_error: str | None = None        # latest device message or exception text
    state: str = "disconnected"          # one of STATES
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (t_start, t_end) host seconds
    malformed: int = 0                   # lines/packets that could not be parsed (also in dropped)
    channels: int | None = None          # IMU channel count (None for camera / unknown)
    connects: int = 0                    # times the device was opened (1 + reconnections)
    bytes_received: int = 0              # raw bytes that arrived (byte streams: serial, BLE UART)
    lines_received: int = 0              # complete text lines among them (line formats)
    diagnosis: str | None = None         # why data arrives but no samples come (None: they come)
    channel_names: list[str] | None = None  # IMU channel names, where the device names them
    units: list[str] | None = None       # recorded unit of each IMU channel ("g", "deg/s", ...), once known
    units_note: str | None = None        # how the units were decided when the data did not say (core/streams/units.py)
    missing: int = 0                     # values that were not numbers (nan, "ovf", empty...): kept as nan
    duplicates: int = 0                  # samples or notifications delivered twice, dropped (not in received)
    repeated: int = 0                    # camera: frames that were no new picture (frozen), not delivered
    outage_since: float | None = None    # host seconds of the last data before an outage still going on
    warning: str | None = None           # data arrives but part of it is doubtful (what, where, what to do)

    @property
    def gap_seconds(self) -> float:
        """Total length of the recorded outages (`gaps`), in seconds."""
        return float(sum(b - a for a, b in self.gaps))

    def warn(self, text: str | None) -> "Health":
        """Keep `text` as the warning (data arrives, but part of it is doubtful: missing values,
        frozen frames, duplicates); also as `last_error` when nothing else is there. Returns self."""
        if text:
            self.warning = text
            self.last_error = self.last_error or text
        return self

    def diagnosed(self, text: str | None) -> "Health":
        """Apply the diagnosis of a silent stream (see lineformat.LineStream.diagnose): while
        connected the state becomes "no samples", and `last_error` shows the same text, so every
        view of health (device table, `c3t live`, `c3t record`) says why. Returns self."""
        if text:
            self.diagnosis = text
            self.last_error = text
            if self.state == "connected":
                self.state = "no samples"
        return self


class Source(ABC):
    """Base class of every live source. Subclasses set `config` and implement the six methods."""

    config: Any

    @property
    @abstractmethod
    def streams(self) -> list[str]:
        """Stream names this source emits, e.g. ["imu"] or ["imu", "camera"]."""

    @abstractmethod
    def connect(self) -> None:
        """Open the device. Raises C3tError naming the device and what to do if it cannot;
        cheap to call twice."""

    @abstractmethod
    def start(self) -> None:
        """Begin acquisition (usually a background reader thread)."""

    @abstractmethod
    def read(self, timeout: float | None = None) -> list[Batch]:
        """Every Batch that arrived since the last call, oldest first. Waits up to `timeout`
        seconds for the first (None: until one arrives or the source stops); [] on timeout or once
        stopped and drained. Transient device problems go to health(), never raise here."""

    @abstractmethod
    def stop(self) -> None:
        """End acquisition; batches already received can still be read."""

    @abstractmethod
    def disconnect(self) -> None:
        """Release the device. Safe to call in any state, and twice."""

    @abstractmethod
    def health(self) -> dict[str, Health]:
        """{stream name: Health}: rates (Hz), counters, state, last error, gaps (host seconds)."""

    @property
    def name(self) -> str:
        """A short human label (the spec string where known)."""
        return getattr(self, "spec", None) or type(self).__name__

    def __enter__(self) -> "Source":
        self.connect()
        try:
            self.start()
        except BaseException:
            self.disconnect()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.disconnect()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
