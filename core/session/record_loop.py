"""The recording loop: sources -> Recorder, with labels, progress and a clean stop.

    manifest = record("sessions/s1", [(source, ["imu", "camera"])], duration=60, progress=print)

`record` is what `c3t record` and the GUI use: it creates the session (before opening any
device, so a bad folder fails first), starts the sources, moves their batches into the
Recorder, adds labels (given ones, or the source's ground truth as the actions complete),
reports progress, and stops on the duration, a stop event, Ctrl-C, the end of a source (a
replay or a file) or a recorder failure (a full disk). Whatever stops it, the sources are
stopped, what they still hold is written, and the session is closed.

Time: a source that runs faster than real time (the simulator or a replay at `speed` N) has
`config.speed = N`; the session then stores times in source seconds (time_scale N), so it
reads as if recorded in real time. Durations are in those seconds too.

Simulated time: a source with its own `clock()` (the simulator with realtime=False) is read
on that clock: each read advances it, session time is its time, and the loop never waits, so
what is recorded depends only on the source's seed and config, not on the CPU's load. Such
sources cannot be mixed with live devices in one recording.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from c3t.core.errors import C3tError
from c3t.core.options import NO_ACTION
from c3t.core.session.format import USES, Label
from c3t.core.session.writer import Recorder, RecorderConfig, StreamSpec, jsonable
from c3t.core.streams.contract import Batch, Source

log = logging.getLogger(__name__)

MIN_REST_S = 0.5  # shorter pauses between two actions are not labelled as rests


@dataclass
class Progress:
    """What `record` reports to its `progress` callback: session seconds so far, and per
    stream the samples received and written, those the source reported lost, and the
    Recorder's statistics."""

    elapsed_s: float                       # session seconds
    counts: dict                           # stream -> {"received", "written"}
    dropped: dict                          # stream -> samples the source reported lost
    stats: dict                            # Recorder.stats()


def source_speed(source: Source) -> float:
    """Source seconds per host second: `config.speed` where a source runs faster than real
    time (simulation, replay), else 1."""
    speed = getattr(getattr(source, "config", None), "speed", 1.0)
    try:
        speed = float(speed)
    except (TypeError, ValueError):
        return 1.0
    return speed if speed > 0 else 1.0


def simulated_clock(sources) -> Callable[[], float] | None:
    """The simulated clock the sources run on (the first one's `clock`), or None when they are
    live devices on the host clock.

    Raises:
        C3tError: when simulated-time sources and live devices are mixed
    """
    timed = [s for s in sources if _simulated(s)]
    if not timed:
        return None
    if len(timed) != len(sources):
        live = ", ".join(getattr(s, "spec", None) or type(s).__name__ for s in sources if not _simulated(s))
        raise C3tError(f"a simulated-time source cannot be recorded together with the live device(s) {live}; "
                       "give the sim source realtime=1 (e.g. sim?realtime=1) to run it against the wall clock")
    return timed[0].clock


def _simulated(source) -> bool:
    config = getattr(source, "config", None)
    return callable(getattr(source, "clock", None)) and getattr(config, "realtime", True) is False


def new_recorder(folder, streams: list[tuple[object, str, float | None]],
                 config: RecorderConfig | None = None, person: str | None = None) -> Recorder:
    """A Recorder for (source, stream name in the session, rate in host Hz or None) triples:
    each source listed once as a device, one time scale (the sources must run at one speed).
    Sources on simulated time (see `simulated_clock`) start the session at their clock's now.
    `person`: who wore the IMU (the manifest's "person").

    Raises:
        C3tError: for sources at different speeds or mixed simulated and live sources, and as Recorder
            does
    """
    sources = list({id(s): s for s, _, _ in streams}.values())
    sim_clock = simulated_clock(sources)
    speeds = {source_speed(s) for s in sources}
    if len(speeds) != 1:
        raise C3tError(f"the sources run at different speeds {sorted(speeds)}; record them at the same speed")
    scale = speeds.pop()
    devices = [{"spec": getattr(s, "spec", None) or s.name, "type": type(s).__name__,
                "streams": [n for src, n, _ in streams if src is s], "config": jsonable(getattr(s, "config", None))}
               for s in sources]
    specs = [StreamSpec(n, "camera" if n.startswith("camera") else "imu", hz / scale if hz else None,
                        device=next(i for i, s in enumerate(sources) if s is src))
             for src, n, hz in streams]
    return Recorder(folder, specs, devices, scale, config, t0=sim_clock() if sim_clock else None, person=person)


