"""Reader for the UTD-MHAD official layout (and anything written in it, e.g. `c3t synth`).

    ROOT/Inertial/aA_sS_tT_inertial.mat   'd_iner'  (N, 6): accel x,y,z [g], gyro x,y,z [deg/s]
    ROOT/Skeleton/aA_sS_tT_skeleton.mat   'd_skel'  (20, 3, T): Kinect v1 joints [m]
    ROOT/Depth/aA_sS_tT_depth.mat         'd_depth' (240, 320, T) uint16 depth [mm]
    ROOT/RGB/aA_sS_tT_color.avi           colour video, T frames
    ROOT/classes.txt                      optional: class names, one per line (action A = line A)

The .mat files may be MATLAB v4-v7 (read with scipy) or v7.3 (HDF5, read with h5py), mixed in
one folder; both give the same arrays.

Every problem is a C3tError naming the file and what was expected.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.options import FLOW_SOURCES

log = logging.getLogger(__name__)

UTD_CLASSES = [
    "right arm swipe to the left", "right arm swipe to the right", "right hand wave",
    "two hand front clap", "right arm throw", "cross arms in the chest", "basketball shoot",
    "right hand draw x", "right hand draw circle (clockwise)",
    "right hand draw circle (counter clockwise)", "draw triangle", "bowling (right hand)",
    "front boxing", "baseball swing from right", "tennis right hand forehand swing",
    "arm curl (two arms)", "tennis serve", "two hand push", "right hand knock on door",
    "right hand catch an object", "right hand pick up and throw", "jogging in place",
    "walking in place", "sit to stand", "stand to sit", "forward lunge (left foot forward)",
    "squat (two arms stretch out)",
]

# modality -> (folder, file suffix, .mat key)
LAYOUT = {
    "inertial": ("Inertial", "inertial.mat", "d_iner"),
    "skeleton": ("Skeleton", "skeleton.mat", "d_skel"),
    "depth": ("Depth", "depth.mat", "d_depth"),
    "rgb": ("RGB", "color.avi", None),
}
VISUAL_MODALITIES = ("depth", "skeleton", "rgb")
_NAME = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(inertial|skeleton|depth|color)\.(mat|avi)$")


@dataclass(frozen=True)
class Sequence:
    """One clip aA_sS_tT of the UTD-MHAD layout: action (1-based), subject, trial, and its
    file per modality."""

    action: int  # 1-based, as in the file name
    subject: int
    trial: int
    files: dict = field(compare=False, hash=False)  # modality -> Path

    @property
    def key(self) -> str:
        """The clip's name as in its files, e.g. "a3_s1_t2"."""
        return f"a{self.action}_s{self.subject}_t{self.trial}"

    @property
    def label(self) -> int:
        """The 0-based class index: action - 1."""
        return self.action - 1


def class_names(root: Path) -> list[str]:
    """The class names: ROOT/classes.txt, one per line (action A = line A), or the 27 of
    UTD-MHAD when there is no such file.

    Raises:
        C3tError: for an empty classes.txt
    """
    path = Path(root) / "classes.txt"
    if path.exists():
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not names:
            raise C3tError(f"{path} is empty: it must list one class name per line")
        return names
    return list(UTD_CLASSES)


def default_visual(root: Path) -> str:
    """The dataset's camera input: depth for UTD-MHAD; for colour video without depth (RGB/, e.g.
    `c3t synth` output) SESSION_VISUAL, the motion of the colour video, which any colour-video
    dataset takes by default (docs/results.md, "camera input": on held-out training people and
    unseen people alike, colour frames through the frozen backbone scored far lower).

    Raises:
        C3tError: when `root` has no Depth/, RGB/ or Skeleton/ folder
    """
    from c3t.core.options import SESSION_VISUAL

    root = Path(root)
    for modality in ("depth", "rgb", "skeleton"):
        if (root / LAYOUT[modality][0]).is_dir():
            return SESSION_VISUAL if modality == "rgb" else modality
    raise C3tError(f"{root} has no camera folder (Depth/, RGB/ or Skeleton/): is it a UTD-MHAD layout?")


