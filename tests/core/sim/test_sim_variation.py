"""The simulated world varies people and sessions as widely as the ranges in c3t.core.sim say."""
import numpy as np
import pytest

from c3t.core.sim.actions import Variation, find
from c3t.core.sim.body import Subject, forward_kinematics, segment_motion
from c3t.core.sim.imu import ideal_imu
from c3t.core.sim.render import CameraConfig, Scene
from c3t.core.sim.stream import Performer, SimWorld, WorldConfig, room_rng


def _standing(subject):
    """The subject's rest posture (no idle motion): joints (20, 3), world metres."""
    angles = {d: np.array([v]) for d, v in subject.rest.items()}
    return forward_kinematics(subject, angles, subject.spot).positions[0]


def test_people_differ_and_each_is_reproducible():
    people = [Subject.sample(3, i) for i in range(1, 21)]
    a, b = people[0], people[1]
    assert a.height != b.height and a.tempo != b.tempo and a.colors["shirt"] != b.colors["shirt"]
    again = Subject.sample(3, 1)
    assert again == a and again.lengths == a.lengths and again.colors == a.colors and again.rest == a.rest
    heights = [p.height for p in people]
    tempos = [p.tempo for p in people]
    builds = [p.build for p in people]
    assert 1.50 <= min(heights) and max(heights) <= 1.95 and max(heights) - min(heights) > 0.25
    assert 0.78 <= min(tempos) and max(tempos) <= 1.28 and max(tempos) - min(tempos) > 0.3
    assert 0.75 <= min(builds) and max(builds) <= 1.35 and max(builds) - min(builds) > 0.35
    for p in people:   # shirt and trousers stay apart, and every colour is a BGR triple
        assert np.linalg.norm(np.subtract(p.colors["shirt"], p.colors["pants"])) >= 69
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in p.colors.values())
    assert len({p.colors["sleeve"] == p.colors["skin"] for p in people}) == 2     # long and short sleeves


def test_scenes_span_the_documented_ranges_and_keep_the_figure_in_view():
    cfg = CameraConfig(width=160, height=120)
    distances, heights, facings = [], [], []
    for k in range(20):
        scene = Scene(cfg, room_rng(k), take_rng=np.random.default_rng([k, 7]))
        person = Subject.sample(k, 1)
        pose = _standing(person)
        distances.append(scene.distance)
        heights.append(scene.position[1])
        facings.append(float(scene.facing_deg(pose)))
        # the person's own turn and the camera's place around them add up
        assert facings[-1] == pytest.approx(person.rest["root_yaw"] - scene.azimuth_deg, abs=8.0)
        uv, depth = scene.project(pose)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < cfg.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cfg.height)
        assert inside.mean() >= 0.9 and np.all(depth > 1.0), k
    assert 2.3 - 1e-9 <= min(distances) < 2.8 and 4.0 < max(distances) <= 4.5 + 1e-9
    assert 0.8 - 1e-9 <= min(heights) < 1.05 and 1.35 < max(heights) <= 1.6 + 1e-9
    assert min(facings) < -20 and max(facings) > 20 and max(np.abs(facings)) <= 45


def test_placement_zero_fixes_the_camera():
    cfg = CameraConfig(width=64, height=48, placement=0.0)
    for k in range(3):
        scene = Scene(cfg, room_rng(k), take_rng=np.random.default_rng(k))
        np.testing.assert_allclose(scene.position, [0.0, cfg.height_m, cfg.distance_m])
        assert scene.fov_deg == cfg.fov_deg and scene.azimuth_deg == 0.0 and scene.clutter == cfg.clutter
        assert float(scene.facing_deg(_standing(Subject.sample(0, 1)))) == pytest.approx(
            Subject.sample(0, 1).rest["root_yaw"], abs=3.0)


def test_turning_the_person_only_rotates_the_wrist_imu_world():
    """Facing yaw rotates the body about the vertical: in the sensor frame nothing changes."""
    subject = Subject.sample(0, 4)
    p = Performer(subject, np.random.default_rng(0), idle=False)
    p.add(find("throw"), Variation(), 0.2)
    t = np.linspace(0.3, 2.5, 60)

    def motion(turn):
        def at(tt):
            angles = p.angles(tt)
            angles["root_yaw"] = angles["root_yaw"] + turn
            return segment_motion(forward_kinematics(subject, angles, subject.spot), "right_wrist")
        return at

    acc0, gyro0 = ideal_imu(motion(0.0), t)
    acc1, gyro1 = ideal_imu(motion(35.0), t)
    assert np.abs(acc0).max() > 0.5
    np.testing.assert_allclose(acc1, acc0, atol=1e-3)
    np.testing.assert_allclose(gyro1, gyro0, atol=0.05)


def test_same_seed_renders_identical_frames():
    def frames(seed):
        w = SimWorld(WorldConfig(seed=seed, subject=2, camera=CameraConfig(width=48, height=36)))
        return w.advance(1.0)[1].images
    a, b = frames(4), frames(4)
    assert a.shape == (30, 36, 48, 3) and a.tobytes() == b.tobytes()
    assert frames(5).tobytes() != a.tobytes()
