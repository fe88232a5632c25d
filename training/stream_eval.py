"""The streaming benchmark (`c3t bench stream`): held-out data played through the real live path.

    report = bench_stream("runs/m0", "../shared/data/utd-mhad", split="test", rest_s=2.0, seed=0)
    print("\\n".join(report_lines(report)))        # report["figures"]["frame_accuracy"], ["f1_50"], ...

Whatever the data, it becomes timestamped Batches (core/streams/contract.py) that go, on
SIMULATED time, into a SyncBuffer (core/streams/syncbuffer.py) read by a StreamingPredictor with
its decision rule (core/model/predictor.py: the smoothing and "no action" threshold the GUI and
`c3t live` use). The predictor is stepped every hop at t0 + window + k x hop once the data has
reached that instant: no wall clock, no sleeps, so the figures are the same idle or loaded. A hop
whose window no stream covers fully gives no prediction; it counts as "no action". Each hop's
decision is scored against the true action at the hop's time (training/stream_metrics.py).

The data, by kind:
- a clip dataset (UTD-MHAD layout, `c3t synth` output): the split's clips (`split` "test" or
  "val": the model's D_Test / D_Val keys in split.json; "all": every clip, for a folder the model
  never saw) in a seeded order, played back to back as one stream: the IMU at the dataset's rate
  (UTD-MHAD and synth: 50 Hz; synth's dataset.json is read), and the colour video at its fps
  where the model takes a colour camera (rgb, motion: depth and skeleton cannot come from a live
  camera, so those models play the IMU alone). Each clip is its label from its first to its last
  sample. With `rest_s` > 0 a rest of that many seconds separates consecutive clips, truth "no
  action", made as follows: the IMU glides linearly from the mean of the previous clip's last 5
  samples to the mean of the next clip's first 5 (the two rest postures the clips end and begin
  in), plus Gaussian noise of the smaller per-channel standard deviation of those clips' last /
  first 10 samples; the camera holds the previous clip's last frame for the first half and the
  next clip's first frame for the second (a still scene).
- a folder of recorded sessions: the sessions holding the split's windows (test / val: those with
  D_Test / D_Val windows, i.e. the checking sessions, played whole; all: every labelled session),
  each replayed from its files (session.chunks) as its own stream. Truth: the session's labels;
  only hops from its first label's start to its last label's end are scored, and unlabelled time
  between counts as "no action".
- the simulator (`sim_person` given): unseen simulated people, each a SimWorld on simulated time
  (its own script of actions and rests), truth the simulator's own segments.

Beside the stream figures: the same model's clip top-1 on the same clips (training/evaluate.py:
UTD-MHAD / synth clips resampled whole; sessions: the split's windows), and the window top-1:
the raw top class of the hops whose window lies wholly inside one true segment.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model.folder import SPLIT_FILE, read_json, read_model_config
from c3t.core.options import COLOUR_INPUTS, NO_ACTION
from c3t.core.streams.contract import Batch
from c3t.training.stream_metrics import Part, figure_lines, stream_figures

log = logging.getLogger(__name__)

SPLITS = ("test", "val", "all")
PREDICT_FROM = ("all", "imu", "camera")
UTD_IMU_HZ, UTD_FPS = 50.0, 30.0     # UTD-MHAD's inertial rate and Kinect frame rate
CHUNK_S = 0.1                        # seconds of IMU samples per delivered batch (frames come one per batch)
REST_EDGE = 5                        # samples whose mean is a clip's rest posture
REST_NOISE = 10                      # samples whose spread is the rest's noise


@dataclass
class Stream:
    """One stream to play: its batches in time order (stream names "imu" / "camera"), each
    stream's kind and rate in Hz, the true segments (start_s, end_s, label; NO_ACTION segments
    optional: uncovered time is a rest) or a callable giving them after play, the first sample's
    time, and the scored span [score_from, score_to] in seconds."""

    name: str
    batches: Iterator[Batch]
    rates: dict
    segments: list | Callable[[], list]
    t0: float = 0.0
    score_from: float = -np.inf
    score_to: float = np.inf


@dataclass
class Played:
    """What one stream's playback gave: per hop its time t (H,), decision, raw top class, class
    probabilities (H, K) (NaN rows where no window was complete) and truth, plus the true
    segments, the window length in seconds and the PredictorSettings the predictor used (the
    model's own decision rule where it carries one)."""

    t: np.ndarray
    decisions: list
    tops: list
    probs: np.ndarray
    truths: list
    segments: list
    window_s: float
    settings: object = None

    def scored(self, t0: float, t1: float) -> Played:
        """The hops with t0 <= t <= t1 (seconds)."""
        keep = (self.t >= t0) & (self.t <= t1)
        pick = np.flatnonzero(keep)
        return Played(self.t[keep], [self.decisions[i] for i in pick], [self.tops[i] for i in pick],
                      self.probs[keep], [self.truths[i] for i in pick], self.segments, self.window_s, self.settings)


# ----------------------------------------------------------------------------- playback

def truth_at(t: np.ndarray, segments: list) -> list[str]:
    """The label of the segment holding each time in `t` (start inclusive, end exclusive),
    NO_ACTION outside every segment."""
    out = [NO_ACTION] * len(t)
    for start, end, label in segments:
        for i in np.flatnonzero((t >= start) & (t < end)):
            out[i] = label
    return out


@contextlib.contextmanager
def one_thread():
    """Run the block with one torch and one OpenCV thread, then restore the settings: a window of
    batch 1 gains nothing from more, a busy CPU makes more much slower (core/cpu.py), and one
    thread sums in one order, so the figures do not depend on the machine's cores or load."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def play(engine, stream: Stream, settings, modalities: tuple[str, ...]) -> Played:
    """Play `stream` through a SyncBuffer and a StreamingPredictor on `engine` (inference.open_engine)
    with `settings` (PredictorSettings), feeding the predictor the `modalities` ("imu", "camera")
    among the stream's; a hop every settings.hop_s from t0 + window (module docstring).
    Raises C3tError when the model takes none of the streams."""
    from c3t.core.model.predictor import StreamingPredictor
    from c3t.core.streams.syncbuffer import SyncBuffer

    window_s = float(settings.window_s or engine.config["inputs"].get("seconds") or 2.5)
    buffer = SyncBuffer(seconds=max(30.0, 4 * window_s), camera_seconds=window_s + 2.0)
    for name, (kind, hz) in stream.rates.items():
        buffer.add_stream(name, kind, hz)
    predictor = StreamingPredictor(engine, buffer, settings, imu_stream="imu" if "imu" in modalities else None,
                                   camera_stream="camera" if "camera" in modalities else None)
    window_s = predictor.spec.seconds
    hop, first = settings.hop_s, stream.t0 + window_s
    k, times, decisions, tops, probs = 0, [], [], [], []
    for batch in stream.batches:
        buffer.ingest(batch)
        latest = predictor.latest_time()
        while latest is not None and latest >= first + k * hop - 1e-9:
            t = first + k * hop
            p = predictor.step(t)
            times.append(t)
            decisions.append(p.action if p else NO_ACTION)
            tops.append(p.top if p else NO_ACTION)
            probs.append(p.probs if p else np.full(len(engine.classes), np.nan))
            k += 1
    segments = stream.segments() if callable(stream.segments) else stream.segments
    t = np.asarray(times, dtype=np.float64)
    return Played(t, decisions, tops, np.asarray(probs).reshape(len(t), len(engine.classes)),
                  truth_at(t, segments), list(segments), window_s, predictor.settings)


def _merged(imu_t, imu, frame_t, frames, t_end: float | None = None) -> Iterator[Batch]:
    """IMU samples in CHUNK_S batches and frames one per batch, in the order of their last
    sample's time (as a live link delivers them); `frames` is indexable, read lazily."""
    items = []
    if len(imu_t):
        bins = np.floor((imu_t - imu_t[0]) / CHUNK_S).astype(np.int64)
        cuts = np.concatenate([[0], np.flatnonzero(np.diff(bins)) + 1, [len(imu_t)]])
        items += [(float(imu_t[b - 1]), 0, (a, b)) for a, b in itertools.pairwise(cuts)]
    items += [(float(t), 1, i) for i, t in enumerate(frame_t) if t_end is None or t < t_end]
    for _, kind, what in sorted(items, key=lambda x: (x[0], x[1])):
        if kind == 0:
            a, b = what
            yield Batch("imu", imu_t[a:b], imu[a:b])
        else:
            yield Batch("camera", [frame_t[what]], frames[what][None])


# ----------------------------------------------------------------------------- clip datasets

def _rest_imu(before: np.ndarray, after: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n IMU samples (n, C) of rest between two clips (see the module docstring)."""
    a, b = before[-REST_EDGE:].mean(0), after[:REST_EDGE].mean(0)
    noise = np.minimum(before[-REST_NOISE:].std(0), after[:REST_NOISE].std(0))
    w = np.linspace(0.0, 1.0, n + 2)[1:-1, None]
    return ((1 - w) * a + w * b + rng.normal(0.0, 1.0, (n, len(a))) * noise).astype(np.float32)


def clip_stream(clips: list, imu_hz: float, fps: float | None, rest_s: float, seed: int,
                name: str = "clips") -> Stream:
    """The clips, (utd_mhad.Sequence, class name) pairs already in play order, back to back as one
    Stream, with `rest_s` seconds of rest between consecutive clips (module docstring); the colour
    video too when `fps` is given. Deterministic in `seed`."""
    from c3t.training import utd_mhad

    rng = np.random.default_rng([int(seed), 0x5E57])
    period = 1.0 / imu_hz
    segments, plan, t = [], [], 0.0
    imus = [utd_mhad.load(seq, "inertial") for seq, _ in clips]
    for i, ((seq, cls), x) in enumerate(zip(clips, imus)):
        if i and rest_s > 0:
            n = round(rest_s * imu_hz)
            plan.append(("rest", t, _rest_imu(imus[i - 1], x, n, rng), (clips[i - 1][0], seq)))
            segments.append((t, t + n * period, NO_ACTION))
            t += n * period
        plan.append(("clip", t, x, seq))
        segments.append((t, t + len(x) * period, cls))
        t += len(x) * period

    def batches() -> Iterator[Batch]:
        """Each piece's IMU and (when fps is given) frames; video is decoded one clip at a time."""
        for what, start, x, who in plan:
            imu_t = start + np.arange(len(x)) * period
            end = start + len(x) * period
            if fps is None:
                yield from _merged(imu_t, x, [], [])
                continue
            if what == "clip":
                frames = utd_mhad.load(who, "rgb")
                frame_t = start + np.arange(len(frames)) / fps
            else:
                last, first = utd_mhad.load(who[0], "rgb")[-1], utd_mhad.load(who[1], "rgb")[0]
                frame_t = start + np.arange(np.ceil((end - start) * fps - 1e-9)) / fps
                frames = [last if ft < (start + end) / 2 else first for ft in frame_t]
            yield from _merged(imu_t, x, frame_t, frames, t_end=end)

    rates = {"imu": ("imu", imu_hz), **({"camera": ("camera", fps)} if fps else {})}
    return Stream(name, batches(), rates, segments)


def dataset_rates(root: Path) -> tuple[float, float]:
    """(IMU Hz, video fps) of a clip dataset: a `c3t synth` folder's dataset.json, else UTD-MHAD's."""
    manifest = Path(root) / "dataset.json"
    if manifest.is_file():
        info = json.loads(manifest.read_text() or "{}")
        return float(info.get("imu_hz") or UTD_IMU_HZ), float(info.get("fps") or UTD_FPS)
    return UTD_IMU_HZ, UTD_FPS


def _split_keys(folder: Path, split: str) -> list[str] | None:
    """The model's keys of `split` from split.json (None for "all"). Raises C3tError when the
    model has no split.json or the split is empty."""
    if split == "all":
        return None
    keys = read_json(Path(folder) / SPLIT_FILE).get(split) or []
    if not keys:
        raise C3tError(f"{Path(folder) / SPLIT_FILE} has no D_{split.capitalize()} clips; "
                       "give --split all to play every clip of the dataset")
    return keys


def clip_dataset_streams(folder, root, config: dict, split: str, rest_s: float, seed: int,
                         camera: bool) -> tuple[list[Stream], list]:
    """([the one Stream], the played (utd_mhad.Sequence, class name) pairs) for a clip dataset.

    Raises:
        C3tError: when split.json names clips the folder lacks, or the dataset's classes are not the
            model's
    """
    from c3t.training import utd_mhad

    root = Path(root)
    modalities = ("inertial", "rgb") if camera else ("inertial",)
    names, sequences = utd_mhad.scan(root, modalities)
    unknown = sorted(set(names) - set(config["classes"]))
    if unknown:
        raise C3tError(f"{root}: class {unknown[0]!r} is not one of the model's classes; "
                       "benchmark a model on data of its own classes")
    keys = _split_keys(folder, split)
    if keys is not None:
        by_key = {s.key: s for s in sequences}
        missing = [k for k in keys if k not in by_key]
        if missing:
            raise C3tError(f"{root} has no clip {missing[0]} of the model's D_{split.capitalize()} ({len(missing)} "
                           f"missing): give the dataset the model was trained on, or --split all")
        sequences = [by_key[k] for k in keys]
    order = np.random.default_rng(seed).permutation(len(sequences))
    played = [(sequences[i], names[sequences[i].label]) for i in order]
    imu_hz, fps = dataset_rates(root)
    return [clip_stream(played, imu_hz, fps if camera else None, rest_s, seed, root.name)], played


def clip_top1(folder, root, config: dict, clips: list, modalities: tuple[str, ...]) -> float:
    """Top-1 (0..1) of the model on the played (Sequence, class name) clips, each resampled whole as in training
    (training/evaluate.py), from the same modalities the stream used."""
    from c3t.core.model import preprocess
    from c3t.core.model.folder import load_model
    from c3t.core.streams.window import InputSpec
    from c3t.training import utd_mhad
    from c3t.training.evaluate import evaluate

    model, _ = load_model(folder)
    spec = InputSpec.from_dict(config["inputs"])
    sequences = [seq for seq, _ in clips]
    labels = np.array([config["classes"].index(cls) for _, cls in clips])
    if "camera" in modalities:
        from c3t.training.prepare import prepare

        data = prepare(root, spec=spec, progress=False)
        rows = [data.keys.index(s.key) for s in sequences]
        imu, visual = data.imu[rows], data.visual[rows]
    else:
        imu = np.stack([preprocess.imu_input(utd_mhad.load(s, "inertial"), spec.imu_steps) for s in sequences])
        visual = None
    modality = {("imu",): "imu", ("camera",): "visual"}.get(tuple(modalities), "fusion")
    return evaluate(model, imu, visual, labels, modality)["top1"]


# ----------------------------------------------------------------------------- sessions

def session_streams(folder, root, split: str, camera: bool) -> tuple[list[Stream], list[str]]:
    """(one Stream per chosen session, their names) for a folder of recorded sessions (module
    docstring).

    Raises:
        C3tError: when no session qualifies
    """
    from c3t.core.session.format import Session, find_sessions
    from c3t.training.session_dataset import _streams

    keys = _split_keys(folder, split)
    wanted = None if keys is None else {k.split("/")[0] for k in keys}
    streams, names = [], []
    for path in find_sessions(root):
        session = Session(path)
        spans = session.label_spans()
        if not spans or (wanted is not None and session.name not in wanted):
            continue
        imu, cam = _streams(session)
        played = [imu, cam] if camera else [imu]
        rates = {}
        for role, name in zip(("imu", "camera"), played):
            track = session.imu.get(name) or session.cameras.get(name)
            rates[role] = (role, track.nominal_hz or session.measured_hz(name) or (100.0 if role == "imu" else 30.0))
        role = {imu: "imu", cam: "camera"}

        def batches(session=session, played=played, role=role) -> Iterator[Batch]:
            """The session's chunks, stream names changed to their role."""
            for c in session.chunks(CHUNK_S, played):
                yield Batch(role[c.stream], c.t_host, c.values, c.t_device, c.seq)

        segs = [(a, b, lb.cls) for a, b, lb in spans]
        first = min(float(tr.t[0]) for tr in (session.imu[imu], *([session.cameras[cam]] if camera else [])))
        streams.append(Stream(session.name, batches(), rates, segs, t0=first,
                              score_from=min(a for a, _, _ in segs), score_to=max(b for _, b, _ in segs)))
        names.append(session.name)
    if not streams:
        raise C3tError(f"{root} holds no labelled session" + ("" if wanted is None else
                       f" of the model's D_{split.capitalize()} ({', '.join(sorted(wanted))})")
                       + ": give the sessions folder the model was trained on, or --split all")
    return streams, names


def windowing_of(split: dict):
    """The session_dataset.Windowing a model's session windows were cut with: split.json's
    "windowing" where the model stored it; for a model from before it did, read off the keys
    ("session/role@t_end"): the most common step between a session's window ends per role
    (labelled roles: hop_s; "align": align_hop_s), windows inside one segment (rule None, how
    those models were cut)."""
    from collections import Counter

    from c3t.training.session_dataset import Windowing

    if split.get("windowing"):
        return Windowing(**split["windowing"])

    def step(keys) -> float | None:
        ends: dict = {}
        for key in keys:
            name, _, rest = key.partition("/")
            role, _, t = rest.partition("@")
            if t:   # a session window's key (a clip dataset's keys name no time)
                ends.setdefault((name, role), []).append(float(t))
        steps = Counter(round(float(d), 3) for ts in ends.values() for d in np.diff(sorted(ts)) if d > 1e-6)
        return steps.most_common(1)[0][0] if steps else None

    default = Windowing()
    return Windowing(hop_s=step([k for r in ("har", "val", "test") for k in split.get(r, [])]) or default.hop_s,
                     align_hop_s=step(split.get("align", [])) or default.align_hop_s, rule=None)


def session_top1(folder, root, config: dict, split: str, sessions: list[str], modalities) -> float:
    """Top-1 (0..1) on the split's windows of the sessions (test / val: split.json's keys; all:
    every labelled window of the played sessions), cut by training/session_dataset.py with the
    window steps the model's own windows had (windowing_of).

    Raises:
        C3tError: for a label that is not one of the model's classes, or no window of the split found
    """
    from c3t.core.model.folder import load_model
    from c3t.core.streams.window import InputSpec
    from c3t.training.evaluate import evaluate
    from c3t.training.session_dataset import prepare_sessions

    windowing = windowing_of(read_json(Path(folder) / SPLIT_FILE)) if (Path(folder) / SPLIT_FILE).is_file() else None
    data = prepare_sessions(root, spec=InputSpec.from_dict(config["inputs"]), progress=False, windowing=windowing)
    keys = _split_keys(folder, split)
    if keys is None:
        pick = [i for i, k in enumerate(data.keys) if k.split("/")[0] in sessions and data.labels[i] >= 0]
    else:
        index = {k: i for i, k in enumerate(data.keys)}
        pick = [index[k] for k in keys if k in index]
    if not pick:
        raise C3tError(f"none of the model's D_{split.capitalize()} windows is in {root} as cut now "
                       "(other sessions, or other window settings)")
    unknown = sorted({data.classes[data.labels[i]] for i in pick} - set(config["classes"]))
    if unknown:
        raise C3tError(f"{root}: label {unknown[0]!r} is not one of the model's classes; "
                       "benchmark a model on sessions of its own classes")
    labels = np.array([config["classes"].index(data.classes[data.labels[i]]) for i in pick])
    modality = {("imu",): "imu", ("camera",): "visual"}.get(tuple(modalities), "fusion")
    model, _ = load_model(folder)
    return evaluate(model, data.imu[pick], data.visual[pick], labels, modality)["top1"]


# ----------------------------------------------------------------------------- the simulator

def sim_world(config: dict) -> dict:
    """The simulated world the model learnt from, read from its dataset (config["dataset"]): a
    `c3t synth` folder's dataset.json, or the simulated devices in its recorded sessions'
    manifests. Returns {"seed", "seen" (subject numbers in that data), "imu_hz", "fps", "width",
    "height", "actions"}.

    Raises:
        C3tError: for a model not trained on simulated people
    """
    from c3t.core.session.format import Session, find_sessions
    from c3t.training.session_dataset import is_sessions_folder
    from c3t.training.synth import is_synth_output

    root = Path(config.get("dataset") or "")
    if root.is_dir() and is_synth_output(root):
        info = json.loads((root / "dataset.json").read_text())
        width, height = info["frame_size"]
        return {"seed": int(info["seed"]), "seen": set(range(1, int(info["subjects"]) + 1)),
                "imu_hz": float(info["imu_hz"]), "fps": float(info["fps"]), "width": int(width), "height": int(height),
                "actions": ",".join(info.get("settings", {}).get("actions") or [])}
    if root.is_dir() and is_sessions_folder(root):
        sims = [d["config"] for path in find_sessions(root) for d in Session(path).manifest.get("devices", [])
                if d.get("type") == "SimulatedSource"]
        if sims:
            if len({c["seed"] for c in sims}) > 1:
                raise C3tError(f"the sessions in {root} come from several simulated worlds (seeds "
                               f"{sorted({c['seed'] for c in sims})}); the simulator benchmark needs one")
            c = sims[0]
            return {"seed": int(c["seed"]), "seen": {int(x["subject"]) for x in sims}, "imu_hz": float(c["imu_hz"]),
                    "fps": float(c["fps"]), "width": int(c["width"]), "height": int(c["height"]),
                    "actions": c.get("actions", "")}
    raise C3tError(f"the model was trained on {root}, not on simulated people (`c3t synth` output or sessions "
                   "recorded from `sim`): the simulator's people would be of another world; give --dataset instead")


def sim_streams(config: dict, sim_person: Callable, people: int, seconds: float, camera: bool,
                skip: int = 0) -> list[Stream]:
    """One Stream per unseen simulated person (the lowest subject numbers not in the model's
    data, after the first `skip` of them), `seconds` of simulated time each. `sim_person(**fields)` returns a source of
    devices/simulated.py's SimulatedConfig fields on simulated time.

    Raises:
        C3tError: for people < 1, seconds shorter than two windows, or a model not trained on simulated
            people
    """
    if people < 1 or seconds <= 0:
        raise C3tError(f"--people {people} / --seconds {seconds}: give at least 1 person and some seconds")
    world = sim_world(config)
    unseen = [k for k in range(1, skip + people + len(world["seen"]) + 1) if k not in world["seen"]][skip:skip + people]
    rates = {"imu": ("imu", world["imu_hz"]), **({"camera": ("camera", world["fps"])} if camera else {})}
    streams = []
    for subject in unseen:
        source = sim_person(seed=world["seed"], subject=subject, imu_hz=world["imu_hz"], fps=world["fps"],
                            width=world["width"], height=world["height"], camera=camera, actions=world["actions"])

        def batches(source=source) -> Iterator[Batch]:
            """The person's batches on simulated time until `seconds` (a failed simulation says why)."""
            source.connect()
            source.start()
            try:
                while True:
                    got = source.read()
                    if not got and not source.running:
                        errors = [h.last_error for h in source.health().values() if h.last_error]
                        raise C3tError(f"the simulated person stopped: {errors[0] if errors else 'no reason given'}")
                    yield from got
                    if got and max(float(b.t_host[-1]) for b in got) >= seconds:
                        return
            finally:
                source.stop()

        streams.append(Stream(f"simulated person {subject} (world {world['seed']})", batches(), rates,
                              lambda source=source: source.segments(0.0, seconds), score_to=seconds))
    return streams


# ----------------------------------------------------------------------------- the benchmark

def window_top1(played: list[Played], classes: list[str]) -> float | None:
    """Share of hops whose raw top class is the truth, over hops whose window [t - window, t]
    lies wholly inside one true segment (rests count only when NO_ACTION is one of the model's
    `classes`); None when there is no such hop."""
    right = total = 0
    for p in played:
        for t, top, truth in zip(p.t, p.tops, p.truths):
            inside = any(a <= t - p.window_s and t < b for a, b, _ in p.segments)
            if not inside or (truth == NO_ACTION and NO_ACTION not in classes):
                continue
            total += 1
            right += top == truth
    return right / total if total else None


def bench_stream(folder, dataset, split: str = "test", rest_s: float = 0.0, seed: int = 0,
                 predict_from: str = "all", settings=None, backend: str = "auto",
                 sim_person: Callable | None = None, people: int = 1, seconds: float = 120.0,
                 decoders: bool = False) -> dict:
    """Play held-out data of `dataset` through the live path with the model folder `folder`
    (module docstring); returns {"figures": stream_figures + clip_top1 + window_top1, "data",
    "modalities", "settings", "streams", "rest"}. `predict_from`: "all" (every stream the model
    takes), "imu" or "camera". `settings`: PredictorSettings (default: the live defaults).
    `sim_person(subject, world_seed, **source)` (given: the simulator) returns the live source of
    one simulated person (devices/simulated.py on simulated time); `people` unseen people of
    `seconds` each are played. With `decoders`, also "decoders": `compare_decoders` of the
    validation playback (the model's D_Val; the simulator: the next `people` unseen people) and
    this one.

    Raises:
        C3tError: for a bad split, rest or predict_from, or data the model cannot take
    """
    from c3t.core.model.inference import open_engine
    from c3t.core.model.predictor import PredictorSettings
    from c3t.training.session_dataset import is_sessions_folder

    if split not in SPLITS:
        raise C3tError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    if rest_s < 0:
        raise C3tError(f"--rest {rest_s}: give 0 or more seconds of rest between clips")
    if predict_from not in PREDICT_FROM:
        raise C3tError(f"predict from {predict_from!r}: expected one of {', '.join(PREDICT_FROM)}")
    if decoders and split != "test" and sim_person is None:
        raise C3tError(f"--decoders chooses each decoder's rule on D_Val and scores it on D_Test: leave out --split {split}")
    config = read_model_config(folder, "--model")
    settings = settings or PredictorSettings()
    engine = open_engine(folder, backend, threads=1)
    visual = config["inputs"].get("visual")
    camera = (visual in COLOUR_INPUTS and "camera" in engine.paths and predict_from in ("all", "camera"))
    modalities = tuple(m for m, on in (("imu", predict_from in ("all", "imu") and "imu" in engine.paths),
                                       ("camera", camera)) if on)
    if not modalities:
        raise C3tError(f"the model ({config['model']['method']}, camera {visual}) cannot predict from {predict_from}: "
                       + ("a live camera gives colour frames only" if predict_from == "camera" else "it has no IMU path"))

    def streams_of(which: str, skip: int = 0):
        """(streams, data words, kind, clips or session names) of split `which`."""
        if sim_person is not None:
            got = sim_streams(config, sim_person, people, seconds, "camera" in modalities, skip)
            return got, ", ".join(s.name for s in got), "sim", None
        if is_sessions_folder(dataset):
            got, names = session_streams(folder, dataset, which, "camera" in modalities)
            return got, f"{len(names)} sessions: {', '.join(names)}", "sessions", names
        got, sequences = clip_dataset_streams(folder, dataset, config, which, rest_s, seed, "camera" in modalities)
        return got, f"{len(sequences)} clips", "clips", sequences

    def played_of(streams) -> list[Played]:
        out = []
        for s in streams:
            log.info("playing %s", s.name)
            with one_thread():
                out.append(play(engine, s, settings, modalities).scored(s.score_from, s.score_to))
        return out

    streams, data, kind, held = streams_of(split)
    if decoders:   # the choice's data first (streams are lazy): it must not be the data scored
        val_streams_, val_data, _, val_held = streams_of("val", skip=people)
        if kind == "sessions" and set(val_held) & set(held):
            raise C3tError(f"--decoders: the model's D_Val and D_Test windows come from the same sessions "
                           f"({', '.join(sorted(set(val_held) & set(held)))}), so a rule chosen on D_Val would be chosen on "
                           "the data it is scored on; compare decoders on a clip dataset or with --sim")
    played = played_of(streams)
    top1, note = None, None
    if kind == "clips":
        top1 = clip_top1(folder, dataset, config, held, modalities)
    elif kind == "sessions":
        try:
            top1 = session_top1(folder, dataset, config, split, held, modalities)
        except C3tError as exc:   # e.g. check labels of a class no session of the folder teaches
            note = f"no clip top-1: {exc}"
            log.warning(note)
    used = played[0].settings if played and played[0].settings is not None else settings
    figures = stream_figures([Part(p.t, p.decisions, p.truths, used.hop_s, p.segments) for p in played])
    figures["clip_top1"] = None if top1 is None else round(float(top1), 4)
    wt = window_top1(played, engine.classes)
    figures["window_top1"] = None if wt is None else round(wt, 4)
    report = {"figures": figures, "data": data, "kind": kind, "modalities": list(modalities),
              "window_s": played[0].window_s if played else None, "backend": engine.backend,
              "settings": {k: getattr(used, k) for k in ("hop_s", "smoothing", "history", "threshold", "decoder")
                           if hasattr(used, k)},
              "rest": (f"{rest_s:g} s between clips: the IMU glides from one clip's rest posture to the next's with the "
                       "clips' own rest noise, the camera holds a still frame" if kind == "clips" and rest_s > 0 else
                       "none between clips (back to back)" if kind == "clips" else "as recorded / simulated"),
              "split": split if kind != "sim" else "unseen simulated people", "seed": seed, "note": note}
    if decoders:
        report["decoders"] = compare_decoders(played_of(val_streams_), played, engine.classes, used.hop_s)
        report["decoders_chosen_on"] = val_data if kind == "sim" else f"D_Val: {val_data}"
    return report


def compare_decoders(val: list[Played], test: list[Played], classes: list[str], hop_s: float) -> list[dict]:
    """The built-in rule and, per decoder (core/model/predictor.py DECODERS), the best rule of that
    decoder among decision_rule.candidates(), chosen on the `val` playback by decision_rule's
    objective; each re-decoded from the played per-hop probabilities (hops without a complete
    window stay "no action") and scored on `test`. Returns [{"decoder", "rule", "val": objective,
    "figures": stream_figures on test}], the built-in rule first."""
    from c3t.core.model.predictor import DECODERS, PredictorSettings
    from c3t.training.decision_rule import candidates, choose, decide

    def complete(p: Played) -> np.ndarray:
        """The hops whose window was whole (the others have NaN probabilities)."""
        return ~np.isnan(p.probs).any(axis=1)

    def decoded(played: list[Played], rule: dict) -> list[Part]:
        parts = []
        for p in played:
            ok = complete(p)
            decisions = np.full(len(p.t), NO_ACTION, dtype=object)
            decisions[ok] = decide(p.probs[ok], classes, rule)
            parts.append(Part(p.t, list(decisions), p.truths, hop_s, p.segments))
        return parts

    val_streams_ = [(p.t[ok], p.probs[ok], list(np.asarray(p.truths, dtype=object)[ok]))
                    for p in val for ok in [complete(p)] if ok.any()]
    rows = [{"decoder": "built-in", "rule": PredictorSettings().rule(), "val": None}]
    tried = candidates()
    for decoder in DECODERS if val_streams_ else ():
        chosen = choose(val_streams_, classes, hop_s, [r for r in tried if r["decoder"] == decoder])
        rows.append({"decoder": decoder, "rule": chosen["rule"], "val": chosen["val"]})
    for row in rows:
        row["figures"] = stream_figures(decoded(test, row["rule"]))
    return rows


def decoder_lines(rows: list[dict]) -> list[str]:
    """`compare_decoders` rows as a small table: one line per rule."""
    from c3t.training.decision_rule import decoder_words

    out = [f"{'decoder':<14} {'rule':<60} {'frame acc.':>9}  {'F1@50':>5}  {'edit':>5}  delay"]
    for row in rows:
        r, f = row["rule"], row["figures"]
        words = ", ".join(w for w in (f"{r['smoothing']} of {r['history']}", f"threshold {r['threshold']:g}",
                                      decoder_words(r)) if w)
        delay = "-" if f["delay_s_median"] is None else f"{f['delay_s_median']:.2f} s"
        out.append(f"{row['decoder']:<14} {words:<60} {100 * (f['frame_accuracy'] or 0):8.1f}%  "
                   f"{f['f1_50'] or 0:5.2f}  {f['edit'] or 0:5.1f}  {delay}")
    return out


def report_lines(report: dict) -> list[str]:
    """A `bench_stream` report as readable lines: what was played, how, and the figures."""
    s = report["settings"]
    return [(f"played {report['data']} ({report['split']}, order seed {report['seed']}) from "
            f"{' + '.join(report['modalities'])}; window {report['window_s']:g} s, hop {s['hop_s']:g} s, "
            f"{s['smoothing']} over {s['history']} windows, threshold {s['threshold']:g} ({report['backend']}); "
            f"rest: {report['rest']}"), *figure_lines(report["figures"]), *([report["note"]] if report.get("note") else []),
            *([f"decoders, each one's rule chosen on {report['decoders_chosen_on']}, scored on the data above:",
               *decoder_lines(report["decoders"])] if report.get("decoders") else [])]
