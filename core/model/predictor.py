"""StreamingPredictor: every hop, a window from the SyncBuffer through the model, and a steady decision.

    buffer = SyncBuffer(); buffer.add_stream("imu", "imu", rate_hz=100)
    predictor = StreamingPredictor.from_folder(MODEL_DIR, buffer)      # onnxruntime, else torch
    while running:
        buffer.extend(source.read(0.05))
        p = predictor.poll()          # a Prediction once per hop (0.25 s), else None
        if p: print(p.t, p.action, p.confidence, p.attention, p.latency_ms)

Windows go through the same preprocessing functions as training clips (c3t.core.model.preprocess),
so what is trained on is what is served. The predictor uses whichever modalities are
connected and have data: IMU alone, camera alone, or both (the fusion graph). A modality
whose window is not fully covered (startup, a gap, a stalled camera) sits that window out.

The raw class probabilities of each window are smoothed over the last `history` windows
(moving average of probabilities, or a majority vote); below `threshold` the decision is
NO_ACTION. An online decoder may then steady the decision (DECODERS): "hysteresis" keeps the
current action while its smoothed score stays above threshold - `release`; "min-duration"
shows a new decision only once it has been the smoothed decision for `min_hops` hops in a row;
"hmm" is the forward filter of a hidden Markov model over the classes whose action changes
with probability `switch` per hop (the smoothed scores taken as the emissions), so one window's
flicker cannot overturn an action that many windows supported, while steady new evidence can
(Rabiner 1989, the forward algorithm; online, it never looks ahead).
A model folder may carry the rule chosen for it on D_Val streams (config["decision"],
training/decision_rule.py); with `from_model` (the default) the predictor uses it. Each
prediction carries the latency of its stages in milliseconds.
"""
from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model import preprocess
from c3t.core.model.backbones import IMAGE_SIZE
from c3t.core.options import COLOUR_INPUTS, NO_ACTION
from c3t.core.streams.window import InputSpec

SMOOTHING = ("mean", "majority")
DECODERS = ("none", "hysteresis", "min-duration", "hmm")
RULE_FIELDS = ("smoothing", "history", "threshold", "decoder", "release", "min_hops", "switch")   # config["decision"]
EMISSION_FLOOR = 1e-4   # hmm: the least weight a class's score gives, so no window can rule a class out for good
FRAME_MATCH_S = 0.004  # frames are >= 16 ms apart (<= 60 fps); clock re-fits move them far less


@dataclass
class PredictorSettings:
    """How a StreamingPredictor decides: hop and window length (seconds), the smoothing
    ("mean" or "majority") over `history` windows, the confidence threshold below which the
    decision is NO_ACTION, and the fraction of a window a modality must cover to be used.
    Raises C3tError for an unknown smoothing or a value out of range."""

    hop_s: float = 0.25
    window_s: float | None = None  # None: the model's inputs["seconds"] if recorded, else WindowSpec's
    smoothing: str = "mean"        # "mean" of probabilities, or "majority" vote of the windows' top classes
    history: int = 4               # windows the decision looks back over
    threshold: float = 0.5         # smoothed confidence below this -> NO_ACTION
    min_coverage: float = 1.0      # fraction of a window's steps a modality must have data for
    decoder: str = "none"          # online decoder after smoothing: DECODERS
    release: float = 0.1           # hysteresis: the current action holds down to threshold - release
    min_hops: int = 2              # min-duration: hops a new decision must last before it is shown
    switch: float = 0.05           # hmm: the probability per hop that the action changes
    from_model: bool = True        # use the model folder's chosen rule (config["decision"]) for RULE_FIELDS

    def __post_init__(self):
        if self.smoothing not in SMOOTHING:
            raise C3tError(f"smoothing {self.smoothing!r} is not one of {SMOOTHING}")
        if self.decoder not in DECODERS:
            raise C3tError(f"decoder {self.decoder!r} is not one of {DECODERS}")
        if self.hop_s <= 0 or self.history < 1 or not 0 <= self.threshold <= 1 or not 0 < self.min_coverage <= 1 \
                or not 0 <= self.release <= 1 or self.min_hops < 1 or not 0 < self.switch < 1:
            raise C3tError(f"predictor settings out of range: hop_s > 0, history >= 1, threshold in [0, 1], "
                           f"min_coverage in (0, 1], release in [0, 1], min_hops >= 1, switch in (0, 1) (got {self})")

    def rule(self) -> dict:
        """The decision rule's fields (RULE_FIELDS) as a dict, as config["decision"] stores them."""
        return {k: getattr(self, k) for k in RULE_FIELDS}

    def for_model(self, config: dict) -> PredictorSettings:
        """These settings with the model's chosen rule (config["decision"], RULE_FIELDS) when
        `from_model` is set and the model has one; else unchanged."""
        import dataclasses

        chosen = config.get("decision") if self.from_model else None
        if not chosen:
            return self
        return dataclasses.replace(self, **{k: chosen[k] for k in RULE_FIELDS if k in chosen})


