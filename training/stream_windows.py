"""Train on what live serves: fixed-length windows cut from clip datasets played as streams (#28).

Clip datasets (UTD-MHAD's layout, `c3t synth` output) hold one action per clip, 1.5-5 s long.
`prepare` resamples each whole clip to one input; live, the predictor sees a fixed window of
`seconds` (2.5 s) every `hop_s` (0.25 s), which may start mid-action, span two actions or hold
a rest. `prepare_windows` makes training see the same thing:

1. The protocol's split is made on the clips first (training/splits.py, the seed and protocol
   of the TrainConfig), exactly as for clip training, so D_Test holds the same clips.
2. Each split's clips are played back to back in a seeded order (`play_order`) as one stream
   per split (the order `c3t bench stream` plays a split in), with `rest_s` seconds of rest
   between clips when asked, made as the benchmark makes it (`rest_between`). A clip's IMU
   samples sit at the dataset's rate (UTD-MHAD: 50 Hz); its camera frames are spread
   over the IMU's span, as whole-clip training pairs them.
3. Windows of `seconds` end every `hop_s` along each stream and are cut as the SyncBuffer cuts
   a live window: the IMU samples inside [t_end - seconds, t_end], resampled to imu_steps by
   preprocess.imu_input (the live path's function); the camera's nearest frame to each of
   `frames` instants (skeleton: the joint frames inside, resampled to skeleton_steps).
4. Each window is labelled by `window_label` under `rule`: "end" (default; the true action at
   the window's end, the rule `c3t bench stream` scores a hop against) or "majority" (the most
   present action in the window). A rest is NO_ACTION, a class of its own when rests exist.
   D_HAR windows keep their (camera) labels; D_Align windows are unlabelled (-1, and
   splits.Pairs has no field for labels); D_Val / D_Test windows are labelled for checking.

No window mixes splits: a stream holds only its split's clips, so no D_Val / D_Test clip's
samples reach a D_HAR or D_Align window. Each window lists the clips it drew samples from
(`extra["sources"]`) so tests can check that.

The camera side is made per clip at its own frame rate (the depth crop and the skeleton's
torso length are per clip, not per window); the camera is only used in training, the live
model is scored on the IMU. Inputs: skeleton and depth (small CNN); camera inputs that need
whole windows of raw video (rgb, motion, a frozen backbone) are trained on clips
(`supports_windows`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model import preprocess
from c3t.core.options import NO_ACTION, STREAM_HOP_S, STREAM_WINDOW_S, WINDOW_LABEL_RULES, WINDOW_TRAIN_HOP_S
from c3t.core.streams.window import InputSpec, default_frame_size, resample
from c3t.training import splits as S
from c3t.training import utd_mhad
from c3t.training.prepared import Prepared, default_cache_dir

log = logging.getLogger(__name__)

WINDOW_VISUALS = ("skeleton", "depth")   # camera inputs whose windows are cut from per-frame inputs
CACHE_VERSION = 1


@dataclass(frozen=True)
class StreamWindowing:
    """How clip streams are cut: window length and hop (seconds), the rest between clips
    (seconds; 0: clips back to back), and the labelling rule ("end" or "majority")."""

    seconds: float = STREAM_WINDOW_S
    hop_s: float = STREAM_HOP_S
    rest_s: float = 0.0
    rule: str = "end"

    def __post_init__(self):
        if self.seconds <= 0 or self.hop_s <= 0 or self.rest_s < 0:
            raise C3tError(f"stream windows need seconds > 0, hop_s > 0 and rest_s >= 0 (got {self})")
        if self.rule not in WINDOW_LABEL_RULES:
            raise C3tError(f"window label rule {self.rule!r} is not one of {WINDOW_LABEL_RULES}")


def supports_windows(spec: InputSpec) -> bool:
    """True if clips with this camera input can be cut into stream windows here (WINDOW_VISUALS
    through the small CNN, or skeleton)."""
    return spec.visual == "skeleton" or (spec.visual in WINDOW_VISUALS and spec.visual_input == "frames")


def play_order(n: int, seed: int) -> np.ndarray:
    """The seeded order in which a split's n clips are played as one stream (n,) int."""
    return np.random.default_rng(seed).permutation(n)


