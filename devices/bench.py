"""BenchSource: a paced synthetic IMU and camera for measuring the recorder (`c3t bench record`).

It delivers what a USB IMU and a webcam deliver (IMU batches with device time and sequence
numbers at `imu_hz`, frames at `fps`, on the host clock) without their CPU cost: the frames
are rendered once, before the run, and cycled.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from c3t.core.streams.contract import Batch
from c3t.devices.base import MultiStreamSource, StreamHealth


@dataclass
class BenchConfig:
    """Pace of a BenchSource: `imu_hz` samples per second delivered `batch` at a time, and
    `fps` camera frames per second."""

    imu_hz: float = 200.0     # IMU samples per second
    fps: float = 30.0         # camera frames per second
    batch: int = 4            # IMU samples per batch (as a USB link delivers them)


class BenchSource(MultiStreamSource):
    """Streams "imu" (6 channels, N(0, 1) values) and "camera" (`frames`, cycled), paced to
    the host clock. `emitted` counts what was delivered, to compare with what was written."""

    streams = ["imu", "camera"]

    def __init__(self, frames: list[np.ndarray], config: BenchConfig | None = None):
        self.config = config or BenchConfig()
        self.spec = "bench"
        self.frames = frames
        self._init_reader(max_batches=1_000_000)
        self._health = {"imu": StreamHealth(nominal_hz=self.config.imu_hz),
                        "camera": StreamHealth(nominal_hz=self.config.fps)}
        self.emitted = {"imu": 0, "camera": 0}

    def connect(self) -> None:
        """Nothing to open: marks both streams "connected"."""
        self._set_state("connected")

    def start(self) -> None:
        """Start the pacing thread (no-op while it runs)."""
        if not self.running:
            self._start_reader("c3t-bench")

    def _run(self) -> None:
        c = self.config
        rng = np.random.default_rng(0)
        t0 = time.monotonic()
        n_imu = n_cam = 0
        while not self._stop.is_set():
            now = time.monotonic()
            due_imu = int((now - t0) * c.imu_hz) // c.batch * c.batch
            while n_imu < due_imu:
                k = np.arange(n_imu, n_imu + c.batch)
                self._queue.put(Batch("imu", np.full(c.batch, now), rng.normal(size=(c.batch, 6)).astype(np.float32),
                                      t_device=k / c.imu_hz * (1 + 50e-6), seq=k))
                self._health["imu"].count(c.batch, now)
                n_imu += c.batch
            while n_cam < int((now - t0) * c.fps):
                self._queue.put(Batch("camera", [now], self.frames[n_cam % len(self.frames)][None]))
                self._health["camera"].count(1, now)
                n_cam += 1
            self.emitted = {"imu": n_imu, "camera": n_cam}
            self._stop.wait(0.004)


def bench_frames(width: int, height: int, n: int = 30) -> list[np.ndarray]:
    """`n` camera-like BGR frames (height, width, 3) uint8: the simulated room and person."""
    from c3t.core.sim.render import CameraConfig
    from c3t.core.sim.stream import SimWorld, WorldConfig

    world = SimWorld(WorldConfig(seed=0, camera=CameraConfig(width=width, height=height, fps=30.0)))
    _, frames = world.advance(n / 30.0)
    return list(frames.images)