class DecisionSmoother:
    """Turns a stream of per-window probabilities into a steady decision.

    mean:     the average of the last `history` probability vectors; its top class is the
              decision and its probability the confidence.
    majority: each window votes for its top class, or for NO_ACTION when that class's
              probability is below the threshold; the most voted wins (ties: the latest
              vote among them) and the confidence is its share of the votes.
    Either way a confidence below `threshold` gives NO_ACTION. Then the decoder (module
    docstring): "none" shows that decision; "hysteresis" keeps the action shown while its score
    is at least threshold - `release` and no other class reaches the threshold; "min-duration"
    shows a new decision only after `min_hops` hops of it in a row (until then the previous one);
    "hmm" filters the smoothed scores (floored at EMISSION_FLOOR) through a hidden Markov model whose
    state stays with probability 1 - `switch` per hop and otherwise moves to any other class alike;
    the filtered posterior's top class is the decision, NO_ACTION below `threshold`.

    Raises:
        C3tError: for a `smoothing` not in SMOOTHING, a `decoder` not in DECODERS or a `switch`
            outside (0, 1)
    """

    def __init__(self, classes: list[str], smoothing: str = "mean", history: int = 4, threshold: float = 0.5,
                 decoder: str = "none", release: float = 0.1, min_hops: int = 2, switch: float = 0.05):
        if smoothing not in SMOOTHING:
            raise C3tError(f"smoothing {smoothing!r} is not one of {SMOOTHING}")
        if decoder not in DECODERS:
            raise C3tError(f"decoder {decoder!r} is not one of {DECODERS}")
        if not 0 < switch < 1:
            raise C3tError(f"switch {switch}: the probability per hop that the action changes must lie in (0, 1)")
        self.classes, self.smoothing, self.threshold = list(classes), smoothing, threshold
        self.decoder, self.release, self.min_hops, self.switch = decoder, release, min_hops, switch
        self._belief: np.ndarray | None = None              # hmm: the filtered posterior over the classes
        self._probs: deque[np.ndarray] = deque(maxlen=history)
        self.scores = np.zeros(len(self.classes))   # per class, what the last decision was taken from
        self._shown: tuple[str, float] = (NO_ACTION, 0.0)   # the decoder's last output
        self._pending, self._run = NO_ACTION, 0             # min-duration: the latest decision and its run

    @classmethod
    def from_settings(cls, classes: list[str], settings: PredictorSettings) -> DecisionSmoother:
        """A smoother with the rule of `settings` (PredictorSettings)."""
        return cls(classes, settings.smoothing, settings.history, settings.threshold, settings.decoder,
                   settings.release, settings.min_hops, settings.switch)

    def reset(self) -> None:
        """Forget the past windows; the next decision starts a fresh history."""
        self._probs.clear()
        self._shown, self._pending, self._run = (NO_ACTION, 0.0), NO_ACTION, 0
        self._belief = None

    def update(self, probs) -> tuple[str, float]:
        """Add one window's probabilities; returns (decision, confidence) after the decoder."""
        action, confidence = self._smoothed(probs)
        if self.decoder == "hmm":
            self._shown = self._filtered()
        elif self.decoder == "hysteresis":
            shown = self._shown[0]
            if action != shown and action != NO_ACTION:
                self._shown = (action, confidence)          # another class reached the threshold
            elif shown != NO_ACTION and shown in self.classes and \
                    self.scores[self.classes.index(shown)] >= self.threshold - self.release:
                self._shown = (shown, float(self.scores[self.classes.index(shown)]))   # holds
            else:
                self._shown = (action, confidence)
        elif self.decoder == "min-duration":
            self._run = self._run + 1 if action == self._pending else 1
            self._pending = action
            if action == self._shown[0] or self._run >= self.min_hops:
                self._shown = (action, confidence)
        else:
            self._shown = (action, confidence)
        return self._shown

    def _filtered(self) -> tuple[str, float]:
        """One forward step of the hidden Markov model on the current smoothed scores: predict
        (stay 1 - switch, else any other class alike), weigh by the scores, normalise."""
        k = len(self.classes)
        emission = np.maximum(self.scores, EMISSION_FLOOR)
        if self._belief is None:
            prior = np.full(k, 1.0 / k)
        else:
            move = self.switch / (k - 1) if k > 1 else 0.0
            prior = self._belief * (1.0 - self.switch - move) + move
        belief = prior * emission
        self._belief = belief / belief.sum()
        best = int(self._belief.argmax())
        confidence = float(self._belief[best])
        if self.classes[best] == NO_ACTION or confidence < self.threshold:
            return NO_ACTION, confidence
        return self.classes[best], confidence

    def _smoothed(self, probs) -> tuple[str, float]:
        """The smoothed decision before the decoder: (class or NO_ACTION, confidence)."""
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (len(self.classes),):
            raise ValueError(f"expected {len(self.classes)} probabilities, got shape {probs.shape}")
        self._probs.append(probs)
        if self.smoothing == "mean":
            mean = np.mean(self._probs, axis=0)
            best = int(mean.argmax())
            action, confidence = self.classes[best], float(mean[best])
            self.scores = mean
        else:
            votes = [self.classes[int(p.argmax())] if p.max() >= self.threshold else NO_ACTION for p in self._probs]
            counts = Counter(votes)
            top = max(counts.values())
            action = next(v for v in reversed(votes) if counts[v] == top)
            confidence = top / len(votes)
            self.scores = np.array([counts[c] / len(votes) for c in self.classes])
        if action == NO_ACTION or confidence < self.threshold:
            return NO_ACTION, confidence
        return action, confidence


