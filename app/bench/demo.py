"""`c3t bench demo`: build the demo model for several seeds, timed per phase, and score each.

Each seed's model is built from scratch, with an empty window cache, in a fresh folder (the
user's demo folder is not touched unless `root` is it; a seed already built there is only
scored), exactly as `c3t demo` builds it on first run (app/runtime/demo.ensure_demo_model). Per
seed: the build's wall time per phase, and top-1 on the checking session (a simulated person none
of the training sessions saw) from the IMU, the camera and both. Then mean ± sample std over the
seeds.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from c3t.core.model.folder import METRICS_FILE

log = logging.getLogger(__name__)


def measure_demo(seeds: int, root=None) -> list[dict]:
    """Build and score the demo model for seeds 0..`seeds`-1 under `root` (None: a temporary folder,
    removed after); print one line per seed and the summary (mean ± sample std [95% interval] of each
    top-1, build time range); returns the per-seed results."""
    from c3t.training.experiments import summarize

    tmp = None if root else tempfile.TemporaryDirectory(prefix="c3t-bench-demo-")
    root = Path(root or tmp.name)
    results = []
    try:
        for seed in range(seeds):
            results.append(_build(root, seed))
            r = results[-1]
            print(f"seed {seed}: built in {r['build_s']:.0f} s ("
                  + ", ".join(f"{k} {v:.0f} s" for k, v in r["phases_s"].items())
                  + f"); checking session top-1: IMU {100 * r['imu_top1']:.1f}%, camera {100 * r['camera_top1']:.1f}%, "
                  f"both {100 * r['fusion_top1']:.1f}% ({r['checking_windows']} windows)", flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"demo model over {len(results)} seeds, mean ± sample std [95% interval]:")
    for name, key in (("IMU top-1", "imu_top1"), ("camera top-1", "camera_top1"), ("both top-1", "fusion_top1")):
        s = summarize([r[key] for r in results])
        print(f"  {name}: {s['mean']:.1f}" + (f" ± {s['std']:.1f} [{s['lo']:.1f}, {s['hi']:.1f}] %" if s["n"] > 1 else " %"))
    times = [r["build_s"] for r in results]
    print(f"  build time: {min(times):.0f}-{max(times):.0f} s (mean {sum(times) / len(times):.0f} s)")
    return results


def _build(root: Path, seed: int) -> dict:
    """Build seed `seed`'s demo model under `root` (timed per phase) and return its scores."""
    from c3t.app.runtime import demo

    phases: dict[str, float] = {}
    state = {"phase": None, "t": time.monotonic()}

    def progress(phase: str, fraction) -> None:
        """Time each phase from its first report to the next phase's."""
        name = phase.split(":")[0]
        now = time.monotonic()
        if state["phase"] is not None:
            phases[state["phase"]] = phases.get(state["phase"], 0.0) + now - state["t"]
        state["phase"], state["t"] = (None if name.startswith("demo model ready") else name), now

    # a first run: the demo folder and an empty window / feature cache (XDG_CACHE_HOME)
    cache = root / f".cache-seed-{seed}"
    before = {k: os.environ.get(k) for k in ("C3T_DEMO_DIR", "XDG_CACHE_HOME")}
    os.environ.update(C3T_DEMO_DIR=str(root), XDG_CACHE_HOME=str(cache))
    try:
        started = time.monotonic()
        model = demo.ensure_demo_model(progress, seed)
        build_s = time.monotonic() - started
        log.info("demo model of seed %d built in %s (%.0f s)", seed, model, build_s)
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(cache, ignore_errors=True)
    checking = json.loads((Path(model) / METRICS_FILE).read_text())["checking"]
    return {"seed": seed, "build_s": round(build_s, 1), "phases_s": {k: round(v, 1) for k, v in phases.items()},
            **{k: checking.get(k) for k in ("imu_top1", "camera_top1", "fusion_top1", "checking_windows")}}
