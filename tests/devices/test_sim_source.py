"""SimulatedSource: the scripted person as a live device with both streams and ground truth."""
import time

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.core.sim.actions import ACTIONS
from c3t.core.streams.contract import Source
from c3t.devices.simulated import SimulatedSource
from tests.conftest import HANG_S


def _collect_span(src, seconds, hang_s=HANG_S):
    """Read until the IMU's host times span `seconds` (however long a busy CPU takes; `hang_s` only
    ends a hang)."""
    got = {"imu": [], "camera": []}
    end = time.monotonic() + hang_s
    while time.monotonic() < end:
        for b in src.read(timeout=0.05):
            got[b.stream].append(b)
        if got["imu"] and got["imu"][-1].t_host[-1] - got["imu"][0].t_host[0] >= seconds:
            break
    return got


def test_emits_both_streams_with_timestamps_and_truth():
    src = SimulatedSource(imu_hz="100", fps="30", seed="2", speed="5", width="64", height="48")
    assert isinstance(src, Source) and src.streams == ["imu", "camera"]
    t_start = time.monotonic()
    with src:
        got = _collect_span(src, 1.2)
        src.stop()
        for b in src.read(timeout=0):    # what arrived after the last read: health() counts it too
            got[b.stream].append(b)
    imu, cam = got["imu"], got["camera"]
    assert imu and cam
    values = np.concatenate([b.values for b in imu])
    assert values.dtype == np.float32 and values.shape[1] == 6
    n = len(values)
    seq = np.concatenate([b.seq for b in imu])
    t_host = np.concatenate([b.t_host for b in imu])
    span = t_host[-1] - t_host[0]
    assert 100 * 5 * span * 0.95 < n < 100 * 5 * span * 1.05 + 1   # rate x speed x the seconds covered
    t_dev = np.concatenate([b.t_device for b in imu])
    assert np.all(np.diff(seq) > 0) and np.all(np.diff(t_host) >= 0)
    assert t_start <= t_host[0] and t_host[-1] <= time.monotonic()
    # device clock: own offset, runs at the simulated rate (speed x host)
    slope = np.polyfit(t_host, t_dev, 1)[0]
    assert slope == pytest.approx(5.0, rel=0.01) and abs(t_dev[0] - t_host[0]) > 1e-3
    frame = cam[0].values
    assert frame.shape == (1, 48, 64, 3) and frame.dtype == np.uint8
    assert len(cam) >= 30 * 5 * span * 0.3           # a loaded CPU may skip some frames
    # ground truth: the script rests first, then acts; every label is a class name
    assert src.truth_at(t_start - 1.0) is None
    labels = {src.truth_at(t) for t in t_host[::10]}
    assert None in labels and (labels - {None}) and (labels - {None}) <= {a.name for a in ACTIONS}
    segs = src.segments(t_host[0], t_host[-1])
    for a, b, name in segs:
        assert src.truth_at(0.5 * (a + b)) == name
    h = src.health()
    assert set(h) == {"imu", "camera"} and h["imu"].received == n and h["imu"].channels == 6
    assert h["imu"].state == "disconnected"
    assert src.read_latest()[0].shape == (48, 64, 3)


def _steps(src, n):
    got = {"imu": [], "camera": []}
    for _ in range(n):
        for b in src.read(timeout=0.05):
            got[b.stream].append(b)
    return got


def test_same_seed_same_signal_and_imu_only_mode():
    def first_samples(**kw):
        with SimulatedSource(seed=7, realtime=False, camera=False, **kw) as src:
            got = _steps(src, 30)
        assert not got["camera"]
        return np.concatenate([b.values for b in got["imu"]])
    a, b = first_samples(), first_samples()
    assert len(a) == 60                  # 30 steps of 0.02 simulated seconds at 100 Hz (minus losses: none here)
    np.testing.assert_array_equal(a, b)
    c = first_samples(subject=2)
    assert not np.array_equal(a, c)


def test_simulated_time_steps_the_world_per_read_and_never_waits():
    src = SimulatedSource(seed=2, realtime=False, speed=5, imu_hz=100, fps=30, width=64, height=48, batch_s=0.1)
    assert src.config.speed == 1.0       # simulated seconds are the time axis
    src.connect()
    src.start()
    got = _steps(src, 20)                # 2.0 simulated seconds
    assert src.clock() == pytest.approx(2.0)
    t_imu = np.concatenate([b.t_host for b in got["imu"]])
    assert 0.0 <= t_imu[0] < 0.02 and 1.97 < t_imu[-1] <= 2.0
    assert len(got["camera"]) == 60 and [int(b.seq[0]) for b in got["camera"]] == list(range(60))
    h = src.health()
    assert h["imu"].received == len(t_imu) and h["imu"].measured_hz == pytest.approx(100, rel=0.05)
    segs = src.segments(0.0, 2.0)       # ground truth on the same axis
    assert all(src.truth_at(0.5 * (a + b)) == name for a, b, name in segs)
    src.stop()
    assert src.read(timeout=0) == [] and src.clock() == pytest.approx(2.0)
    src.start()                          # continues the same timeline
    assert _steps(src, 1)["imu"][0].t_host[0] > t_imu[-1]
    src.disconnect()


def test_paced_simulated_time_waits_for_the_wall_clock_and_gives_the_same_data():
    """paced=True: a step is never taken before its time on the wall clock, and the data are
    those of the unpaced simulated clock (a busy CPU slows a paced show, never changes it)."""
    def run(paced: bool):
        src = SimulatedSource(seed=4, realtime=False, paced=paced, imu_hz=50, fps=15, width=64, height=48, batch_s=0.1)
        src.start()
        started, values, polls = time.monotonic(), [], 0
        while len(values) < 10:                       # 1.0 simulated second
            polls += 1
            values += [b.values for b in src.read(timeout=0.02) if b.stream == "imu"]
        return time.monotonic() - started, np.concatenate(values), polls
    paced_s, paced, polls = run(True)
    free_s, free, _ = run(False)
    assert paced_s >= 0.95 and polls > 10               # waited for the wall clock, in short reads
    np.testing.assert_array_equal(paced, free)


def test_spec_string_and_bad_parameters():
    from c3t.devices.spec import open_source

    src = open_source("sim?imu_hz=100&fps=30&seed=1&speed=1.0")
    assert isinstance(src, SimulatedSource)
    assert (src.config.imu_hz, src.config.fps, src.config.seed, src.config.speed) == (100.0, 30.0, 1, 1.0)
    with pytest.raises(C3tError, match="unknown parameter"):
        SimulatedSource(colour="red")
    with pytest.raises(C3tError, match="speed"):
        SimulatedSource(speed=0)
    with pytest.raises(C3tError, match="50..200"):
        SimulatedSource(imu_hz=10).connect()


def test_stop_then_start_continues_the_same_timeline():
    src = SimulatedSource(speed=10, camera=False, seed=3)
    src.connect()
    src.start()
    first = _collect_span(src, 0.3)["imu"]
    src.stop()
    first += src.read(timeout=0)
    src.start()
    second = _collect_span(src, 0.3)["imu"]
    src.disconnect()
    s1 = np.concatenate([b.seq for b in first])
    s2 = np.concatenate([b.seq for b in second])
    assert s2[0] > s1[-1]
    assert np.concatenate([b.t_device for b in second])[0] > np.concatenate([b.t_device for b in first])[-1]
