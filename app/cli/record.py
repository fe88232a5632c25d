"""`c3t record`, `c3t info`, `c3t bench record` and `c3t bench sessions`: the collector.

    c3t record --imu sim --out sessions/align-1 --duration 120                  unlabelled (D_Align)
    c3t record --imu serial:/dev/ttyACM0 --camera camera:0 --out s/wave-1 --label wave      D_HAR
    c3t record --imu ... --camera ... --out s/wave-9 --label wave --check       D_Val / D_Test
    c3t info s/wave-1 [--json]
    c3t train --dataset s/ --method c3t --out model/
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from c3t.app.cli import parse_size
from c3t.core.atomic_file import check_output_folder
from c3t.core.errors import C3tError


def register(sub, bench) -> None:
    """Add `c3t record` and `c3t info` to the subcommands and `c3t bench record`, `c3t bench sessions`
    to the benchmarks."""
    p = sub.add_parser("record", help="record a session (IMU + camera) for training: unlabelled or labelled")
    p.add_argument("--imu", required=True, metavar="SPEC", help="IMU source: serial:PORT, ble:ADDRESS, sim, replay:DIR")
    p.add_argument("--camera", metavar="SPEC", help="camera source, e.g. camera:0 (default: the IMU source's own "
                                                   "camera stream, as sim and replay have)")
    p.add_argument("--out", required=True, help="new session folder to write")
    p.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--label", metavar="NAME", help="the action performed in the whole session (default: unlabelled, for D_Align)")
    p.add_argument("--truth", action="store_true", help="label with the source's ground truth as it goes (sim, replay)")
    p.add_argument("--check", action="store_true", help="the labels are IMU labels for checking (D_Val / D_Test), "
                                                        "never trained on; default: camera labels (D_HAR)")
    p.add_argument("--seed", type=int, help="the simulated world's seed for sim sources whose spec sets none "
                                            "(default 0); a seed gives the same data on any machine")
    p.add_argument("--segment-s", type=float, default=1.0, help="video segment length in seconds (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=record_command)

    p = sub.add_parser("info", help="what a recorded session holds: duration, samples, frames, rates, gaps, labels")
    p.add_argument("session", metavar="SESSION_DIR", help="a session folder written by `c3t record` or the Record tab")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=info_command)

    b = bench.add_parser("record", help="record a 200 Hz IMU + 640x480 30 fps camera: drops, writer lag, CPU, bytes/min")
    b.add_argument("--seconds", type=float, default=60.0, help="seconds to record (default 60)")
    b.add_argument("--imu-hz", type=float, default=200.0, help="IMU rate in Hz (default 200)")
    b.add_argument("--fps", type=float, default=30.0, help="camera frames per second (default 30)")
    b.add_argument("--size", default="640x480", help="frame WIDTHxHEIGHT (default 640x480)")
    b.add_argument("--out", help="session folder to write (default: a temporary one, deleted after)")
    b.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    b.set_defaults(func=bench_record_command)

    b = bench.add_parser("sessions", help="end to end: record simulated sessions, train C3T on them, score IMU on check sessions")
    b.add_argument("--out", help="folder for the sessions (default: a temporary one)")
    b.add_argument("--align-s", type=float, default=300.0, help="seconds of unlabelled recording (default 300)")
    b.add_argument("--har-s", type=float, default=240.0, help="seconds of camera-labelled recording (default 240)")
    b.add_argument("--check-s", type=float, default=180.0, help="seconds of IMU-labelled recording for checking (default 180)")
    b.add_argument("--actions", default="", help="comma-separated action keys (default: all ten)")
    b.add_argument("--sim-seed", type=int, default=1, help="the simulated person (default 1)")
    b.add_argument("--size", default="160x120", help="camera frame WIDTHxHEIGHT (default 160x120)")
    b.add_argument("--backbone", default="small-cnn", help="frame backbone (default small-cnn)")
    b.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    b.add_argument("--epochs", type=int, help="epochs (default: c3t's)")
    b.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    b.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    b.set_defaults(func=bench_sessions_command)


# -- c3t record ------------------------------------------------------------------------------
def _recording_plan(imu_spec: str, camera_spec: str | None, seed: int | None = None):
    """[(source, [stream names to keep])] for --imu and --camera (devices.spec.open_roles, the
    simulator on simulated time)."""
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


class _ProgressLine:
    def __init__(self, quiet: bool):
        self.quiet, self.tty = quiet, sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p) -> None:
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
        elif time.monotonic() - self.last >= 5.0:
            print(line, file=sys.stderr, flush=True)
            self.last = time.monotonic()

    def done(self) -> None:
        """End the progress line (a newline on a terminal) once the recording has stopped."""
        if self.tty and not self.quiet:
            print(file=sys.stderr)


def _stop_signals_as_ctrl_c() -> dict:
    """A terminated (SIGTERM, e.g. from the GUI) or interrupted (SIGINT) recording finishes
    cleanly like Ctrl-C, also where SIGINT was inherited as ignored (a job started in the
    background by a shell). Returns the previous handlers, for _restore_signals."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, frame):
        """Turn the signal into KeyboardInterrupt, so the recording stops as on Ctrl-C."""
        raise KeyboardInterrupt

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore_signals(previous: dict) -> None:
    """Put back the handlers _stop_signals_as_ctrl_c replaced."""
    for sig, old in previous.items():
        signal.signal(sig, old)


