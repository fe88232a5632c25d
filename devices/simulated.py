"""SimulatedSource: the synthetic person (c3t.core.sim) as a live source of IMU and camera data.

    with SimulatedSource(imu_hz=100, fps=30, seed=1) as sim:     # or open_source("sim?seed=1")
        batches = sim.read(timeout=0.1)
        label = sim.truth_at(batches[-1].t_host[-1])               # what the person was doing

Two clocks, chosen by `realtime`:

- `realtime=True` (a live show: `c3t live`, the GUI, the demo's display): a thread advances the
  simulated world in step with the host clock (`speed` simulated seconds per host second: 1 is
  real time, 4 is four times faster) and delivers every IMU sample and every camera frame when
  its time comes. `t_host` is the host time (time.monotonic) at which the sample became due,
  never later than its emission. A camera that cannot keep up skips frames (counted as
  dropped) instead of lagging, so what is delivered depends on how busy the CPU is.
- `realtime=False` (the goal is data: `c3t record` from `sim`, the demo's model build, tests):
  simulated time. No thread; each `read()` advances the world by exactly `batch_s` simulated
  seconds and returns what was taken meanwhile, and `t_host` is simulated seconds since the
  world began (`source.clock()` reads it). The samples and frames depend only on the seed and
  the config, never on the CPU's load, and come as fast as the CPU allows. `speed` is unused.
  With `paced=True` a step is not taken before its simulated time has passed on the wall clock
  since start(): a live show (`c3t demo --headless`) that a busy CPU slows down but never
  changes, so its score is the same idle and loaded.

Either way IMU samples come in batches of `batch_s` seconds (as a BLE or serial link delivers
them) and frames one per batch; `t_device` is the simulated IMU's own clock (offset, drift and
jitter included) and `seq` its sample counter, so lost samples show as gaps.

`truth_at(t_host)` names the action being performed at a host time (None at rest): the ground
truth for scoring live predictions. `segments(t0, t1)` lists the actions in a host-time range.

The world with seed S is the one `c3t synth --seed S` records: the same room and camera, and
`subject=K` is that dataset's subject K (pick K above its --subjects for an unseen person).
`take=K` (K >= 1) is another recording session of that person in that room, the IMU worn the
same way: its own script, pace and light, as a user's sessions of themselves differ.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Batch
from c3t.devices.base import MultiStreamSource, StreamHealth

DATA_BATCH_S = 0.1   # simulated-time step when the goal is data: the same samples as 0.02 s, in fewer steps


@dataclass
class SimulatedConfig:
    """Settings of a SimulatedSource; the fields are the sim spec's query parameters. Rates
    in Hz, image size in pixels, times in seconds (simulated seconds when realtime=False)."""

    imu_hz: float = 100.0
    fps: float = 30.0
    seed: int = 0
    speed: float = 1.0            # simulated seconds per host second
    subject: int = 1              # which simulated person (body, style, how the IMU sits)
    take: int = 0                 # another session of the same person in the same room (own script, pace, light)
    width: int = 320
    height: int = 240
    segment: str = "right_wrist"  # where the IMU is worn (c3t.core.sim.body.SEGMENTS)
    camera: bool = True           # emit the camera stream (False: IMU only, much cheaper)
    actions: str = ""             # comma-separated action keys to script (empty: all ten)
    rest_min: float = 1.0         # rest between actions, seconds (uniform in min..max)
    rest_max: float = 3.0
    batch_s: float = 0.02         # seconds of IMU samples per batch (simulated seconds when realtime=False)
    realtime: bool = True         # False: simulated time, deterministic and as fast as the CPU allows
    paced: bool = False           # with realtime=False: never ahead of the wall clock (a live show whose data
                                  # does not depend on the CPU's load: a busy CPU makes it lag, never skip)


def _coerce(name: str, value, kind):
    """Turn spec-string values ("100", "true") into the field's type."""
    text = str(value).strip()
    try:
        if kind in (bool, "bool"):
            if isinstance(value, bool):
                return value
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind in (int, "int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(float(text)) if isinstance(value, float) else int(text)
        if kind in (float, "float"):
            return float(text)
    except ValueError:
        raise C3tError(f"sim: {name}={value!r} is not a valid {getattr(kind, '__name__', kind)}") from None
    return text


class SimulatedSource(MultiStreamSource):
    """The simulated person (c3t.core.sim) as a live source: "imu" batches (n, 6) float32
    (accelerometer x, y, z in g, gyroscope x, y, z in deg/s) and, with camera=True, "camera"
    frames (1, height, width, 3) uint8 BGR; on the host clock or on simulated time (see the
    module docstring).

    Keyword arguments override fields of `config` and may be spec text ("100", "true").

    Raises:
        C3tError: for an unknown parameter, a value of the wrong type, speed <= 0 or batch_s outside (0,
            1] seconds
    """

    def __init__(self, config: SimulatedConfig | None = None, **overrides):
        fields = {f.name: f for f in dataclasses.fields(SimulatedConfig)}
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise C3tError(f"sim: unknown parameter(s) {', '.join(unknown)}; it takes {', '.join(fields)}")
        config = config or SimulatedConfig()
        config = dataclasses.replace(config, **{k: _coerce(k, v, fields[k].type) for k, v in overrides.items()})
        if config.speed <= 0:
            raise C3tError(f"sim: speed={config.speed} must be above 0 (1 = real time)")
        if config.batch_s <= 0 or config.batch_s > 1:
            raise C3tError(f"sim: batch_s={config.batch_s} must be in (0, 1] seconds")
        if not config.realtime:
            config = dataclasses.replace(config, speed=1.0)   # simulated seconds are the time axis
        self.config = config
        self.spec = "sim"
        self._world = None
        self._lock = threading.Lock()          # guards the world (the thread and truth_at share it)
        self._init_reader()
        self._health = {"imu": StreamHealth(nominal_hz=config.imu_hz * config.speed)}
        if config.camera:
            self._health["camera"] = StreamHealth(nominal_hz=config.fps * config.speed)
        self._health["imu"].set(channels=6)
        self._epochs: list[tuple[float, float, float]] = []   # (host start, host t0, sim start) per run
        self._latest: tuple[np.ndarray, float] | None = None
        self._dropped_seen = 0
        self._steps = 0                 # simulated-time mode: read() calls that advanced the world
        self._paced_from = 0.0          # paced: the wall time at which simulated time 0 was due
        self._sim_running = False

    def clock(self) -> float:
        """Now on this source's time axis (seconds): the simulated time reached by read() when
        realtime=False, else time.monotonic()."""
        if self.config.realtime:
            return time.monotonic()
        return self._world.t if self._world is not None else 0.0

    @property
    def streams(self) -> list[str]:
        """["imu", "camera"], or ["imu"] when camera=False."""
        return ["imu", "camera"] if self.config.camera else ["imu"]

    @property
    def classes(self) -> list[str]:
        """Class names the script draws from, in c3t synth's order."""
        self.connect()
        return [a.name for a in self._world.actions]

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
        """Build the simulated world (room, person, IMU, camera) from the config; no-op once built."""
        if self._world is not None:
            return
        from c3t.core.sim.imu import ImuConfig
        from c3t.core.sim.render import CameraConfig
        from c3t.core.sim.stream import SimWorld, WorldConfig

        c = self.config
        actions = tuple(a.strip() for a in c.actions.split(",") if a.strip()) or None
        self._world = SimWorld(WorldConfig(
            seed=c.seed, subject=c.subject, take=c.take, imu=ImuConfig(rate_hz=c.imu_hz, segment=c.segment),
            camera=CameraConfig(width=c.width, height=c.height, fps=c.fps), actions=actions,
            rest_s=(c.rest_min, c.rest_max), render=c.camera))
        for h in self._health.values():
            h.set(state="connected")

    @property
    def running(self) -> bool:
        """True while delivering: while the thread lives when realtime, else from start() until
        stop() or a simulation failure."""
        return self._sim_running if not self.config.realtime else super().running

    def start(self) -> None:
        """Build the world if needed and deliver from its current simulated time on: a thread
        when realtime, else each read() steps the world. No-op while running."""
        self.connect()
        if self.running:
            return
        now = self.clock()
        t_sim = self._world.t
        self._epochs.append((now, now - t_sim / self.config.speed, t_sim))
        if self.config.realtime:
            self._start_reader("c3t-sim")
        else:
            self._sim_running = True
            self._paced_from = time.monotonic() - self._steps * self.config.batch_s

    def read(self, timeout: float | None = None) -> list[Batch]:
        """Batches delivered since the last call. Real time: waits up to `timeout` seconds for
        the thread's next batch. Simulated time: advances the world by `batch_s` simulated
        seconds (never waits) and returns that step's batches; [] once stopped."""
        if self.config.realtime:
            return super().read(timeout)
        if not self._sim_running:
            return []
        if self.config.paced:
            due = self._paced_from + (self._steps + 1) * self.config.batch_s - time.monotonic()
            if due > 0:
                time.sleep(min(due, max(timeout or 0.0, 0.0)))
                if due > (timeout or 0.0):
                    return []
        self._steps += 1
        batches = self._advance(self._steps * self.config.batch_s)
        if batches is None:
            self._sim_running = False
            return []
        return batches

    def read_latest(self) -> tuple[np.ndarray, float] | None:
        """The newest camera frame and its t_host (for a live view), or None before the first."""
        return self._latest

    def stop(self) -> None:
        """Stop delivering (waiting up to 5 s for the thread); the world keeps its time, so
        start() resumes it. State "stopped"."""
        self._sim_running = False
        self._stop_reader(5.0)
        if self._world is not None:
            self._set_state("stopped")

    def _health_now(self) -> float:
        return self.clock()

    # -- ground truth ------------------------------------------------------------------
    def _to_sim(self, t_host: float) -> float | None:
        for start, t0, sim_start in reversed(self._epochs):
            if t_host >= start:
                return (t_host - t0) * self.config.speed
        return None

    def truth_at(self, t_host: float) -> str | None:
        """The action class performed at host time t_host (time.monotonic), None at rest or before start."""
        t_sim = self._to_sim(float(t_host))
        if t_sim is None or t_sim < 0:
            return None
        with self._lock:
            return self._world.truth_at(t_sim)

    def segments(self, t0_host: float, t1_host: float) -> list[tuple[float, float, str]]:
        """(start, end, class) in host time for actions overlapping [t0_host, t1_host) of the current run."""
        if not self._epochs:
            return []
        _, t0, _ = self._epochs[-1]
        s = self.config.speed
        with self._lock:
            segs = self._world.segments(max(0.0, (t0_host - t0) * s), max(0.0, (t1_host - t0) * s))
        return [(t0 + a / s, t0 + b / s, name) for a, b, name in segs]

    # -- stepping the world ------------------------------------------------------------
    def _advance(self, t_sim: float) -> list[Batch] | None:
        """Move the world to simulated time t_sim; the IMU batch and frame batches taken
        meanwhile, stamped on this source's time axis. None after a simulation failure
        (reported in health)."""
        c = self.config
        _, t0, _ = self._epochs[-1]
        now = self.clock() if c.realtime else t_sim
        try:
            with self._lock:
                skipped = 0
                if c.camera and c.realtime:   # live and more than two frames behind: skip what is late
                    skipped = self._world.skip_frames(t_sim - 2.0 / c.fps)
                samples, frames = self._world.advance(t_sim)
                lost = self._world.imu.dropped - self._dropped_seen
                self._dropped_seen = self._world.imu.dropped
        except Exception as exc:   # a bug in the simulation: report it, stop cleanly
            for h in self._health.values():
                h.error(f"simulation failed: {type(exc).__name__}: {exc}")
            return None
        if lost:
            self._health["imu"].drop(lost)
        if skipped:
            self._health["camera"].drop(skipped)
        batches = []
        if len(samples):
            t_host = np.minimum(t0 + samples.t_true / c.speed, now)
            batches.append(Batch("imu", t_host, samples.values.astype(np.float32),
                                 t_device=samples.t_device, seq=samples.seq))
            self._health["imu"].count(len(samples), now)
        for i in range(len(frames)):
            t_host = min(t0 + frames.t[i] / c.speed, now)
            image = frames.images[i]
            seq = int(round(frames.t[i] * c.fps))
            batches.append(Batch("camera", [t_host], image[None], seq=[seq]))
            self._latest = (image, t_host)
            self._health["camera"].count(1, now)
        return batches

    # -- the thread (real time) -----------------------------------------------------------
    def _run(self) -> None:
        c = self.config
        _, t0, _ = self._epochs[-1]
        while not self._stop.is_set():
            now = time.monotonic()
            batches = self._advance((now - t0) * c.speed)
            if batches is None:
                break
            for batch in batches:
                self._queue.put(batch)
            self._stop.wait(max(0.0, c.batch_s - (time.monotonic() - now)))
