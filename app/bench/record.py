"""`c3t bench record` (the recorder under a 200 Hz IMU and a 30 fps camera: drops, writer lag, CPU,
bytes per minute) and `c3t bench sessions` (end to end: record simulated sessions, train C3T on them,
score the IMU on the checking sessions)."""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def measure_recording(seconds: float, imu_hz: float, fps: float, size: tuple[int, int], out=None) -> dict:
    """Record a synthetic `imu_hz` IMU and `fps` camera of `size` (width, height) for `seconds` into `out`
    (None: a temporary folder, deleted after), read the session back and print what was lost, the writer
    lag (ms), the CPU use (% of one core) and the MB written per minute; returns those figures."""
    import resource

    from c3t.core.session.format import Session
    from c3t.core.session.record_loop import record
    from c3t.devices.bench import BenchConfig, BenchSource, bench_frames

    width, height = size
    frames = bench_frames(width, height)
    tmp = None
    if out:
        out = Path(out)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="c3t-bench-record-")
        out = Path(tmp.name) / "session"
    try:
        source = BenchSource(frames, BenchConfig(imu_hz=imu_hz, fps=fps))
        print(f"recording {seconds:g} s of a {imu_hz:g} Hz IMU + a {fps:g} fps {width}x{height} camera "
              f"to {out} ({os.cpu_count()} CPUs)...", file=sys.stderr)
        ru0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        manifest = record(out, [(source, ["imu", "camera"])], duration=seconds)
        wall = time.monotonic() - wall0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        session = Session(out)
        log.debug("bench session %s read back", out)
        on_disk = {"imu": len(session.imu["imu"]), "camera": len(session.cameras["camera"])}
        emitted = source.emitted
        mismatched = session.check_segments("camera")
        w = manifest["writer"]
        duration = manifest["duration_s"]
        result = {
            "seconds": round(duration, 2), "imu_hz": imu_hz, "fps": fps, "size": [width, height],
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
    print(f"record bench: {result['seconds']:.1f} s of a {imu_hz:g} Hz IMU + {fps:g} fps {width}x{height} camera")
    print(f"  dropped: {result['dropped']['imu']} IMU samples of {emitted['imu']}, {result['dropped']['camera']} frames "
          f"of {emitted['camera']} (read back from disk){'' if not any(result['dropped'].values()) else '  <-- LOSS'}")
    print(f"  writer lag (capture -> flushed to disk): median {result['lag_median_s'] * 1e3:.0f} ms, "
          f"p99 {result['lag_p99_s'] * 1e3:.0f} ms, max {result['lag_max_s'] * 1e3:.0f} ms; "
          f"largest backlog {result['backlog_max_s'] * 1e3:.0f} ms")
    print(f"  CPU: writer thread {result['writer_cpu_percent']:.1f}% of one core, whole process "
          f"{result['process_cpu_percent']:.1f}% (includes the synthetic source)")
    print(f"  disk: {result['bytes_per_minute'] / 1e6:.1f} MB per minute; segments that failed their frame count: "
          f"{result['segments_bad']}")
    return result


def measure_sessions(out, align_s: float, har_s: float, check_s: float, actions: str, sim_seed: int,
                     size: tuple[int, int], backbone: str, seeds: list[int], epochs: int | None, cache,
                     progress: bool = True) -> dict:
    """Record simulated unlabelled (`align_s` seconds, D_Align), camera-labelled (`har_s`, D_HAR) and
    checking (`check_s`, IMU labels: D_Val / D_Test) sessions of person `sim_seed` into `out` (None: a
    temporary folder), train C3T on them once per seed in `seeds` and print the IMU top-1 on D_Test
    (no IMU label is trained on); returns the per-seed results and their mean, min and max."""
    import numpy as np

    from c3t.app.runtime.sim_sessions import record_simulated_sessions
    from c3t.core.options import SESSION_VISUAL, defaults_for
    from c3t.training.pipeline import fit
    from c3t.training.prepare import prepare

    tmp = None
    if out:
        out = Path(out)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="c3t-bench-sessions-")
        out = Path(tmp.name)
    try:
        started = time.monotonic()
        folders = record_simulated_sessions(out, align_s, har_s, check_s, actions, sim_seed, size)
        record_s = time.monotonic() - started
        data = prepare(out, SESSION_VISUAL, backbone, cache, progress=progress)
        prepare_s = time.monotonic() - started - record_s
        roles = data.extra["roles"]
        results = []
        for seed in seeds:
            _, metrics, _, _ = fit(data, defaults_for("c3t", SESSION_VISUAL, seed=seed, epochs=epochs))
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
               "backbone": backbone, "results": results,
               "test_imu_top1_mean": float(top1.mean()), "test_imu_top1_min": float(top1.min()),
               "test_imu_top1_max": float(top1.max())}
    print(f"sessions bench: {align_s:g} s unlabelled + {har_s:g} s camera-labelled + {check_s:g} s "
          f"checking, recorded on simulated time in {record_s:.0f} s; {len(data.classes)} classes; windows "
          f"{summary['windows']}")
    print(f"  C3T IMU top-1 on D_Test (no IMU labels in training): mean {top1.mean():.3f}, "
          f"range {top1.min():.3f}-{top1.max():.3f} over seeds {seeds}")
    return summary
