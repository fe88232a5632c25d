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


def test_the_sensor_site_is_found_from_unlabelled_pairs():
    """Half the pairs wore the sensor where the 'wrist' virtual signal says, half where the
    'thigh' one says (each mounted with its own rotation): sites_from_pairs recovers who wore it
    where without a label."""
    from c3t.training.virtual_imu import sites_from_pairs

    rng = np.random.default_rng(1)
    wrist, thigh = (rng.normal(size=(60, 64, 6)).astype(np.float32) for _ in range(2))
    truth = np.repeat([0, 1], 30)
    P_w, P_t = _rotations()[5], _rotations()[17]
    real = np.where(truth[:, None, None] == 0, rotate(wrist, P_w), rotate(thigh, P_t))
    real = real + 0.3 * rng.normal(size=real.shape)
    assigned, cals = sites_from_pairs({"wrist": wrist, "thigh": thigh}, real)
    assert (assigned == truth).mean() >= 0.95
    assert np.array_equal(cals["wrist"]["rotation"], P_w) and np.array_equal(cals["thigh"]["rotation"], P_t)
    with pytest.raises(C3tError, match="paired clips"):
        sites_from_pairs({"wrist": wrist[:3]}, real[:2])


def test_the_virtual_imu_reads_no_label_unless_told(utd_root, tmp_path):
    """On real UTD-MHAD clips (two wrist and two thigh actions): the label-free site rule gives the
    same virtual IMU whatever the labels say, and it finds the documented site for most D_HAR
    clips (checked here with the labels, after the fact); the "label" rule is the only one that
    reads them."""
    import dataclasses

    from c3t.training import splits as S
    from c3t.training.prepare import prepare
    from c3t.training.virtual_imu import virtual_har
    from tests.conftest import link_subset

    root = link_subset(utd_root, tmp_path / "d", actions=[1, 9, 22, 27], modalities=("Inertial", "Skeleton"))
    data = prepare(root, "skeleton", progress=False)
    split = S.split_for(data, 0)
    imu, summary = virtual_har(data, split, "pairs")
    scrambled = dataclasses.replace(data, labels=np.random.default_rng(3).permutation(data.labels))
    assert np.array_equal(imu, virtual_har(scrambled, split, "pairs")[0])
    documented = np.array([site_for(int(data.labels[i]) + 1) == "thigh" for i in split["har"]])
    found = np.array(virtual_har(data, split, "label")[1]["har_sites"]["thigh"])
    assert found == documented.sum()
    assert summary["site_rule"] == "pairs" and summary["har_sites"]["thigh"] > 0 and summary["har_sites"]["wrist"] > 0
    with pytest.raises(C3tError, match="unknown virtual IMU site rule"):
        virtual_har(data, split, "guess")
