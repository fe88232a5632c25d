"""Clock model and SyncBuffer: device clocks onto the host clock, rings, gaps, windows."""
from __future__ import annotations

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.core.streams.clock import ClockModel, lower_support_slope
from c3t.core.streams.contract import Batch
from c3t.core.streams.syncbuffer import SyncBuffer
from c3t.core.streams.window import WindowSpec

OFFSET, DRIFT = 0.040, 100e-6


def true_host(d):
    return OFFSET + (1.0 + DRIFT) * d


def arrivals(rng, d, jitter="exponential"):
    """Host arrival times: the true time plus a non-negative delay with a 5 ms scale, delivered
    in packets of 1-4 samples that all arrive with the last one (as BLE and USB do)."""
    delay = {"exponential": rng.exponential(0.005, len(d)),
             "uniform": rng.uniform(0.0, 0.010, len(d)),
             "halfnormal": np.abs(rng.normal(0.0, 0.005, len(d)))}[jitter]
    h = true_host(d) + delay
    packets, i = [], 0
    while i < len(d):
        n = int(rng.integers(1, 5))
        sl = slice(i, min(i + n, len(d)))
        h[sl] = np.maximum.accumulate(h[sl])[-1]
        packets.append(sl)
        i += n
    return h, packets


@pytest.mark.parametrize("jitter", ["exponential", "uniform", "halfnormal"])
def test_clock_model_within_2ms_after_10s(jitter):
    rng = np.random.default_rng(1)
    d = 5000.0 + np.arange(0, 10.0, 1 / 200)  # device clock, not starting at zero
    h, packets = arrivals(rng, d, jitter)
    model = ClockModel()
    for sl in packets:
        model.update(d[sl], h[sl])
    err = np.abs(model.to_host(d) - true_host(d))
    assert err.max() < 0.002, err.max()
    assert abs(model.fit.drift - DRIFT) < 20e-6
    # the jitter itself is far larger than what is left: a fit through the cloud would be off
    assert np.mean(h - true_host(d)) > 0.004
    assert model.resets == 0


def test_clock_model_survives_a_device_clock_reset():
    rng = np.random.default_rng(2)
    model = ClockModel()
    d1 = 100.0 + np.arange(0, 5.0, 1 / 200)
    h1, p1 = arrivals(rng, d1)
    for sl in p1:
        model.update(d1[sl], h1[sl])
    # the device reboots: its clock restarts at zero, the host clock goes on
    d2 = np.arange(0, 10.0, 1 / 200)
    host_of_d2 = lambda d: true_host(105.5) + (1.0 + DRIFT) * d
    h2 = host_of_d2(d2) + rng.exponential(0.005, len(d2))
    for i in range(0, len(d2), 3):
        model.update(d2[i:i + 3], h2[i:i + 3])
    assert model.resets == 1 and model.epoch == 1
    assert np.abs(model.to_host(d2) - host_of_d2(d2)).max() < 0.002


def test_lower_support_slope_is_the_hull_edge_over_the_centre():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 0.0, 5.0, 1.0, 3.0])  # lower hull: (0,1) (1,0) (3,1) (4,3)
    assert lower_support_slope(x, y, 2.0) == pytest.approx(0.5)
    assert lower_support_slope(x, y, 0.5) == pytest.approx(-1.0)


def imu_signal(t):
    return np.stack([np.sin(2 * np.pi * 1.3 * t + c) for c in range(6)], axis=1).astype(np.float32)


def make_buffer(seconds=60.0):
    buf = SyncBuffer(seconds=seconds, camera_seconds=5.0)
    buf.add_stream("imu", "imu", rate_hz=200, channels=6)
    buf.add_stream("camera", "camera", rate_hz=30)
    return buf


def feed_imu(buf, rng, t0, t1, skip=None):
    """200 Hz IMU with a device clock 40 ms off and 100 ppm fast; the signal is a function of the
    true host time, so a correct alignment reproduces it on the host axis."""
    d = np.arange(t0, t1, 1 / 200)
    if skip:
        d = d[(d < skip[0]) | (d >= skip[1])]
    h, packets = arrivals(rng, d)
    for sl in packets:
        buf.ingest(Batch("imu", h[sl], imu_signal(true_host(d[sl])), t_device=d[sl]))


def feed_camera(buf, t0, t1, shape=(4, 6, 3)):
    """30 fps camera without a device clock: frames stamped on arrival, 20 ms late; pixel = index."""
    for i, t in enumerate(np.arange(t0, t1, 1 / 30)):
        frame = np.full((1,) + shape, i % 256, dtype=np.uint8)
        buf.ingest(Batch("camera", [t + 0.020], frame))