@dataclass
class Prediction:
    """One step's output: the smoothed decision and its confidence, this window's class
    probabilities (K,) and top class, C3T's attention (t_rec,) or None, the modalities used,
    the backend, and the time of each stage in milliseconds."""

    t: float                          # window end, host monotonic seconds
    action: str                       # smoothed decision, or NO_ACTION
    confidence: float                 # of the smoothed decision
    probs: np.ndarray                 # this window's class probabilities
    top: str                          # this window's most probable class (unsmoothed)
    attention: np.ndarray | None      # C3T: the class token's attention over the t_rec steps
    modalities: tuple[str, ...]       # ("imu",), ("camera",) or ("imu", "camera")
    backend: str                      # "onnxruntime" or "torch"
    stages_ms: dict = field(default_factory=dict)  # window, preprocess, backbone, model, smoothing
    smoothed: np.ndarray | None = None  # per class, what the decision came from: the mean probabilities
                                        # over the history ("mean") or each class's share of the votes

    @property
    def latency_ms(self) -> float:
        """Total time of this step, from cutting the window to the decision."""
        return float(sum(self.stages_ms.values()))

    def to_json(self, digits: int = 4) -> dict:
        """A JSON-ready dict (probabilities rounded to `digits`, times to milliseconds), as
        `c3t predict` prints it; leaves out the smoothed scores."""
        return {
            "t": round(self.t, 3), "action": self.action, "confidence": round(self.confidence, digits),
            "top": self.top, "probs": [round(float(p), digits) for p in self.probs],
            "attention": None if self.attention is None else [round(float(a), digits) for a in self.attention],
            "latency_ms": round(self.latency_ms, 3), "stages_ms": {k: round(v, 3) for k, v in self.stages_ms.items()},
            "modalities": list(self.modalities), "backend": self.backend,
        }


