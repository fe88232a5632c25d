"""Load a dataset folder into fixed-shape arrays, caching the expensive camera part on disk.

`prepare(root, visual, backbone)` returns every paired sequence as model inputs: IMU
(N, imu_steps, 6) and the camera modality as one of three kinds of input:

    sequence  (N, steps, 63)          skeleton joints (skeleton encoder)
    frames    (N, frames, C, s, s)    depth / colour frames or motion flow (small CNN trained from scratch)
    features  (N, frames, D)          a frozen ImageNet backbone's per-frame features

Camera inputs are cached per source file, keyed by the file's content hash, the backbone
and the preprocessing parameters, in the user's cache folder (or `cache_dir`). An entry that
cannot be read or has the wrong shape is recomputed, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model import preprocess
from c3t.core.model.backbones import IMAGE_SIZE, load_backbone
from c3t.core.options import CAMERA_INPUTS
from c3t.core.streams.window import InputSpec, default_frame_size
from c3t.training import utd_mhad
from c3t.training.prepared import Prepared, default_cache_dir
from c3t.training.session_dataset import is_sessions_folder, prepare_sessions

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def _file_hash(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_load(path: Path, shape: tuple) -> np.ndarray | None:
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as exc:   # missing (the usual case) or damaged: computed again
        log.debug("cache %s not used: %s", path, exc)
        return None
    if x.shape != shape or not np.isfinite(x).all():
        log.info("cache %s not used: shape %s (expected %s) or non-finite values", path, x.shape, shape)
        return None
    return x


def _cache_store(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.save(f, x)
    os.replace(tmp, path)
    log.debug("cache %s written %s", path, x.shape)


def default_visual(root) -> str:
    """The dataset's camera input: defaults.SESSION_VISUAL for recorded sessions, else UTD-MHAD's rule."""
    from c3t.core.options import SESSION_VISUAL

    return SESSION_VISUAL if is_sessions_folder(root) else utd_mhad.default_visual(Path(root))


def prepare(root, visual: str | None = None, backbone: str = "small-cnn", cache_dir=None,
            progress: bool = True, spec: InputSpec | None = None) -> Prepared:
    """Every paired clip under `root` as a Prepared (arrays shaped as in the module
    docstring): imu (N, imu_steps, 6) float32, visual (N, ...) float32 of spec.visual_input,
    labels (N,) int64 from 0, subjects and trials (N,) int64, keys "aA_sS_tT".

    `root` is a UTD-MHAD layout (see utd_mhad.py) or a folder of `c3t record` sessions (then
    prepare_sessions does the work). `visual`: the camera modality (default: the folder's,
    utd_mhad.default_visual); `spec`: the input spec (default: built from `visual` and
    `backbone`, frames 48 px for rgb, 32 px for depth and motion). Camera inputs are cached under `cache_dir`
    (default: the user's cache folder); `progress` shows a tqdm bar.

    Raises:
        C3tError: for an unknown camera modality, motion through a frozen backbone (InputSpec.check) and
            for files utd_mhad cannot read (naming the file)
    """
    import torch
    from tqdm import tqdm

    root = Path(root)
    if is_sessions_folder(root):   # a folder of `c3t record` sessions
        return prepare_sessions(root, visual, backbone, cache_dir, progress, spec)
    visual = visual or utd_mhad.default_visual(root)
    if visual not in CAMERA_INPUTS:
        raise C3tError(f"unknown camera modality {visual!r}; expected one of {CAMERA_INPUTS}")
    spec = spec or InputSpec(visual=visual, backbone=backbone, frame_size=default_frame_size(visual))
    spec.check()
    source = spec.source
    classes, sequences = utd_mhad.scan(root, ("inertial", source))
    kind = spec.visual_input
    size = IMAGE_SIZE if kind == "features" else spec.frame_size
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    params = json.dumps({**spec.to_dict(), **preprocess.input_version(spec), "size": size, "v": CACHE_VERSION},
                        sort_keys=True)
    cache_sub = cache / f"{visual}-{spec.backbone}-{hashlib.sha1(params.encode()).hexdigest()[:12]}"
    net = load_backbone(spec.backbone) if kind == "features" else None
    if kind == "features":
        shape = (spec.frames, net.out_dim)
    elif kind == "frames":
        shape = (spec.frames, preprocess.frame_channels(visual), size, size)
    imu, vis = [], []
    bar = tqdm(sequences, desc=f"reading {root.name} ({visual}, {spec.backbone})", disable=not progress, unit="clip")
    for seq in bar:
        imu.append(preprocess.imu_input(utd_mhad.load(seq, "inertial"), spec.imu_steps))
        if kind == "sequence":
            vis.append(preprocess.skeleton_input(utd_mhad.load(seq, "skeleton"), spec.skeleton_steps))
            continue
        entry = cache_sub / f"{_file_hash(seq.files[source])}.npy"
        x = _cache_load(entry, shape)
        if x is None:
            x = preprocess.frames_input(utd_mhad.load(seq, source), spec, size)
            if net is not None:
                with torch.no_grad():
                    x = net(torch.from_numpy(preprocess.as_backbone_images(x))).numpy()
            x = x.astype(np.float32)
            _cache_store(entry, x)
        vis.append(x)
    return Prepared(
        classes=classes,
        keys=[s.key for s in sequences],
        labels=np.array([s.label for s in sequences], dtype=np.int64),
        subjects=np.array([s.subject for s in sequences], dtype=np.int64),
        trials=np.array([s.trial for s in sequences], dtype=np.int64),
        imu=np.stack(imu).astype(np.float32),
        visual=np.stack(vis).astype(np.float32),
        spec=spec,
        root=str(root),
    )
