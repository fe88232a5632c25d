"""`c3t synth` writes the UTD-MHAD layout: readable by scipy / OpenCV and by our own reader."""
import json
import re

import cv2
import numpy as np
import pytest
import scipy.io

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.training.synth import SynthConfig, write_dataset

SMALL = dict(subjects=2, reps=1, actions=["swipe_left", "wave", "throw"], width=64, height=48)


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return np.stack(frames)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "ds"
    assert main(["synth", "--out", str(out), "--subjects", "2", "--reps", "1", "--seed", "4",
                 "--actions", "swipe_left,wave,throw", "--size", "64x48", "--quiet"]) == 0
    return out


def test_layout_and_manifest(dataset):
    classes = (dataset / "classes.txt").read_text().splitlines()
    assert classes == ["right arm swipe to the left", "right hand wave", "right arm throw"]
    m = json.loads((dataset / "dataset.json").read_text())
    assert m["source"] == "c3t synth" and m["subjects"] == 2 and m["reps"] == 1 and m["seed"] == 4
    assert m["imu_hz"] == 50.0 and m["fps"] == 30.0 and m["frame_size"] == [64, 48] and m["classes"] == classes
    names = {p.name for folder in ("Inertial", "Skeleton", "RGB") for p in (dataset / folder).iterdir()}
    expected = {f"a{a}_s{s}_t1_{kind}" for a in (1, 2, 3) for s in (1, 2)
                for kind in ("inertial.mat", "skeleton.mat", "color.avi")}
    assert names == expected


def test_clip_contents_match(dataset):
    for path in sorted((dataset / "Inertial").iterdir()):
        stem = re.sub(r"_inertial\.mat$", "", path.name)
        iner = scipy.io.loadmat(str(path))["d_iner"]
        skel = scipy.io.loadmat(str(dataset / "Skeleton" / f"{stem}_skeleton.mat"))["d_skel"]
        video = _frames(dataset / "RGB" / f"{stem}_color.avi")
        assert iner.dtype == np.float64 and iner.ndim == 2 and iner.shape[1] == 6
        assert skel.dtype == np.float64 and skel.shape[:2] == (20, 3)
        T = skel.shape[2]
        assert video.shape == (T, 48, 64, 3)
        # the two streams cover the same time span: N samples at 50 Hz ~ T frames at 30 Hz
        assert iner.shape[0] / 50.0 == pytest.approx(T / 30.0, abs=0.1)
        assert 2.0 < T / 30.0 < 7.0
        # accelerometer in g: a standing start reads about 1 g; gyro in deg/s
        assert np.linalg.norm(iner[:5, :3], axis=1).mean() == pytest.approx(1.0, abs=0.1)
        assert np.abs(iner[:, 3:]).max() > 50
        # Kinect coordinates: head above hip, person a few metres in front of the camera
        assert np.all(skel[0, 1] > skel[3, 1]) and 2.5 < skel[3, 2].mean() < 5.0


def test_our_reader_loads_it(dataset):
    from c3t.training import utd_mhad as U

    names, seqs = U.scan(dataset, ("inertial", "skeleton", "rgb"))
    assert len(names) == 3 and len(seqs) == 6
    assert U.default_visual(dataset) == "motion"   # colour video: its motion by default (#29)
    s = seqs[0]
    assert len(U.load(s, "rgb")) == len(U.load(s, "skeleton"))


def test_deterministic_and_seed_dependent(dataset, tmp_path):
    again = write_dataset(tmp_path / "again", SynthConfig(seed=4, **SMALL), progress=False)
    write_dataset(tmp_path / "other", SynthConfig(seed=5, **SMALL), progress=False)
    assert again["classes"] == json.loads((dataset / "dataset.json").read_text())["classes"]
    for name in ("a2_s1_t1_inertial.mat", "a3_s2_t1_inertial.mat"):
        a = scipy.io.loadmat(str(dataset / "Inertial" / name))["d_iner"]
        b = scipy.io.loadmat(str(tmp_path / "again" / "Inertial" / name))["d_iner"]
        c = scipy.io.loadmat(str(tmp_path / "other" / "Inertial" / name))["d_iner"]
        np.testing.assert_array_equal(a, b)
        assert a.shape != c.shape or not np.array_equal(a, c)
    np.testing.assert_array_equal(_frames(dataset / "RGB" / "a1_s2_t1_color.avi"),
                                  _frames(tmp_path / "again" / "RGB" / "a1_s2_t1_color.avi"))


def test_per_person_rooms_give_each_person_a_room_and_one_room_is_shared():
    """`--rooms per-person`: each person's clips come from their own room and camera placement
    (same for all their clips), while by default every person shares the world's one room."""
    from c3t.core.sim.render import CameraConfig, Scene
    from c3t.core.sim.stream import room_rng

    def placement(room):
        """Camera distance (m) and azimuth (deg) of room `room` of world 3."""
        scene = Scene(CameraConfig(width=64, height=48), room_rng(3, room))
        return scene.distance, scene.azimuth_deg

    assert placement(None) == placement(None) and placement(1) == placement(1)
    assert len({placement(k) for k in (None, 1, 2, 3)}) == 4
    one = [_first_frame(1, None), _first_frame(2, None)]
    own = [_first_frame(1, 1), _first_frame(2, 2)]
    corner = lambda img: img[:8, :8].astype(float).mean()   # noqa: E731  wall, away from the person
    assert abs(corner(one[0]) - corner(one[1])) < abs(corner(own[0]) - corner(own[1]))
    assert SynthConfig(rooms="per-person").rooms == "per-person"
    with pytest.raises(C3tError, match="--rooms 'kitchen'"):
        write_dataset("/nonexistent-c3t-out", SynthConfig(rooms="kitchen", **SMALL), progress=False)


def _first_frame(subject, room):
    from c3t.core.sim.render import CameraConfig
    from c3t.core.sim.stream import record_clip

    clip = record_clip("wave", 3, subject, 1, camera=CameraConfig(width=64, height=48), room=room)
    return clip.frames.images[0]


def test_refuses_a_foreign_folder_and_overwrites_its_own(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(C3tError, match="not empty"):
        write_dataset(tmp_path, SynthConfig(**SMALL), progress=False)
    assert (tmp_path / "mine.txt").exists()
    out = tmp_path / "ds"
    write_dataset(out, SynthConfig(**SMALL), progress=False)
    write_dataset(out, SynthConfig(**{**SMALL, "subjects": 1}), progress=False)   # fewer clips: old ones go
    assert len(list((out / "Inertial").iterdir())) == 3


def test_bad_arguments_are_user_errors(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--imu-hz", "500"]) == 2
    assert "50..200" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "y"), "--size", "big"]) == 2
    assert main(["synth", "--out", str(tmp_path / "z"), "--actions", "moonwalk"]) == 2
