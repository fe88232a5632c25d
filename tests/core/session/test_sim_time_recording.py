"""A simulated recording depends on the seed only: byte-identical on an idle and a busy CPU."""
import hashlib
import multiprocessing
from pathlib import Path

import pytest

from c3t.app.cli import main


def _burn(seconds: float) -> None:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _digest(folder: Path) -> dict:
    out = {}
    for name in ["imu.csv", "camera.csv", "labels.csv", *sorted(f"camera/{p.name}" for p in (folder / "camera").iterdir())]:
        out[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    return out


def _record(out: Path) -> dict:
    spec = "sim?width=96&height=72"
    assert main(["record", "--imu", spec, "--camera", spec, "--duration", "6", "--seed", "3", "--truth",
                 "--out", str(out), "--quiet"]) == 0
    return _digest(out)


def test_same_command_same_bytes_idle_and_under_two_cpu_burners(tmp_path):
    idle = _record(tmp_path / "idle")
    ctx = multiprocessing.get_context("spawn")
    burners = [ctx.Process(target=_burn, args=(120.0,), daemon=True) for _ in range(2)]
    for p in burners:
        p.start()
    try:
        busy = _record(tmp_path / "busy")
    finally:
        for p in burners:
            p.terminate()
            p.join()
    assert len(idle) > 4 and idle == busy


def test_simulated_and_live_sources_are_not_mixed(tmp_path):
    from c3t.core.errors import C3tError
    from c3t.core.session.record_loop import record
    from c3t.devices.simulated import SimulatedSource

    sim = SimulatedSource(realtime=False, camera=False)
    live = SimulatedSource(camera=False)
    with pytest.raises(C3tError, match="realtime=1"):
        record(tmp_path / "s", [(sim, ["imu"]), (live, ["imu"])], duration=1.0)
