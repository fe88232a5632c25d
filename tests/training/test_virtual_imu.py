"""The virtual IMU baseline: physics of the virtual sensor and the label-free mounting fit."""
import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.training.virtual_imu import (
    R_ELBOW,
    R_SHOULDER,
    R_WRIST,
    _rotations,
    apply_calibration,
    calibrate,
    rotate,
    site_for,
    virtual_imu,
)


def _arm(T=90, hz=30.0, spin_deg_s=90.0):
    """A right arm whose forearm turns about the vertical at `spin_deg_s`, upper arm hanging."""
    t = np.arange(T) / hz
    joints = np.zeros((T, 20, 3))
    joints[:, R_SHOULDER] = [0.0, 1.4, 3.0]
    joints[:, R_ELBOW] = [0.0, 1.1, 3.0]
    a = np.radians(spin_deg_s) * t
    joints[:, R_WRIST] = joints[:, R_ELBOW] + 0.25 * np.stack([np.cos(a), np.zeros(T), np.sin(a)], axis=1)
    return joints


def test_a_still_arm_feels_one_g_and_no_rotation():
    imu = virtual_imu(_arm(spin_deg_s=0.0), "wrist")
    assert np.linalg.norm(imu[:, :3], axis=1) == pytest.approx(1.0, abs=1e-6)
    assert np.abs(imu[:, 3:]).max() < 1e-6


def test_a_turning_forearm_reads_its_rate_and_centripetal_force():
    imu = virtual_imu(_arm(spin_deg_s=90.0), "wrist")[10:-10]        # away from the filter's edges
    assert np.linalg.norm(imu[:, 3:], axis=1) == pytest.approx(90.0, rel=0.02)
    centripetal = 0.25 * np.radians(90.0) ** 2 / 9.81                 # r w^2 [g], along -x (towards the elbow)
    assert imu[:, 0] == pytest.approx(-centripetal, abs=0.01)


def test_calibration_recovers_the_mounting_from_pairs():
    rng = np.random.default_rng(0)
    virtual = rng.normal(size=(40, 64, 6)).astype(np.float32)
    P = _rotations()[7]
    real = rotate(virtual, P) * 2.0 + 0.5 + 0.1 * rng.normal(size=virtual.shape)
    cal = calibrate(virtual, real)
    assert np.array_equal(cal["rotation"], P) and cal["correlation"] > 0.9
    matched = apply_calibration(virtual, cal)
    assert matched.mean((0, 1)) == pytest.approx(real.mean((0, 1)), abs=1e-3)
    assert len(_rotations()) == 24 and site_for(21) == "wrist" and site_for(22) == "thigh"
    with pytest.raises(C3tError, match="paired clips"):
        calibrate(virtual[:3], real[:2])


def test_a_folder_without_skeletons_is_named_with_what_to_do(tmp_path):
    from types import SimpleNamespace

    from c3t.training.virtual_imu import virtual_inputs

    data = SimpleNamespace(root=str(tmp_path), extra={}, keys=["a1_s1_t1"])
    with pytest.raises(C3tError, match=r"--virtual-weight\).*Skeleton/ is not there.*leave the option out"):
        virtual_inputs(data, np.array([0]), ["wrist"], 128)