def _quiet_opencv() -> None:
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass


def record_command(args) -> int:
    """`c3t record`: record the devices into the new session folder --out for --duration seconds (or
    until Ctrl-C or SIGTERM), then print what was written and any delivery warnings; returns 0, or 1
    when a stream received bytes but gave no samples. Raises C3tError for options that do not fit or a
    device that cannot be opened."""
    from c3t.core.session.format import Label
    from c3t.core.session.record_loop import record
    from c3t.core.session.writer import RecorderConfig

    if args.label and args.truth:
        raise C3tError("give either --label NAME (one action for the whole session) or --truth, not both")
    if args.check and not (args.label or args.truth):
        raise C3tError("--check marks labels for checking: give --label NAME or --truth as well")
    if args.duration is not None and args.duration <= 0:
        raise C3tError(f"--duration {args.duration}: must be above 0 seconds")
    check_output_folder(args.out, "--out")   # before any device opens or anything is printed
    use = "check" if args.check else "har"
    _quiet_opencv()   # a full disk would print one FFmpeg warning per frame; the recorder reports it once
    plan = _recording_plan(args.imu, args.camera, args.seed)
    labels = [Label(0.0, None, args.label, use)] if args.label else []
    progress = _ProgressLine(args.quiet)
    previous = _stop_signals_as_ctrl_c()
    what = f"labelled {args.label!r} ({use})" if args.label else ("with ground-truth labels" if args.truth else "unlabelled")
    print(f"recording {what} to {args.out}" + (f" for {args.duration:g} s" if args.duration else "; Ctrl-C to stop"),
          file=sys.stderr)
    try:
        manifest = record(args.out, plan, args.duration, labels, use if args.truth else None,
                          RecorderConfig(segment_s=args.segment_s), progress=progress)
    finally:
        progress.done()
        _restore_signals(previous)
    counts = ", ".join(f"{n} {c} {'frames' if n.startswith('camera') else 'samples'}" for n, c in manifest["counts"].items())
    dropped = sum((manifest.get("source_dropped") or {}).values())
    print(f"recorded {manifest['duration_s']:.1f} s to {args.out}: {counts}; {dropped} dropped by the device(s); "
          f"stopped: {manifest['stop_reason']}")
    from c3t.core.session.format import Session

    for warning in Session(args.out).delivery_warnings():
        print(f"warning: {warning}", file=sys.stderr)
    print(f"check it with: c3t info {args.out}")
    return _silent_streams(plan)


def _silent_streams(plan) -> int:
    """1 (with each diagnosis on stderr) if a stream received bytes but gave no samples, else 0."""
    silent = 0
    for source, names in plan:
        for name, h in source.health().items():
            if name in names and h.received == 0 and (h.diagnosis or h.bytes_received):
                print(f"error: {name} recorded no samples: {h.diagnosis or h.last_error or 'bytes arrived but no samples'}"
                      " (`c3t probe SPEC` shows what the device sends)", file=sys.stderr)
                silent += 1
    return 1 if silent else 0


