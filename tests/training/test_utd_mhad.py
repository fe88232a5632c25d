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


def save_mat_v73(path, **arrays) -> None:
    """A .mat file as MATLAB's `save -v7.3` writes it: a 512-byte MATLAB header, then HDF5 with
    each array's axes reversed (MATLAB is column-major) and its MATLAB class as an attribute."""
    import h5py

    classes = {np.dtype("float64"): b"double", np.dtype("float32"): b"single", np.dtype("uint16"): b"uint16",
               np.dtype("uint8"): b"uint8", np.dtype("int16"): b"int16"}
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, arr in arrays.items():
            arr = np.asarray(arr)
            f.create_dataset(key, data=arr.T)
            f[key].attrs["MATLAB_class"] = np.bytes_(classes[arr.dtype])
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116) + bytes(8) + b"\x00\x02" + b"IM")


def test_matlab_v73_files_read_like_v7_in_a_mixed_folder(utd_root, tmp_path):
    """Sequences of subject 1 saved as MATLAB v7.3 (HDF5), subject 2 as the v7 originals: the
    scan takes both, and each v7.3 file gives exactly the array of its v7 original."""
    root = link_subset(utd_root, tmp_path / "d", actions=[1], subjects=[1, 2])
    _, before = utd_mhad.scan(root, ("inertial", "skeleton", "depth"))
    first = before[0]
    originals = {}
    for modality, key in (("inertial", "d_iner"), ("skeleton", "d_skel"), ("depth", "d_depth")):
        path = first.files[modality]
        raw = scipy.io.loadmat(str(path))[key]
        originals[modality] = utd_mhad.LOADERS[modality](path)
        path.unlink()
        save_mat_v73(path, **{key: raw})
        assert utd_mhad.is_mat_v73(path)
    classes, seqs = utd_mhad.scan(root, ("inertial", "skeleton", "depth"))
    assert [s.key for s in seqs] == [s.key for s in before] and len(seqs) >= 2
    for modality, expected in originals.items():
        got = utd_mhad.load(seqs[0], modality)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert utd_mhad.load(seqs[1], modality).shape[1:] == expected.shape[1:]


def test_matlab_v73_problems_name_the_file(tmp_path):
    path = tmp_path / "a1_s1_t1_inertial.mat"
    save_mat_v73(path, accel=np.zeros((50, 6)))
    with pytest.raises(C3tError, match="a1_s1_t1_inertial.mat has no variable 'd_iner' \\(it has \\['accel'\\]\\)"):
        utd_mhad.load_inertial(path)
    save_mat_v73(path, d_iner=np.zeros((50, 3)))
    with pytest.raises(C3tError, match=r"d_iner has shape \(50, 3\), expected \(N, 6\)"):
        utd_mhad.load_inertial(path)
    data = path.read_bytes()
    path.write_bytes(data[:800])       # truncated
    with pytest.raises(C3tError, match="a1_s1_t1_inertial.mat is not a readable MATLAB v7.3 .mat file"):
        utd_mhad.load_inertial(path)


def test_c3t_train_accepts_a_folder_mixing_v7_and_v73_files(utd_root, tmp_path, cache_dir, capsys):
    """`c3t train` on three real actions whose subjects 1-4 are saved as MATLAB v7.3, 5-8 as v7."""
    import json

    from c3t.app.cli import main

    root = link_subset(utd_root, tmp_path / "d", actions=[1, 9, 22], modalities=("Inertial", "Skeleton"))
    converted = 0
    for path in sorted(root.glob("*/*_s[1-4]_*.mat")):
        key = "d_iner" if path.name.endswith("inertial.mat") else "d_skel"
        raw = scipy.io.loadmat(str(path))[key]
        path.unlink()
        save_mat_v73(path, **{key: raw})
        converted += 1
    assert converted >= 40
    out = tmp_path / "model"
    assert main(["train", "--dataset", str(root), "--visual", "skeleton", "--method", "c3t", "--epochs", "1",
                 "--out", str(out), "--cache", str(cache_dir)]) == 0, capsys.readouterr().err[-2000:]
    split = json.loads((out / "split.json").read_text())
    used = {key for part in ("har", "align", "val", "test") for key in split[part]}
    assert len(used) == len(list(root.glob("Inertial/*.mat")))
    assert any("_s1_" in key for key in used) and any("_s8_" in key for key in used)