def scan(root: Path, modalities: tuple[str, ...]) -> tuple[list[str], list[Sequence]]:
    """List the sequences that have a file for every modality asked for, sorted by key.

    A sequence present in one modality's folder but missing from another's is an error
    naming the file, since training on half-paired data would silently shrink the splits.

    Raises:
        C3tError: when `root` or a modality's folder is missing or holds no a*_s*_t* files, for an
            unknown modality, a sequence without its partner in another modality, or an action outside
            the class list
    """
    root = Path(root)
    if not root.is_dir():
        raise C3tError(f"dataset folder {root} does not exist")
    names = class_names(root)
    found: dict[str, dict[tuple[int, int, int], Path]] = {}
    for modality in modalities:
        if modality not in LAYOUT:
            raise C3tError(f"unknown modality {modality!r}; expected one of {sorted(LAYOUT)}")
        folder, suffix, _ = LAYOUT[modality]
        directory = root / folder
        if not directory.is_dir():
            from c3t.training.synth import is_synth_output

            if is_synth_output(root):
                raise C3tError(f"{root} is `c3t synth` output, which has no {folder}/ ({modality}): its camera inputs are "
                               "--visual motion, rgb or skeleton")
            flow = "".join(f"; --visual {v} is computed from it" for v, source in FLOW_SOURCES.items() if source == modality)
            raise C3tError(f"{directory} is missing: a UTD-MHAD layout needs {folder}/ for {modality}{flow} "
                           "(give a UTD-MHAD folder, `c3t synth` output or a folder of `c3t record` sessions)")
        files = {}
        for path in directory.iterdir():
            m = _NAME.match(path.name)
            if m and path.name.endswith(suffix):
                a, s, t = int(m[1]), int(m[2]), int(m[3])
                if not 1 <= a <= len(names):
                    raise C3tError(f"{path}: action {a} is outside 1..{len(names)} (the class list)")
                files[(a, s, t)] = path
        if not files:
            raise C3tError(f"{directory} holds no files named like a1_s1_t1_{suffix}")
        found[modality] = files
    keys = set.union(*(set(f) for f in found.values()))
    sequences = []
    for key in sorted(keys):
        missing = [m for m in modalities if key not in found[m]]
        if missing:
            present = next(found[m][key] for m in modalities if key in found[m])
            folder, suffix, _ = LAYOUT[missing[0]]
            a, s, t = key
            raise C3tError(
                f"unpaired sequence: {present} has no partner {root / folder / f'a{a}_s{s}_t{t}_{suffix}'}; "
                "add the file or remove the sequence"
            )
        sequences.append(Sequence(*key, files={m: found[m][key] for m in modalities}))
    log.info("%s: %d sequences of %s, %d classes", root, len(sequences), "+".join(modalities), len(names))
    return names, sequences


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_mat_v73(path: Path) -> bool:
    """True for a MATLAB v7.3 .mat file: HDF5, after MATLAB's 512-byte header (or at offset 0)."""
    with open(path, "rb") as f:
        head = f.read(520)
    return head[:8] == HDF5_SIGNATURE or head[512:520] == HDF5_SIGNATURE


def _load_mat(path: Path, key: str) -> np.ndarray:
    """Variable `key` of a .mat file, v4-v7 (scipy) or v7.3 (HDF5, h5py), with MATLAB's shape."""
    try:
        v73 = is_mat_v73(path)
    except OSError as exc:
        raise C3tError(f"{path} cannot be read ({exc})") from exc
    if v73:
        return _load_mat_v73(path, key)
    import scipy.io

    try:
        data = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for truncated or foreign files
        raise C3tError(f"{path} is not a readable .mat file ({type(exc).__name__}: {exc})") from exc
    if key not in data:
        keys = [k for k in data if not k.startswith("__")]
        raise C3tError(f"{path} has no variable {key!r} (it has {keys})")
    return np.asarray(data[key])


