"""Camera frames of the simulated figure, drawn with OpenCV.

A `Scene` is one camera placement in one room: where the camera stands (per scene: 2.3..4.5 m
from the room's mark, 0.8..1.6 m high, -20..+20 deg around the mark, aimed at the person's
middle, the lens widened where it stands close so the standing figure stays in view), a
cluttered background (wall, floor, furniture, posters; 0.4..1.6 x `clutter` objects), uneven
coloured lighting (gain 0.5..1.35, warm or cool cast), and per-frame camera shake, flicker and
sensor noise. The ranges are tabled in c3t.core.sim and scale with `CameraConfig.placement`
and `lighting`. `Scene.render` draws the figure's limbs as thick outlined strokes (shirt,
sleeves, skin, trousers or shorts, shoes), the torso as a polygon and the head as a disc, far
parts first, with a shadow on the floor and a dark watch on the right wrist.
Everything scales with the frame size, so any width x height works.

Camera frame: x right, y down, z forward (depth). `Scene.to_kinect` gives joint coordinates in
the Kinect v1 convention UTD-MHAD uses: x towards the person's right, y up, z depth, metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from c3t.core.errors import C3tError
from c3t.core.sim.body import J, Subject, rot_x, rot_y, rot_z


@dataclass
class CameraConfig:
    """The simulated camera: frame size (pixels), rate (fps), where it stands and aims
    (metres), vertical field of view (deg), and the scale of the per-scene and per-frame
    variation (placement, shake, clutter, lighting, sensor noise in grey levels).

    distance_m, height_m and fov_deg are the centre / the narrowest of the per-scene ranges:
    with placement p the camera stands distance_m + p x (-1.2..+1.0) m away, height_m +
    p x (-0.25..+0.55) m high, p x (-20..+20) deg around the mark, with fov_deg + p x (0..8) deg
    (more where it stands close); placement 0 fixes the camera at (0, height_m, distance_m)
    looking at aim_m with fov_deg. The room holds clutter x (1 + p x (-0.6..+0.6)) objects."""

    width: int = 320
    height: int = 240
    fps: float = 30.0
    distance_m: float = 3.5       # camera to the person's standing spot
    height_m: float = 1.05        # camera above the floor
    aim_m: float = 1.0            # the camera looks at this height above the person's spot
    fov_deg: float = 40.0         # vertical field of view
    placement: float = 1.0        # scale of the per-scene variation of the camera (position, aim, lens) and clutter count
    shake: float = 1.0            # scale of the per-frame camera jitter
    clutter: int = 14             # objects in the background (on average)
    lighting: float = 1.0         # scale of the lighting variation
    noise: float = 3.0            # sensor noise std, grey levels

    def check(self) -> None:
        """Check the settings.

        Raises:
            C3tError: for frames smaller than 32x24 or a rate outside 1..240 fps
        """
        if int(self.width) < 32 or int(self.height) < 24:
            raise C3tError(f"frame size {self.width}x{self.height} is too small; use at least 32x24")
        if not 1.0 <= float(self.fps) <= 240.0:
            raise C3tError(f"camera rate {self.fps} fps is outside 1..240")


# parts: (first joint, second joint, width in metres, colour key)
_LIMBS = [
    ("left_hip", "left_knee", 0.15, "pants"), ("left_knee", "left_ankle", 0.115, "shin"),
    ("left_ankle", "left_foot", 0.085, "shoes"),
    ("right_hip", "right_knee", 0.15, "pants"), ("right_knee", "right_ankle", 0.115, "shin"),
    ("right_ankle", "right_foot", 0.085, "shoes"),
    ("shoulder_center", "head", 0.085, "skin"),
    ("left_shoulder", "left_elbow", 0.095, "shirt"), ("left_elbow", "left_wrist", 0.075, "sleeve"),
    ("left_wrist", "left_hand", 0.075, "skin"),
    ("right_shoulder", "right_elbow", 0.095, "shirt"), ("right_elbow", "right_wrist", 0.075, "sleeve"),
    ("right_wrist", "right_hand", 0.075, "skin"),
]


def _smooth_noise(rng: np.random.Generator, n_axes: int, amp: float, f_lo: float, f_hi: float):
    """A smooth random signal (sum of three sines per axis), returned as a function of time."""
    freqs = rng.uniform(f_lo, f_hi, (n_axes, 3))
    phases = rng.uniform(0, 2 * np.pi, (n_axes, 3))
    amps = amp * rng.uniform(0.3, 1.0, (n_axes, 3)) / 1.8

    def at(t: float) -> np.ndarray:
        """The signal's value on each axis at time t (seconds): (n_axes,)."""
        return (amps * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)
    return at


