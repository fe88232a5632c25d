"""Virtual IMU: what the wearable would have measured, computed from the skeleton.

A baseline that needs no IMU label: for each camera-labelled clip (D_HAR), the sensor's body
site (wrist or thigh; below: how it is found without labels) gives

    accelerometer  the site's specific force, d2p/dt2 + 1 g upwards [g], in the segment's frame
    gyroscope      the segment frame's angular velocity [deg/s], in the same frame

The segment frame: x along the segment (elbow -> wrist, hip -> knee), z normal to the plane of x
and a reference (the upper arm for the forearm, the hip axis for the thigh), y = z × x. How the
real sensor sits on the segment is unknown, so it is calibrated without labels on D_Align's
(camera, IMU) pairs: the signed axis permutation (one of the 24 rotations) whose virtual signals
correlate best with the real IMU, then per-channel mean and std matched to the real IMU's there.
Where the sensor sat is not told by any label either: each unlabelled D_Align pair goes to the
site whose calibrated virtual signal matches its IMU best, and a D_HAR clip takes the site of
its nearest D_Align clip in camera input (`sites_from_pairs`, site rule "pairs"). UTD-MHAD's
documented per-action sites (right wrist for actions 1-21, right thigh for 22-27), chosen from
the camera label, are privileged knowledge and remain only as a marked upper reference (site
rule "label"). The virtual IMU needs the skeleton: a model that uses it uses a second camera
modality besides its own, and its rows say so. An IMU classifier is trained on the calibrated
virtual signals of D_HAR with their camera labels (`c3t train --method supervised-imu
--imu-labels virtual`) and scored on the real IMU (virtual IMU from pose, as in IMUTube-style work).
"""
from __future__ import annotations

import itertools

import numpy as np

from c3t.core.errors import C3tError

SKELETON_HZ = 30.0          # UTD-MHAD's Kinect v1 frame rate
G = 9.81
# Kinect v1 / UTD-MHAD joint indices (c3t.core.sim.body.JOINTS)
R_SHOULDER, R_ELBOW, R_WRIST, L_HIP, R_HIP, R_KNEE = 8, 9, 10, 12, 16, 17
THIGH_ACTIONS = range(22, 28)   # UTD-MHAD actions with the sensor on the right thigh


def site_for(action: int) -> str:
    """UTD-MHAD's sensor site for 1-based `action`: "thigh" for 22-27, else "wrist"."""
    return "thigh" if action in THIGH_ACTIONS else "wrist"


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def segment_frames(joints: np.ndarray, site: str) -> tuple[np.ndarray, np.ndarray]:
    """The site's position (T, 3) [m] and segment frame (T, 3, 3) (columns: x, y, z in world
    coordinates) from joints (T, 20, 3) [m].

    Raises:
        C3tError: for a `site` other than wrist or thigh
    """
    if site == "wrist":
        pos, x = joints[:, R_WRIST], _unit(joints[:, R_WRIST] - joints[:, R_ELBOW])
        ref = joints[:, R_ELBOW] - joints[:, R_SHOULDER]
    elif site == "thigh":
        pos = 0.5 * (joints[:, R_HIP] + joints[:, R_KNEE])
        x, ref = _unit(joints[:, R_KNEE] - joints[:, R_HIP]), joints[:, L_HIP] - joints[:, R_HIP]
    else:
        raise C3tError(f"unknown sensor site {site!r}; expected wrist or thigh")
    z = np.cross(x, ref)
    weak = np.linalg.norm(z, axis=-1) < 1e-3 * np.maximum(np.linalg.norm(ref, axis=-1), 1e-6)
    z[weak] = np.cross(x[weak], [0.0, 1.0, 0.0])     # a straight limb: fall back to world up
    z = _unit(z)
    return pos, np.stack([x, np.cross(z, x), z], axis=-1)


def virtual_imu(joints: np.ndarray, site: str, hz: float = SKELETON_HZ) -> np.ndarray:
    """(T, 6) virtual accelerometer [g] and gyroscope [deg/s] in the segment frame (module
    docstring) from joints (T, 20, 3) [m] sampled at `hz`.

    Raises:
        C3tError: for fewer than 5 frames
    """
    from scipy.signal import savgol_filter

    joints = np.asarray(joints, dtype=np.float64)
    if len(joints) < 5:
        raise C3tError(f"a virtual IMU needs at least 5 skeleton frames, got {len(joints)}")
    window = min(9, len(joints) - (1 - len(joints) % 2))       # odd, <= T
    pos, R = segment_frames(joints, site)
    acc = savgol_filter(pos, window, 2, deriv=2, delta=1 / hz, axis=0)
    force = (acc + [0.0, G, 0.0]) / G                             # y is up in Kinect coordinates
    R = savgol_filter(R, window, 2, axis=0)
    dR = savgol_filter(R, window, 2, deriv=1, delta=1 / hz, axis=0)
    W = dR @ np.swapaxes(R, 1, 2)                                 # skew: angular velocity, world frame
    omega = 0.5 * np.stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]], axis=-1)
    to_segment = np.swapaxes(R, 1, 2)
    f_s = np.einsum("tij,tj->ti", to_segment, force)
    w_s = np.degrees(np.einsum("tij,tj->ti", to_segment, omega))
    return np.concatenate([f_s, w_s], axis=1).astype(np.float32)


