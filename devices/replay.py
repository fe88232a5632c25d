"""ReplaySource: a recorded session played back as a live source, in real time or faster.

    with ReplaySource("sessions/s1", speed=4) as replay:     # or open_source("replay:sessions/s1?speed=4")
        batches = replay.read(timeout=0.1)                    # the session's streams, as recorded
        label = replay.truth_at(batches[-1].t_host[-1])       # the session's label at that instant

A thread delivers each recorded sample when its time comes: IMU samples in batches of
`imu_batch_s` session seconds, frames one per batch, with `t_host` restamped on this machine's
clock (time.monotonic) and the recorded device time and sequence numbers kept. At `speed` N the
session plays N times faster: host times advance N times slower than session time, and device
times are divided by N too, so a SyncBuffer's clock model sees a steady device clock; the
nominal rates in health() are N times the recorded ones (as the simulator reports them), and
`config.speed` tells a recorder to store the replayed times back in session seconds. At the end
of the session the streams' state becomes "stopped" and read() returns [] once drained.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Batch
from c3t.devices.base import MultiStreamSource, StreamHealth

log = logging.getLogger(__name__)


@dataclass
class ReplayConfig:
    """Settings of a ReplaySource; the fields are the replay: spec's query parameters. Times
    are session seconds; `speed` is session seconds played per host second."""

    session: str = ""                  # the session folder
    speed: float = 1.0                 # session seconds per host second (1: real time)
    start_s: float | None = None       # begin at this session time (default: the first sample)
    end_s: float | None = None         # stop at this session time (default: the last sample)
    imu_batch_s: float = 0.02          # session seconds of IMU samples per batch
    streams: str = ""                  # comma-separated streams to play (default: all)


class ReplaySource(MultiStreamSource):
    """A recorded session folder (core/session_format.py) played back as a live source: one
    stream per recorded IMU and camera, with t_host restamped on time.monotonic and the
    recorded device times (divided by `speed`) and sequence numbers kept.

    Raises:
        C3tError: for no session folder, speed <= 0 or imu_batch_s <= 0
    """

    def __init__(self, config: ReplayConfig | str = "", **overrides):
        if not isinstance(config, ReplayConfig):
            config = ReplayConfig(session=str(config), **overrides)
        if not config.session:
            raise C3tError("replay: name the session folder, e.g. replay:sessions/2024-05-01-wave")
        if not config.speed or config.speed <= 0:
            raise C3tError(f"replay: speed={config.speed} must be above 0 (1 = real time, 4 = four times faster)")
        if config.imu_batch_s <= 0:
            raise C3tError(f"replay: imu_batch_s={config.imu_batch_s} must be above 0 seconds")
        self.config = config
        self.spec = f"replay:{config.session}"
        self.session = None
        self._names: list[str] = []
        self._health: dict[str, StreamHealth] = {}
        self._init_reader(100_000)
        self._chunks = None
        self._next = None              # a chunk read but not yet delivered (after a stop)
        self._clock: tuple[float, float] | None = None   # (host time, session time) of the playback's origin

    @property
    def streams(self) -> list[str]:
        """The streams played: the session's IMUs then its cameras, or those named in
        `config.streams`. Opens the session (connect()) if needed."""
        if self.session is None:
            self.connect()
        return list(self._names)

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
        """Open the session folder and give each played stream a StreamHealth (nominal rate:
        the recorded one times `speed`, in Hz). No-op when open.

        Raises:
            C3tError: for a stream the session does not have, a session with no samples to play, or a
                folder that is not a readable session
        """
        if self.session is not None:
            return
        from c3t.core.session.format import Session

        session = Session(self.config.session)
        names = [*session.imu, *session.cameras]
        if self.config.streams:
            wanted = [s.strip() for s in self.config.streams.split(",") if s.strip()]
            unknown = [s for s in wanted if s not in names]
            if unknown:
                raise C3tError(f"replay: {self.config.session} has no stream {unknown[0]!r} (it has {', '.join(names)})")
            names = wanted
        if not names or not any(len(session.imu.get(n) or session.cameras.get(n)) for n in names):
            raise C3tError(f"replay: {self.config.session} holds no samples to play")
        self.session, self._names = session, names
        for n in names:
            meta = session.manifest["streams"][n]
            hz = meta.get("nominal_hz") or session.measured_hz(n)
            h = StreamHealth(nominal_hz=hz * self.config.speed if hz else None, name=f"replay {n}")
            h.set(channels=meta.get("channels"), state="connected")
            h.connected()
            self._health[n] = h
        log.info("replaying %s: %s at %gx", self.config.session, ", ".join(names), self.config.speed)

    def start(self) -> None:
        """Open the session if needed and start the playback thread. After a stop() playback
        resumes at the chunk it stopped at, due at once. No-op while running."""
        self.connect()
        if self.running:
            return
        if self._chunks is None:
            self._chunks = self.session.chunks(self.config.imu_batch_s, self._names)
        self._start_reader(f"c3t-replay {self.session.name}")

    # -- time and labels -------------------------------------------------------------------
    def session_time(self, t_host) -> np.ndarray | float:
        """Session seconds of a host time during the current playback.

        Raises:
            C3tError: before the playback has started
        """
        if self._clock is None:
            raise C3tError("replay: not started yet")
        host0, session0 = self._clock
        return session0 + (np.asarray(t_host, dtype=np.float64) - host0) * self.config.speed

    def host_time(self, t_session) -> np.ndarray | float:
        """Host seconds (time.monotonic) at which session time `t_session` (seconds, a float
        or an array) is played in the current playback; the inverse of session_time. Only
        meaningful once playback has started."""
        host0, session0 = self._clock
        return host0 + (np.asarray(t_session, dtype=np.float64) - session0) / self.config.speed

    def truth_at(self, t_host: float) -> str | None:
        """The session's label at host time t_host (None where unlabelled or before start)."""
        if self._clock is None:
            return None
        label = self.session.label_at(float(self.session_time(t_host)))
        return label.cls if label else None

    def segments(self, t0_host: float, t1_host: float) -> list[tuple[float, float, str]]:
        """(start, end, class) in host time of the labels overlapping [t0_host, t1_host)."""
        if self._clock is None:
            return []
        a, b = float(self.session_time(t0_host)), float(self.session_time(t1_host))
        return [(float(self.host_time(s)), float(self.host_time(e)), lb.cls)
                for s, e, lb in self.session.label_spans() if e > a and s < b]

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        c = self.config
        first, last = self.session.span()
        start = first if c.start_s is None else c.start_s
        end = last if c.end_s is None else c.end_s
        try:
            chunk = self._next or next(self._chunks, None)
            while chunk is not None and chunk.t_host[-1] < start:
                chunk = next(self._chunks, None)
            if chunk is not None:   # (re)start: the next chunk is due now
                self._clock = (time.monotonic(), max(start, float(chunk.t_host[0])))
            while chunk is not None and chunk.t_host[0] <= end:
                due = float(self.host_time(chunk.t_host[-1]))
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    self._next = chunk
                    return
                t_host = self.host_time(chunk.t_host)
                t_device = None if chunk.t_device is None else chunk.t_device / c.speed
                self._queue.put(Batch(chunk.stream, t_host, chunk.values, t_device, chunk.seq))
                self._health[chunk.stream].count(len(chunk), time.monotonic())
                chunk = next(self._chunks, None)
            self._next = None
        except C3tError as exc:
            for h in self._health.values():
                h.error(str(exc))
        except Exception as exc:   # a damaged file: report it rather than die silently
            for h in self._health.values():
                h.error(f"replay of {self.session.path} failed: {type(exc).__name__}: {exc}")
        for h in self._health.values():
            h.set(state="stopped")
        self._queue.close()