class Scene:
    """One camera in one room; `render(positions, subject, t)` draws a frame.

    Attributes drawn per scene: `distance` (m, horizontal, camera to the room's mark),
    `azimuth_deg` (the camera's direction around the mark, + towards world +X: a person facing
    +Z looks `azimuth_deg` to the camera's left), `position` (3,) m, `fov_deg`, `clutter`.

    `rng` builds the room (background, light) and places the camera. `take_rng`, if given, varies
    what changes between recordings in the same room (the light's strength, flicker, the camera's
    shake, a slight knock to its aim, sensor noise); a dataset uses one room, like UTD-MHAD's lab.
    """

    def __init__(self, config: CameraConfig, rng: np.random.Generator, take_rng: np.random.Generator | None = None):
        config.check()
        self.config = c = config
        self.size = (int(c.width), int(c.height))
        W, H = self.size
        p = c.placement
        # where the camera stands: on a circle around the room's mark, at some height
        self.distance = float(c.distance_m + p * rng.uniform(-1.2, 1.0))        # metres, horizontal
        self.azimuth_deg = float(p * rng.uniform(-20.0, 20.0))                   # + : towards world +X
        height = float(c.height_m + p * rng.uniform(-0.25, 0.55))               # metres above the floor
        az = np.radians(self.azimuth_deg)
        self.position = np.array([self.distance * np.sin(az), height, self.distance * np.cos(az)])
        # a wider lens where the camera stands close: a 2.2 m tall view at the nearest standing spot
        fov = c.fov_deg
        if p > 0:
            near = max(self.distance - 0.3, 0.5)
            fov = max(c.fov_deg + p * rng.uniform(0.0, 8.0), 2 * np.degrees(np.arctan(1.1 / near)))
        self.fov_deg = float(min(fov, 120.0))
        self.focal = 0.5 * H / np.tan(np.radians(self.fov_deg) / 2)
        # look at the person's middle above the mark, then turn, tilt and roll a little
        forward = np.array([0.0, c.aim_m, 0.0]) - self.position
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        self._look = np.stack([right, np.cross(forward, right), forward])   # rows: camera x, y (down), z
        self.aim = np.array([rng.uniform(-5, 5), rng.uniform(-2, 2), rng.uniform(-3, 3)]) * p
        self.wall_distance = float(rng.uniform(1.2, 2.8))
        self.margin = int(np.ceil(0.05 * max(W, H))) + 2
        self.clutter = int(round(max(0, c.clutter) * (1 + p * rng.uniform(-0.6, 0.6))))
        self.background = self._make_background(rng)
        self.light = self._make_light(rng)
        take = take_rng if take_rng is not None else rng
        self.aim = self.aim + take.normal(0.0, 0.5, 3) * p
        self.light = self.light * float(1 + c.lighting * take.uniform(-0.15, 0.15))
        self.ambient = float(take.uniform(0, 30) * c.lighting)
        self._shake_rot = _smooth_noise(take, 3, 0.35 * c.shake, 0.3, 4.0)     # degrees
        self._shake_pos = _smooth_noise(take, 3, 0.006 * c.shake, 0.2, 2.0)    # metres
        self._flicker = _smooth_noise(take, 1, 0.04 * c.lighting, 0.1, 3.0)
        self.noise_bank = [take.normal(0.0, c.noise, (H, W, 3)).astype(np.float32) for _ in range(4)] if c.noise > 0 else None

    # -- geometry ----------------------------------------------------------------------
    def _rotation(self, t: float | None) -> np.ndarray:
        yaw, pitch, roll = self.aim + (self._shake_rot(t) if t is not None else 0.0)
        return rot_z(roll) @ rot_x(pitch) @ rot_y(yaw) @ self._look

    def _centre(self, t: float | None) -> np.ndarray:
        return self.position + (self._shake_pos(t) if t is not None else 0.0)

    def to_camera(self, points: np.ndarray, t: float | None = None) -> np.ndarray:
        """World points (..., 3) in camera coordinates (x right, y down, z depth); t=None: no shake."""
        return (np.asarray(points) - self._centre(t)) @ self._rotation(t).T

    def to_kinect(self, points: np.ndarray) -> np.ndarray:
        """World points in Kinect v1 skeleton coordinates (x: person's right, y up, z depth)."""
        c = self.to_camera(points)
        return np.stack([-c[..., 0], -c[..., 1], c[..., 2]], axis=-1)

    def facing_deg(self, positions: np.ndarray) -> np.ndarray:
        """How far the person with joints `positions` (..., 20, 3) (world, metres) is turned
        away from facing the camera, from the line through the hips: degrees (...,), 0 facing
        the camera, positive turned towards the camera's right (the person's left)."""
        c = self.to_camera(positions)
        hips = c[..., J["left_hip"], :] - c[..., J["right_hip"], :]
        return np.degrees(np.arctan2(hips[..., 2], hips[..., 0]))

    def project(self, points: np.ndarray, t: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (..., 2) and depths (...,) of world points."""
        c = self.to_camera(points, t)
        z = np.maximum(c[..., 2], 0.05)
        W, H = self.size
        uv = np.stack([self.focal * c[..., 0] / z + W / 2, self.focal * c[..., 1] / z + H / 2], axis=-1)
        return uv, z

    # -- the room ----------------------------------------------------------------------
    def _make_background(self, rng: np.random.Generator) -> np.ndarray:
        W, H = self.size
        m = self.margin
        bw, bh = W + 2 * m, H + 2 * m
        # where the floor meets the wall, through the unshaken camera
        (_, v_floor), _ = self.project(np.array([0.0, 0.0, -self.wall_distance]))
        v_floor = int(np.clip(v_floor + m, 0.2 * bh, 0.95 * bh))
        wall = rng.uniform(45, 235) * (1 + rng.uniform(-0.3, 0.3, 3))    # BGR, a tinted grey
        floor = rng.uniform(30, 190) * (1 + rng.uniform(-0.35, 0.35, 3))
        img = np.empty((bh, bw, 3), np.float32)
        ramp = np.linspace(-1, 1, bh)[:, None, None]
        img[:] = wall * (1 + 0.12 * ramp * rng.uniform(-1, 1))
        img[v_floor:] = floor * (1 + 0.15 * np.linspace(0, 1, bh - v_floor)[:, None, None])
        img = np.clip(img, 0, 255).astype(np.uint8)
        s = H / 240.0
        for _ in range(int(rng.integers(2, 5))):       # floor boards / tiles
            y = int(rng.uniform(v_floor + 3, bh))
            cv2.line(img, (0, y), (bw, y), tuple(float(v) for v in floor * 0.8), max(1, int(s)))
        for _ in range(self.clutter):
            colour = tuple(float(v) for v in rng.uniform(20, 240, 3))
            kind = rng.integers(0, 4)
            on_floor = rng.random() < 0.3
            x = int(rng.uniform(-0.1, 1.1) * bw)
            if kind == 0:     # furniture / poster / door
                w, h = int(rng.uniform(0.06, 0.3) * bw), int(rng.uniform(0.08, 0.4) * bh)
                y = v_floor - h + int(rng.uniform(0, 0.1) * bh) if on_floor else int(rng.uniform(0.02, 0.6) * bh)
                cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
                if rng.random() < 0.6:
                    inner = tuple(float(v) for v in rng.uniform(20, 240, 3))
                    k = max(2, int(0.15 * min(w, h)))
                    cv2.rectangle(img, (x + k, y + k), (x + w - k, y + h - k), inner, -1)
            elif kind == 1:   # clock, lamp, ball
                r = int(rng.uniform(0.02, 0.08) * bh) + 1
                cv2.circle(img, (x, int(rng.uniform(0.05, 0.9) * bh)), r, colour, -1, cv2.LINE_AA)
            elif kind == 2:   # shelf / cable / frame edge
                y = int(rng.uniform(0.05, 0.9) * bh)
                cv2.line(img, (x, y), (x + int(rng.uniform(-0.3, 0.3) * bw), y + int(rng.uniform(-0.1, 0.1) * bh)),
                         colour, max(1, int(rng.uniform(1, 4) * s)), cv2.LINE_AA)
            else:             # plant / irregular blob
                pts = np.array([[x + rng.uniform(-0.06, 0.06) * bw, v_floor - rng.uniform(0, 0.35) * bh]
                                for _ in range(6)], np.int32)
                cv2.fillConvexPoly(img, cv2.convexHull(pts), colour, cv2.LINE_AA)
        k = 2 * int(max(1, round(0.6 * s))) + 1
        return cv2.GaussianBlur(img, (k, k), 0)

    def _make_light(self, rng: np.random.Generator) -> np.ndarray:
        W, H = self.size
        L = self.config.lighting
        gain = 1 + L * rng.uniform(-0.5, 0.35)
        # colour temperature (warm: more red, less blue) plus a small tint per channel, BGR
        cast = 1 + L * (rng.uniform(-0.15, 0.15) * np.array([-1.0, 0.0, 1.0]) + rng.uniform(-0.06, 0.06, 3))
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        xx, yy = xx / W - 0.5, yy / H - 0.5
        grad = 1 + L * (rng.uniform(-0.5, 0.5) * xx + rng.uniform(-0.35, 0.35) * yy)
        vignette = 1 - L * rng.uniform(0.0, 0.45) * (xx**2 + yy**2) * 2
        return (gain * grad * vignette)[..., None].astype(np.float32) * cast.astype(np.float32)

    # -- drawing -----------------------------------------------------------------------
    def render(self, positions: np.ndarray, subject: Subject, t: float = 0.0) -> np.ndarray:
        """One BGR uint8 frame (H, W, 3) of the figure with joints `positions` (20, 3) at time t."""
        W, H = self.size
        m = self.margin
        # camera shake moves the room too: follow a far point on the optical axis
        far = self.position + self._look[2] * (self.distance + self.wall_distance)
        du = self.project(far, t)[0] - self.project(far, None)[0]
        ox, oy = int(np.clip(m - round(du[0]), 0, 2 * m)), int(np.clip(m - round(du[1]), 0, 2 * m))
        img = self.background[oy:oy + H, ox:ox + W].copy()

        uv, z = self.project(positions, t)
        f = self.focal
        shift = 4
        scale = float(1 << shift)

        def pt(p):
            """An image point as integer pixels with `shift` fractional bits, for OpenCV's
            sub-pixel drawing."""
            return (int(round(p[0] * scale)), int(round(p[1] * scale)))

        # shadow on the floor under the pelvis
        ground = np.array([positions[J["hip_center"], 0], 0.0, positions[J["hip_center"], 2]])
        (gu, gv), gz = self.project(ground, t)
        ax = (max(1, int(0.32 * f / gz)), max(1, int(0.07 * f / gz)))
        x0, y0 = int(gu) - ax[0] - 2, int(gv) - ax[1] - 2
        x1, y1 = int(gu) + ax[0] + 3, int(gv) + ax[1] + 3
        x0c, y0c, x1c, y1c = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        if x1c > x0c and y1c > y0c:
            roi = img[y0c:y1c, x0c:x1c]
            mask = np.zeros(roi.shape[:2], np.uint8)
            cv2.ellipse(mask, (int(gu) - x0c, int(gv) - y0c), ax, 0, 0, 360, 255, -1, cv2.LINE_AA)
            roi[:] = (roi * (1 - 0.45 * mask[..., None] / 255.0)).astype(np.uint8)

        colours = dict(subject.colors)
        colours.setdefault("sleeve", colours.get("skin"))
        colours.setdefault("shin", colours.get("pants"))
        b = subject.build
        parts = []   # (depth, kind, payload)
        for a, c2, width, key in _LIMBS:
            ia, ib = J[a], J[c2]
            parts.append(((z[ia] + z[ib]) / 2, "limb", (ia, ib, width * b, key)))
        # torso: shoulders and hips, widened, slightly behind the arms hanging beside it
        sc, hc = positions[J["shoulder_center"]], positions[J["hip_center"]]
        corners = []
        for name, centre, k in (("left_shoulder", sc, 1.25), ("right_shoulder", sc, 1.25),
                                ("right_hip", hc, 1.9), ("left_hip", hc, 1.9)):
            p = positions[J[name]]
            corners.append(centre + (p - centre) * k * b)
        corners[2] = corners[2] + (corners[2] - corners[1]) * 0.12
        corners[3] = corners[3] + (corners[3] - corners[0]) * 0.12
        tuv, tz = self.project(np.array(corners), t)
        parts.append((float(tz.mean()) + 0.07, "torso", tuv))
        parts.append((float(z[J["head"]]) - 0.02, "head", None))
        parts.sort(key=lambda item: -item[0])

        ref = float(tz.mean())
        for depth, kind, payload in parts:
            shade = float(np.clip(1 + 0.35 * (ref - depth), 0.8, 1.2))
            if kind == "limb":
                ia, ib, width, key = payload
                col = tuple(float(v) * shade for v in colours[key])
                w = max(1, int(round(width * f / z[ia])))
                dark = tuple(v * 0.55 for v in col)
                cv2.line(img, pt(uv[ia]), pt(uv[ib]), dark, w + 2, cv2.LINE_AA, shift)
                cv2.line(img, pt(uv[ia]), pt(uv[ib]), col, w, cv2.LINE_AA, shift)
                if J["right_wrist"] == ib:   # the watch carrying the IMU
                    p = uv[ib] * 0.85 + uv[ia] * 0.15
                    cv2.circle(img, pt(p), max(1, int(round(0.035 * f / z[ib]))), (25, 25, 25), -1, cv2.LINE_AA, shift)
            elif kind == "torso":
                poly = np.round(payload * scale).astype(np.int32)
                col = tuple(float(v) * shade for v in colours["shirt"])
                cv2.fillPoly(img, [poly], col, cv2.LINE_AA, shift)
                cv2.polylines(img, [poly], True, tuple(v * 0.55 for v in col), 1, cv2.LINE_AA, shift)
            else:
                ih = J["head"]
                r = subject.lengths["head_r"] * f / z[ih]
                centre = uv[ih]
                cv2.circle(img, pt(centre - (0, 0.25 * r)), int(round(1.08 * r * scale)), colours["hair"], -1, cv2.LINE_AA, shift)
                cv2.circle(img, pt(centre + (0, 0.08 * r)), int(round(0.92 * r * scale)), colours["skin"], -1, cv2.LINE_AA, shift)

        out = img.astype(np.float32)
        out *= self.light * float(1 + self._flicker(t)[0])
        out += self.ambient
        if self.noise_bank is not None:
            out += self.noise_bank[int(t * 997) % len(self.noise_bank)]
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)