# -- c3t info ------------------------------------------------------------------------------
def info_command(args) -> int:
    """`c3t info`: print a session's devices, duration, streams (samples, rates in Hz, drops), gaps,
    labels, problems and warnings (with --json also one JSON line); returns 0. Raises C3tError for a
    folder that is not a session."""
    from c3t.core.session.format import Session

    session = Session(args.session)
    info = session.info()
    m = session.manifest
    print(f"session {info['session']} (recorded {info['created']} with c3t {m.get('app_version', '?')}; "
          f"devices: {', '.join(str(d) for d in info['devices'])})")
    if info["closed_cleanly"]:
        print(f"  closed cleanly: yes ({info['stop_reason']})")
    else:
        print("  closed cleanly: NO - the recording was killed, crashed or lost power; it is readable up to the "
              "last data flushed to disk")
    scale = f" (simulated {info['time_scale']:g}x faster than real time)" if info["time_scale"] != 1 else ""
    print(f"  duration {info['duration_s']:.1f} s{scale}")
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
        print(f"  {name}: {line}; {', '.join(drops)}")
    gaps = info["gaps"]
    if gaps:
        print(f"  gaps: {len(gaps)}, {sum(g['seconds'] for g in gaps):.2f} s in all: " +
              ", ".join(f"{g['stream']} {g['start']:.2f}-{g['end']:.2f} s" for g in gaps[:5]) + (" ..." if len(gaps) > 5 else ""))
    else:
        print("  gaps: none")
    labels = info["labels"]
    if labels:
        uses = {u: sum(lb["use"] == u for lb in labels) for u in ("har", "check")}
        print(f"  labels: {len(labels)} ({uses['har']} camera labels for training, {uses['check']} IMU labels for checking)")
        for lb in labels[:10]:
            span = f"{lb['start']:8.2f} s to the end" if lb["end"] is None else f"{lb['start']:8.2f} - {lb['end']:8.2f} s"
            print(f"    {span:<24}  {lb['class']}  ({lb['use']})")
        if len(labels) > 10:
            print(f"    ... {len(labels) - 10} more in {Path(args.session) / 'labels.csv'}")
    else:
        print("  labels: none (an unlabelled session: D_Align pairs)")
    for problem in info["problems"]:
        print(f"  problem: {problem}")
    for warning in info["warnings"]:
        print(f"  warning: {warning}")
    if args.json:
        print(json.dumps(info))
    return 0


def _hz(x) -> str:
    return "?" if x is None else f"{x:.2f} Hz"


# -- c3t bench record --------------------------------------------------------------------------
def bench_record_command(args) -> int:
    """`c3t bench record`: record a synthetic IMU and camera for --seconds seconds, read the session
    back and print what was lost, the writer lag (ms), the CPU use and the MB written per minute;
    returns 0. Raises C3tError for a --size that is not WIDTHxHEIGHT."""
    import resource

    from c3t.core.session.format import Session
    from c3t.core.session.record_loop import record
    from c3t.devices.bench import BenchConfig, BenchSource, bench_frames

    width, height = parse_size(args.size)
    frames = bench_frames(width, height)
    tmp = None
    if args.out:
        out = Path(args.out)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="c3t-bench-record-")
        out = Path(tmp.name) / "session"
    try:
        source = BenchSource(frames, BenchConfig(imu_hz=args.imu_hz, fps=args.fps))
        print(f"recording {args.seconds:g} s of a {args.imu_hz:g} Hz IMU + a {args.fps:g} fps {width}x{height} camera "
              f"to {out} ({os.cpu_count()} CPUs)...", file=sys.stderr)
        ru0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        manifest = record(out, [(source, ["imu", "camera"])], duration=args.seconds)
        wall = time.monotonic() - wall0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        session = Session(out)
        on_disk = {"imu": len(session.imu["imu"]), "camera": len(session.cameras["camera"])}
        emitted = source.emitted
        mismatched = session.check_segments("camera")
        w = manifest["writer"]
        duration = manifest["duration_s"]
        result = {
            "seconds": round(duration, 2), "imu_hz": args.imu_hz, "fps": args.fps, "size": [width, height],
            "emitted": emitted, "on_disk": on_disk,
            "dropped": {k: emitted[k] - on_disk[k] for k in emitted},
            "lag_median_s": w["lag_median_s"], "lag_p99_s": w["lag_p99_s"], "lag_max_s": w["lag_max_s"],
            "backlog_max_s": w["backlog_max_s"],
            "writer_cpu_percent": round(100 * w["writer_cpu_s"] / wall, 1),
            "process_cpu_percent": round(100 * cpu / wall, 1),
            "bytes_per_minute": int(w["bytes"] / duration * 60) if duration else None,
            "segments_bad": len(mismatched), "problems": session.problems,
        }
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"record bench: {result['seconds']:.1f} s of a {args.imu_hz:g} Hz IMU + {args.fps:g} fps {width}x{height} camera")
    print(f"  dropped: {result['dropped']['imu']} IMU samples of {emitted['imu']}, {result['dropped']['camera']} frames "
          f"of {emitted['camera']} (read back from disk){'' if not any(result['dropped'].values()) else '  <-- LOSS'}")
    print(f"  writer lag (capture -> flushed to disk): median {result['lag_median_s'] * 1e3:.0f} ms, "
          f"p99 {result['lag_p99_s'] * 1e3:.0f} ms, max {result['lag_max_s'] * 1e3:.0f} ms; "
          f"largest backlog {result['backlog_max_s'] * 1e3:.0f} ms")
    print(f"  CPU: writer thread {result['writer_cpu_percent']:.1f}% of one core, whole process "
          f"{result['process_cpu_percent']:.1f}% (includes the synthetic source)")
    print(f"  disk: {result['bytes_per_minute'] / 1e6:.1f} MB per minute; segments that failed their frame count: "
          f"{result['segments_bad']}")
    return _json_line(args, result)


