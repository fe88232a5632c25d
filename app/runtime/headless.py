"""The live pipeline in a terminal, for `c3t live` and `c3t demo --headless` (no Qt here).

    live = LivePipeline(settings); live.set_model(folder)
    HeadlessRun(live, imu="sim", camera=None, seconds=10, jsonl=False).run()   # prints, returns 0

One line (or one JSON object) per prediction on stdout, device problems and delivery warnings
on stderr, then a summary: predictions, latency p50 / p95 in ms and, for simulated sources, the
smoothed accuracy against their ground truth.
"""
from __future__ import annotations

import json
import logging
import sys
import time

from c3t.app.runtime.live import below_threshold, decision_rule, explain_decision
from c3t.app.runtime.stop_signals import restore_signals, stop_signals_as_ctrl_c
from c3t.core.errors import C3tError

log = logging.getLogger(__name__)

NO_DATA_S = 10.0      # no prediction this long after connecting: the devices are said to be silent
WARN_EVERY_S = 10.0   # a device short of its rate is warned about this often at most


def print_prediction(row: dict, jsonl: bool, width: int = 24) -> None:
    """Print one prediction row: as JSON, or as a line with class names `width` wide and one score, the
    decision's smoothed one ("–" and the top class at the end for a "no action" the threshold decided)."""
    if jsonl:
        print(json.dumps(row), flush=True)
        return
    below = row.get("below_threshold")
    score = "   –" if below else f"{100 * row['confidence']:3.0f}%"
    line = f"{row['t']:8.2f} s  {row['action']:{width}s} {score}  {row['latency_ms']:6.2f} ms"
    if "truth" in row:
        acc = "  -  " if row["accuracy"] is None else f"{row['accuracy']:.1%}"
        line += f"   truth {row['truth']:{width}s} accuracy {acc}"
    print(line + (f"   ({below})" if below else ""), flush=True)


class HeadlessRun:
    """Connect `imu` / `camera` (device specs) to `live` (a LivePipeline with its model set) and print
    its predictions until `seconds` pass (None: until Ctrl+C). `data_seconds`: count `seconds` in the
    data's time, from the first prediction (a simulator on paced simulated time, which a busy CPU slows
    down: the same stretch of data idle or loaded), with the wall clock stopping it at
    4 x `seconds` + 60 s at the latest."""

    def __init__(self, live, imu: str | None, camera: str | None, seconds: float | None, jsonl: bool,
                 data_seconds: bool = False):
        self.live, self.imu, self.camera = live, imu, camera
        self.seconds, self.jsonl, self.data_seconds = seconds, jsonl, data_seconds
        self.latencies: list[float] = []       # ms per prediction
        self.first = self.last = None          # data times of the first and last prediction
        self.t0 = time.monotonic()
        self.width = max(len(c) for c in [*live.engine.classes, "no action"])   # class names are never cut
        self._warned: dict[str, float] = {}
        self._silent: dict[str, bool] = {}

    def run(self) -> int:
        """Connect, print until done (or Ctrl+C), stop, print the summary; returns 0.

        Raises:
            C3tError: a device that cannot be opened, a device that sends what gives no samples for
                10 s, no data at all within 10 s, or a pipeline error before the first prediction.
        """
        live = self.live
        if not self.jsonl:
            print(f"decision: {decision_rule(live.rule)}; the score beside it is the smoothed one", flush=True)
        live.on_prediction = self._printed
        live.connect(imu=self.imu, camera=self.camera)
        log.info("connected imu=%s camera=%s", self.imu, self.camera)
        self.t0 = time.monotonic()
        previous = stop_signals_as_ctrl_c()   # SIGTERM, and SIGINT even where a shell left it ignored
        try:
            live.start()
            while self._more():
                time.sleep(0.05)
                self._check(live.view())
        except KeyboardInterrupt:   # Ctrl+C is how a run without --seconds ends: the summary still comes
            print(file=sys.stderr)
        finally:
            live.stop()
            restore_signals(previous)
        self._summary()
        return 0

    def _printed(self, pred, truth) -> None:
        """Print one prediction (seconds since the start, truth and accuracy when known); keep its latency."""
        live = self.live
        self.latencies.append(pred.latency_ms)
        self.first = pred.t if self.first is None else self.first
        self.last = pred.t
        row = pred.to_json()
        row["t"] = round(pred.t - (self.first if self.data_seconds else self.t0), 3)
        row["classes"] = list(live.engine.classes)    # names "probs" in order: a JSON line stands on its own
        if below_threshold(pred, live.engine.classes):   # "no action" with the top class that missed the threshold
            row["below_threshold"] = explain_decision(pred, live.engine.classes, live.rule.threshold)
        if truth is not None:
            row.update(truth=truth, accuracy=live.score.accuracy if live.score.scored else None)
        print_prediction(row, self.jsonl, self.width)

    def _more(self) -> bool:
        """Whether to go on: `seconds` not yet covered (in data or wall time)."""
        if self.seconds is None:
            return True
        if self.data_seconds:
            covered = self.last is not None and self.last - self.first >= self.seconds
            return not covered and time.monotonic() < self.t0 + 4 * self.seconds + 60
        return time.monotonic() < self.t0 + self.seconds

    def _check(self, view) -> None:
        """Say what the devices' states say (stderr); raise when nothing usable arrives."""
        waited = time.monotonic() - self.t0
        for d in view.devices.values():        # a layout the model cannot take: refused at once, in one line
            if d.state == "refused":
                raise C3tError(d.last_error)
        for role, d in view.devices.items():   # a device that sends what gives no samples says why
            if (d.state == "no samples") != self._silent.get(role, False):
                self._silent[role] = d.state == "no samples"
                print(f"{role}: {d.last_error if self._silent[role] else 'samples arrive'}", file=sys.stderr)
            if self._silent.get(role) and not view.predictions and waited > NO_DATA_S:
                raise C3tError(d.last_error)
        for role, d in view.devices.items():   # a device short of its rate: say so, every 10 s at most
            if d.warning and time.monotonic() - self._warned.get(role, -1e9) >= WARN_EVERY_S:
                print(f"warning: {d.warning}", file=sys.stderr, flush=True)
                self._warned[role] = time.monotonic()
        if not view.predictions and waited > NO_DATA_S and len(view.devices) < (bool(self.imu) + bool(self.camera)):
            raise C3tError(f"no data from the sources after {NO_DATA_S:g} s: check the device (c3t devices) "
                           "or give its rate in the spec (?rate_hz=...)")
        if view.errors and not view.predictions and waited > 1:
            raise C3tError(view.errors[-1])

    def _summary(self) -> None:
        """The closing lines: predictions, backend, latency p50 / p95 and the smoothed accuracy if scored; with
        ground truth, the streaming benchmark's figures (frame accuracy, edit, F1@k, delay, false starts)."""
        import numpy as np

        from c3t.training.stream_metrics import figure_lines

        out = sys.stderr if self.jsonl else sys.stdout
        score, live = self.live.score, self.live
        if not self.latencies:
            print("no predictions: the sources delivered less than one window of data", file=out)
            return
        lat = np.array(self.latencies)
        line = (f"{len(lat)} predictions ({live.engine.backend}), latency p50 {np.percentile(lat, 50):.2f} ms "
                f"p95 {np.percentile(lat, 95):.2f} ms")
        if score.scored:
            line += (f"; smoothed accuracy {score.accuracy:.1%} over {score.scored} windows "
                     f"({score.skipped} left out: the first after each action change)")
        print(line, file=out)
        if live.stream_score.t:   # scored per hop as `c3t bench stream` scores (training/stream_metrics.py)
            for text in figure_lines(live.stream_score.figures()):
                print(f"stream: {text}", file=out)