def test_window_aligns_imu_and_frames():
    rng = np.random.default_rng(3)
    buf = make_buffer()
    feed_imu(buf, rng, 0.0, 12.0)
    feed_camera(buf, true_host(0.0), true_host(12.0))
    spec = WindowSpec(seconds=2.5, imu_steps=128, frames=16, imu_channels=6)
    t_end = buf.latest_common_time()
    w = buf.window(t_end, spec)
    assert w.complete and w.imu.shape == (128, 6) and w.imu.dtype == np.float32
    assert w.frames.shape == (16, 4, 6, 3) and w.frames.dtype == np.uint8
    grid = np.linspace(t_end - 2.5, t_end, 128)
    # the IMU signal was generated at true host times, so aligned values match it there
    np.testing.assert_allclose(w.imu, imu_signal(grid), atol=0.05)
    # each frame is the one nearest in time to its instant (frames are 33 ms apart)
    assert np.all(np.abs(w.frame_times - np.linspace(t_end - 2.5, t_end, 16)) <= 1 / 60 + 1e-9)
    assert np.all(np.diff(w.frames[:, 0, 0, 0].astype(int)) > 0)


def test_gap_is_recorded_and_masked_or_refused():
    rng = np.random.default_rng(4)
    buf = make_buffer()
    feed_imu(buf, rng, 0.0, 10.0, skip=(6.0, 7.0))
    gaps = buf.gaps("imu")
    assert len(gaps) == 1 and gaps[0][1] - gaps[0][0] == pytest.approx(1.0, abs=0.02)
    spec = WindowSpec(seconds=2.5, imu_steps=250, frames=8, imu_channels=6)
    t_end = true_host(8.0)
    with pytest.raises(C3tError, match="'imu'.*has no data"):
        buf.window(t_end, spec, camera=None)
    w = buf.window(t_end, spec, camera=None, allow_missing=0.5)
    grid = np.linspace(t_end - 2.5, t_end, 250)
    in_gap = (grid > true_host(6.0) - 0.005) & (grid < true_host(7.0))
    assert not w.imu_mask[in_gap].any() and w.imu_mask[~in_gap].sum() >= (~in_gap).sum() - 2
    assert np.all(w.imu[~w.imu_mask] == 0)
    ok = w.imu_mask
    np.testing.assert_allclose(w.imu[ok], imu_signal(grid[ok]), atol=0.05)


def test_ring_memory_is_fixed_and_keeps_the_newest():
    rng = np.random.default_rng(5)
    buf = SyncBuffer(seconds=5.0)
    buf.add_stream("imu", "imu", rate_hz=200, channels=6)
    ring = buf._info("imu").ring
    storage = ring.values
    feed_imu(buf, rng, 0.0, 30.0)
    assert ring.values is storage and ring.count == ring.capacity < 30 * 200
    t, values = buf.samples("imu")
    assert t[0] > true_host(30.0) - 6.5 and np.all(np.diff(t) >= 0)
    w = buf.window(buf.latest_time("imu"), WindowSpec(seconds=2.5, imu_channels=6))
    assert w.complete


def test_sequence_numbers_drive_the_clock():
    buf = SyncBuffer()
    buf.add_stream("imu", "imu", rate_hz=100, channels=3)
    rng = np.random.default_rng(6)
    seq = np.arange(500, 1500)
    truth = 7.0 + seq / 100 * (1 + 300e-6)
    h = truth + rng.exponential(0.004, len(seq))
    for i in range(0, len(seq), 5):
        sl = slice(i, i + 5)
        buf.ingest(Batch("imu", np.full(5, h[sl].max()), np.zeros((5, 3), np.float32), seq=seq[sl]))
    t, _ = buf.samples("imu")
    assert np.abs(t - truth).max() < 0.002


def test_errors_name_the_stream_and_the_fix():
    buf = make_buffer()
    with pytest.raises(C3tError, match="no stream 'gyro'.*add_stream"):
        buf.ingest(Batch("gyro", [0.0], np.zeros((1, 3), np.float32)))
    with pytest.raises(C3tError, match="'imu'.*shape"):
        buf.ingest(Batch("imu", [0.0], np.zeros((1, 3), np.float32)))
    buf.ingest(Batch("imu", [0.0], np.zeros((1, 6), np.float32)))
    with pytest.raises(C3tError, match="6 channels.*wants 3"):
        buf.window(0.0, WindowSpec(imu_channels=3), camera=None)
    with pytest.raises(C3tError, match="'camera'.*no data yet"):
        buf.window(0.0, WindowSpec(seconds=0.5), imu=None)


def test_device_clock_reset_keeps_both_sides_aligned():
    buf = SyncBuffer()
    buf.add_stream("imu", "imu", rate_hz=100, channels=1)
    rng = np.random.default_rng(7)
    # 6 s numbered from 1000, then the device reboots and numbers from 0 again (host goes on)
    seq = np.concatenate([np.arange(1000, 1600), np.arange(0, 600)])
    truth = 3.0 + np.arange(1200) / 100
    h = truth + rng.exponential(0.003, len(seq))
    for i in range(0, len(seq), 4):
        sl = slice(i, i + 4)
        buf.ingest(Batch("imu", np.full(len(seq[sl]), h[sl].max()), truth[sl, None].astype(np.float32), seq=seq[sl]))
    assert buf.clock("imu").resets == 1
    t, values = buf.samples("imu")
    assert len(t) == 1200 and np.all(np.diff(t) > 0)
    np.testing.assert_allclose(t, values[:, 0], atol=0.012)   # within a packet's delay before the reset
    np.testing.assert_allclose(t[-300:], values[-300:, 0], atol=0.002)
    assert buf.gaps("imu") == []
