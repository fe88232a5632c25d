"""The live pipeline the GUI, `c3t live` and `c3t demo --headless` share (no Qt here).

    live = LivePipeline(settings)
    live.connect(imu="sim", camera="sim")          # device specs (c3t.devices.spec)
    live.set_model("runs/demo-model")               # any time; the next window uses it
    live.start()                                    # the worker thread
    view = live.view()                              # the latest LiveView, a consistent copy
    live.start_recording("sessions/s1", label="wave")  # also while predicting
    live.stop()

One worker thread moves the sources' batches into a SyncBuffer (under the role names "imu"
and "camera"), into the session being recorded if any, and through the StreamingPredictor
every hop. About 40 times a second it publishes a `LiveView` (recent IMU samples, the newest
frame, recent predictions, device status, recording status) by swapping one reference, so
readers never wait on the worker and never see a half-updated view. Errors of the worker
(a model that cannot take the connected inputs, a recording failure) end up in
`LiveView.errors` in words; the pipeline keeps running with what still works.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model.predictor import PredictorSettings, RunningAccuracy, window_truth
from c3t.core.options import NO_ACTION
from c3t.core.session.record_loop import LabelledRecording
from c3t.core.streams.delivery import delivery_warning
from c3t.devices.simulated import SimulatedSource
from c3t.training.stream_metrics import StreamScore

log = logging.getLogger(__name__)

PREDICT_FROM = ("all", "imu", "camera")   # "all": every connected modality (fusion when both)
VIEW_HZ = 40.0
PLOT_SECONDS = 10.0   # IMU history kept in the view (the GUI shows up to this much)
WARN_AFTER_S = 3.0    # a device's delivery is judged once it has sent this many seconds of data


# ----------------------------------------------------------------------------- sources

class SourceFeed:
    """Moves batches from the opened sources into the SyncBuffer under the role names "imu" and
    "camera"; a stream is registered once its source knows its rate (until then batches wait)."""

    def __init__(self, roles: dict, buffer, rate_wait_s: float = 3.0):
        self.buffer = buffer
        self.role_of = {(id(src), stream): role for role, (src, stream) in roles.items()}
        self.roles = roles
        self.sources = list({id(s): s for s, _ in roles.values()}.values())
        self.pending: dict[str, list] = {role: [] for role in roles}
        self.rate_wait_s = rate_wait_s
        self.started = time.monotonic()

    def rate(self, role: str) -> float | None:
        """The stream's rate in Hz: the source's nominal rate, else (after `rate_wait_s` seconds) the measured
        one; None while it is not known yet."""
        src, stream = self.roles[role]
        health = src.health()[stream]
        if health.nominal_hz:
            return health.nominal_hz
        if time.monotonic() - self.started > self.rate_wait_s:
            return health.measured_hz or None
        return None

    def pump(self, timeout: float = 0.02) -> list:
        """Read what arrived; returns the batches ingested (stream renamed to their role)."""
        done = []
        for src in self.sources:
            for batch in src.read(timeout / len(self.sources)):
                role = self.role_of.get((id(src), batch.stream))
                if role is None:
                    continue  # a stream nobody asked for (e.g. the simulator's camera with --imu only)
                if batch.stream != role:
                    batch = dataclasses.replace(batch, stream=role)
                if role not in self.buffer.streams:
                    self.pending[role].append(batch)
                    rate = self.rate(role)
                    if not rate:
                        continue
                    self.buffer.add_stream(role, "camera" if role == "camera" else "imu", rate)
                    batches, self.pending[role] = self.pending[role], []
                else:
                    batches = [batch]
                for b in batches:
                    self.buffer.ingest(b)
                done.extend(batches)
        return done

    @property
    def ready(self) -> bool:
        """Whether every role's stream has been registered in the buffer (its rate is known)."""
        return all(role in self.buffer.streams for role in self.roles)


# ----------------------------------------------------------------------------- the view