class LabelledRecording:
    """A session written from batches the caller reads itself (the live pipeline, which also
    predicts from them), with the label switched while recording: each label covers the span
    from its set_label() to the next one. `use` is "har" (camera labels) or "check"; `person` who
    wore the IMU.

    Raises C3tError as new_recorder does (a folder that exists, mixed clocks...)."""

    def __init__(self, folder, streams: list[tuple[object, str, float | None]], label: str | None = None,
                 use: str = "har", config: RecorderConfig | None = None, person: str | None = None):
        self.recorder = new_recorder(folder, streams, config, person)
        self.folder, self.use = Path(folder), use
        self.label: str | None = None
        self.label_start, self.spans = 0.0, 0
        self._clock = simulated_clock([s for s, _, _ in streams]) or time.monotonic
        if label:
            self.set_label(label)

    def now(self) -> float:
        """Session seconds now."""
        return float(self.recorder.session_time(self._clock()))

    def write(self, batch: Batch) -> None:
        """Queue one Batch of a recorded stream (see Recorder.write)."""
        self.recorder.write(batch)

    def set_label(self, label: str | None) -> None:
        """Close the current label's span here and open `label`'s (None: unlabelled from now)."""
        t = max(self.now(), 0.0)
        if self.label is not None and t > self.label_start:
            self.recorder.add_label(self.label_start, t, self.label, self.use)
            self.spans += 1
        self.label, self.label_start = label, t

    def close(self, reason: str, health: dict | None = None) -> dict:
        """End the open label's span, close the session; returns its manifest. `health`
        ({stream: Health} of the recorded streams) puts the sources' drops, outages and problems
        in the manifest (see Recorder.close).

        Raises:
            NothingRecorded: when no stream gave a sample; the session folder is removed then
        """
        self.set_label(None)
        manifest = self.recorder.close(reason, health)
        if not any(manifest["counts"].values()):   # Stop right after Start, a device gone silent: no stub
            self.recorder.discard()
            raise NothingRecorded(self.folder, reason, health or {})
        return manifest


