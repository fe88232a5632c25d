import numpy as np
import pytest
import scipy.io

from c3t.core.errors import C3tError
from c3t.training import utd_mhad
from tests.conftest import link_subset


def test_reads_real_sequences(utd_root, tmp_path):
    root = link_subset(utd_root, tmp_path / "d", actions=[1, 22], subjects=[1, 2])
    classes, seqs = utd_mhad.scan(root, ("inertial", "depth", "skeleton"))
    assert len(classes) == 27 and classes[21] == "jogging in place"
    assert {s.action for s in seqs} == {1, 22}
    s = seqs[0]
    assert s.key.startswith("a1_s1_") and s.label == 0
    imu = utd_mhad.load(s, "inertial")
    skel = utd_mhad.load(s, "skeleton")
    depth = utd_mhad.load(s, "depth")
    assert imu.shape[1] == 6 and imu.dtype == np.float32
    assert skel.shape[1:] == (20, 3)
    assert depth.shape[0] == skel.shape[0] and depth.shape[1:] == (240, 320)
    assert np.abs(imu[:, :3]).max() <= 8.01  # accelerometer in g, clipped at 8 g


def test_missing_folder_is_named(tmp_path):
    _write(tmp_path, "Inertial", "a1_s1_t1_inertial.mat", d_iner=np.zeros((50, 6)))
    with pytest.raises(C3tError, match="Depth"):
        utd_mhad.scan(tmp_path, ("inertial", "depth"))
    with pytest.raises(C3tError, match="does not exist"):
        utd_mhad.scan(tmp_path / "nope", ("inertial",))


def _write(root, folder, name, **arrays):
    (root / folder).mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / folder / name, arrays)
    return root / folder / name


def test_unpaired_sequence_names_the_file(tmp_path):
    _write(tmp_path, "Inertial", "a1_s1_t1_inertial.mat", d_iner=np.zeros((50, 6)))
    _write(tmp_path, "Inertial", "a1_s1_t2_inertial.mat", d_iner=np.zeros((50, 6)))
    _write(tmp_path, "Skeleton", "a1_s1_t1_skeleton.mat", d_skel=np.zeros((20, 3, 10)))
    with pytest.raises(C3tError, match="a1_s1_t2_skeleton.mat"):
        utd_mhad.scan(tmp_path, ("inertial", "skeleton"))


def test_wrong_key_wrong_shape_and_corrupt_file(tmp_path):
    bad_key = _write(tmp_path, "Inertial", "a1_s1_t1_inertial.mat", accel=np.zeros((50, 6)))
    with pytest.raises(C3tError, match="no variable 'd_iner'.*accel"):
        utd_mhad.load_inertial(bad_key)
    bad_shape = _write(tmp_path, "Inertial", "a1_s1_t2_inertial.mat", d_iner=np.zeros((50, 3)))
    with pytest.raises(C3tError, match=r"\(50, 3\)"):
        utd_mhad.load_inertial(bad_shape)
    corrupt = tmp_path / "Inertial" / "a1_s1_t3_inertial.mat"
    corrupt.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 40)
    with pytest.raises(C3tError, match="a1_s1_t3_inertial.mat"):
        utd_mhad.load_inertial(corrupt)
    bad_skel = _write(tmp_path, "Skeleton", "a1_s1_t1_skeleton.mat", d_skel=np.zeros((15, 3, 10)))
    with pytest.raises(C3tError, match="expected \\(20, 3, T\\)"):
        utd_mhad.load_skeleton(bad_skel)


def test_class_list_from_classes_txt(tmp_path):
    (tmp_path / "classes.txt").write_text("wave\nclap\n")
    _write(tmp_path, "Inertial", "a3_s1_t1_inertial.mat", d_iner=np.zeros((50, 6)))
    with pytest.raises(C3tError, match="outside 1..2"):
        utd_mhad.scan(tmp_path, ("inertial",))