class LiveInputs:
    """SyncBuffer windows -> model inputs (batch of 1) with the training preprocessing.

    IMU: preprocess.imu_input (the gyroscope scaling). Camera: colour frames only (a live
    camera delivers BGR images): preprocess.frames_input (colour or motion), then for "features" models the
    frozen backbone once per new frame (features cached by frame time; colour frames are
    already backbone images: preprocess.as_backbone_images passes colour through).
    Depth and skeleton models cannot be fed from a colour camera: `camera_problem` says so."""

    def __init__(self, config: dict, engine):
        self.config, self.engine = config, engine
        self.inputs = inputs = InputSpec.from_dict(config["inputs"])
        self.visual, self.kind = inputs.visual, config["model"]["visual_input"]
        self.imu_steps, self.frames = inputs.imu_steps, inputs.frames
        self.size = IMAGE_SIZE if self.kind == "features" else inputs.frame_size
        self._features: dict[float, np.ndarray] = {}

    @property
    def camera_problem(self) -> str | None:
        """Why a live colour camera cannot feed this model (its camera modality is not rgb),
        or None when it can."""
        if self.visual not in COLOUR_INPUTS:
            return (f"the model's camera modality is {self.visual}, which a live colour camera does not deliver; "
                    "run it on the IMU alone (leave out --camera) or use a model trained on rgb")
        return None

    def imu(self, window_imu: np.ndarray) -> np.ndarray:
        """An IMU window (T, 6) -> the model's IMU input (1, imu_steps, 6) float32."""
        return preprocess.imu_input(window_imu, self.imu_steps)[None]

    def camera(self, frames: np.ndarray, frame_times: np.ndarray) -> tuple[np.ndarray, float]:
        """(model input, milliseconds spent in the backbone).

        Raises:
            C3tError: with `camera_problem` when the model cannot use this camera (e.g. a skeleton model
                and a colour camera)
        """
        if self.camera_problem:
            raise C3tError(self.camera_problem)
        if self.kind == "frames":
            return preprocess.frames_input(frames, self.inputs, self.size)[None], 0.0
        started = time.perf_counter()
        keys = [self._cached_key(float(t)) for t in frame_times]
        new = [i for i, k in enumerate(keys) if k is None]
        if new:
            images = np.concatenate([preprocess.colour_input(frames[i : i + 1], 1, self.size) for i in new])
            for i, f in zip(new, self.engine.features(images)):
                keys[i] = float(frame_times[i])
                self._features[keys[i]] = f
        backbone_ms = (time.perf_counter() - started) * 1000
        features = np.stack([self._features[k] for k in keys])[None].astype(np.float32)
        oldest = min(keys)
        for k in [k for k in self._features if k < oldest]:  # frames that left the window
            del self._features[k]
        return features, backbone_ms

    def _cached_key(self, t: float) -> float | None:
        """The cached frame at time t. A window re-maps frame times with the newest clock fit, so
        the same frame can come back a little earlier or later: within FRAME_MATCH_S it is the same."""
        if not self._features:
            return None
        keys = np.fromiter(self._features, dtype=np.float64)
        nearest = float(keys[np.abs(keys - t).argmin()])
        return nearest if abs(nearest - t) <= FRAME_MATCH_S else None


