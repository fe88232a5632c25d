"""A recording from the terminal, for `c3t record`, and a session described in words, for `c3t info`
(no Qt here; the GUI records through LivePipeline).

    code = HeadlessRecording("sessions/s1", imu="sim", camera=None, duration=60).run()   # prints, 0 or 1
    for line in describe_session(Session("sessions/s1").info(), "sessions/s1"): print(line)

A recording stops after `duration` seconds, on Ctrl-C or on SIGTERM (both finish the session
cleanly); a progress line goes to stderr, the summary to stdout.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from c3t.app.runtime.stop_signals import restore_signals, stop_signals_as_ctrl_c

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0   # the progress line's interval when stderr is not a terminal


def recording_plan(imu_spec: str, camera_spec: str | None, seed: int | None = None):
    """[(source, [stream names to keep])] for --imu and --camera (devices.spec.open_roles, the
    simulator on simulated time).

    Raises:
        C3tError: for a spec that cannot be parsed or a device that cannot be opened.
    """
    from c3t.devices.spec import open_roles

    roles = open_roles(imu_spec, camera_spec, own_camera=True, simulated_time=True, seed=seed)
    imu_source = roles["imu"][0]
    if camera_spec and camera_spec != imu_spec and any(n.startswith("camera") for n in imu_source.streams):
        print(f"note: {imu_spec} has its own camera stream; recording the camera of --camera {camera_spec} instead",
              file=sys.stderr)
    plan: dict[int, tuple] = {}
    for source, stream in roles.values():
        plan.setdefault(id(source), (source, []))[1].append(stream)
    return list(plan.values())


class ProgressLine:
    """The recording's progress on stderr: rewritten in place on a terminal, else a line every 5 s."""

    def __init__(self, quiet: bool):
        self.quiet, self.tty = quiet, sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p) -> None:
        """Show one progress report of core.session.record_loop.record (seconds, written, dropped, lag)."""
        if self.quiet:
            return
        parts = [f"{p.elapsed_s:7.1f} s"]
        for name, c in p.counts.items():
            unit = "frames" if name.startswith("camera") else "samples"
            parts.append(f"{name} {c['written']} {unit}")
        parts.append(f"dropped {sum(p.dropped.values())}")
        parts.append(f"writer lag {p.stats['lag_max_s']:.2f} s")
        line = "  ".join(parts)
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif time.monotonic() - self.last >= PROGRESS_EVERY_S:
            print(line, file=sys.stderr, flush=True)
            self.last = time.monotonic()

    def done(self) -> None:
        """End the progress line (a newline on a terminal) once the recording has stopped."""
        if self.tty and not self.quiet:
            print(file=sys.stderr)


def _quiet_opencv() -> None:
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass


class HeadlessRecording:
    """Record `imu` (and `camera`, or the IMU source's own camera stream) into the new session folder
    `out` for `duration` seconds (None: until Ctrl-C or SIGTERM). `label`: one action for the whole
    session; `truth`: label with the source's ground truth as it goes; `use` "har" (camera labels,
    D_HAR) or "check" (IMU labels, D_Val / D_Test); `seed`: the simulated world's for sim specs that
    set none; `segment_s`: video segment length in seconds; `person`: who wears the IMU."""

    def __init__(self, out, imu: str, camera: str | None = None, duration: float | None = None,
                 label: str | None = None, truth: bool = False, use: str = "har", seed: int | None = None,
                 segment_s: float = 1.0, quiet: bool = False, person: str | None = None):
        self.out, self.imu, self.camera, self.duration, self.person = out, imu, camera, duration, person
        self.label, self.truth, self.use, self.seed = label, truth, use, seed
        self.segment_s, self.quiet = segment_s, quiet
        self.plan = []

    def run(self) -> int:
        """Open the devices, record, print what was written and any delivery warnings; returns 0, or 1
        when a stream received bytes but gave no samples (each diagnosis printed on stderr).

        Raises:
            C3tError: for a device that cannot be opened or a recording that fails.
        """
        from c3t.core.session.format import Label, Session
        from c3t.core.session.record_loop import NothingRecorded, record
        from c3t.core.session.writer import RecorderConfig

        _quiet_opencv()   # a full disk would print one FFmpeg warning per frame; the recorder reports it once
        self.plan = recording_plan(self.imu, self.camera, self.seed)
        labels = [Label(0.0, None, self.label, self.use)] if self.label else []
        progress = ProgressLine(self.quiet)
        previous = stop_signals_as_ctrl_c()
        what = (f"labelled {self.label!r} ({self.use})" if self.label
                else ("with ground-truth labels" if self.truth else "unlabelled"))
        print(f"recording {what} to {self.out}" + (f" for {self.duration:g} s" if self.duration else "; Ctrl-C to stop"),
              file=sys.stderr)
        try:
            manifest = record(self.out, self.plan, self.duration, labels, self.use if self.truth else None,
                              RecorderConfig(segment_s=self.segment_s), progress=progress, person=self.person)
        except NothingRecorded:   # the session was removed: say why per stream, as for a silent stream
            self._silent_streams()
            print(f"error: nothing was recorded; {self.out} was not kept", file=sys.stderr)
            return 1
        finally:
            progress.done()
            restore_signals(previous)
        counts = ", ".join(f"{n} {c} {'frames' if n.startswith('camera') else 'samples'}"
                           for n, c in manifest["counts"].items())
        dropped = sum((manifest.get("source_dropped") or {}).values())
        print(f"recorded {manifest['duration_s']:.1f} s to {self.out}: {counts}; {dropped} dropped by the device(s); "
              f"stopped: {manifest['stop_reason']}")
        log.info("session written to %s (%.1f s, stopped: %s)", self.out, manifest["duration_s"], manifest["stop_reason"])
        session = Session(self.out)
        for warning in session.delivery_warnings():
            print(f"warning: {warning}", file=sys.stderr)
        for problem in session.problems:   # what the devices sent that could not be used (missing values, gaps...)
            print(f"problem: {problem}", file=sys.stderr)
        print(f"check it with: c3t info {self.out}")
        return self._silent_streams()

    def _silent_streams(self) -> int:
        """1 (with each diagnosis on stderr) if a stream received bytes but gave no samples, else 0."""
        silent = 0
        for source, names in self.plan:
            for name, h in source.health().items():
                if name in names and h.received == 0 and (h.diagnosis or h.bytes_received):
                    print(f"error: {name} recorded no samples: {h.diagnosis or h.last_error or 'bytes arrived but no samples'}"
                          " (`c3t probe SPEC` shows what the device sends)", file=sys.stderr)
                    silent += 1
        return 1 if silent else 0


