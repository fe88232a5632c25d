"""The window as a user sees it (issue #29, point 8; each item was first seen in Xvfb at 1280x800):
plots keep their height when the channel count changes, legends sit above the traces, the
record status ends with Stop, the clock column shows a readable change, a silent IMU says why."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from c3t.app.gui.devices import STATUS_COLUMNS, DevicesPanel
from c3t.app.gui.live import LivePanel
from c3t.app.gui.record import RecordPanel
from c3t.app.runtime.live import DeviceStatus, LivePipeline, LiveView, RecordingStatus
from c3t.core.streams.contract import Batch
from c3t.core.streams.syncbuffer import SyncBuffer
from tests.app.gui.test_gui import window  # noqa: F401  (the main window fixture)
from tests.conftest import wait_until


def device(role="imu", spec="serial:/dev/ttyACM0", state="connected", received=500, last_error=None, change=None):
    return DeviceStatus(role, spec, state, 100.0, 100.0, received, 0, 0.0, 1, last_error, change)


def imu_view(channels: int, seconds: float = 4.0) -> LiveView:
    t = np.arange(-seconds, 0, 0.01)
    x = np.stack([np.sin(t * (k + 1)) * (k + 1) for k in range(channels)], axis=1).astype(np.float32)
    return LiveView(t=100.0, imu_t=t, imu=x, devices={"imu": device()})


@pytest.fixture
def panel(qtbot):
    live = LivePanel()
    qtbot.addWidget(live)
    live.resize(740, 560)
    live.show()
    return live


def settle(qtbot):
    qtbot.wait(50)   # the layout's pass after a change (event loop turns, not a time budget)


def test_from_one_channel_to_six_both_plots_get_their_share(qtbot, panel):
    """Seen: after a 1-channel device, the 6-channel device's gyroscope plot stayed ~30 px tall."""
    panel.draw(imu_view(1))
    settle(qtbot)
    assert not panel.gyro_plot.isVisible() and panel.acc_plot.height() > 150
    panel.draw(imu_view(6))
    settle(qtbot)
    acc, gyro = panel.acc_plot.height(), panel.gyro_plot.height()
    assert panel.gyro_plot.isVisible() and gyro >= 0.8 * acc and gyro > 80, (acc, gyro)
    panel.draw(imu_view(1))
    panel.draw(imu_view(6))
    settle(qtbot)
    assert panel.gyro_plot.height() >= 0.8 * panel.acc_plot.height()


def test_legends_sit_in_the_title_row_never_on_the_traces(qtbot, panel):
    """Seen: the legends covered the start of the traces. Now each plot's title names its curves in
    their colours, above the plotting area; the legend box takes them away."""
    panel.draw(imu_view(6))
    settle(qtbot)
    for plot, names in ((panel.acc_plot, ("acc x", "acc y", "acc z")), (panel.gyro_plot, ("gyro x", "gyro y", "gyro z"))):
        item = plot.getPlotItem()
        assert item.legend is None                                 # no legend box inside the plot
        title = item.titleLabel.text
        assert all(n in title for n in names)
        title_rect = item.titleLabel.sceneBoundingRect()
        assert not title_rect.intersects(item.getViewBox().sceneBoundingRect())
    panel.legend_box.setChecked(False)
    assert panel.acc_plot.getPlotItem().titleLabel.text == "accelerometer"
    panel.legend_box.setChecked(True)
    panel.draw(imu_view(2))                                        # any other layout: its channels
    assert "ch 1" in panel.acc_plot.getPlotItem().titleLabel.text


def test_a_connected_imu_without_samples_says_why_instead_of_no_imu(qtbot, panel):
    message = "serial:/dev/ttyACM0: no samples: 1200 bytes, 0 lines; bytes arrive but are not text"
    panel.draw(LiveView(devices={"imu": device(state="no samples", received=0, last_error=message)}))
    assert panel.imu_view.empty
    note = panel.imu_view.note.text()
    assert "no IMU connected" not in note and "no samples" in note and "bytes arrive but are not text" in note


def test_after_stop_the_record_tab_never_says_recording(qtbot):
    """Seen: "● recording 11.8 s into ..." stayed after Stop (a view made before Stop came after it)."""
    rec = RecordPanel()
    qtbot.addWidget(rec)
    running = RecordingStatus("/tmp/s/20260101-unlabelled", 11.8, None, 0, {"imu": 1180})
    rec.set_recording(True)
    rec.show_status(running)
    assert rec.status.text().startswith("● recording 11.8 s")
    rec.set_recording(False)
    rec.show_status(running)                                       # the stale view
    assert rec.status.text() == "not recording"


def test_stopping_a_recording_takes_it_out_of_the_view_at_once(tmp_path):
    live = LivePipeline()
    live.connect(imu="sim?camera=false&realtime=false")
    live.start()
    try:
        wait_until(lambda: live._feed is not None and live._feed.rate("imu"), what="the IMU's rate")
        live.start_recording(tmp_path / "s", None, use="har")
        wait_until(lambda: live.view().recording is not None, what="the recording in the view")
        assert live.view().recording is not None
        live.stop_recording()
        assert live.view().recording is None                      # not 25 ms later: now
    finally:
        live.stop()


