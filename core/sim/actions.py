"""Ten action classes modelled on UTD-MHAD's, as smooth parametric joint-angle trajectories.

An `Action` maps normalised time u in [0, 1] to target angles for the DOFs it moves (see
body.DOFS). `Clip.angles` blends those targets with the performer's rest posture: the figure
leaves rest over the first part of the clip and returns to it over the last (minimum-jerk, so
the wrist's acceleration stays smooth), and any DOF the action does not name keeps the rest
posture and its idle motion.

Variation (`Variation.sample`): speed (duration = base / speed, speed in 0.65..1.45, the
subject's tempo times a per-repetition factor), amplitude (0.7..1.3 on every excursion),
timing jitter (a smooth monotone time warp), posture offsets of a few degrees on the joints
involved, and the number of cycles of periodic actions.

The classes are chosen to differ in what a right-wrist IMU and a 2D camera both see: the
direction of motion (swipe left vs right), rhythm (wave, clap, boxing, jogging), a single
ballistic movement (throw) or a held pose (arm cross), the arm's plane and the hand's path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from c3t.core.sim.body import Subject


def minjerk(x: np.ndarray) -> np.ndarray:
    """0 -> 1 over x in [0, 1], with zero velocity and acceleration at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x**3 * (10 - 15 * x + 6 * x**2)


