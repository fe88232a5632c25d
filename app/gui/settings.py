"""The Settings tab: what the app remembers between runs (QSettings), in one place.

- Devices: the IMU and camera specs the window starts with, and whether to connect them at start.
- Window: the live plots' length, which modalities the model sees, and the decision rule (the
  smoothing over the last windows and the "no action" threshold: core.predictor.PredictorSettings).
- Model: the model folder loaded at start (File > Open model folder picks one).
- Folders: where sessions are recorded and where retrained model versions go.

The other tabs hold the same choices where they are used; this tab reads them when shown and
applies each change at once."""
from __future__ import annotations

import dataclasses

from PySide6 import QtWidgets

from c3t.app.gui.widgets import MessageLabel
from c3t.core.errors import C3tError
from c3t.core.model.predictor import SMOOTHING, PredictorSettings


def predictor_settings(values: dict, base: PredictorSettings | None = None) -> PredictorSettings:
    """`base` (default: PredictorSettings()) with the decision rule from stored values (strings
    in an INI file); `base`'s rule where a value is missing or wrong. "from_model" ("true" /
    "false", default true): whether the model's own chosen rule (config["decision"]) wins."""
    base = base or PredictorSettings()
    try:
        return dataclasses.replace(base, smoothing=str(values.get("smoothing", base.smoothing)),
                                   history=int(values.get("history", base.history)),
                                   threshold=float(values.get("threshold", base.threshold)),
                                   from_model=str(values.get("from_model", base.from_model)).lower() == "true")
    except (C3tError, TypeError, ValueError):
        return base


def _form(*rows) -> QtWidgets.QFormLayout:
    form = QtWidgets.QFormLayout()
    for label, widget in rows:
        form.addRow(label, widget)
    return form


