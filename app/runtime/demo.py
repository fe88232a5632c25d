"""The demo's model, built on first run the way a user would build theirs: simulated people
record unlabelled and camera-labelled sessions (the simulator's ground truth as the camera
labels, rests labelled "no action"), plus a checking session by someone else, and C3T is
retrained on them (app/runtime/retrain.py). The demo then shows a person none of them were.

The simulated people record on simulated time, so the sessions depend only on the demo's seed
(`c3t demo --seed N`, default 0): the same seed gives the same sessions, windows and split on
any machine, idle or busy, and the same weights up to floating-point nondeterminism (torch's
CPU kernels may sum in a different order on another CPU or thread count; the last digits of
the weights then differ, rarely a prediction).

Everything lives in ~/.cache/c3t/demo-vN/seed-S (C3T_DEMO_DIR overrides the demo-vN folder):
sessions/ and models/ (a ModelStore whose active version is the demo model). A run that was
interrupted resumes: finished sessions are kept, an unfinished one is recorded again."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from c3t.core.errors import C3tError

log = logging.getLogger(__name__)

VERSION = 6               # bumped when the demo model would be built differently (4: flow augmentation, 5: the flow CNN's
                          # 4 x 4 grid, 6: trained on the live windows, labelled at their end, and its decision rule chosen on D_Val)
TRAIN_SUBJECTS = (1, 2, 3)      # people who record the training sessions
CHECK_SUBJECT = 5               # the checking session (IMU labels, never trained on)
DEMO_SUBJECT = 4                # the person the demo shows
BUILT_FILE = "demo-model"       # in the demo's models folder: the name of the version the build made
SIZE = (160, 120)
BUILD_MINUTES = 3               # idle 2-core CPU, `c3t bench demo --seeds 5`: 133-159 s


# Rough shares of the first-run build's time per phase (phases as ensure_demo_model reports
# them): they turn the phases' fractions into one fraction for an ETA; the ETA itself comes
# from the rate observed, so a wrong share only bends it.
BUILD_SHARES = (("recording simulated sessions", 0.28), ("cutting windows", 0.25), ("training", 0.44),
                ("evaluating", 0.01), ("exporting", 0.02))


def build_fraction(phase: str, fraction: float | None) -> float:
    """The whole build's fraction done, from a phase and the fraction done within it."""
    done = 0.0
    for name, share in BUILD_SHARES:
        if phase.startswith(name):
            return done + share * min(max(fraction or 0.0, 0.0), 1.0)
        done += share
    return 1.0 if phase.startswith("demo model ready") else done


def demo_spec(seed: int = 0) -> str:
    """The live simulated person the demo shows, in world `seed` (c3t synth --seed's room)."""
    return f"sim?seed={int(seed)}&subject={DEMO_SUBJECT}&width={SIZE[0]}&height={SIZE[1]}"


# Both connected, both used: the camera input is the person's motion (core/motion.py), which
# carries over to a person the model never saw (docs/results.md, "camera input"); the GUI's
# "predict from" switch shows each alone.
DEMO_PREDICT_FROM = "all"
RECORDING = {"align_s": 100.0, "har_s": 80.0, "check_s": 120.0}   # simulated seconds
# The build's cost is the small CNN over every window's motion frames: windows 0.5 s apart
# (1 s over unlabelled time) and 40 epochs keep it near BUILD_MINUTES. Seed 0 with the
# defaults (0.25 / 0.5 s, 80 epochs): 451 s, IMU 92.1%, camera 67.8%, both 86.8%.
HOP_S = 0.5
EPOCHS = 40


def demo_root(seed: int = 0) -> Path:
    """The demo's folder for `seed`: sessions/ and models/."""
    base = Path(os.environ.get("C3T_DEMO_DIR") or Path.home() / ".cache" / "c3t" / f"demo-v{VERSION}")
    return base / f"seed-{int(seed)}"


