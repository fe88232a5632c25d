"""Train on recorded sessions: a folder of `c3t record` sessions as UMA training data.

    data = prepare_sessions("sessions/", backbone="small-cnn")   # or prepare("sessions/"), c3t train --dataset sessions/
    data.imu (N, 128, 6), data.visual, data.labels (-1: unlabelled), data.extra["roles"]

Each session is played through a SyncBuffer and cut with its `window(t_end, spec)`: the same
window function live inference uses, so what is trained on is what is served. A window is
`seconds` long (2.5 s by default); IMU windows go through preprocess.imu_input and frames through
preprocess.frames_input (colour or motion; for a frozen backbone, its per-frame features), as
live windows do.

Roles (where each window may go) come from the labels, never from a random split:
- a label with use `har` (a camera label) gives D_HAR windows, a label with use `check` (an IMU
  label, for checking) D_Val / D_Test windows (training.splits.role_split sends each check
  *segment* wholly to D_Val or to D_Test);
- unlabelled time gives D_Align pairs (no labels): windows every `align_hop_s` that overlap no
  labelled segment at all.
Which labelled windows, by `rule`:
- "end" (the default: the live windows, #28): every window, every `hop_s`, whose END lies in a
  labelled span, labelled with that span's class (the true action at the window's end: the rule
  `c3t bench stream` scores a hop by), so training sees windows across action boundaries and
  rests (labelled NO_ACTION where the sessions label rests) as live does, and an action shorter
  than the window still gives windows; a har window never overlaps a check segment, and a check
  window's group is the segment holding its end.
- None (windows inside one segment): windows covering at least `min_cover` of min(window,
  segment) of the segment and at most `max_other` of the window of another labelled segment,
  every `hop_s`. The models trained before "end" became the default (split.json has no
  "windowing") were cut this way.
No training window (har or align) overlaps a check segment in time, so neither the IMU labels
nor the IMU data of checking segments reach training. A window with missing data (a gap, the
start or end of a stream) is skipped and counted.

The cut windows of each session are cached on disk (keyed by the session's files, the window
settings and the input spec), like UTD-MHAD's camera inputs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model import preprocess
from c3t.core.options import COLOUR_INPUTS
from c3t.core.session.format import Session, find_sessions, is_session
from c3t.core.streams.syncbuffer import SyncBuffer
from c3t.core.streams.window import WindowSpec
from c3t.training.prepared import Prepared, default_cache_dir

log = logging.getLogger(__name__)

CACHE_VERSION = 1
ROLES = ("har", "align", "check")


@dataclass(frozen=True)
class Windowing:
    """How recorded sessions are cut into windows (see the module docstring): window length
    and hops in seconds, coverage shares 0..1 (rule None only), the rule for labelled windows."""

    seconds: float = 2.5        # window length (the live predictor's window)
    hop_s: float = 0.25         # between windows over a labelled segment
    align_hop_s: float = 0.5    # between windows over unlabelled time
    min_cover: float = 0.8      # a labelled window covers >= this share of min(window, segment)
    max_other: float = 0.2      # ... and at most this share of it lies in another labelled segment
    rule: str | None = "end"    # None: windows inside one segment (above); "end": every window ending in a labelled span


@dataclass(frozen=True)
class PlannedWindow:
    """One window to cut from a session, before any data is read: where it ends (session
    seconds), its role, its class and the labelled segment it comes from."""

    t_end: float
    role: str                   # "har", "align" or "check"
    cls: str | None             # class name (None for align)
    group: str                  # the labelled segment it comes from ("" for align)


def is_sessions_folder(root) -> bool:
    """True if `root` is a `c3t record` session, or a folder holding at least one."""
    root = Path(root)
    return is_session(root) or (root.is_dir() and any(is_session(p) for p in root.iterdir() if p.is_dir()))


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def plan_windows(session: Session, w: Windowing = Windowing()) -> list[PlannedWindow]:
    """Every window of a session with its role, before any data is read (see the module docstring)."""
    tracks = [*session.imu.values(), *session.cameras.values()]
    if not tracks or any(len(t) == 0 for t in tracks):
        return []
    first = max(float(t.t[0]) for t in tracks)
    last = min(float(t.t[-1]) for t in tracks)
    W = w.seconds
    spans = session.label_spans()
    checks = [(a, b) for a, b, lb in spans if lb.use == "check"]
    out = []
    if w.rule == "end":
        out = _end_labelled(session, spans, checks, first, last, w)
    for k, (a, b, lb) in enumerate(spans if w.rule != "end" else []):
        need = w.min_cover * min(W, b - a)
        for e in np.arange(a + need, b + W - need + 1e-9, w.hop_s):
            e = round(float(e), 6)
            s = e - W
            if s < first or e > last or _overlap(s, e, a, b) < need - 1e-9:
                continue
            other = sum(_overlap(s, e, a2, b2) for j, (a2, b2, _) in enumerate(spans) if j != k)
            if other > w.max_other * W:
                continue
            if lb.use == "har" and any(_overlap(s, e, c0, c1) > 0 for c0, c1 in checks):
                continue
            out.append(PlannedWindow(e, "check" if lb.use == "check" else "har", lb.cls, f"{session.name}#{k}"))
    for e in np.arange(first + W, last + 1e-9, w.align_hop_s):
        e = round(float(e), 6)
        if not any(_overlap(e - W, e, a, b) > 0 for a, b, _ in spans):
            out.append(PlannedWindow(e, "align", None, ""))
    return sorted(out, key=lambda p: p.t_end)


def _end_labelled(session: Session, spans: list, checks: list, first: float, last: float, w: Windowing) -> list:
    """The har and check windows of `rule="end"` (module docstring): every hop_s from the first
    labelled start (+ a window) to the last labelled end, labelled by the span at the window's end."""
    if not spans:
        return []
    out = []
    start = max(first + w.seconds, min(a for a, _, _ in spans))
    for e in np.arange(start, min(last, max(b for _, b, _ in spans)) + 1e-9, w.hop_s):
        e = round(float(e), 6)
        k = next((j for j, (a, b, _) in enumerate(spans) if a <= e < b), None)
        if k is None:
            continue
        lb = spans[k][2]
        if lb.use != "check" and any(_overlap(e - w.seconds, e, c0, c1) > 0 for c0, c1 in checks):
            continue
        out.append(PlannedWindow(e, "check" if lb.use == "check" else "har", lb.cls, f"{session.name}#{k}"))
    return out