def record(folder, sources: list[tuple[object, list[str]]], duration: float | None = None,
           labels: list[Label] | None = None, truth: str | None = None, config: RecorderConfig | None = None,
           progress: Callable[[Progress], None] | None = None, stop: threading.Event | None = None,
           progress_s: float = 0.5, person: str | None = None) -> dict:
    """Record `sources` (each with the stream names to keep) into a new session folder.

    duration: session seconds (None: until `stop` is set, Ctrl-C or a source ends).
    labels:   added at the start (e.g. one whole-session label with end None).
    truth:    "har" or "check": label the session with the source's ground truth as it goes
              (sources with `segments(t0, t1)`, the simulator); only actions recorded from
              start to end are labelled, and the rests between them as NO_ACTION.
    person:   who wore the IMU (the manifest's "person"; None: not said).
    Returns the closing manifest.

    Raises:
        NothingRecorded: (a C3tError) when no stream gave a single sample (a device that would not open,
            a board sending garbage): that session is removed, as are the folders made for it, so a
            retry or `c3t train` finds no stub
        C3tError: when the recorder failed (disk full...), after closing the session as far as possible,
            and as new_recorder does
    """
    streams, dropped_before = [], {}
    for source, names in sources:
        health = source.health()
        dropped_before.update({n: health[n].dropped for n in names if n in health})
        streams += [(source, n, health[n].nominal_hz if n in health else None) for n in names]
    truth_source = None
    if truth is not None:
        if truth not in USES:
            raise C3tError(f"truth labels use {truth!r}: expected one of {USES}")
        truth_source = next((s for s, _ in sources if hasattr(s, "segments")), None)
        if truth_source is None:
            raise C3tError("ground-truth labels need a source that knows them (the simulator, `sim`, or a replay)")
    rec = new_recorder(folder, streams, config, person)
    clock = simulated_clock([s for s, _ in sources]) or time.monotonic
    for lb in labels or []:
        rec.add_label(lb.start, lb.end, lb.cls, lb.use)
    stop = stop or threading.Event()
    reason = "stopped"
    labelled: set = set()
    started = []
    try:
        for source, _ in sources:
            source.connect()
            source.start()
            started.append(source)
        wanted = [set(names) for _, names in sources]
        timeout = 0.05 if len(sources) == 1 else 0.01
        next_report = time.monotonic()
        next_sync = clock()
        while True:
            got = 0
            for (source, _), keep in zip(sources, wanted):
                for batch in source.read(timeout):
                    if batch.stream in keep:
                        rec.write(batch)
                        got += len(batch)
            now = clock()
            elapsed = float(rec.session_time(now))
            if clock is not time.monotonic and now >= next_sync:
                rec.sync()                # simulated time outruns the writer: let it catch up
                next_sync = now + 1.0
            if truth_source is not None:
                _add_truth(rec, truth_source, truth, labelled)
            if progress is not None and time.monotonic() >= next_report:
                progress(_progress(rec, sources, elapsed, dropped_before))
                next_report = time.monotonic() + progress_s
            if rec.failure is not None:
                reason = "failed"
                break
            if duration is not None and elapsed >= duration:
                reason = f"duration {duration:g} s reached"
                break
            if stop.is_set():
                reason = "stopped"
                break
            if not got and _all_ended(sources):
                reason = "the source ended"
                break
    except KeyboardInterrupt:
        reason = "stopped by Ctrl-C"
    except BaseException as exc:
        reason = f"error: {exc}"
        raise
    finally:
        health = {}
        for source in started:
            keep = next(names for s, names in sources if s is source)
            try:
                source.stop()
                for batch in source.read(0):   # what arrived before the stop is kept
                    if batch.stream in keep and rec.failure is None:
                        rec.write(batch)
                health.update({n: dataclasses.replace(h, dropped=h.dropped - dropped_before.get(n, 0))
                               for n, h in source.health().items()})   # this session's share
            finally:
                source.disconnect()
        if truth_source is not None and rec.failure is None:
            rec.sync()
            _add_truth(rec, truth_source, truth, labelled)
        manifest = rec.close(reason, health)
        log.info("recording %s stopped: %s", folder, reason)
        if not any(manifest["counts"].values()):
            rec.discard()
        if progress is not None:
            progress(_progress(rec, sources, manifest.get("duration_s") or 0.0, dropped_before))
    if rec.failure is not None:
        raise rec.failure
    if not any(manifest["counts"].values()):
        raise NothingRecorded(folder, reason, health)
    return manifest


class NothingRecorded(C3tError):
    """No stream of a recording gave a sample; its session folder was removed. `health`: stream
    name -> the source's Health at the stop (its diagnosis says why), `reason` why it stopped."""

    def __init__(self, folder, reason: str, health: dict):
        self.folder, self.reason, self.health = folder, reason, health
        why = "; ".join(f"{n}: {h.diagnosis or h.last_error or 'no data'}" for n, h in health.items())
        super().__init__(f"nothing was recorded ({reason}){': ' + why if why else ''}; {folder} was not kept")


def _all_ended(sources) -> bool:
    for source, names in sources:
        health = source.health()
        if any(health[n].state != "stopped" for n in names if n in health):
            return False
    return True


def _progress(rec: Recorder, sources, elapsed: float, before: dict) -> Progress:
    dropped = {}
    for source, names in sources:
        health = source.health()
        dropped.update({n: int(health[n].dropped - before.get(n, 0)) for n in names if n in health})
    return Progress(elapsed, rec.counts(), dropped, rec.stats())


def _add_truth(rec: Recorder, source, use: str, done: set) -> None:
    """Label every action the source performed wholly inside what was written so far, and
    the rest between two such actions as NO_ACTION (a class a camera labeller sees too, so
    that a live model can say "no action" from evidence, not only from low confidence)."""
    latest = rec.written_until()
    if latest is None:
        return
    now_host = rec.t0 + latest / rec.time_scale
    spans = [(float(rec.session_time(a)), float(rec.session_time(b)), name)
             for a, b, name in source.segments(rec.t0, now_host)]
    rests = [(b0, a1, NO_ACTION) for (_, b0, _), (a1, _, _) in zip(spans, spans[1:]) if a1 - b0 >= MIN_REST_S]
    for start, end, name in sorted(spans + rests):
        key = (round(start, 3), name)
        if key in done or start < 0 or end > latest:
            continue
        done.add(key)
        rec.add_label(start, end, name, use)