@dataclass
class ClipStream:
    """One split's clips back to back: raw IMU samples (n, 6) [g, deg/s] at times imu_t (n,)
    seconds, camera inputs per frame (m, ...) at cam_t (m,), and the labelled spans
    [(t0, t1, label, key)] (label -1: a rest)."""

    imu_t: np.ndarray
    imu: np.ndarray
    cam_t: np.ndarray
    cam: np.ndarray
    spans: list

    @property
    def duration(self) -> float:
        """Seconds from the stream's start to its last sample."""
        return float(max(self.imu_t[-1], self.cam_t[-1]))

    def label_at(self, t: np.ndarray) -> np.ndarray:
        """The class at each instant t (n,): the span holding it, -1 in a rest (n,) int."""
        starts = np.array([s[0] for s in self.spans])
        ends = np.array([s[1] for s in self.spans])
        labels = np.array([s[2] for s in self.spans])
        k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        return np.where((t >= starts[k]) & (t <= ends[k]), labels[k], -1)

    def keys_in(self, t0: float, t1: float) -> list[str]:
        """The clips whose span overlaps [t0, t1]."""
        return [key for a, b, label, key in self.spans if a <= t1 and b >= t0 and key]


def build_stream(imu: list, cam: list, labels, keys, imu_hz: float, rest_s: float = 0.0, seed: int = 0) -> ClipStream:
    """Clips played back to back (in the order given) as one ClipStream. `imu`: per clip (n_i, 6)
    raw IMU at `imu_hz`; `cam`: per clip (m_i, ...) per-frame camera inputs, spread evenly over
    the clip's IMU span; `rest_s` seconds of rest between clips (rest_between; its noise from
    `seed`)."""
    rng = np.random.default_rng([int(seed), 0x5E57])
    it, iv, ct, cv, spans = [], [], [], [], []
    t = 0.0
    for k, (x, c, label, key) in enumerate(zip(imu, cam, labels, keys)):
        if k and rest_s > 0:
            rest_imu, rest_cam = rest_between((imu[k - 1], cam[k - 1]), (x, c), rest_s, imu_hz,
                                              len(c) * imu_hz / len(x), rng)
            duration = len(rest_imu) / imu_hz
            it.append(t + np.arange(len(rest_imu)) / imu_hz)
            iv.append(rest_imu)
            ct.append(t + np.arange(len(rest_cam)) * duration / len(rest_cam))
            cv.append(rest_cam)
            spans.append((t, t + duration, -1, ""))
            t += duration
        duration = len(x) / imu_hz
        it.append(t + np.arange(len(x)) / imu_hz)
        iv.append(x)
        ct.append(t + np.arange(len(c)) * duration / len(c))
        cv.append(c)
        spans.append((t, t + duration, int(label), key))
        t += duration
    return ClipStream(np.concatenate(it), np.concatenate(iv).astype(np.float32), np.concatenate(ct),
                      np.concatenate(cv).astype(np.float32), spans)