def _hz(x) -> str:
    return "?" if x is None else f"{x:.2f} Hz"


def describe_session(info: dict, manifest: dict, folder) -> list[str]:
    """The lines `c3t info` prints for a session: devices, whether it closed cleanly, duration, streams
    (samples, rates in Hz, drops), gaps, labels (the first 10), problems and warnings. `info` is
    Session.info(), `manifest` Session.manifest, `folder` the session folder."""
    devices = ", ".join(str(d) for d in info["devices"])
    lines = [f"session {info['session']} (recorded {info['created']} with c3t {manifest.get('app_version', '?')}; "
             + f"devices: {devices})"]
    if info["closed_cleanly"]:
        lines.append(f"  closed cleanly: yes ({info['stop_reason']})")
    else:
        lines.append("  closed cleanly: NO - the recording was killed, crashed or lost power; it is readable up to "
                     "the last data flushed to disk")
    scale = f" (simulated {info['time_scale']:g}x faster than real time)" if info["time_scale"] != 1 else ""
    lines.append(f"  duration {info['duration_s']:.1f} s{scale}")
    for name, s in info["streams"].items():
        rate = f"nominal {_hz(s['nominal_hz'])}, measured {_hz(s['measured_hz'])}"
        if s["kind"] == "imu":
            names = f" ({', '.join(s['channel_names'])})" if s.get("channel_names") else ""
            line = f"{s['samples']} samples of {s['channels']} channels{names}, {rate}"
        else:
            size = "x".join(map(str, s["size"])) if s.get("size") else "?"
            line = f"{s['samples']} frames {size}, {rate}"
            if s.get("lost_at_crash"):
                line += f", {s['lost_at_crash']} lost at the crash"
        drops = [f"{s['sequence_missing']} missing by sequence number"]
        if s.get("source_dropped") is not None:
            drops.append(f"{s['source_dropped']} dropped by the device")
        lines.append(f"  {name}: {line}; {', '.join(drops)}")
    gaps = info["gaps"]
    if gaps:
        lines.append(f"  gaps: {len(gaps)}, {sum(g['seconds'] for g in gaps):.2f} s in all: " +
                     ", ".join(f"{g['stream']} {g['start']:.2f}-{g['end']:.2f} s" for g in gaps[:5])
                     + (" ..." if len(gaps) > 5 else ""))
    else:
        lines.append("  gaps: none")
    labels = info["labels"]
    if labels:
        uses = {u: sum(lb["use"] == u for lb in labels) for u in ("har", "check")}
        lines.append(f"  labels: {len(labels)} ({uses['har']} camera labels for training, {uses['check']} IMU labels "
                     "for checking)")
        for lb in labels[:10]:
            span = f"{lb['start']:8.2f} s to the end" if lb["end"] is None else f"{lb['start']:8.2f} - {lb['end']:8.2f} s"
            lines.append(f"    {span:<24}  {lb['class']}  ({lb['use']})")
        if len(labels) > 10:
            lines.append(f"    ... {len(labels) - 10} more in {Path(folder) / 'labels.csv'}")
    else:
        lines.append("  labels: none (an unlabelled session: D_Align pairs)")
    lines += [f"  problem: {problem}" for problem in info["problems"]]
    lines += [f"  warning: {warning}" for warning in info["warnings"]]
    return lines
