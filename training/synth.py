"""`c3t synth`: write a synthetic dataset in the UTD-MHAD official layout.

    DIR/classes.txt                      one class name per line (action A = line A)
    DIR/Inertial/aA_sS_tT_inertial.mat   'd_iner' (N, 6) float64: accel x, y, z [g], gyro x, y, z [deg/s]
    DIR/Skeleton/aA_sS_tT_skeleton.mat   'd_skel' (20, 3, T) float64: Kinect v1 joints [m]
    DIR/RGB/aA_sS_tT_color.avi           T rendered frames (MJPG)
    DIR/dataset.json                     how it was made (source, rates, frame size, counts, seed, classes)

Every clip is one subject performing one action from rest to rest (c3t.core.sim.stream.record_clip);
both streams start at the clip's start, as in UTD-MHAD, and the same reader (training.utd_mhad)
loads it. The output depends only on the settings and the seed. dataset.json is written last:
a folder without it is an interrupted run.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from c3t.core.errors import C3tError

log = logging.getLogger(__name__)

FOLDERS = ("Inertial", "Skeleton", "RGB")


ROOMS = ("one", "per-person")


@dataclass
class SynthConfig:
    """What `c3t synth` writes: `subjects` people doing each action `reps` times, the IMU
    at `imu_hz` Hz (50, as UTD-MHAD), colour video at `fps` frames per second and
    width x height pixels, in one room for everyone (`rooms` "one", a lab as in UTD-MHAD) or
    each person in their own room, light and camera placement ("per-person": users at home);
    `workers` processes share the work without changing the output."""

    subjects: int = 10
    reps: int = 4
    seed: int = 0
    imu_hz: float = 50.0            # UTD-MHAD's inertial rate
    fps: float = 30.0
    width: int = 160
    height: int = 120
    actions: list[str] = field(default_factory=list)   # action keys; empty: all ten
    rooms: str = "one"              # ROOMS: "one" lab, or "per-person"
    workers: int = 1                # processes; the output does not depend on it


def _clip_files(out: Path, a: int, s: int, t: int) -> dict[str, Path]:
    stem = f"a{a}_s{s}_t{t}"
    return {"Inertial": out / "Inertial" / f"{stem}_inertial.mat",
            "Skeleton": out / "Skeleton" / f"{stem}_skeleton.mat",
            "RGB": out / "RGB" / f"{stem}_color.avi"}


def write_clip(out: Path, config: SynthConfig, action_index: int, subject: int, rep: int) -> dict:
    """Simulate and write one clip; returns {"samples": N, "frames": T, "seconds": ...}.

    Raises:
        C3tError: when OpenCV cannot write MJPG video into the output folder
    """
    import cv2
    import numpy as np
    import scipy.io

    from c3t.core.sim.actions import find
    from c3t.core.sim.imu import ImuConfig
    from c3t.core.sim.render import CameraConfig
    from c3t.core.sim.stream import record_clip

    action = find(_action_keys(config)[action_index - 1])
    clip = record_clip(action, config.seed, subject, rep, imu=ImuConfig(rate_hz=config.imu_hz),
                       camera=CameraConfig(width=config.width, height=config.height, fps=config.fps),
                       room=subject if config.rooms == "per-person" else None)
    files = _clip_files(out, action_index, subject, rep)
    scipy.io.savemat(files["Inertial"], {"d_iner": clip.imu.values.astype(np.float64)}, do_compression=False)
    scipy.io.savemat(files["Skeleton"], {"d_skel": np.ascontiguousarray(clip.skeleton.transpose(1, 2, 0), np.float64)},
                     do_compression=False)
    tmp = files["RGB"].with_suffix(".part.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), config.fps, (config.width, config.height))
    if not writer.isOpened():
        raise C3tError(f"OpenCV cannot write MJPG video to {tmp}; check that the folder is writable")
    try:
        for frame in clip.frames.images:
            writer.write(frame)
    finally:
        writer.release()
    os.replace(tmp, files["RGB"])
    return {"samples": len(clip.imu), "frames": len(clip.frames), "seconds": clip.duration}


def _action_keys(config: SynthConfig) -> list[str]:
    from c3t.core.sim.actions import ACTIONS, find

    return [find(k).key for k in config.actions] if config.actions else [a.key for a in ACTIONS]


def is_synth_output(root) -> bool:
    """True when `root` holds a finished `c3t synth` dataset (its dataset.json says so)."""
    manifest = Path(root) / "dataset.json"
    return manifest.is_file() and json.loads(manifest.read_text() or "{}").get("source") == "c3t synth"


def _prepare_folder(out: Path) -> None:
    """Create `out`, or clear a previous `c3t synth` run there; refuse any other non-empty folder."""
    if out.exists() and not out.is_dir():
        raise C3tError(f"{out} is a file; give a folder for the dataset")
    if out.is_dir() and any(out.iterdir()):
        ours = set(FOLDERS) | {"classes.txt", "dataset.json"}
        foreign = [p.name for p in out.iterdir() if p.name not in ours]
        manifest = out / "dataset.json"
        made_by_us = is_synth_output(out)
        partial = not manifest.exists() and (out / "classes.txt").exists()
        if foreign or not (made_by_us or partial):
            raise C3tError(f"{out} is not empty and was not written by `c3t synth` "
                           f"(it holds {sorted(p.name for p in out.iterdir())[:5]}); choose an empty or new folder")
        manifest.unlink(missing_ok=True)
        for folder in FOLDERS:
            for p in (out / folder).glob("a*_s*_t*_*"):
                p.unlink()
    for folder in FOLDERS:
        (out / folder).mkdir(parents=True, exist_ok=True)


def _work(args):
    out, config, a, s, t = args
    return write_clip(out, config, a, s, t)


def write_dataset(out: str | Path, config: SynthConfig | None = None, progress: bool = True) -> dict:
    """Write the whole dataset; returns the manifest (also written to DIR/dataset.json).

    Raises:
        C3tError: for --subjects or --reps below 1, or --rooms not in ROOMS
    """
    from tqdm import tqdm

    from c3t.core.sim.actions import find
    from c3t.core.sim.imu import ImuConfig
    from c3t.core.sim.render import CameraConfig

    config = config or SynthConfig()
    if config.subjects < 1 or config.reps < 1:
        raise C3tError(f"--subjects {config.subjects} and --reps {config.reps} must both be at least 1")
    if config.rooms not in ROOMS:
        raise C3tError(f"--rooms {config.rooms!r}: expected one of {', '.join(ROOMS)}")
    ImuConfig(rate_hz=config.imu_hz).check()
    CameraConfig(width=config.width, height=config.height, fps=config.fps).check()
    keys = _action_keys(config)
    out = Path(out)
    _prepare_folder(out)
    names = [find(k).name for k in keys]
    (out / "classes.txt").write_text("".join(n + "\n" for n in names))
    jobs = [(out, config, a, s, t) for s in range(1, config.subjects + 1)
            for a in range(1, len(keys) + 1) for t in range(1, config.reps + 1)]
    start = time.perf_counter()
    bar = tqdm(total=len(jobs), disable=not progress, desc="synth", unit="clip")
    stats = []
    try:
        if config.workers > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(config.workers) as pool:
                for result in pool.imap(_work, jobs, chunksize=4):
                    stats.append(result)
                    bar.update(1)
        else:
            for job in jobs:
                stats.append(_work(job))
                bar.update(1)
    finally:
        bar.close()
    manifest = {
        "source": "c3t synth", "imu_hz": config.imu_hz, "fps": config.fps,
        "frame_size": [config.width, config.height], "subjects": config.subjects, "reps": config.reps,
        "seed": config.seed, "classes": names, "clips": len(jobs),
        "seconds": round(sum(s["seconds"] for s in stats), 2),
        "generation_seconds": round(time.perf_counter() - start, 2),
        "settings": {k: v for k, v in asdict(config).items() if k not in ("workers",)},
    }
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("synthetic dataset written to %s: %d clips", out, manifest["clips"])
    return manifest