def stub_reason(session: Session) -> str | None:
    """Why `session` can give no window at all (a recording that failed or was stopped at once: no
    IMU or camera stream, no sample or no frame in it), or None for a session worth cutting."""
    if not session.imu or not session.cameras:
        return (f"it has no {'IMU' if not session.imu else 'camera'} stream "
                f"(it has {', '.join([*session.imu, *session.cameras]) or 'none'})")
    if not any(len(track) for track in session.imu.values()):
        return "its IMU stream has no samples"
    if not any(len(track) for track in session.cameras.values()):
        return "its camera stream has no frames"
    return None


def trainable_sessions(root: Path, paths: list[Path]) -> list[Session]:
    """The sessions of `paths` (find_sessions(root)) to train on: in a folder of sessions a stub
    (stub_reason) is skipped with a warning on stderr instead of refusing the whole folder; a single
    session given as `root` is refused with the reason.

    Raises:
        C3tError: when `root` is itself a stub session, or every session in it is one
    """
    sessions, skipped = [], []
    for path in paths:
        session = Session(path)
        why = stub_reason(session)
        if why is None:
            sessions.append(session)
            continue
        if Path(path) == Path(root):
            raise C3tError(f"session {path} cannot be trained on: {why}")
        skipped.append(f"{session.name} ({why})")
        message = f"skipped session {path}: {why}; delete it or record it again"
        print(f"warning: {message}", file=sys.stderr)
    if not sessions:
        raise C3tError(f"{root} holds no session to train on: {'; '.join(skipped)}; record sessions with "
                       "`c3t record --imu SPEC --camera SPEC --out DIR`")
    return sessions


def _streams(session: Session) -> tuple[str, str]:
    if not session.imu or not session.cameras:
        raise C3tError(f"session {session.path} needs an IMU and a camera stream to train on "
                       f"(it has {', '.join([*session.imu, *session.cameras]) or 'none'})")
    imu = "imu" if "imu" in session.imu else next(iter(session.imu))
    camera = "camera" if "camera" in session.cameras else next(iter(session.cameras))
    return imu, camera