def test_the_clock_column_shows_the_change_since_connect(qtbot):
    """Seen: -165.9 s / +1574.5 s for the simulator, a new number each start (its clock's random
    start). The column shows how far a device's clock moved since connect, and nothing for the
    simulator."""
    live = LivePipeline()
    buf = SyncBuffer(seconds=30)
    buf.add_stream("imu", "imu", 100.0)
    offset, drift = 1574.5, 1e-3       # a board's uptime (not news) and a clock 1000 ppm slow (news)

    def arrive(t0, t1):
        t = np.arange(t0, t1, 0.01)
        buf.ingest(Batch("imu", offset + t * (1 + drift), np.zeros((len(t), 6), np.float32), t_device=t))

    arrive(0, 3)
    first = buf.clock("imu").fit.device_ref
    assert live.clock_change("imu", buf) == pytest.approx(0.0, abs=1e-9)
    arrive(3, 20)
    moved = drift * (buf.clock("imu").fit.device_ref - first)
    assert moved > 0.005 and live.clock_change("imu", buf) == pytest.approx(moved, rel=0.05)

    panel = DevicesPanel()
    qtbot.addWidget(panel)
    panel.show_status({"imu": device(change=0.004), "camera": device("camera", "sim", change=None)})
    column = STATUS_COLUMNS.index("clock Δ s")
    assert panel.table.item(0, column).text() == "+0.004" and panel.table.item(1, column).text() == "–"
    assert "since connect" in panel.table.horizontalHeaderItem(column).toolTip()


def test_the_simulator_has_no_clock_change_to_show(tmp_path):
    live = LivePipeline()
    live.connect(imu="sim?camera=false")
    live.start()
    try:
        wait_until(lambda: (d := live.view().devices.get("imu")) is not None and d.received > 300,
                   what="3 s of simulated samples")
        assert live.view().devices["imu"].clock_change_s is None
    finally:
        live.stop()


def test_a_long_class_name_never_widens_the_window(qtbot, window):  # noqa: F811
    """Seen: after activating a version the window was 1286 px wide on a 1280 px screen: the decision
    in large type and the class names beside the bars took the width their text wanted."""
    from c3t.core.model.predictor import Prediction

    classes = ["squat (two arms stretch out)", "right arm swipe to the left and back again", "no action"]
    probs = np.array([0.15, 0.8, 0.05], np.float32)
    pred = Prediction(t=100.0, action=classes[1], confidence=0.8, probs=probs, top=classes[1], attention=None,
                      modalities=("imu",), backend="torch", stages_ms={"model": 1.0}, smoothed=probs)
    window.show_tab("live")
    window.timer.stop()                                            # this view, not the idle pipeline's
    before = window.width()
    window.live.draw(LiveView(t=100.0, predictions=[pred], classes=classes, devices={"imu": device()}))
    settle(qtbot)
    assert window.live.action.text() == classes[1]
    assert window.minimumSizeHint().width() <= 1280 and window.width() <= max(before, 1280)
    assert window.live.bars.names[0].toolTip() == classes[1]       # an elided name keeps its whole text here
    names = window.live.bars.names[:2]   # the layout gives them their width (once its pass has run)
    qtbot.waitUntil(lambda: all(n.width() >= n.minimumSizeHint().width() > 20 for n in names), timeout=60000)


def test_the_train_detail_panel_never_cuts_off_the_version_name(qtbot):
    """Seen: when training ended the version name was cut off at the top of the Train tab's detail
    panel: more text than fits, centred vertically, loses its first line. It is top-aligned now: the
    version name (the first line) always shows; what does not fit is cut at the bottom."""
    from c3t.app.gui.train import TrainPanel

    panel = TrainPanel(lambda: [])
    qtbot.addWidget(panel)
    panel.resize(1240, 540)
    panel.show()
    long = "a selection note that wraps over several lines in a narrow panel, " * 4
    metrics = {"imu_top1": 0.9, "note": long, "selection_warning": long, "camera_top1": 0.8, "fusion_top1": 0.85,
               "selection": {"used": "last", "asked": "val", "why": long}, "sizes": {"har": 23, "align": 35},
               "train_seconds": 13, "early_stopped_at_epoch": {"combined": 7}}
    panel._show_metrics(metrics, title="v012-c3t-20261207-101010")
    settle(qtbot)
    label = panel.metrics
    needed = QtWidgets.QLabel.heightForWidth(label, label.width())      # the whole text, uncapped
    assert needed > label.height()                                      # more than fits: this case
    assert label.alignment() & QtCore.Qt.AlignTop and label.text().startswith("v012-c3t-20261207-101010")


def test_when_training_ends_the_detail_panel_names_the_new_version(qtbot, tmp_path):
    from c3t.app.gui.train import TrainPanel

    panel = TrainPanel(lambda: [])
    qtbot.addWidget(panel)
    panel.models.setText(str(tmp_path / "models"))
    panel.handle({"kind": "done", "version": str(tmp_path / "models" / "v003-c3t-20261207-150000"),
                  "metrics": {"imu_top1": 0.9}})
    assert panel.metrics.text().startswith("v003-c3t-20261207-150000\nIMU top-1 on the checking sessions: 90.0%")