class StreamingPredictor:
    """See the module docstring. `engine` comes from c3t.core.model.inference.open_engine.

    Raises:
        C3tError: when the buffer has no stream the model takes (nothing to predict from), or the model
            cannot use the camera stream
    """

    def __init__(self, engine, buffer, settings: PredictorSettings | None = None,
                 imu_stream: str = "imu", camera_stream: str = "camera"):
        self.engine, self.buffer = engine, buffer
        self.settings = settings or PredictorSettings()
        self.inputs = LiveInputs(engine.config, engine)
        self.classes = engine.classes
        config = engine.config
        self.settings = self.settings.for_model(config)   # the model's chosen decision rule, unless told otherwise
        self.smoother = DecisionSmoother.from_settings(self.classes, self.settings)
        self.spec = InputSpec.from_dict(config["inputs"]).window(config["model"]["imu_channels"], self.settings.window_s)
        self.streams = {}
        if imu_stream in buffer.streams and "imu" in engine.paths:
            self.streams["imu"] = imu_stream
        if camera_stream in buffer.streams and "camera" in engine.paths:
            if self.inputs.camera_problem:
                raise C3tError(self.inputs.camera_problem)
            self.streams["camera"] = camera_stream
        if not self.streams:
            raise C3tError(f"nothing to predict from: the buffer has streams {buffer.streams}, the model "
                           f"({engine.method}) takes {', '.join(engine.paths)}; connect an IMU stream named "
                           f"{imu_stream!r} or a camera stream named {camera_stream!r}")
        self.last_t: float | None = None

    @classmethod
    def from_folder(cls, folder, buffer, settings: PredictorSettings | None = None, backend: str = "auto", **kw):
        """A predictor on `buffer` for the model folder, with the engine `open_engine` picks for
        `backend`; `kw` gives the stream names. Raises C3tError as open_engine and __init__ do."""
        from c3t.core.model.inference import open_engine

        return cls(open_engine(folder, backend), buffer, settings, **kw)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities connected (each window uses those of them that have data)."""
        return tuple(self.streams)

    def latest_time(self) -> float | None:
        """The newest instant every connected stream has reached; a stream more than a hop
        behind the freshest (stalled) does not hold the others back."""
        times = {m: self.buffer.latest_time(s) for m, s in self.streams.items()}
        known = [t for t in times.values() if t is not None]
        if not known:
            return None
        fresh = max(known)
        current = [t for t in known if t >= fresh - max(self.settings.hop_s, 0.1)]
        return min(current)

    def poll(self) -> Prediction | None:
        """A prediction when the data has advanced a hop past the last one, else None."""
        t = self.latest_time()
        if t is None or (self.last_t is not None and t < self.last_t + self.settings.hop_s):
            return None
        return self.step(t)

    def step(self, t_end: float | None = None) -> Prediction | None:
        """Predict for the window ending at t_end (default: now in the data); None if no
        connected modality has a complete enough window."""
        t_end = self.latest_time() if t_end is None else t_end
        if t_end is None:
            return None
        self.last_t = t_end
        stages = {}
        clock = time.perf_counter()
        window = self.buffer.window(t_end, self.spec, imu=self.streams.get("imu"), camera=self.streams.get("camera"),
                                    allow_missing=1.0)
        used = [m for m, mask in (("imu", window.imu_mask), ("camera", window.frame_mask))
                if mask is not None and mask.mean() >= self.settings.min_coverage]
        stages["window"], clock = _lap(clock)
        if not used:
            return None
        feeds = {}
        if "imu" in used:
            feeds["imu"] = self.inputs.imu(window.imu)
        if "camera" in used:
            feeds["visual"], stages["backbone"] = self.inputs.camera(window.frames, window.frame_times)
        stages["preprocess"], clock = _lap(clock)
        stages["preprocess"] -= stages.get("backbone", 0.0)
        path = "fusion" if len(used) == 2 else ("imu" if used == ["imu"] else "camera")
        probs, attention = self.engine.run(path, **feeds)
        stages["model"], clock = _lap(clock)
        action, confidence = self.smoother.update(probs)
        stages["smoothing"], clock = _lap(clock)
        return Prediction(t=float(t_end), action=action, confidence=confidence, probs=np.asarray(probs),
                          top=self.classes[int(np.argmax(probs))], attention=attention, modalities=tuple(used),
                          backend=self.engine.backend, stages_ms=stages, smoothed=np.array(self.smoother.scores))


def _lap(since: float) -> tuple[float, float]:
    now = time.perf_counter()
    return (now - since) * 1000, now


def window_truth(truth_at, t0: float, t1: float, samples: int = 9) -> str:
    """The ground truth a window saw: the most frequent action at evenly spaced instants of
    [t0, t1] (None from `truth_at`, a rest, counts as NO_ACTION; ties go to the later one)."""
    labels = [truth_at(float(t)) or NO_ACTION for t in np.linspace(t0, t1, samples)]
    counts = Counter(labels)
    top = max(counts.values())
    return next(v for v in reversed(labels) if counts[v] == top)


class RunningAccuracy:
    """Decisions scored against ground truth, leaving out the first window after each change
    of the true action (no system can know the new action the instant it starts)."""

    def __init__(self):
        self.correct = self.scored = self.skipped = 0
        self._last_truth: str | None = None

    def update(self, decision: str, truth: str) -> bool | None:
        """True/False when scored, None for a window left out."""
        changed = self._last_truth is not None and truth != self._last_truth
        first = self._last_truth is None
        self._last_truth = truth
        if changed or first:
            self.skipped += 1
            return None
        self.scored += 1
        self.correct += decision == truth
        return decision == truth

    @property
    def accuracy(self) -> float | None:
        """The fraction of scored decisions that were right, or None before any was scored."""
        return self.correct / self.scored if self.scored else None
