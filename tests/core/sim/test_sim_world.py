"""The simulated world: scripted timeline, ground truth, rendering, and class separability."""
import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.core.sim.actions import ACTIONS, Variation, find
from c3t.core.sim.body import JOINTS, Subject
from c3t.core.sim.render import CameraConfig, Scene
from c3t.core.sim.stream import Performer, SimWorld, WorldConfig, record_clip
from c3t.core.streams.window import resample


def test_ten_distinct_actions_and_twenty_joints():
    assert len(ACTIONS) >= 10 and len({a.name for a in ACTIONS}) == len(ACTIONS)
    assert len(JOINTS) == 20 and JOINTS[0] == "head" and JOINTS[11] == "right_hand" and JOINTS[19] == "right_foot"
    with pytest.raises(C3tError, match="unknown action"):
        find("moonwalk")


def test_subjects_differ_and_are_reproducible():
    a, b = Subject.sample(0, 1), Subject.sample(0, 2)
    assert a.height != b.height and a.lengths["forearm"] != b.lengths["forearm"]
    assert Subject.sample(0, 1).lengths == a.lengths and Subject.sample(1, 1).height != a.height


def test_variation_time_warp_is_monotone_and_keeps_ends():
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = Variation.sample(rng, Subject.sample(0, 1))
        assert 0.65 <= v.speed <= 1.45 and 0.7 <= v.amplitude <= 1.3
        u = np.linspace(0, 1, 500)
        w = v.time(u)
        assert w[0] == pytest.approx(0) and w[-1] == pytest.approx(1) and np.all(np.diff(w) > 0)


def test_clip_starts_and_ends_at_rest_posture():
    subject = Subject.sample(0, 1)
    p = Performer(subject, np.random.default_rng(0), idle=False)
    clip = p.add(find("throw"), Variation(), 1.0)
    rest = p.pose(np.array([0.0])).positions
    np.testing.assert_allclose(p.pose(np.array([clip.t0, clip.t1])).positions, np.concatenate([rest, rest]), atol=1e-9)
    mid = p.pose(np.array([clip.t0 + 0.5 * clip.duration])).positions
    assert np.abs(mid - rest).max() > 0.2     # it does move in between


def test_world_truth_matches_script_and_streams_are_steady():
    w = SimWorld(WorldConfig(seed=3, camera=CameraConfig(width=64, height=48)))
    imu, frames = w.advance(20.0)
    assert len(frames) == 600 and frames.images.shape == (600, 48, 64, 3)
    assert len(imu) == pytest.approx(2000, rel=0.02)
    segs = w.segments(0.0, 20.0)
    assert len(segs) >= 3
    names = {s[2] for s in segs}
    assert names <= {a.name for a in ACTIONS}
    for t0, t1, name in segs:
        assert w.truth_at(0.5 * (t0 + t1)) == name
    assert w.truth_at(0.5) is None                # the script starts with a rest
    gaps = [b[0] - a[1] for a, b in zip(segs, segs[1:])]
    assert min(gaps) >= 1.0 - 1e-9                # rests between actions
    more_imu, more_frames = w.advance(21.0)       # continues without overlap
    assert more_imu.seq[0] > imu.seq[-1] and more_frames.t[0] == pytest.approx(20.0)


def test_world_is_deterministic():
    def run():
        w = SimWorld(WorldConfig(seed=5, camera=CameraConfig(width=40, height=30)))
        return w.advance(6.0)
    (i1, f1), (i2, f2) = run(), run()
    np.testing.assert_array_equal(i1.values, i2.values)
    np.testing.assert_array_equal(i1.t_device, i2.t_device)
    np.testing.assert_array_equal(f1.images, f2.images)


def test_a_take_is_the_same_person_in_the_same_room_doing_another_script():
    """take K: another session of one person (a user recording themselves again): the body,
    the room, the camera's place and the IMU's mounting are the seed's; the script is not."""
    def world(take):
        return SimWorld(WorldConfig(seed=4, subject=2, take=take, camera=CameraConfig(width=40, height=30)))
    base, again, other = world(0), world(0), world(3)
    for w in (base, again, other):
        w.advance(30.0)
    assert base.segments(0, 30) == again.segments(0, 30)      # take 0 is the world the seed gives
    assert [s[2] for s in other.segments(0, 30)] != [s[2] for s in base.segments(0, 30)]
    assert other.subject == base.subject and other.scene.position.tolist() == base.scene.position.tolist()
    np.testing.assert_array_equal(other.imu.wearing.mount, base.imu.wearing.mount)
    with pytest.raises(C3tError, match="take -1"):
        world(-1)


@pytest.mark.parametrize("size", [(97, 61), (320, 240)])
def test_render_draws_the_person_at_any_size(size):
    subject = Subject.sample(0, 1)
    p = Performer(subject, np.random.default_rng(0))
    cfg = CameraConfig(width=size[0], height=size[1], noise=0.0, shake=0.0)
    scene = Scene(cfg, np.random.default_rng(1))
    pose = p.pose(np.array([1.0])).positions[0]
    img = scene.render(pose, subject, 1.0)
    assert img.shape == (size[1], size[0], 3) and img.dtype == np.uint8
    empty = scene.render(pose + [0.0, 0.0, 50.0], subject, 1.0)   # the person walked far behind the camera
    changed = np.abs(img.astype(int) - empty.astype(int)).sum(axis=2) > 30
    # the figure covers a plausible part of the frame, around the middle
    assert 0.03 < changed.mean() < 0.4
    ys, xs = np.nonzero(changed)
    assert 0.2 * size[0] < xs.mean() < 0.8 * size[0] and ys.max() - ys.min() > 0.5 * size[1]
    uv, _ = scene.project(pose)
    assert np.all((uv[:, 0] > 0) & (uv[:, 0] < size[0]) & (uv[:, 1] > 0) & (uv[:, 1] < size[1]))


def _nearest_neighbour_accuracy(features, labels, subjects, test_subjects):
    test = np.isin(subjects, test_subjects)
    x = features.reshape(len(features), -1)
    mu, sd = x[~test].mean(0), x[~test].std(0) + 1e-6
    x = (x - mu) / sd
    d = ((x[test][:, None] - x[~test][None]) ** 2).sum(-1)
    return float((labels[~test][d.argmin(1)] == labels[test]).mean())


def test_classes_are_distinct_to_the_imu_and_the_camera_across_subjects():
    """Even a 1-nearest-neighbour on raw signals tells the classes apart for unseen subjects
    (people differ widely, so it learns from eight of them)."""
    imu, skel, labels, subjects = [], [], [], []
    for s in range(1, 11):
        for i, action in enumerate(ACTIONS):
            for rep in (1, 2):
                clip = record_clip(action, 11, s, rep, render=False)
                x = resample(clip.imu.values, 64)
                x[:, 3:] /= 100.0
                imu.append(x)
                j = clip.skeleton - clip.skeleton[:, 3:4]          # relative to hip_center
                skel.append(resample(j[:, :, :2], 16))             # what a 2D camera sees (x, y)
                labels.append(i)
                subjects.append(s)
    imu, skel, labels, subjects = map(np.array, (imu, skel, labels, subjects))
    assert _nearest_neighbour_accuracy(imu, labels, subjects, [9, 10]) >= 0.75
    assert _nearest_neighbour_accuracy(skel, labels, subjects, [9, 10]) >= 0.75