class SettingsPanel(QtWidgets.QWidget):
    """The Settings tab of `window` (a MainWindow): edits go straight to the window and its QSettings."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self._loading = False
        self.imu = QtWidgets.QLineEdit()
        self.camera = QtWidgets.QLineEdit()
        self.connect_at_start = QtWidgets.QCheckBox("connect these devices when the app starts")
        self.window_s = QtWidgets.QDoubleSpinBox()
        self.window_s.setRange(1.0, 10.0)
        self.window_s.setSuffix(" s")
        self.predict_from = QtWidgets.QComboBox()
        for key, text in (("all", "IMU + camera"), ("imu", "IMU only"), ("camera", "camera only")):
            self.predict_from.addItem(text, key)
        self.smoothing = QtWidgets.QComboBox()
        for key in SMOOTHING:
            self.smoothing.addItem({"mean": "mean of the probabilities", "majority": "majority vote"}.get(key, key), key)
        self.history = QtWidgets.QSpinBox()
        self.history.setRange(1, 40)
        self.history.setSuffix(" windows")
        self.threshold = QtWidgets.QSpinBox()
        self.threshold.setRange(0, 100)
        self.threshold.setSuffix(" %")
        self.rule = MessageLabel("", max_lines=2)
        self.lsl_out = QtWidgets.QCheckBox("publish every decision over Lab Streaming Layer as")
        self.lsl_name = QtWidgets.QLineEdit("c3t")
        self.lsl_name.setToolTip("streams NAME (class name, confidence) and NAME-probabilities (one channel per "
                                 "class), for LabRecorder and other programs; needs pip install 'c3t[lsl]'")
        lsl_row = QtWidgets.QHBoxLayout()
        lsl_row.addWidget(self.lsl_out)
        lsl_row.addWidget(self.lsl_name, 1)
        self.model = QtWidgets.QLineEdit()
        self.model.setReadOnly(True)
        open_model = QtWidgets.QPushButton("Open model folder…")
        open_model.clicked.connect(window.choose_model_folder)
        self.sessions = QtWidgets.QLineEdit()
        self.models = QtWidgets.QLineEdit()
        self.file_note = MessageLabel(f"stored in {window.settings.fileName()}", max_lines=2)
        self.file_note.setStyleSheet("color: #606060;")

        devices = _form(("IMU", self.imu), ("camera", self.camera), ("", self.connect_at_start))
        live = _form(("plot length", self.window_s), ("predict from", self.predict_from), ("smoothing", self.smoothing),
                     ("smooth over", self.history), ("\"no action\" below", self.threshold), ("", self.rule),
                     ("LSL", lsl_row))
        model = QtWidgets.QHBoxLayout()
        model.addWidget(self.model, 1)
        model.addWidget(open_model)
        folders = _form(("sessions", self.sessions), ("model versions", self.models))
        layout = QtWidgets.QVBoxLayout(self)
        for title, inner in (("Devices (specs as in the Devices box or `c3t live`)", devices),
                             ("Live window and decision", live), ("Model loaded at start", model),
                             ("Folders", folders)):
            box = QtWidgets.QGroupBox(title)
            box.setLayout(inner)
            layout.addWidget(box)
        layout.addWidget(self.file_note)
        layout.addStretch(1)

        self.imu.editingFinished.connect(self._devices_changed)
        self.camera.editingFinished.connect(self._devices_changed)
        self.connect_at_start.toggled.connect(lambda on: self._store("devices/connect_at_start", on))
        self.window_s.valueChanged.connect(lambda v: self._apply(lambda: window.live.length.setValue(v)))
        self.predict_from.currentIndexChanged.connect(
            lambda _: self._apply(lambda: window.set_predict_from(self.predict_from.currentData())))
        for w in (self.smoothing, self.history, self.threshold):
            signal = w.currentIndexChanged if isinstance(w, QtWidgets.QComboBox) else w.valueChanged
            signal.connect(lambda *_: self._apply(self.apply_decision_rule))
        self.sessions.editingFinished.connect(lambda: self._apply(self._folders_changed))
        self.lsl_out.toggled.connect(lambda on: self._apply(lambda: self._publish_lsl(on)))
        self.lsl_name.editingFinished.connect(lambda: self.lsl_out.isChecked() and self._apply(lambda: self._publish_lsl(True)))
        self.models.editingFinished.connect(lambda: self._apply(self._folders_changed))

    # -- reading the window's current choices ---------------------------------------------------
    def load(self) -> None:
        """Show the window's current choices (called when the tab is shown)."""
        w, s = self.window, self.window.settings
        self._loading = True
        try:
            imu, camera = w.devices.choice()
            self.imu.setText(imu)
            self.camera.setText(camera)
            self.connect_at_start.setChecked(str(s.value("devices/connect_at_start", "false")).lower() == "true")
            self.window_s.setValue(w.live.length.value())
            self.predict_from.setCurrentIndex(self.predict_from.findData(w.pipeline.predict_from))
            self.lsl_out.setChecked(w.pipeline.lsl_out is not None)
            rule = w.pipeline.rule   # the model's chosen rule unless the user set one
            self.smoothing.setCurrentIndex(self.smoothing.findData(rule.smoothing))
            self.history.setValue(rule.history)
            self.threshold.setValue(round(100 * rule.threshold))
            self.rule.setText(self._rule_text(rule))
            self.model.setText(str(w.pipeline._model or s.value("model/folder") or ""))
            self.sessions.setText(w.record.folder.text())
            self.models.setText(w.train.models.text())
        finally:
            self._loading = False

    # -- applying a change ------------------------------------------------------------------------
    def _apply(self, change) -> None:
        if not self._loading:
            change()

    def _store(self, key: str, value) -> None:
        if not self._loading:
            self.window.settings.setValue(key, value)

    def _publish_lsl(self, on: bool) -> None:
        """Publish the decisions over LSL under the name given (or stop); without a model or pylsl the
        window says why and the box is unticked."""
        try:
            self.window.pipeline.publish_lsl((self.lsl_name.text().strip() or "c3t") if on else None)
        except C3tError as exc:
            self.window.show_error(str(exc))
            self.lsl_out.blockSignals(True)
            self.lsl_out.setChecked(False)
            self.lsl_out.blockSignals(False)

    def _devices_changed(self) -> None:
        if self._loading:
            return
        self.window.devices.set_choice(self.imu.text().strip(), self.camera.text().strip())
        self._store("devices/imu", self.imu.text().strip())
        self._store("devices/camera", self.camera.text().strip())

    def _folders_changed(self) -> None:
        w = self.window
        if self.sessions.text().strip() and self.sessions.text() != w.record.folder.text():
            w.record.folder.setText(self.sessions.text().strip())
            w.record.refresh()
        if self.models.text().strip() and self.models.text() != w.train.models.text():
            w.train.models.setText(self.models.text().strip())
            w.train.refresh_versions()
        w.save_settings()

    def decision_rule(self) -> PredictorSettings:
        """The decision rule as the controls show it (the user's own: the model's rule no longer applies)."""
        return predictor_settings({"smoothing": self.smoothing.currentData(), "history": self.history.value(),
                                   "threshold": self.threshold.value() / 100, "from_model": "false"},
                                  self.window.pipeline.settings)

    def apply_decision_rule(self, rule: PredictorSettings | None = None) -> None:
        """Use `rule` (default: the controls') from the next window on, show it and store it."""
        rule = rule or self.decision_rule()
        w = self.window
        w.pipeline.set_predictor_settings(rule)
        w.live.show_settings(w.pipeline.rule)   # with the model's chosen rule when it applies
        self.rule.setText(self._rule_text(w.pipeline.rule))
        for key in ("smoothing", "history", "threshold", "from_model"):
            w.settings.setValue(f"decision/{key}", str(getattr(rule, key)).lower() if key == "from_model" else getattr(rule, key))

    def restore_decision_rule(self) -> None:
        """The stored decision rule, applied at start."""
        s = self.window.settings
        stored = {k: s.value(f"decision/{k}") for k in ("smoothing", "history", "threshold", "from_model")}
        self.apply_decision_rule(predictor_settings({k: v for k, v in stored.items() if v is not None},
                                                    self.window.pipeline.settings))

    @staticmethod
    def _rule_text(rule: PredictorSettings) -> str:
        from c3t.app.runtime.live import decision_rule

        return f"the live bars and decision: {decision_rule(rule)}"
