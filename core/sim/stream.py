"""A scripted person performing actions with rests, seen by a camera and wearing an IMU.

`Performer` is one subject's timeline: a rest posture with idle motion (sway, breathing,
fidgeting arms), and action clips placed on it. It poses the figure at any time, which is all
the camera and the IMU need, and knows which action is being performed at every instant.

`SimWorld` drives a performer with an endless random script (every action once per round,
shuffled, with rests of a few seconds between), an `ImuDevice` on a body segment and a camera
`Scene`. `advance(t)` moves simulated time forward and returns the IMU samples and frames
taken meanwhile; the caller decides whether that runs in real time (the live source), faster,
or as fast as the CPU allows (tests, datasets).
"""
from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass, field

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.sim.actions import ACTIONS, Action, Clip, Variation, find
from c3t.core.sim.body import DOFS, Pose, Subject, forward_kinematics, segment_motion
from c3t.core.sim.imu import ImuConfig, ImuDevice, ImuSamples, Motion, Wearing
from c3t.core.sim.render import CameraConfig, Scene

# idle motion: DOF -> amplitude (degrees, or metres for root_x / root_z)
_IDLE = {
    "root_x": 0.012, "root_z": 0.008, "root_yaw": 1.5, "spine_flex": 1.2, "spine_side": 1.0,
    "spine_twist": 2.0, "neck_flex": 3.0, "neck_yaw": 5.0,
    "r_sh_el": 3.0, "l_sh_el": 3.0, "r_sh_az": 2.0, "l_sh_az": 2.0, "r_elbow": 4.0, "l_elbow": 4.0,
    "r_wrist_flex": 5.0, "l_wrist_flex": 5.0, "r_sh_tw": 4.0, "l_sh_tw": 4.0,
}


class Idle:
    """Slow, smooth fidgeting: three sines per DOF with random frequencies (0.05..0.5 Hz)."""

    def __init__(self, rng: np.random.Generator, scale: float = 1.0):
        self.terms = {}
        for dof, amp in _IDLE.items():
            self.terms[dof] = (scale * amp * rng.uniform(0.2, 1.0, 3) / 1.8, rng.uniform(0.05, 0.5, 3),
                               rng.uniform(0, 2 * np.pi, 3))
        self.breath = (rng.uniform(0.2, 0.33), rng.uniform(0, 2 * np.pi))

    def __call__(self, t: np.ndarray) -> dict[str, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)[:, None]
        out = {dof: (a * np.sin(2 * np.pi * f * t + p)).sum(axis=1) for dof, (a, f, p) in self.terms.items()}
        out["spine_flex"] = out["spine_flex"] + 0.6 * np.sin(2 * np.pi * self.breath[0] * t[:, 0] + self.breath[1])
        return out