def decision_rule(settings: PredictorSettings) -> str:
    """The smoothing, the "no action" threshold and the decoder in words, as the window and `c3t live`
    show them."""
    seconds = settings.history * settings.hop_s
    how = "mean of the probabilities" if settings.smoothing == "mean" else "majority vote"
    decoder = {"hysteresis": f" · an action holds down to {100 * (settings.threshold - settings.release):.0f}%",
               "min-duration": f" · a new decision shows after {settings.min_hops} windows in a row",
               "hmm": f" · an HMM filter steadies it (a change expected every {settings.hop_s / settings.switch:.1f} s)"}
    return (f"{how} over the last {settings.history} windows ({seconds:g} s) · "
            f"below {100 * settings.threshold:.0f}% the decision is \"{NO_ACTION}\"" + decoder.get(settings.decoder, ""))


def below_threshold(p, classes: list[str]) -> bool:
    """Whether prediction `p` is a "no action" that only the threshold decided (the top smoothed
    score is an action's, too low to be taken)."""
    scores = p.smoothed if p.smoothed is not None else p.probs
    return p.action == NO_ACTION and not (NO_ACTION in classes and classes[int(np.argmax(scores))] == NO_ACTION)


def explain_decision(p, classes: list[str], threshold: float) -> str:
    """One number with one meaning, as the window and `c3t live` show it: the smoothed score of the
    decision (the top bar), or, for a "no action" that only the threshold decided, the top class
    and its score below the threshold."""
    if not below_threshold(p, classes):
        return f"{100 * p.confidence:.0f}% (smoothed)"
    scores = p.smoothed if p.smoothed is not None else p.probs
    k = int(np.argmax(scores))
    return f"top: {classes[k]} {100 * scores[k]:.0f}%, below the {100 * threshold:.0f}% threshold"


@dataclass
class DeviceStatus:
    """One connected device as the view shows it: its state, rates in Hz, samples received and dropped,
    gaps in seconds, reconnects, last error, the clock offset's change since connect and delivery
    warning."""
    role: str                    # "imu" or "camera"
    spec: str
    state: str                   # core.streams.contract STATES, or "refused": a layout the model cannot take
    nominal_hz: float | None
    measured_hz: float
    received: int
    dropped: int
    gap_s: float
    connects: int
    last_error: str | None
    clock_change_s: float | None   # change of the (host - device) clock offset since the first fit after
                                   # connect; None until fitted, for devices that send no time of their
                                   # own, and for simulated ones (their clock is the simulator's)
    warning: str | None = None     # delivering below the nominal rate or with gaps (core.delivery)


@dataclass
class RecordingStatus:
    """The session being recorded: its folder, seconds so far, current label and samples written."""
    folder: str
    seconds: float               # session seconds recorded so far
    label: str | None            # the current label (labelled recording), else None
    labels: int                  # labelled spans so far
    written: dict                # stream -> samples written


@dataclass
class LiveView:
    """A consistent copy of what the live pipeline shows: recent IMU samples (times in seconds before
    `t`), the newest frame, recent predictions and their truth, devices, recording, model and errors."""
    t: float = 0.0                                    # host time of the newest sample
    imu_t: np.ndarray = field(default_factory=lambda: np.zeros(0))          # seconds before t (<= 0)
    imu: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    frame: np.ndarray | None = None                   # newest camera frame (BGR)
    predictions: list = field(default_factory=list)   # recent Prediction objects, oldest first
    truths: list = field(default_factory=list)        # ground truth per prediction (simulated sources), or []
    accuracy: float | None = None                     # running smoothed accuracy against that truth
    devices: dict = field(default_factory=dict)       # role -> DeviceStatus
    recording: RecordingStatus | None = None
    model: str | None = None                          # folder of the model in use
    classes: list = field(default_factory=list)
    errors: list = field(default_factory=list)        # recent problems in words, newest last


# ----------------------------------------------------------------------------- recording

# ----------------------------------------------------------------------------- the pipeline

