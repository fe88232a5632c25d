"""Issue 31 in the live pipeline: a board whose gyro prints nan shows the warning in its device
row (the GUI's device table), and a session recorded from the pipeline keeps what the device said."""
from __future__ import annotations

from c3t.app.runtime.live import LivePipeline
from c3t.core.session.format import Session
from tests.conftest import wait_until
from tests.devices.test_probe import Board


def test_the_device_row_and_the_recorded_session_say_what_was_not_numbers(tmp_path):
    with Board(lambda k: f"{k % 3 * 0.1:.1f},-0.98,0.12,nan,nan,nan\n", rate=50) as board:
        live = LivePipeline()
        live.connect(imu=f"serial:{board.port}")
        live.start()
        try:
            row = wait_until(lambda: (d := live.view().devices.get("imu")) is not None and d.warning and d,
                             what="the device row's warning")
            live.start_recording(tmp_path / "s")
            wait_until(lambda: (r := live.view().recording) is not None and r.written.get("imu", 0) >= 50,
                       what="50 samples recorded")
            manifest = live.stop_recording()
        finally:
            live.stop()
            live.disconnect()
    assert "values were not numbers ('nan') in channel(s) ch3, ch4, ch5" in row.warning
    assert "values were not numbers" in " ".join(manifest["source_problems"]["imu"])
    assert any("stream 'imu' while recording:" in p for p in Session(tmp_path / "s").problems)