def _rotations() -> list[np.ndarray]:
    """The 24 signed axis permutations with determinant +1."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            P = np.zeros((3, 3))
            P[range(3), perm] = signs
            if np.linalg.det(P) > 0:
                out.append(P)
    return out


def rotate(imu: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Apply the axis rotation P (3, 3) to both sensors of (..., 6) IMU inputs."""
    return np.concatenate([imu[..., :3] @ P.T, imu[..., 3:] @ P.T], axis=-1).astype(np.float32)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over clips and channels of the Pearson correlation over time of (N, steps, C) arrays."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a ** 2).sum(1) * (b ** 2).sum(1)) + 1e-9
    return float(((a * b).sum(1) / den).mean())


def calibrate(virtual: np.ndarray, real: np.ndarray) -> dict:
    """Fit the mounting from unlabelled pairs: virtual and real IMU inputs (N, steps, 6) of the
    same clips (D_Align). Returns {"rotation": (3, 3), "mean", "std": (6,) of the rotated virtual,
    "real_mean", "real_std": (6,), "correlation": float}.

    Raises:
        C3tError: when `virtual` and `real` are not the same number of clips, or there are none
    """
    if len(virtual) != len(real) or not len(real):
        raise C3tError(f"calibration needs paired clips; got {len(virtual)} virtual and {len(real)} real")
    scored = [(_corr(rotate(virtual, P), real), i, P) for i, P in enumerate(_rotations())]
    corr, _, P = max(scored, key=lambda s: (s[0], -s[1]))
    v = rotate(virtual, P)
    return {"rotation": P, "mean": v.mean((0, 1)), "std": v.std((0, 1)) + 1e-6,
            "real_mean": real.mean((0, 1)), "real_std": real.std((0, 1)) + 1e-6, "correlation": corr}


def apply_calibration(virtual: np.ndarray, cal: dict) -> np.ndarray:
    """Virtual IMU inputs (N, steps, 6) as the real sensor would show them (calibrate)."""
    v = rotate(virtual, cal["rotation"])
    return ((v - cal["mean"]) / cal["std"] * cal["real_std"] + cal["real_mean"]).astype(np.float32)


def virtual_inputs(data, idx: np.ndarray, sites: list[str], steps: int) -> np.ndarray:
    """Virtual IMU model inputs (len(idx), steps, 6) of clips `idx` of prepared UTD-MHAD-layout
    data, read from the skeleton files, at the given sensor sites.

    Raises:
        C3tError: when the data has no skeleton files (recorded sessions, or a layout without Skeleton/)
    """
    from pathlib import Path

    from c3t.core.model.preprocess import imu_input
    from c3t.training import utd_mhad

    root = Path(getattr(data, "root", "") or ".")
    if (getattr(data, "extra", None) or {}).get("roles") is not None or not (root / "Skeleton").is_dir():
        raise C3tError(f"a virtual IMU (--imu-labels virtual, --virtual-weight) is computed from the clips' skeleton files, "
                       f"and {root}/Skeleton/ is not there (UTD-MHAD layout): add it, or leave the option out")
    out = []
    for i, site in zip(idx, sites):
        joints = utd_mhad.load_skeleton(root / "Skeleton" / f"{data.keys[i]}_skeleton.mat")
        out.append(imu_input(virtual_imu(joints, site), steps))
    return np.stack(out).astype(np.float32) if out else np.zeros((0, steps, 6), np.float32)


def virtual_upper(data, split: dict, seed: int = 0, site_rule: str = "pairs") -> tuple:
    """The virtual-IMU training set: (UpperBound of D_HAR's calibrated virtual IMU + camera +
    camera labels, calibration summary) (virtual_har). Raises what virtual_har raises."""
    from c3t.training.splits import UpperBound

    imu, summary = virtual_har(data, split, site_rule)
    har = split["har"]
    return UpperBound(imu, data.visual[har], data.labels[har]), summary


def _clip_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per clip, the mean over channels of the Pearson correlation over time: (N,) from two
    (N, steps, C) arrays."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return ((a * b).sum(1) / (np.sqrt((a ** 2).sum(1) * (b ** 2).sum(1)) + 1e-9)).mean(1)