class Performer:
    """One subject's timeline of rests and action clips; poses the figure at any time."""

    def __init__(self, subject: Subject, rng: np.random.Generator, anchor: tuple[float, float] | None = None,
                 rest_offsets: dict | None = None, idle: bool = True):
        self.subject = subject
        self.anchor = subject.spot if anchor is None else anchor
        self.rest = dict(subject.rest)
        for k, v in (rest_offsets or {}).items():
            self.rest[k] = self.rest.get(k, 0.0) + v
        self.idle = Idle(rng, subject.idle) if idle else None
        self.clips: list[Clip] = []
        self._starts: list[float] = []

    @property
    def end(self) -> float:
        """When the last clip ends (0 if none)."""
        return self.clips[-1].t1 if self.clips else 0.0

    def add(self, action: Action, variation: Variation, t0: float) -> Clip:
        """Append a clip starting at t0, which must be at or after the end of the previous one.

        Raises:
            ValueError: when the clip starts before the previous one ends
        """
        if t0 < self.end - 1e-9:
            raise ValueError(f"clip at {t0:.3f} s overlaps the previous one (ends {self.end:.3f} s)")
        clip = Clip(action, variation, float(t0))
        self.clips.append(clip)
        self._starts.append(clip.t0)
        return clip

    def angles(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Every DOF (body.DOFS) at times t (seconds): DOF -> (n,) array, in degrees except root_x,
        root_z and bounce (metres). The rest posture plus idle motion, replaced by the blended
        clip wherever one is being performed."""
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        n = len(t)
        rest = {d: np.full(n, self.rest.get(d, 0.0)) for d in DOFS}
        if self.idle is not None:
            for d, v in self.idle(t).items():
                rest[d] = rest[d] + v
        out = {d: v.copy() for d, v in rest.items()}
        if n == 0 or not self.clips:
            return out
        first = max(0, bisect.bisect_right(self._starts, float(t.min())) - 1)
        for clip in self.clips[first:]:
            if clip.t0 > t.max():
                break
            inside = (t >= clip.t0) & (t < clip.t1)
            if not inside.any():
                continue
            blended = clip.angles(t[inside], {d: v[inside] for d, v in rest.items()})
            for d, v in blended.items():
                out[d][inside] = v
        return out

    def pose(self, t: np.ndarray) -> Pose:
        """The body at times t (seconds): joint positions (n, 20, 3) in metres and frames,
        standing on the performer's anchor."""
        return forward_kinematics(self.subject, self.angles(t), self.anchor)

    def motion(self, segment: str) -> Motion:
        """The wearable's motion on `segment`, for the IMU."""
        segment_motion(self.pose(np.zeros(1)), segment)   # fail early on an unknown segment
        return lambda tt: segment_motion(self.pose(tt), segment)

    def clip_at(self, t: float) -> Clip | None:
        """The clip being performed at time t (seconds; start inclusive, end exclusive), or
        None at rest."""
        i = bisect.bisect_right(self._starts, float(t)) - 1
        if i >= 0 and self.clips[i].t0 <= t < self.clips[i].t1:
            return self.clips[i]
        return None

    def truth_at(self, t: float) -> str | None:
        """The class name of the action performed at time t, or None at rest."""
        clip = self.clip_at(t)
        return clip.action.name if clip else None


def room_rng(seed: int, room: int | None = None) -> np.random.Generator:
    """The room and camera placement of world `seed`: with `room` None the same for every clip of
    a `c3t synth` dataset and for the live simulated source with that seed (one lab, as in
    UTD-MHAD); with a room number, that room of the world (`c3t synth --rooms per-person`: each
    person at home)."""
    return np.random.default_rng([int(seed), 0x200] + ([] if room is None else [int(room)]))


@dataclass
class Frames:
    """Camera frames taken by the simulation: times (m,) in seconds and images (m, H, W, 3)
    uint8 BGR. `len()` is m."""

    t: np.ndarray         # (m,) seconds on the simulation's timeline
    images: np.ndarray    # (m, H, W, 3) uint8 BGR

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class WorldConfig:
    """A simulated world: the seed and subject number (which fix the room, the person and the
    script), the take, the IMU and camera settings, the actions to script (keys or class names;
    None: all ten), the rest between actions and before the first (seconds), and whether frames
    are drawn. `take` K > 0 is another recording session of the same person in the same room
    with the IMU worn the same way: its own script, pace, IMU noise and light (take 0 is the
    world as the seed and subject alone give it)."""

    seed: int = 0
    subject: int = 1
    take: int = 0
    imu: ImuConfig = field(default_factory=ImuConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    actions: tuple[str, ...] | None = None     # action keys or names; None: all ten
    rest_s: tuple[float, float] = (1.0, 3.0)   # rest between actions, uniform in this range
    first_rest_s: float = 1.5                  # rest before the first action
    render: bool = True                        # False: frames are not drawn (IMU only)


class SimWorld:
    """A scripted person, a wrist IMU and a camera, advanced in simulated time.

    Raises:
        C3tError: for a rest range that is not (min, max) with 0 <= min <= max, a script with no
            action, or a negative take
    """

    def __init__(self, config: WorldConfig | None = None):
        self.config = c = config or WorldConfig()
        if c.rest_s[0] < 0 or c.rest_s[1] < c.rest_s[0]:
            raise C3tError(f"rest range {c.rest_s} s is invalid; give (min, max) with 0 <= min <= max")
        self.actions = [find(a) for a in c.actions] if c.actions else list(ACTIONS)
        if not self.actions:
            raise C3tError("the simulated script needs at least one action")
        if c.take < 0:
            raise C3tError(f"take {c.take}: give 0 (the seed's own session) or a positive take number")
        seq = np.random.SeedSequence([int(c.seed), int(c.subject)])
        body_rng, imu_rng, wear_rng, scene_rng, self._script_rng = (np.random.default_rng(s) for s in seq.spawn(5))
        if c.take:   # the same body, room and mounting (wear_rng); the rest drawn anew for this take
            take_seq = np.random.SeedSequence([int(c.seed), int(c.subject), 0x7A4E, int(c.take)])
            body_rng, imu_rng, scene_rng, self._script_rng = (np.random.default_rng(s) for s in take_seq.spawn(4))
        self.subject = Subject.sample(c.seed, c.subject)
        self.performer = Performer(self.subject, body_rng)
        self.imu = ImuDevice(c.imu, Wearing.sample(c.imu, wear_rng), imu_rng)
        self._motion = self.performer.motion(c.imu.segment)
        self.scene = Scene(c.camera, room_rng(c.seed), take_rng=scene_rng) if c.render else None
        self.fps = float(c.camera.fps)
        self.t = 0.0                # simulated time reached by advance()
        self._next_frame = 0
        self._bag: list[Action] = []

    def _ensure_script(self, t: float) -> None:
        """Plan actions until past t (plus a margin for the IMU's finite differences)."""
        c = self.config
        while self.performer.end < t + 1.0:
            if not self._bag:
                self._bag = [self.actions[i] for i in self._script_rng.permutation(len(self.actions))]
            action = self._bag.pop()
            gap = c.first_rest_s if not self.performer.clips else self._script_rng.uniform(*c.rest_s)
            self.performer.add(action, Variation.sample(self._script_rng, self.subject), self.performer.end + gap)

    def advance(self, t_end: float) -> tuple[ImuSamples, Frames]:
        """Move simulated time to t_end; return the IMU samples and frames taken since last time.

        Raises:
            ValueError: when `t_end` is before the current simulated time
        """
        t_end = float(t_end)
        if t_end < self.t:
            raise ValueError(f"time runs forward: asked for {t_end} s after {self.t} s")
        self._ensure_script(t_end)
        samples = self.imu.read(self._motion, t_end)
        n_frames = int(np.ceil(t_end * self.fps - 1e-9))
        idx = np.arange(self._next_frame, n_frames)
        self._next_frame = max(self._next_frame, n_frames)
        self.t = t_end
        t_frames = idx / self.fps
        if self.scene is None or len(idx) == 0:   # nothing to draw (or drawing switched off)
            W, H = self.config.camera.width, self.config.camera.height
            return samples, Frames(np.zeros(0), np.zeros((0, H, W, 3), np.uint8))
        pose = self.performer.pose(t_frames)
        images = np.stack([self.scene.render(pose.positions[i], self.subject, t_frames[i]) for i in range(len(idx))])
        return samples, Frames(t_frames, images)

    def skip_frames(self, t_end: float) -> int:
        """Drop frames due before t_end without drawing them (a camera that fell behind); returns how many."""
        n_frames = int(np.ceil(float(t_end) * self.fps - 1e-9))
        skipped = max(0, n_frames - self._next_frame)
        self._next_frame = max(self._next_frame, n_frames)
        return skipped

    def truth_at(self, t: float) -> str | None:
        """The class name of the action performed at simulated time t (seconds), or None at
        rest; plans the script that far if needed."""
        self._ensure_script(t)
        return self.performer.truth_at(t)

    def segments(self, t0: float, t1: float) -> list[tuple[float, float, str]]:
        """(start, end, class name) of every action overlapping [t0, t1)."""
        self._ensure_script(t1)
        return [(c.t0, c.t1, c.action.name) for c in self.performer.clips if c.t1 > t0 and c.t0 < t1]


@dataclass
class RecordedClip:
    """One action recorded from rest to rest, as a dataset clip (both streams start at t = 0)."""

    action: Action
    duration: float          # seconds
    imu: ImuSamples          # samples from t = 0 to the end
    frames: Frames           # frames at 0, 1/fps, ... (no images when not rendered)
    skeleton: np.ndarray     # (T, 20, 3) joints at the frame times, Kinect v1 camera coordinates [m]


def record_clip(action: Action | str, seed: int, subject: int, rep: int,
                imu: ImuConfig | None = None, camera: CameraConfig | None = None,
                lead_s: tuple[float, float] = (0.3, 0.7), tail_s: tuple[float, float] = (0.2, 0.6),
                render: bool = True, skeleton_noise_m: float = 0.005, room: int | None = None) -> RecordedClip:
    """Subject `subject` performs `action` once (repetition `rep`): a short rest, the action, a rest.

    Deterministic in (seed, subject, action, rep). The room and the camera depend on the seed only
    (one lab, as in UTD-MHAD), or on (seed, `room`) when a room is given; the subject's body, style, standing spot and the way the IMU sits on
    them on (seed, subject); speed, amplitude, timing, start posture, idle motion, the light's
    strength and flicker, camera shake and sensor noise change with every repetition.
    """
    action = find(action) if isinstance(action, str) else action
    imu = imu or ImuConfig(rate_hz=50.0)
    camera = camera or CameraConfig(width=160, height=120)
    person = Subject.sample(seed, subject)
    wearing = Wearing.sample(imu, np.random.default_rng([int(seed), int(subject), 0x1A0]))
    key = [int(seed), int(subject), zlib.crc32(action.key.encode()), int(rep)]
    body_rng, var_rng, imu_rng, scene_rng, time_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(key).spawn(5))
    start = {k: float(v) for k, v in zip(("r_sh_az", "r_sh_el", "r_elbow", "spine_flex", "root_yaw"),
                                          body_rng.normal(0, [3.0, 3.0, 5.0, 1.5, 4.0]))}
    performer = Performer(person, body_rng, rest_offsets=start)
    lead, tail = time_rng.uniform(*lead_s), time_rng.uniform(*tail_s)
    clip = performer.add(action, Variation.sample(var_rng, person), lead)
    duration = clip.t1 + tail
    device = ImuDevice(imu, wearing, imu_rng)
    samples = device.read(performer.motion(imu.segment), duration)
    t_frames = np.arange(int(np.floor(duration * camera.fps))) / camera.fps
    pose = performer.pose(t_frames)
    scene = Scene(camera, room_rng(seed, room), take_rng=scene_rng)
    skeleton = scene.to_kinect(pose.positions)
    if skeleton_noise_m > 0:
        skeleton = skeleton + scene_rng.normal(0.0, skeleton_noise_m, skeleton.shape)
    if render:
        images = np.stack([scene.render(pose.positions[i], person, t) for i, t in enumerate(t_frames)])
    else:
        images = np.zeros((0, camera.height, camera.width, 3), np.uint8)
    return RecordedClip(action=action, duration=duration, imu=samples, frames=Frames(t_frames, images),
                        skeleton=skeleton)
