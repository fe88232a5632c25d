"""Simulated people record sessions the way a user records theirs: per person an unlabelled
session (D_Align) and one labelled with the simulator's ground truth as camera labels (D_HAR),
then a checking session (IMU labels, D_Val / D_Test). On simulated time: the seed decides what
is recorded. Used by the demo's model build, `c3t bench sessions` and the tests."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def record_simulated_sessions(out, align_s: float = 300.0, har_s: float = 240.0,
                              check_s: float = 180.0, actions: str = "", sim_seed: int = 1,
                              size: tuple[int, int] = (160, 120), progress=None,
                              subjects: tuple[int, ...] = (1,), check_subject: int | None = None) -> list[Path]:
    """Simulated people record, in order: per subject an unlabelled session (D_Align) and a
    session labelled with the simulator's ground truth as camera labels (D_HAR); then one whose
    ground truth is marked for checking (D_Val / D_Test), by `check_subject` (default: the
    first subject). Each session names its person ("sim1", "sim2", ...: the manifest's "person"), so
    the per-person protocols can split them. Returns the session folders."""
    from c3t.core.session.record_loop import record
    from c3t.devices.simulated import DATA_BATCH_S, SimulatedSource

    out = Path(out)
    fps = 15.0   # a model window takes 16 frames in 2.5 s (6.4 fps): 15 fps serves it at half the feature cost of 30

    def person(subject: int) -> SimulatedSource:   # simulated time: the seed decides what is recorded
        """A simulated person `subject` on simulated time (not real time), at the sessions' size and fps."""
        return SimulatedSource(realtime=False, seed=sim_seed, subject=subject, width=size[0], height=size[1],
                               fps=fps, actions=actions, batch_s=DATA_BATCH_S)

    sims = {k: person(k) for k in dict.fromkeys([*subjects, check_subject or subjects[0]])}
    plan = [(f"align-p{k}" if len(subjects) > 1 else "align", align_s, None, k) for k in subjects]
    plan += [(f"har-p{k}" if len(subjects) > 1 else "har", har_s, "har", k) for k in subjects]
    plan += [("check", check_s, "check", check_subject or subjects[0])]
    folders = []
    for name, seconds, truth, k in plan:
        if seconds <= 0:
            continue
        folder = out / f"{len(folders) + 1:02d}-{name}"
        record(folder, [(sims[k], sims[k].streams)], duration=seconds, truth=truth, progress=progress,
               person=f"sim{k}")
        log.info("simulated person %d recorded %g s into %s", k, seconds, folder)
        folders.append(folder)
    return folders