def sites_from_pairs(virtual: dict[str, np.ndarray], real: np.ndarray, rounds: int = 3) -> tuple[np.ndarray, dict]:
    """Which body site the sensor sat on, per unlabelled D_Align pair, with no label: each
    site's virtual IMU (N, steps, 6) is calibrated (mounting rotation) on the pairs currently
    given to it, and each pair goes to the site whose calibrated virtual signal correlates best
    with its real IMU (N, steps, 6); a few rounds of this (as k-means alternates). Returns
    (site index per pair (N,) into list(virtual), {site: calibration}).

    Raises:
        C3tError: no pairs, or arrays of different lengths.
    """
    names = list(virtual)
    if not len(real) or any(len(v) != len(real) for v in virtual.values()):
        raise C3tError(f"finding the sensor site needs paired clips; got {len(real)} real and "
                       f"{[len(v) for v in virtual.values()]} virtual")
    cals = {s: calibrate(virtual[s], real) for s in names}
    assigned = np.zeros(len(real), int)
    for _ in range(rounds):
        scores = np.stack([_clip_corr(rotate(virtual[s], cals[s]["rotation"]), real) for s in names], axis=1)
        assigned = scores.argmax(1)
        cals = {s: calibrate(virtual[s][assigned == k], real[assigned == k]) if (assigned == k).sum() >= 2 else cals[s]
                for k, s in enumerate(names)}
    return assigned, cals


def _nearest(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Index into `reference` (M, ...) of each `query` (N, ...) clip's nearest neighbour, by
    Euclidean distance of the flattened inputs standardised with the reference's statistics."""
    r = reference.reshape(len(reference), -1).astype(np.float64)
    q = query.reshape(len(query), -1).astype(np.float64)
    mu, sd = r.mean(0), r.std(0) + 1e-6
    r, q = (r - mu) / sd, (q - mu) / sd
    d = (q ** 2).sum(1)[:, None] - 2 * q @ r.T + (r ** 2).sum(1)[None, :]
    return d.argmin(1)


def virtual_har(data, split: dict, site_rule: str = "pairs") -> tuple[np.ndarray, dict]:
    """D_HAR's virtual IMU: (inputs (len(split["har"]), steps, 6) float32 in D_HAR's order,
    calibration summary).

    The sensor's body site per D_HAR clip, by `site_rule` (core/options.py VIRTUAL_SITES):
    "pairs" (the default, label-free): on D_Align's unlabelled pairs each clip's site is the one
    whose virtual signal matches its real IMU best (sites_from_pairs); a D_HAR clip, which has no
    IMU, takes the site of its nearest D_Align clip in camera input. "label": the site UTD-MHAD
    documents for the clip's camera label (site_for) — privileged knowledge of where the sensor
    sat per action, kept only as a marked upper reference. Mounting and scale are calibrated per
    site on D_Align's pairs, without labels.

    Raises:
        C3tError: a dataset without UTD-MHAD's classes or skeleton files, or an unknown rule.
    """
    from c3t.core.options import VIRTUAL_SITES
    from c3t.training.utd_mhad import UTD_CLASSES

    if site_rule not in VIRTUAL_SITES:
        raise C3tError(f"unknown virtual IMU site rule {site_rule!r}; expected one of {VIRTUAL_SITES}")
    if len(data.classes) != len(UTD_CLASSES):
        raise C3tError(f"the virtual IMU knows the sensor sites of UTD-MHAD's {len(UTD_CLASSES)} actions only; "
                       f"this dataset has {len(data.classes)} classes")
    steps, align, har = data.imu.shape[1], split["align"], split["har"]
    names = ["wrist", "thigh"]
    virtual_align = {s: virtual_inputs(data, align, [s] * len(align), steps) for s in names}
    assigned, cals = sites_from_pairs(virtual_align, data.imu[align])
    if site_rule == "pairs":
        sites = [names[k] for k in assigned[_nearest(data.visual[har], data.visual[align])]]
    else:
        sites = [site_for(int(data.labels[i]) + 1) for i in har]
    imu = np.zeros((len(har), steps, 6), np.float32)
    for s in names:
        mine = np.array([x == s for x in sites], bool)
        if mine.any():
            imu[mine] = apply_calibration(virtual_inputs(data, har[mine], [s] * int(mine.sum()), steps), cals[s])
    summary = {"site_rule": site_rule, "align_sites": {s: int((assigned == k).sum()) for k, s in enumerate(names)},
               "har_sites": {s: sites.count(s) for s in names},
               "rotation": {s: cals[s]["rotation"].astype(int).tolist() for s in names},
               "align_correlation": {s: round(cals[s]["correlation"], 4) for s in names}}
    return imu, summary
