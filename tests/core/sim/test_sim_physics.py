"""The simulated IMU against physics we can work out by hand."""
import numpy as np
import pytest

from c3t.core.sim.actions import Variation, find
from c3t.core.sim.body import Subject, forward_kinematics, rot_x, rot_y, rot_z, segment_motion
from c3t.core.sim.imu import ImuConfig, ImuDevice, Wearing, ideal_imu, small_rotation
from c3t.core.sim.stream import Performer


def _still(R):
    return lambda t: (np.zeros((len(t), 3)) + [0.3, 1.2, -0.4], np.broadcast_to(R, (len(t), 3, 3)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_rest_accelerometer_reads_one_g_along_gravity(seed):
    R = small_rotation(np.random.default_rng(seed), 60.0)    # any orientation
    accel, gyro = ideal_imu(_still(R), np.linspace(0, 2, 50))
    up_in_sensor = R.T @ np.array([0.0, 1.0, 0.0])            # specific force at rest points up
    np.testing.assert_allclose(accel, np.tile(up_in_sensor, (50, 1)), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(accel, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(gyro, 0.0, atol=1e-6)


def test_standing_figure_wrist_reads_one_g_and_no_rotation():
    subject = Subject.sample(0, 3)
    performer = Performer(subject, np.random.default_rng(0), idle=False)
    accel, gyro = ideal_imu(performer.motion("right_wrist"), np.linspace(0.5, 3, 40))
    np.testing.assert_allclose(np.linalg.norm(accel, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(gyro, 0.0, atol=1e-5)
    # arm hanging: the sensor's x axis runs down the forearm, so x reads about -1 g (as in UTD-MHAD)
    assert accel[0, 0] < -0.9


@pytest.mark.parametrize("rate_dps", [-250.0, 90.0, 720.0])
def test_spinning_sensor_reads_its_rate(rate_dps):
    R0 = small_rotation(np.random.default_rng(4), 40.0)
    motion = lambda t: (np.zeros((len(t), 3)), R0 @ rot_z(rate_dps * t))   # spin about its own z
    accel, gyro = ideal_imu(motion, np.linspace(0, 1, 30))
    np.testing.assert_allclose(gyro, np.tile([0.0, 0.0, rate_dps], (30, 1)), atol=1e-3 * abs(rate_dps))
    np.testing.assert_allclose(np.linalg.norm(accel, axis=1), 1.0, atol=1e-6)   # spinning in place


def test_figure_turning_on_the_spot_reads_turn_rate_at_pelvis():
    subject = Subject.sample(0, 5)
    t = np.linspace(0.1, 3.9, 60)
    motion = lambda tt: segment_motion(forward_kinematics(subject, {"root_yaw": 45.0 * tt}), "pelvis")
    accel, gyro = ideal_imu(motion, t)
    np.testing.assert_allclose(gyro, np.tile([0.0, 45.0, 0.0], (60, 1)), atol=1e-3)
    np.testing.assert_allclose(accel, np.tile([0.0, 1.0, 0.0], (60, 1)), atol=1e-6)


def test_elbow_flexing_at_constant_rate_reads_that_rate_on_the_wrist():
    subject = Subject.sample(0, 2)
    t = np.linspace(0.0, 1.5, 40)
    motion = lambda tt: segment_motion(forward_kinematics(subject, {"r_elbow": 10.0 + 60.0 * tt}), "right_wrist")
    _, gyro = ideal_imu(motion, t)
    np.testing.assert_allclose(np.linalg.norm(gyro, axis=1), 60.0, atol=1e-3)
    np.testing.assert_allclose(np.abs(gyro[:, 1]), 60.0, atol=1e-3)   # the elbow axis is the sensor's y


def _integrate(R0, gyro_dps, dt):
    """Orientation from body-frame angular rate: R <- R exp([w dt]x), trapezoid rule."""
    R = R0.copy()
    w = np.radians(gyro_dps)
    for k in range(len(w) - 1):
        phi = 0.5 * (w[k] + w[k + 1]) * dt
        a = np.linalg.norm(phi)
        if a > 0:
            K = np.array([[0, -phi[2], phi[1]], [phi[2], 0, -phi[0]], [-phi[1], phi[0], 0]]) / a
            R = R @ (np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K)
    return R


def _angle_deg(Ra, Rb):
    return np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1)))


@pytest.mark.parametrize("action", ["throw", "draw_circle", "wave"])
def test_integrating_gyro_recovers_segment_orientation(action):
    subject = Subject.sample(1, 4)
    performer = Performer(subject, np.random.default_rng(1))
    clip = performer.add(find(action), Variation.sample(np.random.default_rng(2), subject), 0.3)
    cfg = ImuConfig(rate_hz=200.0, clock_offset_s=0.0, clock_drift_ppm=0.0)
    device = ImuDevice(cfg, Wearing.ideal(), np.random.default_rng(0), perfect=True)
    motion = performer.motion("right_wrist")
    samples = device.read(motion, clip.t1 + 0.3)
    assert np.all(np.diff(samples.seq) == 1)
    _, R = motion(samples.t_true)
    R_est = _integrate(R[0], samples.values[:, 3:], 1.0 / cfg.rate_hz)
    total_turn = sum(_angle_deg(R[k], R[k + 1]) for k in range(len(R) - 1))
    assert total_turn > 90, "the test needs a motion that actually rotates the wrist"
    assert _angle_deg(R_est, R[-1]) < 0.5


def test_accelerometer_sees_centripetal_acceleration():
    # a point on a 0.5 m arm swinging about the world's vertical axis at 180 deg/s: a = w^2 r inward
    w = np.radians(180.0)
    motion = lambda t: (np.stack([0.5 * np.cos(w * t), np.zeros_like(t), 0.5 * np.sin(w * t)], 1),
                        rot_y(-np.degrees(w * t)))
    accel, _ = ideal_imu(motion, np.linspace(0, 1, 20))
    horizontal = np.linalg.norm(accel[:, [0, 2]], axis=1) * 9.80665
    np.testing.assert_allclose(horizontal, w**2 * 0.5, rtol=1e-4)
    np.testing.assert_allclose(accel[:, 1], 1.0, atol=1e-6)


def test_saturation_clips_at_range():
    spin = lambda t: (np.zeros((len(t), 3)), rot_x(2500.0 * t))      # 2500 deg/s, far over range
    dev = ImuDevice(ImuConfig(rate_hz=100.0), Wearing.ideal(), np.random.default_rng(0))
    s = dev.read(spin, 1.0)
    assert np.abs(s.values[:, 3]).max() == pytest.approx(1000.0, abs=0.05)
    assert np.abs(s.values[:, 3:]).max() <= 1000.0 + 1e-9
    # a hand flung round a 0.2 m circle at 1000 deg/s: about 6 g of centripetal force, over a 2 g range
    w = np.radians(1000.0)
    fling = lambda t: (np.stack([0.2 * np.cos(w * t), np.zeros_like(t), 0.2 * np.sin(w * t)], 1),
                       np.broadcast_to(np.eye(3), (len(t), 3, 3)))
    dev = ImuDevice(ImuConfig(rate_hz=100.0, accel_range_g=2.0), Wearing.ideal(), np.random.default_rng(0))
    a = dev.read(fling, 1.0).values[:, :3]
    assert np.abs(a).max() == pytest.approx(2.0, abs=1e-3)
    assert np.mean(np.isclose(np.abs(a[:, [0, 2]]), 2.0, atol=1e-3)) > 0.3


def test_real_throw_stays_in_range_and_is_quantised():
    subject = Subject.sample(0, 1)
    performer = Performer(subject, np.random.default_rng(0))
    performer.add(find("throw"), Variation(speed=1.3, amplitude=1.2), 0.2)
    dev = ImuDevice(ImuConfig(rate_hz=200.0), Wearing.sample(ImuConfig(), np.random.default_rng(0)),
                    np.random.default_rng(1))
    v = dev.read(performer.motion("right_wrist"), 4.0).values
    assert np.abs(v[:, :3]).max() <= 8.0 and np.abs(v[:, 3:]).max() <= 1000.0
    assert np.abs(v[:, 3:]).max() > 300       # it is a fast movement
    lsb = 8.0 / 2**15
    np.testing.assert_allclose(v[:, :3] / lsb, np.round(v[:, :3] / lsb), atol=1e-6)


def test_device_clock_has_offset_drift_jitter_and_drops():
    cfg = ImuConfig(rate_hz=100.0, clock_drift_ppm=200.0, drop_prob=0.01, burst_prob=0.001)
    wearing = Wearing.sample(cfg, np.random.default_rng(7))
    assert wearing.clock_offset > 0 and wearing.clock_drift != 0
    dev = ImuDevice(cfg, wearing, np.random.default_rng(3))
    still = _still(np.eye(3))
    chunks = [dev.read(still, t) for t in np.arange(1.0, 121.0, 1.0)]   # two minutes, read each second
    seq = np.concatenate([c.seq for c in chunks])
    t_dev = np.concatenate([c.t_device for c in chunks])
    t_true = np.concatenate([c.t_true for c in chunks])
    assert np.all(np.diff(seq) >= 1) and np.all(np.diff(t_true) > 0)
    missing = int(seq[-1] + 1 - len(seq))
    assert missing == dev.dropped and missing > 0
    assert (np.diff(seq) > 1).sum() >= 3                                  # several separate gaps
    slope, intercept = np.polyfit(t_true, t_dev, 1)
    assert slope - 1 == pytest.approx(wearing.clock_drift, abs=2e-6)    # the device clock runs fast/slow
    assert intercept == pytest.approx(wearing.clock_offset, abs=1e-4)
    # samples are not taken exactly on the tick: the spacing jitters around 1 / (rate (1 + drift))
    tick = t_dev - seq / cfg.rate_hz
    assert 1e-5 < (tick - tick.mean()).std() < 1e-3
    spacing = np.polyfit(seq, t_true, 1)[0]
    assert spacing == pytest.approx(1 / (100.0 * (1 + wearing.clock_drift)), rel=1e-6)
    assert len(seq) == pytest.approx(120 * 100, rel=0.05)


def test_rate_outside_range_is_a_user_error():
    from c3t.core.errors import C3tError

    with pytest.raises(C3tError, match="50..200"):
        ImuConfig(rate_hz=20.0).check()
