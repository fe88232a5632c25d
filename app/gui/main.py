"""The main window: the devices panel above four tabs (Live, Record, Train, Settings), all driven
by one LivePipeline (app/runtime/live.py). A 40 Hz timer draws the pipeline's latest LiveView; anything
slow (connecting a device, a BLE scan, loading a model, training) runs off the UI thread.
Settings (devices, window, decision rule, model, folders) persist in QSettings; File > Open
model folder loads any model folder."""
from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from c3t.app.gui.widgets import MessageLabel, gui_words, scrolled
from c3t.core.errors import C3tError

TABS = ("live", "record", "train", "settings")
FRAME_MS = 25   # 40 Hz: the live view keeps >= 30 fps with headroom


class Background(QtCore.QObject):
    """Runs a function on a Python thread and calls `on_done(result, error)` on the UI thread."""

    finished = QtCore.Signal(object, object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.finished.connect(lambda cb, result, error: cb(result, error))

    def run(self, fn, on_done) -> None:
        """Call `fn()` on a new Python thread, then `on_done(result, error)` on the UI thread (through the
        `finished` signal); `error` is the C3tError's message, or the exception in words, else None."""
        def work():
            """Run `fn` and emit `finished` with its result or its error in words."""
            try:
                result, error = fn(), None
            except C3tError as exc:
                result, error = None, str(exc)
            except Exception as exc:  # shown in words; the details go to the terminal
                traceback.print_exc()
                result, error = None, f"{type(exc).__name__}: {exc}"
            self.finished.emit(on_done, result, error)

        threading.Thread(target=work, daemon=True).start()


class MainWindow(QtWidgets.QMainWindow):
    """The app's window around one LivePipeline; `settings` is where its choices persist."""

    def __init__(self, pipeline, settings: QtCore.QSettings | None = None):
        from c3t.app.gui.devices import DevicesPanel
        from c3t.app.gui.live import LivePanel
        from c3t.app.gui.record import RecordPanel
        from c3t.app.gui.settings import SettingsPanel
        from c3t.app.gui.train import TrainPanel

        super().__init__()
        self.setWindowTitle("c3t: actions labelled on camera, recognised from the IMU")
        self.pipeline = pipeline
        self.settings = settings or QtCore.QSettings("c3t", "c3t")
        self.background = Background(self)
        self.devices = DevicesPanel()
        self.live = LivePanel()
        self.record = RecordPanel()
        self.train = TrainPanel(self._sessions_for_training)
        self.settings_panel = SettingsPanel(self)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.record, "Record")
        self.tabs.addTab(self.train, "Train")
        self.tabs.addTab(scrolled(self.settings_panel), "Settings")   # scrolls on a short screen
        menu = self.menuBar().addMenu("&File")
        menu.addAction("&Open model folder…", QtGui.QKeySequence.Open, self.choose_model_folder)
        menu.addAction("&Settings", lambda: self.show_tab("settings"))
        menu.addSeparator()
        menu.addAction("&Quit", QtGui.QKeySequence.Quit, self.close)
        self.banner = MessageLabel("", max_lines=4)   # at most 4 lines: the window still fits a 1280x800 screen
        self.banner.setStyleSheet("color: #8a1c14;")
        dismiss = QtWidgets.QToolButton()
        dismiss.setText("✕")
        dismiss.setToolTip("hide this message")
        dismiss.setAutoRaise(True)
        dismiss.clicked.connect(self.clear_error)
        self.banner_box = QtWidgets.QFrame()
        self.banner_box.setObjectName("banner")
        self.banner_box.setStyleSheet("#banner { background: #fde2e1; border-radius: 4px; }")
        row = QtWidgets.QHBoxLayout(self.banner_box)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.banner, 1)
        row.addWidget(dismiss, 0, QtCore.Qt.AlignTop)
        self.banner_box.hide()
        self.model_label = MessageLabel("no model", max_lines=1)
        self.statusBar().addPermanentWidget(self.model_label, 1)
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.addWidget(self.banner_box)
        layout.addWidget(self.devices)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        screen = QtGui.QGuiApplication.primaryScreen()
        room = screen.availableGeometry() if screen is not None else QtCore.QRect(0, 0, 1280, 860)
        self.resize(min(1280, room.width()), min(860, room.height()))   # a 1280x800 screen shows it whole

        self.devices.connect_requested.connect(self.connect_devices)
        self.devices.disconnect_requested.connect(self.disconnect_devices)
        self.devices.scan_requested.connect(self.scan_ble)
        self.record.start_requested.connect(self.start_recording)
        self.record.stop_requested.connect(self.stop_recording)
        self.record.label_changed.connect(self.set_label)
        self.train.activate_requested.connect(self.load_model)
        self.record.table.itemSelectionChanged.connect(self._show_training_sessions)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.live.predict_from.currentIndexChanged.connect(
            lambda _: self.set_predict_from(self.live.predict_from.currentData()))

        self.stalls: list[float] = []       # UI-thread gaps between ticks longer than 100 ms
        self._last_tick: float | None = None
        self._shown_errors: list[str] = []
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.PreciseTimer)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.tick)
        self.restore_settings()
        self.pipeline.start()
        self.timer.start()

    # -- errors -------------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """A red banner above the tabs (in the window's words, not the command line's), until the next
        success or its ✕."""
        text = gui_words(text)
        self.banner.setText(text)
        self.banner_box.show()
        self.statusBar().showMessage(text.splitlines()[0], 15000)

    def clear_error(self) -> None:
        """Hide the red error banner."""
        self.banner_box.hide()

    # -- devices ------------------------------------------------------------------------------
    def connect_devices(self, imu: str, camera: str) -> None:
        """Connect these specs ("" for none) off the UI thread; on success remember them in the settings,
        on failure show the error and what is still connected."""
        if not imu and not camera:
            self.show_error("choose an IMU, a camera or both before connecting (sim is the simulated person)")
            return
        self.devices.set_busy(True)
        self.statusBar().showMessage(f"connecting {imu or ''} {camera or ''}…")

        def done(_, error):
            """Show the outcome of the connect and update the devices panel."""
            self.devices.set_busy(False)
            if error:
                still = ", ".join(f"{role} {spec}" for role, spec in self.pipeline.connected.items() if spec)
                self.show_error(f"could not connect: {error}\n" +
                                (f"Still connected as before: {still} (nothing changed; Disconnect to close it)."
                                 if still else "No device is connected."))
                self.devices.set_connected(bool(self.pipeline.connected))
                return
            self.clear_error()
            self.devices.set_connected(True)
            self.statusBar().showMessage("connected", 3000)
            self.settings.setValue("devices/imu", imu)
            self.settings.setValue("devices/camera", camera)

        self.background.run(lambda: self.pipeline.connect(imu=imu or None, camera=camera or None), done)

    def disconnect_devices(self) -> None:
        """Close the devices (and any recording) and update the panels."""
        self.pipeline.disconnect()
        self.record.set_recording(False)
        self.devices.set_connected(False)

    def scan_ble(self) -> None:
        """Scan 5 seconds for BLE devices off the UI thread and add those found to the IMU list."""
        from c3t.devices.ble_imu import scan

        self.devices.set_busy(True)
        self.statusBar().showMessage("scanning for BLE devices (5 s)…")

        def done(found, error):
            """Add the devices found to the IMU list, or show why the scan failed."""
            self.devices.set_busy(False)
            if error:
                self.show_error(error)
                return
            self.devices.add_ble(found)
            self.statusBar().showMessage(f"BLE scan: {len(found)} devices", 5000)

        self.background.run(lambda: scan(5.0), done)

    # -- model --------------------------------------------------------------------------------
    def choose_model_folder(self) -> None:
        """File > Open model folder: pick a model folder (from `c3t train` or a version) and load it."""
        start = str(self.settings.value("model/folder") or self.train.models.text())
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a model folder (config.json, weights.pt)",
                                                            start)
        if folder:
            self.load_model(folder)

    def load_model(self, folder: str, on_loaded=None) -> None:
        """Load the model folder off the UI thread; on success show it in the status bar, give its classes
        to the Record tab, remember it and call `on_loaded`; on failure show the error."""
        self.statusBar().showMessage(f"loading model {folder}…")

        def done(_, error):
            """Show the model loaded, or why it could not be loaded."""
            if error:
                self.show_error(f"could not load the model: {error}")
                return
            self.clear_error()
            engine = self.pipeline.engine
            self.model_label.setText(f"model: {Path(folder).name} ({engine.method}, {engine.backend})")
            self.record.set_classes(list(engine.classes))
            self.live.show_settings(self.pipeline.rule)   # the model's chosen decision rule, unless the user set one
            self.settings.setValue("model/folder", str(folder))
            if on_loaded is not None:
                on_loaded()

        self.background.run(lambda: self.pipeline.set_model(folder), done)

    def set_predict_from(self, which: str) -> None:
        """Predict from "all", "imu" or "camera" (PREDICT_FROM), show it in the Live tab and remember it."""
        self.pipeline.set_predict_from(which)
        index = self.live.predict_from.findData(which)
        if index != self.live.predict_from.currentIndex():
            self.live.predict_from.setCurrentIndex(index)
        self.settings.setValue("live/predict_from", which)

    # -- recording ----------------------------------------------------------------------------
    def start_recording(self, folder: str, label, use: str = "har") -> None:
        """Start recording into `folder` with `label` (None: unlabelled) as camera labels ("har") or for
        checking ("check"), the Record tab's person wearing the IMU; shows the error when it cannot start."""
        try:
            self.pipeline.start_recording(folder, label, use="check" if use == "check" else "har",
                                          person=self.record.person.text().strip() or None)
        except C3tError as exc:
            self.show_error(f"could not start recording: {exc}")
            return
        self.record.set_recording(True)
        self.settings.setValue("record/folder", self.record.folder.text())
        self.settings.setValue("record/person", self.record.person.text())

    def stop_recording(self) -> None:
        """Stop the recording and show the saved session's seconds in the status bar."""
        manifest = self.pipeline.stop_recording()
        self.record.set_recording(False)
        if manifest:
            self.statusBar().showMessage(f"session saved: {manifest.get('duration_s', 0):.1f} s", 8000)

    def set_label(self, label) -> None:
        """Label what is recorded from now on (None: unlabelled); shows the error when not recording."""
        try:
            self.pipeline.set_label(label)
        except C3tError as exc:
            self.show_error(str(exc))

    def _sessions_for_training(self) -> list[Path]:
        return self.record.selected_paths() or self.record.session_paths()

    def _show_training_sessions(self) -> None:
        selected = self.record.selected_paths()
        self.train.show_sessions(selected or self.record.session_paths(), bool(selected))

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.train:
            self._show_training_sessions()
        elif self.tabs.widget(index).isAncestorOf(self.settings_panel):
            self.settings_panel.load()

    @property
    def frames(self) -> int:
        """Frames the live view has drawn."""
        return self.live.frames_drawn

    # -- drawing ------------------------------------------------------------------------------
    def tick(self) -> None:
        """The 40 Hz timer's slot: draw the latest LiveView (Live tab, device and recording status, new
        errors) and note UI-thread stalls over 100 ms."""
        now = time.perf_counter()
        if self._last_tick is not None and now - self._last_tick > 0.1:
            self.stalls.append(now - self._last_tick)
        self._last_tick = now
        view = self.pipeline.view()
        if self.tabs.currentWidget() is self.live:
            self.live.draw(view)
        self.devices.show_status(view.devices)
        if view.recording is not None:
            self.record.show_status(view.recording)
        elif self.record.recording and not self.pipeline.recording:   # closed by the pipeline (a failure...)
            self.record.set_recording(False)
        if view.errors and view.errors != self._shown_errors:
            self._shown_errors = list(view.errors)
            self.show_error(view.errors[-1])

    # -- settings and life cycle ----------------------------------------------------------------
    def restore_settings(self) -> None:
        """Put the stored devices, live options, folders and decision rule back in the panels."""
        s = self.settings
        self.devices.set_choice(str(s.value("devices/imu", "sim")), str(s.value("devices/camera", "sim")))
        self.live.length.setValue(float(s.value("live/window_s", 5.0)))
        self.set_predict_from(str(s.value("live/predict_from", "all")))
        self.settings_panel.restore_decision_rule()
        if s.value("record/folder"):
            self.record.folder.setText(str(s.value("record/folder")))
        self.record.person.setText(str(s.value("record/person", "")))
        if s.value("train/models"):
            self.train.models.setText(str(s.value("train/models")))
        self.record.refresh()
        self.train.refresh_versions()
        self._show_training_sessions()

    def save_settings(self) -> None:
        """Store the chosen devices, the live window length and the folders in the settings."""
        s = self.settings
        imu, camera = self.devices.choice()
        s.setValue("devices/imu", imu)
        s.setValue("devices/camera", camera)
        s.setValue("live/window_s", self.live.length.value())
        s.setValue("record/folder", self.record.folder.text())
        s.setValue("record/person", self.record.person.text())
        s.setValue("train/models", self.train.models.text())
        s.sync()

    def closeEvent(self, event) -> None:
        """Save the settings, stop any retraining and the pipeline (recording, devices), then close."""
        self.save_settings()
        self.timer.stop()
        self.train.shutdown()
        self.pipeline.stop()
        super().closeEvent(event)

    def show_tab(self, name: str) -> None:
        """Show the tab `name`, one of TABS."""
        self.tabs.setCurrentIndex(TABS.index(name))

    def screenshot(self, path: str) -> None:
        """Save a PNG of the window to `path`.

        Raises:
            C3tError: when the PNG cannot be written
        """
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(path)):
            raise C3tError(f"could not write the screenshot {path}")