def cut_windows(session: Session, planned: list[PlannedWindow], spec: WindowSpec, on_window) -> int:
    """Play the session through a SyncBuffer and call on_window(planned, window) for each planned
    window whose data is complete; returns how many were skipped for missing data."""
    imu, camera = _streams(session)
    buf = SyncBuffer(seconds=spec.seconds + 10.0, camera_seconds=spec.seconds + 2.0)
    im, cam = session.imu[imu], session.cameras[camera]
    buf.add_stream(imu, "imu", rate_hz=im.nominal_hz or session.measured_hz(imu) or 100.0,
                   channels=im.values.shape[1])
    buf.add_stream(camera, "camera", rate_hz=cam.nominal_hz or session.measured_hz(camera) or 30.0)
    pending = sorted(planned, key=lambda p: p.t_end)
    i = skipped = 0

    def cut(p: PlannedWindow) -> None:
        """Cut one planned window from the buffer and hand it to on_window; a window with missing
        data is counted as skipped."""
        nonlocal skipped
        try:
            window = buf.window(p.t_end, spec, imu=imu, camera=camera)
        except C3tError:
            skipped += 1
            return
        on_window(p, window)

    margin = 0.25   # a window is cut once every stream is this far past its end
    for chunk in session.chunks(0.02, [imu, camera]):
        buf.ingest(chunk)
        latest = buf.latest_common_time()
        while i < len(pending) and latest is not None and latest >= pending[i].t_end + margin:
            cut(pending[i])
            i += 1
    for p in pending[i:]:
        cut(p)
    return skipped


class _VisualInputs:
    """Window frames -> the camera input the model takes: colour frames for the small CNN, or a
    frozen backbone's features, computed once per distinct frame (windows overlap)."""

    def __init__(self, spec, backbone_net, size: int, batch: int = 64):
        self.spec, self.net, self.size, self.batch = spec, backbone_net, size, batch
        self.features: dict[bytes, np.ndarray] = {}
        self.todo: dict[bytes, np.ndarray] = {}
        self.windows: list = []   # per window: an array (frames mode) or a list of frame keys

    def add(self, frames: np.ndarray) -> None:
        """Add one window's frames (frames, H, W, 3) uint8 BGR: as colour input for the small CNN,
        or as per-frame keys whose backbone features are computed in batches of `batch`."""
        if self.net is None:
            self.windows.append(preprocess.frames_input(frames, self.spec, self.size))
            return
        keys = []
        for f in frames:
            key = hashlib.blake2b(f.tobytes(), digest_size=12).digest()
            if key not in self.features and key not in self.todo:
                self.todo[key] = preprocess.colour_input(f[None], 1, self.size)[0]
            keys.append(key)
        self.windows.append(keys)
        if len(self.todo) >= self.batch:
            self._run()

    def _run(self) -> None:
        import torch

        if not self.todo:
            return
        keys = list(self.todo)
        with torch.no_grad():
            out = self.net(torch.from_numpy(np.stack([self.todo[k] for k in keys]))).numpy()
        self.features.update(zip(keys, out.astype(np.float32)))
        self.todo.clear()

    def result(self, empty_shape: tuple) -> np.ndarray:
        """The camera inputs of every window added, (n, ...) float32: colour frames or backbone
        features; (0, *empty_shape) when there is none."""
        self._run()
        if not self.windows:
            return np.zeros((0,) + empty_shape, np.float32)
        if self.net is None:
            return np.stack(self.windows).astype(np.float32)
        return np.stack([np.stack([self.features[k] for k in keys]) for keys in self.windows]).astype(np.float32)