def step(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """A minimum-jerk step from 0 (u <= a) to 1 (u >= b)."""
    return minjerk((u - a) / (b - a))


def pulse(x: np.ndarray) -> np.ndarray:
    """One smooth out-and-back pulse per unit: rises and falls within the first half, 0 after."""
    f = np.mod(x, 1.0)
    return np.where(f < 0.5, np.sin(2 * np.pi * f) ** 2, 0.0)


@dataclass(frozen=True)
class Variation:
    """How one repetition differs from the template."""

    speed: float = 1.0          # the clip lasts base_seconds / speed
    amplitude: float = 1.0      # scales every excursion
    warp: float = 0.0           # timing jitter: strength of a smooth monotone time warp (|w| < 1)
    warp_phase: float = 0.0
    cycles: float = 1.0         # periodic actions do (about) cycles x their usual count
    offsets: dict = field(default_factory=dict, compare=False)   # DOF -> degrees added to targets

    @classmethod
    def sample(cls, rng: np.random.Generator, subject: Subject | None = None) -> "Variation":
        """A random repetition drawn from `rng`: speed is the subject's tempo times 0.82..1.18
        (clipped to 0.65..1.45), amplitude the subject's times 0.9..1.1 (clipped to 0.7..1.3),
        warp in -0.3..0.3, cycles 0.85..1.15, and offsets of about 4 degrees (s.d.) on the arm
        and spine-twist DOFs."""
        tempo = subject.tempo if subject else 1.0
        amp = subject.amplitude if subject else 1.0
        offsets = {k: float(rng.normal(0, 4.0)) for k in
                   ("r_sh_el", "r_sh_az", "r_elbow", "l_sh_el", "l_sh_az", "l_elbow", "spine_twist")}
        return cls(speed=float(np.clip(tempo * rng.uniform(0.82, 1.18), 0.65, 1.45)),
                   amplitude=float(np.clip(amp * rng.uniform(0.9, 1.1), 0.7, 1.3)),
                   warp=float(rng.uniform(-0.3, 0.3)), warp_phase=float(rng.uniform(0, 2 * np.pi)),
                   cycles=float(rng.uniform(0.85, 1.15)), offsets=offsets)

    def time(self, u: np.ndarray) -> np.ndarray:
        """Warped normalised time: still 0 -> 1, monotone, locally faster or slower."""
        u = np.asarray(u, dtype=np.float64)
        # derivative 1 + warp * cos(...) > 0, and the sine terms cancel at u = 0 and u = 1
        return u + self.warp * (np.sin(2 * np.pi * u + self.warp_phase) - np.sin(self.warp_phase)) / (2 * np.pi)


Targets = dict[str, np.ndarray]


@dataclass(frozen=True)
class Action:
    """One action class: its class name and key, its duration in seconds at speed 1, its
    `targets` function (warped time u in [0, 1], Variation) -> DOF -> degrees, and the seconds
    spent leaving (and returning to) rest."""

    name: str                   # the class name written to classes.txt
    key: str                    # short identifier
    base_seconds: float         # duration at speed 1, including leaving and returning to rest
    targets: Callable[[np.ndarray, Variation], Targets]
    enter_seconds: float = 0.65  # time spent leaving rest (and returning to it) at speed 1

    @property
    def enter(self) -> float:
        """The fraction of the clip spent leaving rest (and again returning)."""
        return self.enter_seconds / self.base_seconds

    def duration(self, v: Variation) -> float:
        """The clip's length in seconds for variation `v`: base_seconds / speed."""
        return self.base_seconds / v.speed


def _both(name: str, value) -> Targets:
    """The same target for the right and the left side."""
    return {f"r_{name}": value, f"l_{name}": value}


# -- the ten templates (u: warped time in [0, 1]; v: the variation) ----------------------
# Each returns DOF -> degrees (arrays over u, or constants); see body.py for the angle conventions.
def _swipe(direction: float) -> Callable[[np.ndarray, Variation], Targets]:
    def targets(u, v):
        """Right arm sweeping across the body (shoulder azimuth), with a little spine twist."""
        a = v.amplitude
        start, end = (55 * a, -35 * a) if direction < 0 else (-35 * a, 55 * a)
        s = step(u, 0.3, 0.7)
        return {"r_sh_el": 85, "r_sh_az": start + (end - start) * s, "r_sh_tw": -10,
                "r_elbow": 20, "r_wrist_flex": -10 + 20 * s,
                "spine_twist": (-8 + 18 * s) * (1 if direction < 0 else -1)}
    return targets


def _wave(u, v):
    ph = 2 * np.pi * round(5 * v.cycles) * u
    return {"r_sh_el": 95, "r_sh_az": 70, "r_sh_tw": 0.0,
            "r_elbow": 70 + 22 * v.amplitude * np.sin(ph), "r_wrist_flex": 12 * np.sin(ph - 0.8),
            "neck_yaw": -5}


def _clap(u, v):
    ph = 2 * np.pi * round(4 * v.cycles) * u
    open_ = 0.5 * (1 - np.cos(ph))          # 0: hands together, 1: apart
    az = -22 + 48 * v.amplitude * open_
    return {**_both("sh_el", 75), **_both("sh_az", az), **_both("elbow", 25 + 10 * open_),
            **_both("sh_tw", -60)}


def _throw(u, v):
    a = v.amplitude
    go = step(u, 0.46, 0.72)
    return {"r_sh_el": 165 - (165 - 60) * go * a ** 0.3, "r_sh_az": 35 - 25 * go, "r_sh_tw": 0.0,
            "r_elbow": 110 - 95 * go, "r_wrist_flex": 30 - 60 * go,
            "l_sh_el": 45 - 30 * go, "l_elbow": 40,
            "spine_twist": (-22 + 40 * go) * a, "spine_flex": -8 + 22 * go}


def _arm_cross(u, v):
    hold = step(u, 0.25, 0.4) - step(u, 0.7, 0.82)
    tight = 1 + 0.08 * np.sin(2 * np.pi * 1.5 * u) * hold
    return {"r_sh_el": 35, "r_sh_az": -5, "r_sh_tw": -95 * v.amplitude ** 0.5,
            "r_elbow": 100 * tight, "l_sh_el": 40, "l_sh_az": -5,
            "l_sh_tw": -95 * v.amplitude ** 0.5, "l_elbow": 105 * tight}


def _circle(u, v):
    # clockwise as the performer sees it: out to their right, down, across to their left, up
    ph = 2 * np.pi * round(2 * v.cycles) * u
    a = 22 * v.amplitude
    return {"r_sh_el": 85 - a * np.sin(ph), "r_sh_az": 5 + a * np.cos(ph), "r_elbow": 15,
            "r_sh_tw": 0.0}


def _boxing(u, v):
    n = round(2 * v.cycles)
    pr, pl = pulse(n * u), pulse(n * u + 0.5)
    a = v.amplitude
    out = {}
    for side, p in (("r", pr), ("l", pl)):
        out.update({f"{side}_sh_el": 40 + 48 * p * a, f"{side}_sh_az": -8 - 6 * p, f"{side}_elbow": 115 - 108 * p,
                    f"{side}_sh_tw": 20 - 20 * p, f"{side}_wrist_flex": 0.0})
    out["spine_twist"] = 14 * (pr - pl) * a
    return out


def _jog(u, v):
    ph = 2 * np.pi * round(4 * v.cycles) * u
    a = v.amplitude
    out = {}
    for side, q in (("r", ph), ("l", ph + np.pi)):
        lift = (0.5 * (1 + np.sin(q))) ** 2          # swing phase; the other leg stands
        kick = (0.5 * (1 + np.sin(q + 0.4))) ** 2
        out.update({f"{side}_hip_flex": -3 + 55 * a * lift,
                    f"{side}_knee": 8 + 90 * a * kick,
                    f"{side}_ankle": -10,
                    # the arm swings against the leg on the same side
                    f"{side}_sh_el": 10 - 35 * a * np.sin(q), f"{side}_elbow": 95,
                    f"{side}_sh_az": 12})
    out["bounce"] = 0.015 * a * (1 + np.cos(2 * ph))
    out["spine_flex"] = 6.0
    return out


def _squat(u, v):
    d = (step(u, 0.2, 0.48) - step(u, 0.6, 0.88)) * v.amplitude
    return {**_both("hip_flex", 95 * d), **_both("knee", 115 * d), **_both("ankle", 20 * d),
            "spine_flex": 35 * d, **_both("sh_el", 88), **_both("sh_az", 8),
            **_both("elbow", 5), **_both("sh_tw", 0.0)}


ACTIONS: tuple[Action, ...] = (
    Action("right arm swipe to the left", "swipe_left", 2.5, _swipe(-1)),
    Action("right arm swipe to the right", "swipe_right", 2.5, _swipe(+1)),
    Action("right hand wave", "wave", 3.0, _wave),
    Action("two hand front clap", "clap", 2.6, _clap),
    Action("right arm throw", "throw", 3.1, _throw, enter_seconds=1.0),
    Action("cross arms in the chest", "arm_cross", 2.8, _arm_cross, enter_seconds=0.75),
    Action("right hand draw circle (clockwise)", "draw_circle", 3.0, _circle),
    Action("front boxing", "boxing", 2.8, _boxing),
    Action("jogging in place", "jog", 3.0, _jog, enter_seconds=0.5),
    Action("squat (two arms stretch out)", "squat", 3.2, _squat, enter_seconds=0.8),
)
BY_KEY = {a.key: a for a in ACTIONS}


def find(name: str) -> Action:
    """An action by key ("wave") or class name ("right hand wave").

    Raises:
        C3tError: for a name that is neither an action key nor a class name
    """
    for a in ACTIONS:
        if name in (a.key, a.name):
            return a
    from c3t.core.errors import C3tError

    raise C3tError(f"unknown action {name!r}; choose from {[a.key for a in ACTIONS]}")


@dataclass(frozen=True)
class Clip:
    """One performance of an action, starting at t0 (seconds on the performer's timeline)."""

    action: Action
    variation: Variation
    t0: float

    @property
    def duration(self) -> float:
        """The clip's length in seconds (see Action.duration)."""
        return self.action.duration(self.variation)

    @property
    def t1(self) -> float:
        """The clip's end, seconds on the performer's timeline."""
        return self.t0 + self.duration

    def angles(self, t: np.ndarray, rest: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Angles at times t (all inside the clip), blended with the rest posture `rest`."""
        u = (np.asarray(t, dtype=np.float64) - self.t0) / self.duration
        env = step(u, 0.0, self.action.enter) * (1.0 - step(u, 1.0 - self.action.enter, 1.0))
        targets = self.action.targets(self.variation.time(u), self.variation)
        out = dict(rest)
        for dof, target in targets.items():
            target = np.broadcast_to(target, u.shape) + self.variation.offsets.get(dof, 0.0)
            base = rest[dof]
            out[dof] = base + env * (target - base)
        return out