# -- c3t bench sessions ------------------------------------------------------------------------
def bench_sessions_command(args) -> int:
    """`c3t bench sessions`: record simulated unlabelled, camera-labelled and checking sessions, train
    C3T on them once per seed and print the IMU top-1 on D_Test; returns 0. Raises C3tError for an --out
    that cannot be written (before any heavy import)."""
    if args.out:   # an existing one is fine: a session already there is never overwritten
        check_output_folder(args.out, "--out", replace=True)

    import numpy as np

    from c3t.app.runtime.sim_sessions import record_simulated_sessions
    from c3t.core.options import SESSION_VISUAL, defaults_for
    from c3t.training.pipeline import fit
    from c3t.training.prepare import prepare

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    tmp = None
    if args.out:
        out = Path(args.out)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="c3t-bench-sessions-")
        out = Path(tmp.name)
    try:
        started = time.monotonic()
        folders = record_simulated_sessions(out, args.align_s, args.har_s, args.check_s, args.actions,
                                            args.sim_seed, parse_size(args.size))
        record_s = time.monotonic() - started
        data = prepare(out, SESSION_VISUAL, args.backbone, args.cache, progress=not args.json)
        prepare_s = time.monotonic() - started - record_s
        roles = data.extra["roles"]
        results = []
        for seed in seeds:
            _, metrics, _, _ = fit(data, defaults_for("c3t", SESSION_VISUAL, seed=seed, epochs=args.epochs))
            results.append({"seed": seed, "test_imu_top1": metrics["test"]["imu"]["top1"],
                            "val_imu_top1": metrics["val"]["imu"]["top1"],
                            "test_camera_top1": metrics["test"]["visual"]["top1"], "sizes": metrics["sizes"],
                            "train_seconds": metrics["train_seconds"]})
            print(f"  seed {seed}: IMU top-1 on D_Test {results[-1]['test_imu_top1']:.3f} "
                  f"(D_Val {results[-1]['val_imu_top1']:.3f}; camera on D_Test {results[-1]['test_camera_top1']:.3f}); "
                  f"{metrics['sizes']}; {metrics['train_seconds']:.0f} s", flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    top1 = np.array([r["test_imu_top1"] for r in results])
    summary = {"sessions": [f.name for f in folders], "record_seconds": round(record_s, 1),
               "prepare_seconds": round(prepare_s, 1), "classes": len(data.classes),
               "windows": {r: int((roles == r).sum()) for r in ("har", "align", "check")},
               "backbone": args.backbone, "results": results,
               "test_imu_top1_mean": float(top1.mean()), "test_imu_top1_min": float(top1.min()),
               "test_imu_top1_max": float(top1.max())}
    print(f"sessions bench: {args.align_s:g} s unlabelled + {args.har_s:g} s camera-labelled + {args.check_s:g} s "
          f"checking, recorded on simulated time in {record_s:.0f} s; {len(data.classes)} classes; windows "
          f"{summary['windows']}")
    print(f"  C3T IMU top-1 on D_Test (no IMU labels in training): mean {top1.mean():.3f}, "
          f"range {top1.min():.3f}-{top1.max():.3f} over seeds {seeds}")
    return _json_line(args, summary)


def _json_line(args, result: dict) -> int:
    """With --json, `result` as one JSON object on the last line; the bench's exit code (0)."""
    if args.json:
        print(json.dumps(result))
    return 0