def demo_model_with_bars(seed: int):
    """The demo model folder for `seed` (app/runtime/demo.py); on first run one line on stderr saying
    so, then a progress bar per build phase.

    Raises:
        C3tError: when the built model cannot be scored (demo.ensure_demo_model).
    """
    from c3t.app.runtime.demo import BUILD_MINUTES, demo_model, ensure_demo_model
    from c3t.training.progress import PhaseBars

    found = demo_model(seed)
    if found is not None:
        return found
    print(f"building the demo model once (seed {seed}): ~{BUILD_MINUTES} min on an idle 2-core CPU; "
          "later runs start at once", file=sys.stderr, flush=True)
    bars = PhaseBars()

    def report(phase: str, fraction: float | None) -> None:
        """Show a build step on the phase bars; print the final "demo model ready" line."""
        if phase.startswith("demo model ready"):
            bars.close()
            print(phase, file=sys.stderr, flush=True)
        else:
            bars(phase, fraction)

    try:
        return ensure_demo_model(report, seed)
    finally:
        bars.close()


def run_demo_headless(seed: int, seconds: float | None, jsonl: bool) -> int:
    """`c3t demo --headless`: the demo model of `seed` (built first when missing) on the simulated
    person and camera, on simulated time paced to the wall clock (a busy CPU slows the show, never
    changes it), printed as HeadlessRun prints; returns 0.

    Raises:
        C3tError: as demo_model_with_bars and HeadlessRun.run.
    """
    from c3t.app.runtime.demo import DEMO_PREDICT_FROM, demo_spec
    from c3t.app.runtime.live import LivePipeline

    spec = demo_spec(seed) + "&realtime=false&paced=true"
    model = demo_model_with_bars(seed)
    live = LivePipeline(predict_from=DEMO_PREDICT_FROM)
    live.set_model(model)
    source = {"all": "camera + IMU", "imu": "the IMU", "camera": "the camera"}[DEMO_PREDICT_FROM]
    print(f"demo: model {model}; the simulated person {spec}: IMU and camera connected, "
          f"predictions from {source}", flush=True)
    return HeadlessRun(live, spec, spec, seconds, jsonl, data_seconds=True).run()