class LivePipeline:
    """Devices -> SyncBuffer -> recording and StreamingPredictor in one worker thread, publishing a
    LiveView about 40 times a second (see the module's docstring); no Qt."""
    def __init__(self, settings: PredictorSettings | None = None, backend: str = "auto", history: int = 240,
                 predict_from: str = "all"):
        self.settings = settings or PredictorSettings()
        self.backend = backend
        self.predict_from = predict_from       # PREDICT_FROM: which connected modalities the model sees
        self._lock = threading.Lock()          # guards the fields the worker and callers share
        self._roles: dict = {}
        self._specs: dict = {}
        self._clock_base: dict = {}            # role -> (clock epoch, offset of its first fit), see clock_change
        self._feed = self._buffer = self._predictor = None
        self._engine = None
        self._blocked = False                  # the predictor cannot be built for these inputs
        self._refused: dict = {}               # role -> why its layout was refused for the model (while blocked)
        self._imu_channels: int | None = None  # values per IMU sample, as the connected IMU sends them
        self._model: str | None = None
        self._recording: LabelledRecording | None = None
        self._view = LiveView()
        self._predictions: deque = deque(maxlen=history)
        self._truths: deque = deque(maxlen=history)
        self._score = RunningAccuracy()
        self._stream_score = StreamScore(self.settings.hop_s)
        self._errors: deque = deque(maxlen=5)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.on_prediction = None              # called in the worker thread with (prediction, truth)
        self._lsl_out = None                   # devices/lsl.DecisionOutlet while decisions are published

    # -- devices -----------------------------------------------------------------------
    def connect(self, imu: str | None = None, camera: str | None = None) -> None:
        """Open, connect and start the sources (replacing those connected); raises C3tError
        naming the device when one cannot be opened (the others are then closed again)."""
        from c3t.core.streams.syncbuffer import SyncBuffer
        from c3t.devices.spec import open_roles

        roles = open_roles(imu, camera)
        started = []
        try:
            for src in list({id(s): s for s, _ in roles.values()}.values()):
                src.connect()
                started.append(src)
                src.start()
        except BaseException as exc:
            log.info("connecting imu=%s camera=%s failed: %s", imu, camera, exc)
            for src in started:
                _close(src)
            raise
        log.info("connected imu=%s camera=%s", imu, camera)
        window = self.settings.window_s or 2.5
        with self._lock:
            old = self._roles
            self._close_recording("the devices changed")
            self._roles, self._specs, self._clock_base = roles, {"imu": imu, "camera": camera}, {}
            self._imu_channels = None
            self._buffer = SyncBuffer(seconds=max(30.0, 4 * window, PLOT_SECONDS + 1))
            self._feed = SourceFeed(roles, self._buffer)
            self._predictor, self._blocked = None, False
            self._reset_scores()
        for src in {id(s): s for s, _ in old.values()}.values():
            _close(src)

    def disconnect(self) -> None:
        """Close any recording and the connected devices; predictions stop until the next connect."""
        with self._lock:
            old, self._roles = self._roles, {}
            self._close_recording("the devices were disconnected")
            self._feed = self._buffer = self._predictor = None
        if old:
            log.info("disconnected %s", ", ".join(old))
        for src in {id(s): s for s, _ in old.values()}.values():
            _close(src)

    @property
    def connected(self) -> dict:
        """The connected roles ("imu", "camera") and the spec each was opened with."""
        return {r: self._specs.get(r) for r in self._roles}

    # -- model -------------------------------------------------------------------------
    def set_model(self, folder) -> None:
        """Use the model in `folder` from the next window on (raises C3tError for a wrong folder)."""
        from c3t.core.model.inference import open_engine

        engine = open_engine(folder, self.backend)
        log.info("model %s (%s, %s)", folder, engine.method, engine.backend)
        with self._lock:
            self._engine, self._model, self._predictor, self._blocked = engine, str(folder), None, False
            self._reset_scores()
        if self._lsl_out is not None:      # the new model's classes label the probabilities
            self.publish_lsl(self._lsl_out.name)

    def publish_lsl(self, name: str | None) -> None:
        """Publish every decision from now on as the Lab Streaming Layer streams `name` (class name and
        confidence) and `name`-probabilities (one channel per class, labelled with the class names),
        stamped with the window's end (devices/lsl.DecisionOutlet); None stops publishing.

        Raises:
            C3tError: no model is loaded (its classes name the channels), or pylsl is missing.
        """
        if name is None:
            with self._lock:
                self._lsl_out = None
            return
        if self._engine is None:
            raise C3tError("load a model before publishing over LSL: its class names label the channels")
        from c3t.devices.lsl import DecisionOutlet

        outlet = DecisionOutlet(name, list(self._engine.classes))
        with self._lock:
            self._lsl_out = outlet

    @property
    def lsl_out(self) -> str | None:
        """The name decisions are published under over LSL, or None."""
        return None if self._lsl_out is None else self._lsl_out.name

    @property
    def engine(self):
        """The inference engine of the model in use, or None before set_model."""
        return self._engine

    def set_predict_from(self, which: str) -> None:
        """Predict from every connected modality ("all"), the IMU only or the camera only.

        Raises:
            C3tError: for a `which` not in PREDICT_FROM
        """
        if which not in PREDICT_FROM:
            raise C3tError(f"predict from {which!r}: expected one of {PREDICT_FROM}")
        with self._lock:
            self.predict_from, self._predictor, self._blocked = which, None, False

    @property
    def rule(self) -> PredictorSettings:
        """The decision rule in use: `settings` with the model's chosen rule applied when
        settings.from_model (PredictorSettings.for_model), as the predictor takes it."""
        engine = self._engine
        return self.settings.for_model(engine.config) if engine is not None else self.settings

    def set_predictor_settings(self, settings: PredictorSettings) -> None:
        """Smoothing, history and threshold from the next window on (the decisions start afresh)."""
        with self._lock:
            self.settings, self._predictor, self._blocked = settings, None, False
            self._reset_scores()

    # -- recording ---------------------------------------------------------------------
    def start_recording(self, folder, label: str | None = None, use: str = "har", person: str | None = None) -> None:
        """Record what the connected devices deliver into a new session folder. `label` None:
        unlabelled (for D_Align) until set_label is called; use "har" (camera labels) or "check";
        `person` who wears the IMU (the manifest's "person", for the per-person protocols).

        Raises:
            C3tError: when already recording, no device is connected, or a stream's rate is not known
                yet
        """
        with self._lock:
            if self._recording is not None:
                raise C3tError(f"already recording into {self._recording.folder}; stop that first")
            if not self._roles:
                raise C3tError("connect a device before recording")
            rates = {r: self._feed.rate(r) for r in self._roles}
            missing = [r for r, hz in rates.items() if not hz]
            if missing:
                raise C3tError(f"the {' and '.join(missing)} rate is not known yet; wait a second for data and try again")
            streams = [(src, role, rates[role]) for role, (src, _) in self._roles.items()]
            self._recording = LabelledRecording(Path(folder), streams, label, use, person=person)
        log.info("recording into %s (label %s, use %s)", folder, label, use)

    @property
    def recording(self) -> bool:
        """Whether a session is being recorded."""
        return self._recording is not None

    def set_label(self, label: str | None) -> None:
        """Label what is recorded from now on (None: unlabelled).

        Raises:
            C3tError: when not recording
        """
        with self._lock:
            if self._recording is None:
                raise C3tError("not recording: start a recording before choosing a label")
            self._recording.set_label(label)

    def stop_recording(self) -> dict | None:
        """Close the session; returns its manifest (None when not recording)."""
        with self._lock:
            return self._close_recording("stopped")

    def _close_recording(self, reason: str) -> dict | None:
        rec, self._recording = self._recording, None
        if rec is None:
            return None
        self._view = dataclasses.replace(self._view, recording=None)   # no reader sees it running after this
        try:   # the devices' outages and problems go into the session too
            return rec.close(reason, {role: src.health()[stream] for role, (src, stream) in self._roles.items()})
        except C3tError as exc:
            self._errors.append(f"recording {rec.folder}: {exc}")
            return None

    # -- running -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (nothing happens when it is already running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="c3t-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker, close any recording and the devices."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.disconnect()

    def view(self) -> LiveView:
        """The latest LiveView; never waits for the worker."""
        return self._view

    def _reset_scores(self) -> None:
        self._predictions.clear()
        self._truths.clear()
        self._score = RunningAccuracy()
        self._stream_score = StreamScore(self.settings.hop_s)

    def _run(self) -> None:
        next_view = 0.0
        while not self._stop.is_set():
            with self._lock:
                feed = self._feed
                if feed is None:
                    batches = []
                else:
                    batches = self._step(feed)
            if feed is None or not batches:
                time.sleep(0.005)
            now = time.monotonic()
            if now >= next_view:
                with self._lock:
                    self._view = self._make_view()
                next_view = now + 1.0 / VIEW_HZ

    def _step(self, feed) -> list:
        batches = feed.pump(0.0)
        for b in batches:
            if b.stream == "imu":
                self._imu_channels = b.values.shape[1]
        if self._recording is not None and batches:
            for b in batches:
                self._recording.write(b)
            if self._recording.recorder.failure is not None:
                self._errors.append(str(self._recording.recorder.failure))
                self._close_recording("failed")
        if self._engine is None or not feed.ready or self._blocked:
            return batches
        if self._predictor is None:
            from c3t.core.model.predictor import StreamingPredictor

            try:
                self._predictor = StreamingPredictor(
                    self._engine, self._buffer, self.settings,
                    imu_stream="imu" if self.predict_from in ("all", "imu") else None,
                    camera_stream="camera" if self.predict_from in ("all", "camera") else None)
            except C3tError as exc:   # e.g. a skeleton model and a colour camera: say so once, keep the rest running
                self._errors.append(str(exc))
                self._blocked = True
                return batches
        refused = self._layout_problem()
        if refused:                   # never half-accepted: no window is cut, the device says why
            self._refused, self._blocked = {"imu": refused}, True
            self._errors.append(refused)
            return batches
        try:
            pred = self._predictor.poll()
        except C3tError as exc:       # a window this model cannot take: said once, the rest keeps running
            self._errors.append(str(exc))
            self._blocked = True
            return batches
        if pred is not None:
            truth = self._truth(pred)
            self._predictions.append(pred)
            if truth is not None:
                self._truths.append(truth)
                self._score.update(pred.action, truth)
                self._stream_score.add(pred.t, pred.action, self._truth_at()(pred.t))
            if self.on_prediction is not None:
                self.on_prediction(pred, truth)
            if self._lsl_out is not None:
                self._lsl_out.push(pred.t, pred.action, pred.confidence, pred.probs)
        return batches

    def _layout_problem(self) -> str | None:
        """Why the connected IMU cannot feed the model, or None: its samples carry another number of
        values than the model's IMU channels (a board printing 1 value per line, random bytes read
        as one number). Said with the device's own diagnosis, and what to do."""
        if "imu" not in self._predictor.streams or self._imu_channels is None:
            return None
        wanted = self._predictor.spec.imu_channels
        if self._imu_channels == wanted:
            return None
        src, stream = self._roles["imu"]
        health = src.health()[stream]
        said = health.diagnosis or health.last_error
        return (f"{self._specs.get('imu')}: refused: its samples have {self._imu_channels} value(s) each, the model "
                f"{Path(self._model).name} takes {wanted} IMU channels" + (f" ({said})" if said else "") +
                f". Check what the board sends with `c3t probe {self._specs.get('imu')}` (all {wanted} values on "
                "each line, or channels= in the spec), or use a model trained on this device's layout")

    def _truth_at(self):
        """The source's truth_at(t) (the action at an instant; simulated sources, replays), or None."""
        src = self._roles.get("imu", self._roles.get("camera", (None,)))[0]
        return getattr(src, "truth_at", None)

    def _truth(self, pred) -> str | None:
        truth_at = self._truth_at()
        if truth_at is None:
            return None
        span = self._predictor.spec.seconds + (self._predictor.settings.history - 1) * self.settings.hop_s
        return window_truth(truth_at, pred.t - span, pred.t)

    @property
    def score(self) -> RunningAccuracy:
        """Smoothed decisions scored against the source's ground truth (simulated sources)."""
        return self._score

    @property
    def stream_score(self) -> StreamScore:
        """Each decision against the true action at its hop's time (simulated sources, replays): the
        streaming benchmark's figures (training/stream_metrics.py) for `c3t live` / `c3t demo --headless`."""
        return self._stream_score

    def _make_view(self) -> LiveView:
        buf = self._buffer
        v = LiveView(predictions=list(self._predictions), truths=list(self._truths), model=self._model,
                     classes=list(self._engine.classes) if self._engine else [], errors=list(self._errors),
                     accuracy=self._score.accuracy if self._score.scored else None,
                     recording=_recording_status(self._recording) if self._recording else None)
        if buf is None:
            return v
        latest = [t for t in (buf.latest_time(s) for s in buf.streams) if t is not None]
        v.t = max(latest) if latest else 0.0
        if "imu" in buf.streams and buf.latest_time("imu") is not None:
            t, x = buf.samples("imu", v.t - PLOT_SECONDS, v.t)
            v.imu_t, v.imu = t - v.t, np.array(x)
        if "camera" in buf.streams and buf.latest_time("camera") is not None:
            _, frames = buf.samples("camera", buf.latest_time("camera") - 1e-6)
            v.frame = np.array(frames[-1]) if frames is not None and len(frames) else None
        refused = self._refused if self._blocked else {}
        if "imu" in refused:          # nothing of a refused device is drawn as if it were usable
            v.imu_t, v.imu = np.zeros(0), np.zeros((0, 0), np.float32)
        for role, (src, stream) in self._roles.items():
            h = src.health()[stream]
            change = self.clock_change(role, buf) if not isinstance(src, SimulatedSource) else None
            warning = h.warning    # data that arrives but is partly unusable (missing values, frozen frames...)
            if h.nominal_hz and h.received >= WARN_AFTER_S * h.nominal_hz:   # past the first seconds
                warning = delivery_warning(role, h.nominal_hz, h.measured_hz, h.gap_seconds) or warning
            v.devices[role] = DeviceStatus(role, self._specs.get(role) or "", "refused" if role in refused else h.state,
                                           h.nominal_hz, h.measured_hz, h.received, h.dropped, h.gap_seconds,
                                           h.connects, refused.get(role, h.last_error or h.units_note), change, warning)
        return v

    def clock_change(self, role: str, buf) -> float | None:
        """Seconds the `role` device's clock offset (host - device, core/streams/clock.py) has moved since
        its first fit after connect (or after the device's clock was reset): drift and jumps a user can
        read, where the offset itself is an arbitrary number (a board's uptime, the simulator's random
        start). None before the first fit."""
        if role not in buf.streams or not buf.clock(role).ready:
            return None
        clock = buf.clock(role)
        epoch, first = self._clock_base.get(role, (None, None))
        if epoch != clock.epoch:
            epoch, first = self._clock_base[role] = (clock.epoch, clock.fit.offset)
        return clock.fit.offset - first


def _recording_status(rec) -> RecordingStatus:
    return RecordingStatus(str(rec.folder), max(rec.now(), 0.0), rec.label, rec.spans + (rec.label is not None),
                           {k: v["written"] for k, v in rec.recorder.counts().items()})


def _close(src) -> None:
    try:
        src.stop()
    finally:
        src.disconnect()
