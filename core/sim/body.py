"""A kinematic human figure: 20 joints in the Kinect v1 order, posed by named joint angles.

World frame: X to the figure's left (the camera's right), Y up, Z forward (the figure faces +Z,
towards the camera). Metres and degrees.

A pose is a dict of named degrees of freedom (`DOFS`), each an array over time. `forward_kinematics`
turns it into joint positions and segment orientations for every time at once. Each joint's
local rotation is built from its DOFs (see `_local_rotation`); a child joint sits at a fixed
offset in its parent's rotated frame; the feet are kept on the floor by placing the root so that
the lowest foot point touches Y = 0 and the ankles stay over their standing spot.

Arms at rest hang along -Y. Shoulder: `az` swings the arm outward (positive) or across the body
(negative), `el` raises it forward (90 = horizontal, 180 = overhead, 200 = up and behind),
`tw` rotates the upper arm about its own axis. Elbow and knee flex from straight (0).
Right-side DOFs start with `r_`, left with `l_`; the two sides mirror each other.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

JOINTS = (
    "head", "shoulder_center", "spine", "hip_center",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
)
J = {name: i for i, name in enumerate(JOINTS)}

PARENT = {
    "hip_center": None, "spine": "hip_center", "shoulder_center": "spine", "head": "shoulder_center",
    "left_shoulder": "shoulder_center", "left_elbow": "left_shoulder", "left_wrist": "left_elbow",
    "left_hand": "left_wrist", "right_shoulder": "shoulder_center", "right_elbow": "right_shoulder",
    "right_wrist": "right_elbow", "right_hand": "right_wrist", "left_hip": "hip_center",
    "left_knee": "left_hip", "left_ankle": "left_knee", "left_foot": "left_ankle",
    "right_hip": "hip_center", "right_knee": "right_hip", "right_ankle": "right_knee",
    "right_foot": "right_ankle",
}


def _parents_first() -> tuple[str, ...]:
    """JOINTS reordered so that every joint comes after its parent (forward kinematics' order)."""
    order: list[str] = []

    def visit(joint: str) -> None:
        if joint not in order:
            if PARENT[joint] is not None:
                visit(PARENT[joint])
            order.append(joint)

    for joint in JOINTS:
        visit(joint)
    return tuple(order)


ORDER = _parents_first()

_SIDE_DOFS = ("sh_el", "sh_az", "sh_tw", "elbow", "wrist_flex", "wrist_dev",
              "hip_flex", "hip_abd", "knee", "ankle")
DOFS = (
    "root_x", "root_z", "bounce",              # metres: sway of the pelvis, extra height
    "root_yaw", "root_pitch", "root_roll",
    "spine_flex", "spine_twist", "spine_side", "neck_flex", "neck_yaw",
) + tuple(f"{s}_{d}" for s in "rl" for d in _SIDE_DOFS)

# Where a wearable sits: (joint giving its position, joint whose frame it rides on, sensor axes).
# The axes matrix has the sensor's x, y, z axes as columns, written in the segment's frame.
# On a limb segment (which points along its local -Y) the sensor x points along the limb, away
# from the body, so a hanging wrist reads about -1 g on x, as UTD-MHAD's wrist sensor does.
_LIMB_AXES = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
_TRUNK_AXES = np.eye(3)
SEGMENTS = {
    "right_wrist": ("right_wrist", "right_elbow", _LIMB_AXES),
    "left_wrist": ("left_wrist", "left_elbow", _LIMB_AXES),
    "right_upper_arm": ("right_elbow", "right_shoulder", _LIMB_AXES),
    "left_upper_arm": ("left_elbow", "left_shoulder", _LIMB_AXES),
    "right_thigh": ("right_knee", "right_hip", _LIMB_AXES),
    "left_thigh": ("left_knee", "left_hip", _LIMB_AXES),
    "right_ankle": ("right_ankle", "right_knee", _LIMB_AXES),
    "left_ankle": ("left_ankle", "left_knee", _LIMB_AXES),
    "pelvis": ("hip_center", "hip_center", _TRUNK_AXES),
    "chest": ("shoulder_center", "spine", _TRUNK_AXES),
    "head": ("head", "head", _TRUNK_AXES),
}


# -- rotations over time ---------------------------------------------------------------
def _rotation(deg: np.ndarray, axis: int) -> np.ndarray:
    """Rotation matrices (..., 3, 3) by `deg` degrees (any shape) about axis 0, 1 or 2 (x, y, z),
    right-handed."""
    a = np.radians(np.asarray(deg, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]   # the plane the rotation turns, in right-handed order
    R = np.zeros(a.shape + (3, 3))
    R[..., axis, axis] = 1.0
    R[..., i, i], R[..., i, j], R[..., j, i], R[..., j, j] = c, -s, s, c
    return R


def rot_x(deg: np.ndarray) -> np.ndarray:
    """Rotation about x (pitch of a body segment), degrees -> (..., 3, 3)."""
    return _rotation(deg, 0)


def rot_y(deg: np.ndarray) -> np.ndarray:
    """Rotation about y (the vertical axis: yaw), degrees -> (..., 3, 3)."""
    return _rotation(deg, 1)


def rot_z(deg: np.ndarray) -> np.ndarray:
    """Rotation about z (roll), degrees -> (..., 3, 3)."""
    return _rotation(deg, 2)


# -- subjects --------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """One simulated person: proportions, build, clothes, rest posture and movement style.

    `sample(seed, index)` draws them (per person; the ranges are tabled in c3t.core.sim):
    height 1.50..1.95 m, each segment its share of the height +-7 % (head +-4 %, shoulders and
    hips +-9 %), limb and torso thickness (`build`) x0.75..1.35, skin from five tones +-10 %,
    hair dark, brown, blond or grey, a shirt and trousers that contrast, long or short sleeves,
    sometimes shorts, facing the camera's mark turned by `rest["root_yaw"]` -20..+20 deg,
    tempo x0.78..1.28, amplitude x0.8..1.2 and idle fidgeting x0.4..1.8.
    """

    index: int
    height: float                       # metres
    lengths: dict = field(compare=False)          # segment lengths, metres
    build: float = 1.0                  # limb and torso thickness factor (rendering)
    colors: dict = field(default_factory=dict, compare=False)   # BGR: skin, hair, shirt, sleeve, pants, shin, shoes
    rest: dict = field(default_factory=dict, compare=False)     # rest posture, DOF -> value (root_yaw: facing, deg)
    spot: tuple = (0.0, 0.0)            # where they stand (X, Z), metres from the room's mark
    tempo: float = 1.0                  # habitual speed (actions last base / tempo)
    amplitude: float = 1.0              # habitual size of movements
    idle: float = 1.0                   # how much the person fidgets at rest

    @classmethod
    def sample(cls, seed: int, index: int) -> "Subject":
        """Subject `index` of the world seeded `seed` (the same pair always gives the same person)."""
        rng = np.random.default_rng([int(seed), int(index), 0x5B])
        h = float(rng.uniform(1.50, 1.95))

        def part(frac: float, spread: float = 0.07) -> float:
            """A segment length in metres: `frac` of the height, varied by +-`spread`."""
            return float(h * frac * rng.uniform(1 - spread, 1 + spread))

        lengths = {
            "spine": part(0.035), "torso": part(0.205), "neck_head": part(0.105, 0.05),
            "head_r": part(0.060, 0.04), "shoulder_half": part(0.100, 0.09), "shoulder_drop": part(0.02),
            "upper_arm": part(0.175), "forearm": part(0.150), "hand": part(0.055),
            "hip_half": part(0.050, 0.09), "hip_drop": part(0.045), "thigh": part(0.235),
            "shin": part(0.235), "ankle_h": part(0.035), "foot": part(0.085),
        }
        skin_tones = [(180, 200, 230), (140, 170, 210), (100, 135, 180), (70, 100, 140), (50, 70, 100)]
        skin = np.array(skin_tones[rng.integers(len(skin_tones))], float) * rng.uniform(0.9, 1.1)
        hair_tones = [(20, 20, 25), (25, 40, 65), (60, 120, 170), (150, 150, 155)]   # BGR: dark, brown, blond, grey
        hair = np.array(hair_tones[rng.choice(4, p=[0.5, 0.3, 0.12, 0.08])], float) * rng.uniform(0.75, 1.25)

        def bgr(v) -> tuple:
            """0..255 BGR ints from any three numbers."""
            return tuple(int(x) for x in np.clip(v, 0, 255))

        def cloth() -> np.ndarray:
            """A random clothing colour, BGR 0..255: a quarter are neutral (black, grey, white)."""
            sat = rng.uniform(0.0, 0.12) if rng.random() < 0.25 else rng.uniform(0.25, 0.9)
            r, g, b = colorsys.hsv_to_rgb(rng.uniform(), sat, rng.uniform(0.12, 0.95))
            return 255 * np.array([b, g, r])

        def trousers() -> np.ndarray:
            """Trousers: usually jeans, black, grey, khaki or brown, else any cloth colour."""
            palette = [(120, 80, 45), (70, 45, 30), (30, 30, 30), (110, 110, 110), (120, 165, 190), (40, 60, 90)]
            if rng.random() < 0.6:
                return np.array(palette[rng.integers(len(palette))], float) * rng.uniform(0.75, 1.25)
            return cloth()

        shirt = cloth()
        pants = trousers()
        for _ in range(10):      # shirt and trousers must not merge into one blob
            if np.linalg.norm(shirt - pants) >= 70:
                break
            pants = trousers()
        else:                    # still alike: black or light grey, whichever stands out more
            pants = max((np.full(3, 30.0), np.full(3, 200.0)), key=lambda c: float(np.linalg.norm(shirt - c)))
        colors = {
            "skin": bgr(skin), "hair": bgr(hair), "shirt": bgr(shirt), "pants": bgr(pants),
            "shoes": bgr(rng.integers(15, 230, 3) if rng.random() < 0.3 else rng.integers(15, 110, 3)),
        }
        colors["sleeve"] = colors["shirt"] if rng.random() < 0.5 else colors["skin"]   # long / short sleeves
        colors["shin"] = colors["skin"] if rng.random() < 0.15 else colors["pants"]     # shorts / trousers
        rest = {
            "r_sh_az": rng.uniform(4, 14), "l_sh_az": rng.uniform(4, 14),
            "r_sh_el": rng.uniform(-4, 8), "l_sh_el": rng.uniform(-4, 8),
            "r_sh_tw": rng.uniform(-15, 15), "l_sh_tw": rng.uniform(-15, 15),
            "r_elbow": rng.uniform(5, 25), "l_elbow": rng.uniform(5, 25),
            "r_hip_abd": rng.uniform(2, 9), "l_hip_abd": rng.uniform(2, 9),
            "r_knee": rng.uniform(1, 6), "l_knee": rng.uniform(1, 6),
            "spine_flex": rng.uniform(-4, 7), "neck_flex": rng.uniform(-6, 10),
            "root_yaw": rng.uniform(-20, 20),
        }
        return cls(index=int(index), height=h, lengths=lengths, build=float(rng.uniform(0.75, 1.35)),
                   colors=colors, rest={k: float(v) for k, v in rest.items()},
                   spot=(float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.2, 0.2))),
                   tempo=float(rng.uniform(0.78, 1.28)), amplitude=float(rng.uniform(0.8, 1.2)),
                   idle=float(rng.uniform(0.4, 1.8)))

    def offsets(self) -> dict[str, np.ndarray]:
        """Each joint's offset from its parent, in the parent's frame (standing straight)."""
        L = self.lengths
        off = {
            "hip_center": (0.0, 0.0, 0.0),
            "spine": (0.0, L["spine"], 0.0),
            "shoulder_center": (0.0, L["torso"], 0.0),
            "head": (0.0, L["neck_head"], 0.01),
        }
        for side, s in (("left", 1.0), ("right", -1.0)):
            off.update({
                f"{side}_shoulder": (s * L["shoulder_half"], -L["shoulder_drop"], 0.0),
                f"{side}_elbow": (0.0, -L["upper_arm"], 0.0),
                f"{side}_wrist": (0.0, -L["forearm"], 0.0),
                f"{side}_hand": (0.0, -L["hand"], 0.0),
                f"{side}_hip": (s * L["hip_half"], -L["hip_drop"], 0.0),
                f"{side}_knee": (0.0, -L["thigh"], 0.0),
                f"{side}_ankle": (0.0, -L["shin"], 0.0),
                f"{side}_foot": (0.0, -L["ankle_h"], L["foot"]),
            })
        return {k: np.array(v) for k, v in off.items()}


def neutral(n: int) -> dict[str, np.ndarray]:
    """All DOFs zero: standing straight, arms hanging, facing the camera."""
    return {d: np.zeros(n) for d in DOFS}


# -- forward kinematics ----------------------------------------------------------------
@dataclass
class Pose:
    """The body over n time steps, from `forward_kinematics`: joint positions (n, 20, 3) in
    metres and frames (n, 20, 3, 3), both in the world frame and JOINTS order. `len()` is n."""

    positions: np.ndarray   # (n, 20, 3) metres, world frame, JOINTS order
    rotations: np.ndarray   # (n, 20, 3, 3) each joint's frame (the segment leaving it) in world

    def __len__(self) -> int:
        return len(self.positions)


def _local_rotation(joint: str, a: dict[str, np.ndarray], n: int) -> np.ndarray | None:
    """The joint's rotation relative to its parent's frame, built from its DOFs (None: fixed)."""
    if joint == "hip_center":
        return rot_y(a["root_yaw"]) @ rot_x(a["root_pitch"]) @ rot_z(a["root_roll"])
    if joint == "spine":
        return rot_y(a["spine_twist"]) @ rot_x(a["spine_flex"]) @ rot_z(a["spine_side"])
    if joint == "head":
        return rot_y(a["neck_yaw"]) @ rot_x(a["neck_flex"])
    side, _, part = joint.partition("_")
    if side not in ("left", "right"):
        return None
    s, p = (1.0, "l_") if side == "left" else (-1.0, "r_")
    if part == "shoulder":
        return rot_y(s * a[p + "sh_az"]) @ rot_x(-a[p + "sh_el"]) @ rot_y(s * a[p + "sh_tw"])
    if part == "elbow":
        return rot_x(-a[p + "elbow"])
    if part == "wrist":
        return rot_x(-a[p + "wrist_flex"]) @ rot_z(s * a[p + "wrist_dev"])
    if part == "hip":
        return rot_z(s * a[p + "hip_abd"]) @ rot_x(-a[p + "hip_flex"])
    if part == "knee":
        return rot_x(a[p + "knee"])
    if part == "ankle":
        return rot_x(-a[p + "ankle"])
    return None


def _lower_weight(a: np.ndarray, b: np.ndarray, tau: float) -> np.ndarray:
    """How much a is "the lower of a and b": 1 well below, 0.5 level, 0 well above (smooth)."""
    return 0.5 * (1.0 + np.tanh((b - a) / (2.0 * tau)))


def forward_kinematics(subject: Subject, angles: dict[str, np.ndarray],
                       anchor: tuple[float, float] = (0.0, 0.0)) -> Pose:
    """Joint positions and frames for every time step of `angles` (DOF -> (n,) array).

    Missing DOFs are zero. The figure stands on the floor (Y = 0) with its ankles centred on
    `anchor` (X, Z), shifted by the `root_x` / `root_z` sway; `bounce` lifts it (jumps, jogging).
    """
    n = len(next(iter(angles.values())))
    a = {d: np.broadcast_to(np.asarray(angles.get(d, 0.0), dtype=np.float64), (n,)) for d in DOFS}
    offsets = subject.offsets()
    pos = np.zeros((n, len(JOINTS), 3))
    rot = np.zeros((n, len(JOINTS), 3, 3))
    for joint in ORDER:
        i = J[joint]
        local = _local_rotation(joint, a, n)
        parent = PARENT[joint]
        if parent is None:
            pos[:, i] = 0.0
            rot[:, i] = local
            continue
        p = J[parent]
        pos[:, i] = pos[:, p] + rot[:, p] @ offsets[joint]
        rot[:, i] = rot[:, p] if local is None else rot[:, p] @ local
    # Stand on the floor. Each foot's lowest point (heel below the ankle, or toe) gives the foot's
    # height; the lower foot (smoothly weighted) touches Y = 0 and the body stays over the feet's
    # standing spots. Smooth, so the root (and the IMU's acceleration) has no steps when the
    # support changes; a landing still shows up as a short burst, as it does on a real wrist.
    low = []
    for side in ("left", "right"):
        heel = pos[:, J[f"{side}_ankle"], 1] - subject.lengths["ankle_h"]
        toe = pos[:, J[f"{side}_foot"], 1]
        w = _lower_weight(heel, toe, 0.01)
        low.append(w * heel + (1 - w) * toe)
    w_up = _lower_weight(low[0], low[1], 0.03)            # sharp: which foot carries the weight
    w_xz = _lower_weight(low[0], low[1], 0.08)[:, None]   # soft: where the body stays over
    lift = -(w_up * low[0] + (1 - w_up) * low[1]) + a["bounce"]
    # each foot's standing spot turns with the body, so turning on the spot keeps the pelvis in place
    yaw = np.radians(a["root_yaw"])
    half = subject.lengths["hip_half"] * np.stack([np.cos(yaw), np.zeros(n), -np.sin(yaw)], axis=1)
    centre = np.array([anchor[0], 0.0, anchor[1]])
    over = w_xz * (centre + half - pos[:, J["left_ankle"]]) + (1 - w_xz) * (centre - half - pos[:, J["right_ankle"]])
    shift = np.stack([over[:, 0] + a["root_x"], lift, over[:, 2] + a["root_z"]], axis=1)
    pos += shift[:, None, :]
    return Pose(positions=pos, rotations=rot)


def segment_motion(pose: Pose, segment: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions (n, 3), sensor frames (n, 3, 3)) of a wearable on `segment` (see SEGMENTS).

    Raises:
        C3tError: for a `segment` not in SEGMENTS
    """
    if segment not in SEGMENTS:
        from c3t.core.errors import C3tError

        raise C3tError(f"unknown body segment {segment!r} for the IMU; choose one of {sorted(SEGMENTS)}")
    at, frame, axes = SEGMENTS[segment]
    return pose.positions[:, J[at]], pose.rotations[:, J[frame]] @ axes
