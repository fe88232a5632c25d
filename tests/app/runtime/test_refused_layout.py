"""A source that never delivers a usable sample is never half-accepted (issue #29, point 5): a
board whose samples have another number of values than the model's IMU channels is refused with
the diagnosis: the live pipeline keeps running and says so in the device row, `c3t live` exits
non-zero with one line and no traceback."""
from __future__ import annotations

from c3t.app.cli import main
from c3t.app.runtime.live import LivePipeline
from tests.conftest import wait_until
from tests.core.model.test_predictor import c3t_folder  # noqa: F401  (the fixture: a small exported C3T model)
from tests.devices.test_probe import Board


def one_value(k: int) -> str:
    return f"{0.01 * k:.3f}\n"             # a board that prints one number per line


def test_the_pipeline_refuses_a_layout_the_model_cannot_take(c3t_folder):  # noqa: F811
    with Board(one_value, rate=50) as board:
        live = LivePipeline()
        live.set_model(c3t_folder)
        live.connect(imu=f"serial:{board.port}")
        live.start()
        try:
            row = wait_until(lambda: (d := live.view().devices.get("imu")) is not None and d.state == "refused" and d,
                             what="the IMU refused")
            view = live.view()
            assert live._thread.is_alive()                      # the worker did not die with the error
        finally:
            live.stop()
    assert f"serial:{board.port}: refused: its samples have 1 value(s) each" in row.last_error
    assert "takes 6 IMU channels" in row.last_error and "c3t probe" in row.last_error
    assert view.imu.size == 0 and not view.predictions          # nothing of it is drawn or predicted from
    assert view.errors[-1] == row.last_error


def test_c3t_live_exits_with_one_line_and_no_traceback(c3t_folder, capsys):  # noqa: F811
    with Board(one_value, rate=50) as board:
        code = main(["live", "--model", str(c3t_folder), "--imu", f"serial:{board.port}", "--seconds", "60"])
    captured = capsys.readouterr()
    assert code == 2
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "refused: its samples have 1 value(s) each" in errors[0]
    assert "Traceback" not in captured.err + captured.out


def test_the_device_row_says_refused_and_why(qtbot):
    from c3t.app.gui.devices import DevicesPanel
    from c3t.app.gui.live import LivePanel
    from c3t.app.runtime.live import DeviceStatus, LiveView

    message = "serial:/dev/ttyACM0: refused: its samples have 1 value(s) each, the model m takes 6 IMU channels"
    device = DeviceStatus("imu", "serial:/dev/ttyACM0", "refused", 20.0, 20.0, 11, 0, 0.0, 1, message, None)
    panel, live = DevicesPanel(), LivePanel()
    qtbot.addWidget(panel)
    qtbot.addWidget(live)
    panel.show_status({"imu": device})
    cells = [panel.table.item(0, c).text() for c in range(panel.table.columnCount())]
    assert cells[1] == "refused" and cells[-1] == message
    live.draw(LiveView(devices={"imu": device}))
    assert live.imu_view.empty and "refused" in live.imu_view.note.text()   # no "IMU: 1 channels" plot
