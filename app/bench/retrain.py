"""`c3t bench retrain`: the GUI's one-click retrain, timed as the Train tab runs it (#29).

The seven simulated sessions the retraining figures in docs/results.md were measured on, recorded
on simulated time (the seed decides what is recorded, not the CPU), or any folder of recorded
sessions; then a RetrainJob (app/runtime/retrain.py: the spawned worker the Train tab starts)
with a fresh cache, its events polled every POLL_S as the tab's timer polls them. Printed: the
wall time of each phase, the total, the load average before and after, the worker's CPU time and
the IMU / camera / both top-1 on the checking windows.
"""
from __future__ import annotations

import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

POLL_S = 0.5
# The seven sessions (#29): (name, world seed, seconds, truth): unlabelled (D_Align), camera-labelled
# ("har": D_HAR) and checking ("check": D_Val / D_Test); each seed is another simulated person and room.
SEVEN_SESSIONS = (("u1", 11, 30.0, None), ("u2", 12, 40.0, None), ("t1", 13, 60.0, "har"), ("t2", 14, 60.0, "har"),
                  ("c1", 15, 40.0, "check"), ("u3", 16, 40.0, None), ("t3", 17, 60.0, "har"))


def record_seven(out: Path) -> list[Path]:
    """Record SEVEN_SESSIONS into `out` on simulated time, as `c3t record --imu sim --camera sim --seed S
    --duration D [--truth [--check]] --person simS` would (320x240 at 30 fps, 100 Hz IMU); returns the
    session folders. Raises C3tError as core/session/record_loop.record does."""
    from c3t.core.session.record_loop import record
    from c3t.devices.simulated import DATA_BATCH_S, SimulatedSource

    folders = []
    for name, seed, seconds, truth in SEVEN_SESSIONS:
        source = SimulatedSource(realtime=False, seed=seed, batch_s=DATA_BATCH_S)
        record(out / name, [(source, source.streams)], duration=seconds, truth=truth, person=f"sim{seed}")
        folders.append(out / name)
    return folders


def measure_retrain(sessions: Path | None = None, method: str = "c3t") -> dict:
    """Retrain on the sessions in `sessions` (None: record the seven into a temporary folder first) with
    RetrainJob and a fresh cache, polling as the Train tab does; prints and returns the phase times
    (seconds from the job's start), total seconds, load averages, the worker's CPU seconds and the
    checking figures (app/runtime/retrain.py checking_metrics).

    Raises:
        C3tError: when the folder holds no sessions, or the retrain ends in an error (its message)
    """
    from c3t.app.runtime.retrain import ModelStore, RetrainJob, RetrainRequest
    from c3t.core.errors import C3tError
    from c3t.core.session.format import find_sessions

    with tempfile.TemporaryDirectory(prefix="c3t-bench-retrain-") as tmp:
        tmp = Path(tmp)
        if sessions is None:
            print(f"recording the seven simulated sessions ({sum(s[2] for s in SEVEN_SESSIONS):.0f} s) on simulated "
                  "time...", file=sys.stderr, flush=True)
            folders = record_seven(tmp / "sessions")
        else:
            folders = find_sessions(sessions)
            if not folders:
                raise C3tError(f"--sessions {sessions}: no recorded session in it (record one with `c3t record`)")
        load_before = os.getloadavg()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"retraining {method} on {len(folders)} sessions as the Train tab does (cold cache); load "
              f"{load_before[0]:.1f}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        job = RetrainJob(RetrainRequest(sessions=folders, method=method, cache=tmp / "cache"), ModelStore(tmp / "models"))
        phases: dict[str, float] = {}
        end = None
        try:
            while end is None:
                for event in job.poll():
                    now = round(time.monotonic() - t0, 1)
                    if event["kind"] == "phase" and event["phase"] not in phases:
                        phases[event["phase"]] = now
                        print(f"  {now:7.1f} s  {event['phase']}", file=sys.stderr, flush=True)
                    elif event["kind"] in RetrainJob.TERMINAL:
                        end = event
                if end is None:
                    time.sleep(POLL_S)
            total = time.monotonic() - t0
            job.join(60)
        finally:
            job.close()
        if end["kind"] != "done":
            raise C3tError(f"the retrain ended in {end['kind']}: {end.get('message', '')}")
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        metrics = end["metrics"]
    training = [t for p, t in phases.items() if p not in ("prepare", "evaluate", "export")]
    result = {
        "sessions": len(folders), "method": method, "checking_windows": metrics.get("checking_windows"), "total_s": round(total, 1), "phase_start_s": phases,
        "cutting_s": round(min(training) - phases.get("prepare", 0.0), 1) if training else None,
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "worker_cpu_s": round((cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime), 1),
        "cpus": os.cpu_count(),
        **{k: metrics.get(k) for k in ("imu_top1", "camera_top1", "fusion_top1", "sizes", "train_seconds")},
    }

    def pct(key):
        return "-" if result[key] is None else f"{100 * result[key]:.1f}%"

    print(f"retrain bench: {len(folders)} sessions, {method}, {result['total_s']:.0f} s in all "
          f"(cutting windows {result['cutting_s']} s); load {result['load_before'][0]:.1f} -> "
          f"{result['load_after'][0]:.1f} on {result['cpus']} CPUs; worker CPU {result['worker_cpu_s']:.0f} s")
    print(f"  on the {result['checking_windows']} checking windows: IMU {pct('imu_top1')}, camera {pct('camera_top1')}, both {pct('fusion_top1')}")
    return result
