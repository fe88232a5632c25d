"""A wearable IMU: what an accelerometer and a gyroscope on a moving body segment read.

Physics (`ideal_imu`): for a sensor at position p(t) with frame R(t) (columns: the sensor's
axes in the world), the accelerometer measures specific force R^T (p'' - g), g = (0, -9.81, 0),
reported in g; the gyroscope measures the body-frame angular velocity w, R^T R' = [w]x, in deg/s.
Both come from central differences of the exact motion, so they are right for any trajectory.

The device (`ImuDevice`) adds what real sensors add: a constant bias per axis, white noise,
a small mounting rotation (per person wearing it), saturation at +-8 g and +-1000 deg/s,
16-bit quantisation, and its own clock. Sample k is taken when the device clock reads k / rate
(plus scheduling jitter); the device clock runs at (1 + drift) x true time from an offset, so
host-side code has to fit offset and drift, as it does with real devices. A few samples (and
rare bursts) are lost in transit; sequence numbers show where.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from c3t.core.errors import C3tError

GRAVITY = 9.80665                  # m/s^2
UP = np.array([0.0, 1.0, 0.0])     # world up; gravity points along -UP

# motion(t) -> (positions (n, 3), sensor frames (n, 3, 3)) in the world frame
Motion = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def ideal_imu(motion: Motion, t: np.ndarray, h: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free (accel [g] (n, 3), gyro [deg/s] (n, 3)) in the sensor frame at times t."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    n = len(t)
    p, R = motion(np.concatenate([t - h, t, t + h]))
    p_m, p_0, p_p = p[:n], p[n:2 * n], p[2 * n:]
    R_m, R_0, R_p = R[:n], R[n:2 * n], R[2 * n:]
    acc = (p_p - 2.0 * p_0 + p_m) / h**2
    force = acc + GRAVITY * UP                       # p'' - g
    accel = np.einsum("nji,nj->ni", R_0, force) / GRAVITY
    W = np.swapaxes(R_0, 1, 2) @ ((R_p - R_m) / (2.0 * h))   # ~ [w]x, body frame
    gyro = 0.5 * np.stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]], axis=1)
    return accel, np.degrees(gyro)


def small_rotation(rng: np.random.Generator, std_deg: float) -> np.ndarray:
    """A random rotation of about std_deg per axis (Rodrigues of a normal rotation vector)."""
    r = np.radians(rng.normal(0.0, std_deg, 3))
    angle = np.linalg.norm(r)
    if angle < 1e-12:
        return np.eye(3)
    k = r / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


@dataclass
class ImuConfig:
    """A simulated IMU's settings: rate (Hz, 50..200), the body segment it is worn on, noise
    and bias (g, deg/s), saturation ranges, ADC bits, mounting error (deg), its clock (offset in
    seconds, drift in ppm, sampling jitter in seconds) and the chances of losing samples."""

    rate_hz: float = 100.0
    segment: str = "right_wrist"     # body.SEGMENTS
    accel_noise_g: float = 0.012     # white noise std per sample
    gyro_noise_dps: float = 0.4
    accel_bias_g: float = 0.02       # std of the constant bias per axis
    gyro_bias_dps: float = 1.0
    accel_range_g: float = 8.0       # saturation
    gyro_range_dps: float = 1000.0
    bits: int = 16                   # ADC resolution over the range (0: no quantisation)
    mount_deg: float = 6.0           # std of the mounting rotation per axis, per wearer
    clock_offset_s: float | None = None   # device clock reading at true time 0 (None: random)
    clock_drift_ppm: float = 60.0    # std of the device clock's rate error
    jitter_s: float = 0.0004         # std of when a sample is really taken
    drop_prob: float = 0.002         # chance a single sample is lost
    burst_prob: float = 0.0003       # chance a burst of 5..25 samples starts here

    def check(self) -> None:
        """Check the settings.

        Raises:
            C3tError: for a rate outside 50..200 Hz, or a jitter above a fifth of the sample period
                (samples could swap order)
        """
        if not 50.0 <= float(self.rate_hz) <= 200.0:
            raise C3tError(f"simulated IMU rate {self.rate_hz} Hz is outside 50..200 Hz; pick a rate in that range")
        if self.jitter_s * self.rate_hz > 0.2:
            raise C3tError(f"IMU jitter {self.jitter_s} s is too large for {self.rate_hz} Hz (samples would reorder)")


@dataclass
class ImuSamples:
    """Samples delivered by the device, oldest first."""

    t_true: np.ndarray     # (n,) seconds on the simulation's timeline (ground truth)
    t_device: np.ndarray   # (n,) seconds on the device's own clock (what it reports)
    seq: np.ndarray        # (n,) int64, counts every sample taken, delivered or lost
    values: np.ndarray     # (n, 6) float64: accel x, y, z [g], gyro x, y, z [deg/s]

    def __len__(self) -> int:
        return len(self.t_true)

    @classmethod
    def empty(cls) -> "ImuSamples":
        """No samples (values of shape (0, 6))."""
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 6)))


@dataclass(frozen=True)
class Wearing:
    """What stays fixed while one person wears one device: mounting, bias, clock."""

    mount: np.ndarray        # (3, 3) sensor axes in the segment's nominal sensor frame
    accel_bias: np.ndarray   # (3,) g
    gyro_bias: np.ndarray    # (3,) deg/s
    clock_offset: float      # s, device clock at true time 0
    clock_drift: float       # dimensionless rate error

    @classmethod
    def sample(cls, config: ImuConfig, rng: np.random.Generator) -> "Wearing":
        """A random wearing drawn from `rng` with the spreads in `config`; the clock offset is
        config.clock_offset_s, or uniform in 0..3600 s when that is None."""
        offset = config.clock_offset_s
        if offset is None:
            offset = float(rng.uniform(0.0, 3600.0))
        return cls(mount=small_rotation(rng, config.mount_deg),
                   accel_bias=rng.normal(0.0, config.accel_bias_g, 3),
                   gyro_bias=rng.normal(0.0, config.gyro_bias_dps, 3),
                   clock_offset=float(offset),
                   clock_drift=float(rng.normal(0.0, config.clock_drift_ppm * 1e-6)))

    @classmethod
    def ideal(cls) -> "Wearing":
        """A perfect wearing: no mounting rotation, no bias, device clock equal to true time."""
        return cls(np.eye(3), np.zeros(3), np.zeros(3), 0.0, 0.0)


class ImuDevice:
    """One simulated IMU. `read(motion, t_end)` returns the samples taken since the last call.

    `motion` gives the segment's position and nominal sensor frame at true times; the device
    applies its mounting rotation. Randomness (jitter, noise, drops) comes from `rng` (a seeded
    Generator), sample by sample, so the same seed gives the same samples however reads are split.
    """

    def __init__(self, config: ImuConfig, wearing: Wearing, rng: np.random.Generator, perfect: bool = False):
        config.check()
        self.config = config
        self.wearing = wearing
        # one generator per purpose, each drawn in sample order: the samples do not depend on
        # how reads are chunked (a live source reads whatever time has passed)
        self._jitter_rng, self._drop_rng, self._noise_rng = rng.spawn(3)
        self.perfect = perfect       # no noise, bias, jitter, drops, saturation or quantisation
        self._k0 = int(np.ceil(wearing.clock_offset * config.rate_hz - 1e-9))   # first tick at true t >= 0
        self._k = self._k0
        self._burst_left = 0
        self.dropped = 0

    # clock: device time = offset + (1 + drift) * true time
    def device_time(self, t_true: np.ndarray) -> np.ndarray:
        """The device clock's reading (seconds) at simulation times `t_true`."""
        return self.wearing.clock_offset + (1.0 + self.wearing.clock_drift) * np.asarray(t_true)

    def true_time(self, t_device: np.ndarray) -> np.ndarray:
        """The simulation time (seconds) at which the device clock reads `t_device`."""
        return (np.asarray(t_device) - self.wearing.clock_offset) / (1.0 + self.wearing.clock_drift)

    def read(self, motion: Motion, t_end: float) -> ImuSamples:
        """Every sample whose tick falls before true time t_end and was not yet read."""
        c = self.config
        k_end = int(np.ceil(float(self.device_time(t_end)) * c.rate_hz - 1e-9))
        if k_end <= self._k:
            return ImuSamples.empty()
        k = np.arange(self._k, k_end)
        self._k = k_end
        t_dev = k / c.rate_hz
        if not self.perfect:
            t_dev = t_dev + np.clip(self._jitter_rng.normal(0.0, c.jitter_s, len(k)), -3 * c.jitter_s, 3 * c.jitter_s)
        t_dev = np.round(t_dev, 6)                        # microsecond timestamps
        t_true = np.maximum(self.true_time(t_dev), 0.0)
        keep = np.ones(len(k), bool) if self.perfect else self._delivered(len(k))
        k, t_dev, t_true = k[keep], t_dev[keep], t_true[keep]
        if len(k) == 0:
            return ImuSamples.empty()
        mount = self.wearing.mount

        def mounted(tt):
            """`motion` with the device's mounting rotation applied to the sensor frames."""
            p, R = motion(tt)
            return p, R @ mount

        accel, gyro = ideal_imu(mounted, t_true)
        values = np.concatenate([accel, gyro], axis=1)
        if not self.perfect:
            values = self._imperfect(values)
        return ImuSamples(t_true=t_true, t_device=t_dev, seq=(k - self._k0).astype(np.int64), values=values)

    def _delivered(self, n: int) -> np.ndarray:
        c = self.config
        u = self._drop_rng.random((n, 3))
        keep = u[:, 0] >= c.drop_prob
        burst_starts = u[:, 1] < c.burst_prob
        burst_lens = 5 + (u[:, 2] * 21).astype(int)         # 5..25 samples
        for i in range(n):   # n is one read's worth of samples: small
            if burst_starts[i] and self._burst_left == 0:
                self._burst_left = int(burst_lens[i])
            if self._burst_left > 0:
                keep[i] = False
                self._burst_left -= 1
        self.dropped += int((~keep).sum())
        return keep

    def _imperfect(self, values: np.ndarray) -> np.ndarray:
        c, w = self.config, self.wearing
        n = len(values)
        out = values.copy()
        noise = self._noise_rng.standard_normal((n, 6))
        out[:, :3] += w.accel_bias + c.accel_noise_g * noise[:, :3]
        out[:, 3:] += w.gyro_bias + c.gyro_noise_dps * noise[:, 3:]
        out[:, :3] = np.clip(out[:, :3], -c.accel_range_g, c.accel_range_g)
        out[:, 3:] = np.clip(out[:, 3:], -c.gyro_range_dps, c.gyro_range_dps)
        if c.bits:
            for sl, rng_ in ((slice(0, 3), c.accel_range_g), (slice(3, 6), c.gyro_range_dps)):
                lsb = rng_ / 2 ** (c.bits - 1)
                out[:, sl] = np.round(out[:, sl] / lsb) * lsb
        return out