def _load_mat_v73(path: Path, key: str) -> np.ndarray:
    """A numeric variable of a MATLAB v7.3 file. HDF5 holds MATLAB's column-major arrays with
    the axes reversed, so a MATLAB (N, 6) array is an HDF5 (6, N) dataset: transposed back here
    to give exactly what the v7 file gives."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            keys = [k for k in f.keys() if not k.startswith("#")]
            if key not in f:
                raise C3tError(f"{path} has no variable {key!r} (it has {keys})")
            node = f[key]
            matlab_class = node.attrs.get("MATLAB_class", b"")
            matlab_class = matlab_class.decode() if isinstance(matlab_class, bytes) else str(matlab_class)
            if not isinstance(node, h5py.Dataset) or matlab_class in ("cell", "struct", "char") \
                    or node.dtype.kind not in "iufb":
                raise C3tError(f"{path}: {key!r} is a MATLAB {matlab_class or 'object'}, not a numeric array")
            return np.asarray(node[()]).T
    except C3tError:
        raise
    except Exception as exc:  # truncated or foreign HDF5
        raise C3tError(f"{path} is not a readable MATLAB v7.3 .mat file ({type(exc).__name__}: {exc})") from exc


def load_inertial(path: Path) -> np.ndarray:
    """(N, 6) float32: accel [g], gyro [deg/s].

    Raises:
        C3tError: when d_iner is not (N, 6) with N >= 2
    """
    x = _load_mat(path, "d_iner")
    if x.ndim != 2 or x.shape[1] != 6 or x.shape[0] < 2:
        raise C3tError(f"{path}: d_iner has shape {x.shape}, expected (N, 6) with N >= 2")
    return x.astype(np.float32)


def load_skeleton(path: Path) -> np.ndarray:
    """(T, 20, 3) float32 joints [m].

    Raises:
        C3tError: when d_skel is not (20, 3, T) with T >= 2
    """
    x = _load_mat(path, "d_skel")
    if x.ndim != 3 or x.shape[:2] != (20, 3) or x.shape[2] < 2:
        raise C3tError(f"{path}: d_skel has shape {x.shape}, expected (20, 3, T) with T >= 2")
    return np.transpose(x, (2, 0, 1)).astype(np.float32)


def load_depth(path: Path) -> np.ndarray:
    """(T, H, W) uint16 depth [mm].

    Raises:
        C3tError: when d_depth is not (H, W, T) with T >= 2
    """
    x = _load_mat(path, "d_depth")
    if x.ndim != 3 or x.shape[2] < 2:
        raise C3tError(f"{path}: d_depth has shape {x.shape}, expected (H, W, T) with T >= 2")
    return np.ascontiguousarray(np.transpose(x, (2, 0, 1))).astype(np.uint16)


def load_rgb(path: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 BGR frames.

    Raises:
        C3tError: when fewer than 2 frames can be read from the video
    """
    from c3t.core.session.format import decode_video

    frames = decode_video(path)
    if len(frames) < 2:
        raise C3tError(f"{path}: could not read at least 2 video frames (read {len(frames)})")
    return np.stack(frames)


LOADERS = {"inertial": load_inertial, "skeleton": load_skeleton, "depth": load_depth, "rgb": load_rgb}


def load(sequence: Sequence, modality: str) -> np.ndarray:
    """One modality of a clip as an array, by the loaders above: inertial (N, 6) float32,
    skeleton (T, 20, 3) float32, depth (T, H, W) uint16, rgb (T, H, W, 3) uint8 BGR. Raises
    C3tError naming the file when it cannot be read or has the wrong shape, KeyError when the
    clip has no file of that modality."""
    return LOADERS[modality](sequence.files[modality])