def _fingerprint(session: Session) -> dict:
    """What a cached entry depends on: the session's files (names, sizes, modification times)."""
    files = {}
    for p in sorted(session.path.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            files[str(p.relative_to(session.path))] = [st.st_size, st.st_mtime_ns]
    return files


def session_windows(session: Session, windowing: Windowing, spec, net, size: int, cache: Path | None,
                    visual_shape: tuple) -> dict:
    """The windows of one session as arrays: imu, visual, t_end, role, cls, group (cached)."""
    key = hashlib.sha1(json.dumps({"v": CACHE_VERSION, "windowing": asdict(windowing), "spec": spec.to_dict(),
                                   **preprocess.input_version(spec),
                                   "size": size, "files": _fingerprint(session), "path": str(session.path.resolve())},
                                  sort_keys=True).encode()).hexdigest()[:16]
    entry = cache / f"{session.name}-{key}.npz" if cache else None
    if entry is not None and entry.exists():
        try:
            with np.load(entry, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:
            pass   # unreadable: recompute
    channels = next(iter(session.imu.values())).values.shape[1]
    wspec = WindowSpec(seconds=windowing.seconds, imu_steps=spec.imu_steps, frames=spec.frames, imu_channels=channels)
    planned = plan_windows(session, windowing)
    kept, imu = [], []
    visual = _VisualInputs(spec, net, size)

    def on_window(p: PlannedWindow, window) -> None:
        """Keep a complete window: its plan, its IMU input and its frames."""
        kept.append(p)
        imu.append(preprocess.imu_input(window.imu, spec.imu_steps))
        visual.add(window.frames)

    skipped = cut_windows(session, planned, wspec, on_window)
    out = {
        "imu": np.stack(imu).astype(np.float32) if imu else np.zeros((0, spec.imu_steps, channels), np.float32),
        "visual": visual.result(visual_shape),
        "t_end": np.array([p.t_end for p in kept], dtype=np.float64),
        "role": np.array([p.role for p in kept], dtype="U8"),
        "cls": np.array([p.cls or "" for p in kept], dtype=str),
        "group": np.array([p.group for p in kept], dtype=str),
        "skipped": np.array(skipped),
    }
    if entry is not None:
        _store(entry, out)
    return out


def _store(path: Path, arrays: dict) -> None:
    """Write a cache entry atomically (a reader never sees half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    log.debug("cache %s written", path)


def _usable(session: Session, part: dict) -> dict:
    """How much of a session became windows, and why not all of it (a stream that delivered
    short, windows skipped for missing data): {"windows", "skipped", "warnings", "note"}."""
    cut, skipped = len(part["role"]), int(part["skipped"])
    warnings = session.delivery_warnings() + session.problems   # problems: files cut short, missing values...
    note = ""
    if skipped or warnings:
        note = f"{cut} of {cut + skipped} windows usable ({skipped} skipped for missing data)"
        if warnings:
            note += "; " + "; ".join(warnings)
    return {"windows": cut, "skipped": skipped, "warnings": warnings, "note": note}


def session_classes(root: Path, sessions: list[Session]) -> list[str]:
    """classes.txt in the sessions folder if there is one, else every labelled class, sorted.

    Raises:
        C3tError: for a labelled class that classes.txt does not list
    """
    listed = Path(root) / "classes.txt"
    names = sorted({lb.cls for s in sessions for lb in s.labels})
    if listed.exists():
        order = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        unknown = [n for n in names if n not in order]
        if unknown:
            raise C3tError(f"label class {unknown[0]!r} is not in {listed}; add it there or fix the label")
        return order
    return names


def prepare_sessions(root, visual: str | None = None, backbone: str = "small-cnn", cache_dir=None,
                     progress: bool = True, spec=None, windowing: Windowing | None = None, on_session=None):
    """A folder of sessions (or one session) as `Prepared` data, with each window's role in
    `extra["roles"]` ("har", "align", "check") and its labelled segment in `extra["groups"]`.
    `on_session(done, total, name)` is called after each session is cut (a GUI's progress bar).

    Raises:
        C3tError: when `root` holds no sessions, `visual` does not fit colour video, the IMUs have
            different channel counts, or a class has IMU (check) labels but no camera (har) labels
    """
    from tqdm import tqdm

    from c3t.core.model.backbones import IMAGE_SIZE, load_backbone
    from c3t.core.streams.window import InputSpec, default_frame_size

    root = Path(root)
    if visual is not None and visual not in COLOUR_INPUTS:
        raise C3tError(f"recorded sessions hold colour video: train them with --visual rgb or motion, not {visual!r}")
    paths = find_sessions(root)
    if not paths:
        raise C3tError(f"{root} holds no recorded sessions (folders with a c3t manifest.json); "
                       "record some with `c3t record --imu SPEC --out DIR`")
    if spec is None:
        from c3t.core.options import SESSION_VISUAL

        visual = visual or SESSION_VISUAL
        spec = InputSpec(visual=visual, backbone=backbone, frame_size=default_frame_size(visual), seconds=2.5)
    if spec.source != "rgb":
        raise C3tError(f"recorded sessions hold colour video; the model's inputs are {spec.visual!r}")
    spec.check()
    windowing = windowing or Windowing()
    if spec.seconds:
        windowing = Windowing(**{**asdict(windowing), "seconds": float(spec.seconds)})
    spec = dataclasses.replace(spec, seconds=windowing.seconds)
    kind = spec.visual_input
    size = IMAGE_SIZE if kind == "features" else spec.frame_size
    net = load_backbone(spec.backbone) if kind == "features" else None
    visual_shape = (spec.frames, net.out_dim) if net is not None else (spec.frames, preprocess.frame_channels(spec.visual), size, size)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache = cache / "sessions"
    sessions = trainable_sessions(root, paths)
    classes = session_classes(root, sessions)
    parts = []
    usable = {}
    bar = tqdm(sessions, desc=f"cutting windows from {root.name} ({spec.backbone})", disable=not progress, unit="session")
    for s in bar:
        parts.append(session_windows(s, windowing, spec, net, size, cache, visual_shape))
        usable[s.name] = _usable(s, parts[-1])
        if usable[s.name]["note"] and progress:
            bar.write(f"note: session {s.name}: {usable[s.name]['note']}", file=sys.stderr)
        if on_session is not None:
            on_session(len(parts), len(sessions), s.name)
    channels = {p["imu"].shape[2] for p in parts if len(p["imu"])}
    if len(channels) > 1:
        raise C3tError(f"the sessions in {root} have IMUs with different channel counts {sorted(channels)}; "
                       "train on sessions of one device layout")
    roles = np.concatenate([p["role"] for p in parts]).astype(str)
    cls = np.concatenate([p["cls"] for p in parts]).astype(str)
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[c] if r != "align" else -1 for c, r in zip(cls, roles)], dtype=np.int64)
    taught = set(cls[roles == "har"])
    untaught = sorted(str(c) for c in set(cls[roles == "check"]) - taught)
    if untaught:
        raise C3tError(f"class {untaught[0]!r} has check (IMU) labels but no har (camera) labels in {root}: "
                       "the model cannot learn it. Record camera-labelled clips of it (c3t record --label ...)")
    keys = [f"{s.name}/{r}@{t:.3f}" for s, p in zip(sessions, parts) for r, t in zip(p["role"], p["t_end"])]
    return Prepared(
        classes=classes, keys=keys, labels=labels,
        subjects=np.concatenate([np.full(len(p["role"]), i, np.int64) for i, p in enumerate(parts)]),
        imu=np.concatenate([p["imu"] for p in parts]).astype(np.float32),
        visual=np.concatenate([p["visual"] for p in parts]).astype(np.float32),
        spec=spec, root=str(root),
        extra={"roles": roles, "groups": np.concatenate([p["group"] for p in parts]).astype(str),
               "people": np.concatenate([np.full(len(p["role"]), s.person) for s, p in zip(sessions, parts)]).astype(str),
               "session_index": np.concatenate([np.full(len(p["role"]), i, np.int64) for i, p in enumerate(parts)]),
               "t_end": np.concatenate([p["t_end"] for p in parts]),
               "sessions": [s.name for s in sessions], "windowing": asdict(windowing),
               "skipped": {s.name: int(p["skipped"]) for s, p in zip(sessions, parts)}, "usable": usable},
    )


def raw_windows(root, spec, pick, windowing: Windowing | None = None) -> list[tuple]:
    """Windows of a sessions folder as raw data, for checks on real windows (the ONNX parity
    check): `pick(keys)` chooses among every window's key (as prepare_sessions names them);
    returns [(key, imu (steps, C), frames (frames, H, W, 3) BGR)] for the chosen complete windows.

    Raises:
        C3tError: when the sessions give no complete window
    """
    windowing = windowing or Windowing()
    if spec.seconds:
        windowing = Windowing(**{**asdict(windowing), "seconds": float(spec.seconds)})
    sessions = trainable_sessions(Path(root), find_sessions(root))
    keyed = {f"{s.name}/{w.role}@{w.t_end:.3f}": (s, w) for s in sessions for w in plan_windows(s, windowing)}
    chosen = set(pick(list(keyed)))
    out = []
    for session in sessions:
        mine = {w: key for key, (s, w) in keyed.items() if s is session and key in chosen}
        if not mine:
            continue
        channels = next(iter(session.imu.values())).values.shape[1]
        wspec = WindowSpec(seconds=windowing.seconds, imu_steps=spec.imu_steps, frames=spec.frames, imu_channels=channels)
        cut_windows(session, list(mine), wspec, lambda w, window: out.append((mine[w], window.imu, window.frames)))
    if not out:
        raise C3tError(f"{root} gives no complete window to check a model on: record longer sessions")
    return out
