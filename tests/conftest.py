import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"   # ../shared beside the checkout: the real data tests read
UTD = Path(os.environ.get("C3T_UTD_MHAD", SHARED / "data" / "utd-mhad"))


HANG_S = 120.0   # bounds a wait that would otherwise hang; never a budget a busy CPU could exceed


def wait_until(condition, timeout: float = HANG_S, interval: float = 0.02, what: str = "the condition"):
    """Wait until `condition()` is true and return its value. `timeout` (seconds) only ends a hang: a
    test waits for what it needs, however slow a loaded machine makes it (raises AssertionError then)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {timeout:.0f} s")
        time.sleep(interval)
    return value


@pytest.fixture(scope="session")
def utd_root() -> Path:
    if not (UTD / "Inertial").is_dir():
        pytest.skip(f"UTD-MHAD not found at {UTD} (set C3T_UTD_MHAD)")
    return UTD


def link_subset(root: Path, out: Path, actions, subjects=range(1, 9), trials=range(1, 5),
                modalities=("Inertial", "Skeleton", "Depth")) -> Path:
    """A small UTD-MHAD layout of symlinks to real files (nothing copied)."""
    suffix = {"Inertial": "inertial", "Skeleton": "skeleton", "Depth": "depth"}
    for folder in modalities:
        (out / folder).mkdir(parents=True, exist_ok=True)
    for a in actions:
        for s in subjects:
            for t in trials:
                names = {f: f"a{a}_s{s}_t{t}_{suffix[f]}.mat" for f in modalities}
                if all((root / f / n).exists() for f, n in names.items()):
                    for f, n in names.items():
                        (out / f / n).symlink_to(root / f / n)
    return out


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


class SimSessions:
    """Three recorded sessions of one simulated person (3 actions), shared by the tests that
    train on recorded sessions, and one window cache for them (the same cut windows are read
    back instead of cut again): `cache`, which is the default cache (training/prepared.py) of a
    process whose XDG_CACHE_HOME is `xdg` (the GUI's retrain takes the default)."""

    ACTIONS = "wave,jog,squat"

    def __init__(self, root: Path, xdg: Path):
        from c3t.app.runtime.sim_sessions import record_simulated_sessions

        self.root, self.xdg, self.cache = root, xdg, xdg / "c3t"
        self.folders = record_simulated_sessions(root, align_s=40, har_s=40, check_s=30, actions=self.ACTIONS,
                                                 sim_seed=3, size=(96, 72))   # 01-align, 02-har, 03-check


@pytest.fixture(scope="session")
def sim_sessions(tmp_path_factory) -> SimSessions:
    """SimSessions: 40 s unlabelled, 40 s camera-labelled (D_HAR) and 30 s checking (D_Val / D_Test),
    at 96x72; read-only for the tests (copy a session to change it)."""
    return SimSessions(tmp_path_factory.mktemp("sim-sessions"), tmp_path_factory.mktemp("sim-sessions-xdg"))