def demo_model(seed: int = 0) -> Path | None:
    """The demo model's folder if it was built, else None: the version the build made (named in
    models/BUILT_FILE), not whichever version was activated last in the demo window's Train tab
    (the demo always shows its own model; a retrained one is opened with `c3t gui --model`).
    A build from before BUILT_FILE: its first version, the one the build made."""
    from c3t.app.runtime.retrain import ModelStore

    models = demo_root(seed) / "models"
    if (models / BUILT_FILE).is_file():
        built = models / (models / BUILT_FILE).read_text().strip()
        return built if built.is_dir() else None
    usable = [v.path for v in ModelStore(models).versions() if not v.broken] if models.is_dir() else []
    return usable[-1] if usable else None


def ensure_demo_model(progress=None, seed: int = 0) -> Path:
    """The demo model for `seed`, built first if missing (about BUILD_MINUTES on an idle 2-core
    CPU). `progress(phase, fraction)` hears about the work: phase is one of "recording
    simulated sessions", "cutting windows", "training: <schedule phase>", "evaluating",
    "exporting", then "demo model ready: ..." with fraction 1; fraction is 0..1 within the phase.
    Raises C3tError when the built model cannot be scored."""
    from c3t.core.cpu import threads_for_load

    found = demo_model(seed)
    if found is not None:
        return found

    with threads_for_load():   # a busy CPU: fewer threads go faster (core/cpu.py)
        return _build(progress, seed)


def _build(progress, seed: int) -> Path:
    """Record the demo's sessions (unless complete), retrain, activate; see ensure_demo_model.

    Raises:
        C3tError: when the built model has no checking score.
    """
    from c3t.app.runtime.retrain import ModelStore, RetrainRequest, phase_words, retrain
    from c3t.app.runtime.sim_sessions import record_simulated_sessions
    from c3t.core.session.format import find_sessions
    from c3t.training.session_dataset import Windowing

    report = progress or (lambda text, fraction: None)
    root = demo_root(seed)
    log.info("building the demo model of seed %d in %s", seed, root)
    sessions = root / "sessions"
    if not (sessions / "complete").is_file():
        shutil.rmtree(sessions, ignore_errors=True)
        total = len(TRAIN_SUBJECTS) * (RECORDING["align_s"] + RECORDING["har_s"]) + RECORDING["check_s"]
        done = {"s": 0.0, "last": 0.0}

        def recorded(p) -> None:
            """Report the recording's progress as a fraction of all the simulated sessions' seconds."""
            if p.elapsed_s < done["last"]:      # a new session began
                done["s"] += done["last"]
            done["last"] = p.elapsed_s
            report("recording simulated sessions", (done["s"] + p.elapsed_s) / total)

        report("recording simulated sessions", 0.0)
        record_simulated_sessions(sessions, RECORDING["align_s"], RECORDING["har_s"],
                                  RECORDING["check_s"], sim_seed=seed, size=SIZE, progress=recorded,
                                  subjects=TRAIN_SUBJECTS, check_subject=CHECK_SUBJECT)
        (sessions / "complete").write_text("all sessions recorded\n")

    def trained(event: dict) -> None:
        """Report a retraining phase under the name the user sees."""
        if event.get("kind") == "phase":
            report(phase_words(event["phase"]), event.get("fraction"))

    store = ModelStore(root / "models")
    request = RetrainRequest(sessions=find_sessions(sessions), method="c3t", seed=seed, epochs=EPOCHS,
                             windowing=Windowing(hop_s=HOP_S, align_hop_s=2 * HOP_S))
    version, metrics = retrain(request, store, trained)
    store.activate(version)
    (store.root / BUILT_FILE).write_text(f"{Path(version).name}\n")
    if metrics.get("imu_top1") is None:
        raise C3tError(f"the demo model in {version} has no checking score; delete {root} and run again")
    scores = ", ".join(f"{name} {100 * metrics[key]:.1f}%" for name, key in
                       (("IMU", "imu_top1"), ("camera", "camera_top1"), ("both", "fusion_top1")) if metrics.get(key) is not None)
    report(f"demo model ready: top-1 on the checking session (a person it never saw): {scores}", 1.0)
    return version