def rest_between(before: tuple, after: tuple, rest_s: float, imu_hz: float, fps: float, rng) -> tuple:
    """A rest between two clips, made as `c3t bench stream` makes it (training/stream_eval.py):
    the IMU glides from the first clip's rest posture to the next's with their own rest noise
    (stream_eval._rest_imu); the camera holds the first clip's last input for the first half and
    the next clip's first for the second. `before` / `after`: (raw IMU (n, 6), camera (m, ...))
    of the two clips. Returns (IMU (n, 6), camera (m, ...))."""
    from c3t.training.stream_eval import _rest_imu

    n, m = max(round(rest_s * imu_hz), 1), max(round(rest_s * fps), 1)
    cam = np.concatenate([np.repeat(before[1][-1:], m - m // 2, axis=0), np.repeat(after[1][:1], m // 2, axis=0)])
    return _rest_imu(before[0], after[0], n, rng), cam


def window_label(stream: ClipStream, t_end: np.ndarray, seconds: float, rule: str) -> np.ndarray:
    """The label of each window ending at t_end (n,): "end", the class at the window's end;
    "majority", the most frequent class at 9 evenly spaced instants (ties: the later one,
    as core.model.predictor.window_truth). -1 is a rest."""
    if rule == "end":
        return stream.label_at(np.asarray(t_end))
    out = []
    for e in np.asarray(t_end):
        labels = stream.label_at(np.linspace(e - seconds, e, 9)).tolist()
        top = max(labels.count(v) for v in labels)
        out.append(next(v for v in reversed(labels) if labels.count(v) == top))
    return np.array(out, dtype=np.int64)


def cut_stream(stream: ClipStream, w: StreamWindowing, spec: InputSpec, hop_s: float | None = None) -> dict:
    """Every complete window of a stream: ends every `hop_s` (default w.hop_s) from the first full
    window. Returns {"imu" (n, imu_steps, 6), "visual" (n, ...), "label" (n,) (-1 rest), "t_end" (n,),
    "sources" [clip keys per window]}."""
    hop = hop_s or w.hop_s
    ends = np.arange(w.seconds, stream.duration + 1e-9, hop)
    imu, vis, sources = [], [], []
    for e in ends:
        s = e - w.seconds
        inside = np.flatnonzero((stream.imu_t >= s) & (stream.imu_t <= e))
        imu.append(preprocess.imu_input(stream.imu[inside], spec.imu_steps) if len(inside) else
                   np.zeros((spec.imu_steps, stream.imu.shape[1]), np.float32))
        if spec.visual == "skeleton":
            shown = np.flatnonzero((stream.cam_t >= s) & (stream.cam_t <= e))
            vis.append(resample(stream.cam[shown], spec.skeleton_steps))
        else:
            grid = np.linspace(s, e, spec.frames)   # the nearest frame to each instant, as SyncBuffer._frame_window
            right = np.clip(np.searchsorted(stream.cam_t, grid), 0, len(stream.cam_t) - 1)
            left = np.clip(right - 1, 0, len(stream.cam_t) - 1)
            near = np.where(np.abs(stream.cam_t[left] - grid) <= np.abs(stream.cam_t[right] - grid), left, right)
            vis.append(stream.cam[near])
        sources.append(stream.keys_in(s, e))
    return {"imu": np.stack(imu).astype(np.float32), "visual": np.stack(vis).astype(np.float32),
            "label": window_label(stream, ends, w.seconds, w.rule), "t_end": ends, "sources": sources}


@dataclass
class ClipIndex:
    """A clip dataset's clips as the protocols split them (no arrays): classes, keys, labels,
    subjects and trials (N,) as in Prepared."""

    classes: list[str]
    keys: list[str]
    labels: np.ndarray
    subjects: np.ndarray
    trials: np.ndarray
    extra: dict = dataclasses.field(default_factory=dict)


def _camera_per_frame(seq, spec: InputSpec, size: int, cache: Path | None) -> np.ndarray:
    """One clip's camera input per recorded frame: skeleton (T, 63), depth (T, 1, size, size)."""
    if spec.visual == "skeleton":
        joints = utd_mhad.load(seq, "skeleton")
        return preprocess.skeleton_input(joints, len(joints))
    from c3t.training.prepare import _cache_store, _file_hash

    entry = None
    if cache is not None:
        entry = cache / f"{_file_hash(seq.files['depth'])}.npy"
        if entry.exists():
            x = np.load(entry, allow_pickle=False)
            if x.ndim == 4 and x.shape[1:] == (1, size, size) and np.isfinite(x).all():
                return x
    depth = utd_mhad.load(seq, "depth")
    x = preprocess.depth_input(depth, len(depth), size).astype(np.float32)
    if entry is not None:
        _cache_store(entry, x)
    return x


def prepare_windows(root, visual: str | None = None, seed: int = 0, protocol: str = "random",
                    windowing: StreamWindowing | None = None, cache_dir=None, progress: bool = True, test_people=None,
                    train_hop_s: float | None = None) -> Prepared:
    """A clip dataset as stream windows (module docstring), split by `protocol` and `seed` as
    clip training would split it (the TrainConfig's seed and protocol). Returns a Prepared whose rows are windows:
    imu (N, imu_steps, 6), visual (N, ...) as prepare's, labels (N,) (-1 for D_Align), classes
    (+ NO_ACTION when rest_s > 0), spec with `seconds` = the window length, and extra:
    "split" (window indices per split name), "split_json" (the clip-level split.json),
    "split_for" (seed, protocol), "sources" (clip keys per window), "groups" (N,) the
    clip each window ends in (D_Val's independent clips), "t_end" (N,),
    "stream" (N,) split name per window, "windowing". `train_hop_s`: the hop of the D_HAR and
    D_Align windows (default WINDOW_TRAIN_HOP_S: half the windows of the live hop, overlapping
    by 2 s, for a quarter of the training time; D_Val / D_Test keep windowing.hop_s).

    Raises:
        C3tError: a camera input windows are not cut for (supports_windows), files utd_mhad
            cannot read, or a split the protocol cannot make.
    """
    from tqdm import tqdm

    root = Path(root)
    w = windowing or StreamWindowing()
    visual = visual or utd_mhad.default_visual(root)
    spec = InputSpec(visual=visual, backbone="small-cnn", frame_size=default_frame_size(visual), seconds=w.seconds)
    if not supports_windows(spec):
        raise C3tError(f"stream windows of clip datasets are cut for the camera inputs {', '.join(WINDOW_VISUALS)}; "
                       f"train --visual {visual} on whole clips (c3t train --clips)")
    classes, sequences = utd_mhad.scan(root, ("inertial", spec.source))
    index = ClipIndex(classes, [s.key for s in sequences], np.array([s.label for s in sequences], np.int64),
                      np.array([s.subject for s in sequences], np.int64), np.array([s.trial for s in sequences], np.int64))
    clip_split = S.split_for(index, seed, protocol=protocol, test_people=test_people)
    from c3t.training.stream_eval import dataset_rates

    imu_hz, _ = dataset_rates(root)
    cache = None
    if spec.visual == "depth":
        params = json.dumps({"visual": "depth", "size": spec.frame_size, "per_frame": True, "v": CACHE_VERSION}, sort_keys=True)
        cache = Path(cache_dir or default_cache_dir()) / f"depth-frames-{hashlib.sha1(params.encode()).hexdigest()[:12]}"
    parts, rest = {}, w.rest_s > 0
    bar = tqdm(total=len(sequences), desc=f"cutting windows from {root.name} ({visual})", disable=not progress, unit="clip")
    for name in S.SPLITS:
        idx = clip_split[name][play_order(len(clip_split[name]), seed)]
        imu, cam = [], []
        for i in idx:
            imu.append(utd_mhad.load(sequences[i], "inertial"))
            cam.append(_camera_per_frame(sequences[i], spec, spec.frame_size, cache))
            bar.update(1)
        if not len(idx):
            parts[name] = None
            continue
        stream = build_stream(imu, cam, index.labels[idx], [index.keys[i] for i in idx], imu_hz, w.rest_s, seed)
        parts[name] = cut_stream(stream, w, spec, (train_hop_s or WINDOW_TRAIN_HOP_S) if name in ("har", "align") else None)
    bar.close()
    out_classes = classes + ([NO_ACTION] if rest else [])
    rows, split, offset = {k: [] for k in ("imu", "visual", "label", "t_end", "sources", "stream")}, {}, 0
    for name in S.SPLITS:
        part = parts[name]
        n = 0 if part is None else len(part["t_end"])
        split[name] = np.arange(offset, offset + n, dtype=np.int64)
        offset += n
        if not n:
            continue
        labels = np.where(part["label"] < 0, len(classes), part["label"]) if rest else part["label"]
        if not rest and (labels < 0).any():
            raise C3tError("a window without rest has no action: the stream has a hole")
        if name == "align":
            labels = np.full(n, -1)   # unlabelled pairs: no label reaches D_Align
        rows["imu"].append(part["imu"])
        rows["visual"].append(part["visual"])
        rows["label"].append(np.asarray(labels, np.int64))
        rows["t_end"].append(part["t_end"])
        rows["sources"] += part["sources"]
        rows["stream"] += [name] * n
    keys = [f"{name}@{t:.3f}" for name, t in zip(rows["stream"], np.concatenate(rows["t_end"]))]
    log.info("cut %s windows from %s (%s)", {k: len(v) for k, v in split.items()}, root, w)
    return Prepared(
        classes=out_classes, keys=keys, labels=np.concatenate(rows["label"]),
        subjects=np.zeros(len(keys), np.int64), imu=np.concatenate(rows["imu"]), visual=np.concatenate(rows["visual"]),
        spec=spec, root=str(root), trials=None,
        extra={"split": split, "split_json": S.to_json(index, clip_split, seed, protocol),
               "split_for": {"seed": seed, "protocol": protocol}, "sources": rows["sources"],
               "groups": np.array([src[-1] if src else "" for src in rows["sources"]]),
               "t_end": np.concatenate(rows["t_end"]), "stream": np.array(rows["stream"]),
               "windowing": dataclasses.asdict(w)},
    )



def windows_or_clips(root, visual: str, backbone: str, clips: bool) -> tuple[bool, str]:
    """Whether `c3t train` trains a clip dataset on stream windows (TRAIN_ON_WINDOWS, unless
    `clips`), and a note for the user when it cannot ("" otherwise). Recorded sessions are always
    windows (training/session_dataset.py) and answer False here."""
    from c3t.core.options import TRAIN_ON_WINDOWS
    from c3t.training.session_dataset import is_sessions_folder

    if clips or not TRAIN_ON_WINDOWS or is_sessions_folder(root):
        return False, ""
    spec = InputSpec(visual=visual, backbone=backbone)
    if not supports_windows(spec):
        return False, (f"note: trained on whole clips: live windows are cut for {', '.join(WINDOW_VISUALS)} "
                       f"(small CNN), not {visual}/{backbone}; expect lower accuracy on a live stream (c3t bench stream)")
    return True, ""
