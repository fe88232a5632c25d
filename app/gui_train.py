"""The training panel: one click retrains CA or C3T on the selected sessions (plus an optional
base dataset) in a worker process, with a progress bar per phase, the live loss, cancel, the
metrics on the checking sessions (IMU top-1, confusion matrix) and the model versions to
activate. The main window switches the live view to an activated version."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from c3t.core.errors import C3tError
from c3t.core.vocabulary import SCHEDULES
from c3t.app.gui_widgets import MessageLabel

VERSION_COLUMNS = ("version", "method", "IMU top-1 (checking)", "classes", "active")


class TrainPanel(QtWidgets.QWidget):
    activate_requested = QtCore.Signal(str)     # model folder

    def __init__(self, sessions_source, parent=None):
        """`sessions_source()` returns the session folders selected in the recording panel
        (all of them when none is selected)."""
        super().__init__(parent)
        self.sessions_source = sessions_source
        self.job = None
        self.store = None
        self.losses: list[float] = []

        self.models = QtWidgets.QLineEdit(str(Path.home() / "c3t" / "models"))
        self.method = QtWidgets.QComboBox()
        self.method.addItems(["c3t", "ca"])
        self.schedule = QtWidgets.QComboBox()
        self.schedule.addItems(list(SCHEDULES))
        self.schedule.setCurrentText("combined")
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(0, 1000)
        self.epochs.setSpecialValueText("default")
        self.base = QtWidgets.QLineEdit()
        self.base.setPlaceholderText("optional base dataset: another folder of sessions")
        self.train_button = QtWidgets.QPushButton("Train on the selected sessions")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.phase = MessageLabel("idle")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.loss_plot = pg.PlotWidget(title="training loss")
        self.loss_plot.setLabel("bottom", "epoch (all phases)")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#f58231", width=2))
        self.metrics = MessageLabel("", max_lines=12)
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.confusion = pg.PlotWidget(title="IMU confusion on the checking sessions (rows: truth)")
        self.confusion_image = pg.ImageItem()
        self.confusion_image.setColorMap(pg.colormap.get("viridis"))
        self.confusion.addItem(self.confusion_image)
        self.confusion.invertY(True)
        self.confusion.setLabel("left", "true class")
        self.confusion.setLabel("bottom", "predicted class")
        self.versions = QtWidgets.QTableWidget(0, len(VERSION_COLUMNS))
        self.versions.setHorizontalHeaderLabels(VERSION_COLUMNS)
        self.versions.verticalHeader().hide()
        self.versions.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.versions.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.versions.horizontalHeader().setStretchLastSection(True)
        self.activate_button = QtWidgets.QPushButton("Activate the selected version")

        form = QtWidgets.QFormLayout()
        form.addRow("models folder", self.models)
        form.addRow("method", self.method)
        form.addRow("schedule", self.schedule)
        form.addRow("epochs", self.epochs)
        form.addRow("base dataset", self.base)
        run = QtWidgets.QHBoxLayout()
        run.addWidget(self.train_button)
        run.addWidget(self.cancel_button)
        left = QtWidgets.QVBoxLayout()
        left.addLayout(form)
        left.addLayout(run)
        left.addWidget(self.phase)
        left.addWidget(self.progress)
        left.addWidget(self.loss_plot, 1)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.metrics)
        right.addWidget(self.confusion, 1)
        right.addWidget(QtWidgets.QLabel("model versions"))
        right.addWidget(self.versions, 1)
        right.addWidget(self.activate_button)
        layout = QtWidgets.QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)

        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.activate_button.clicked.connect(self._activate_selected)
        self.models.editingFinished.connect(self.refresh_versions)
        self.versions.itemSelectionChanged.connect(self._show_selected)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.poll)

    # -- model versions -----------------------------------------------------------------------
    def open_store(self):
        from c3t.app.retrain import ModelStore

        root = Path(self.models.text()).expanduser()
        if self.store is None or Path(self.store.root) != root:
            self.store = ModelStore(root)
        return self.store

    def refresh_versions(self) -> None:
        store = self.open_store()
        rows = store.versions()
        self.versions.setRowCount(len(rows))
        for r, v in enumerate(rows):
            top1 = "broken: " + v.broken if getattr(v, "broken", None) else \
                ("–" if v.imu_top1 is None else f"{100 * v.imu_top1:.1f}%")
            values = (v.name, f"{v.method or '?'} {v.schedule or ''}".strip(), top1, str(len(v.classes or [])),
                      "●" if v.active else "")
            for c, text in enumerate(values):
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(QtCore.Qt.UserRole, str(v.path))
                self.versions.setItem(r, c, item)
        self.versions.resizeColumnsToContents()
        active = next((v for v in rows if v.active), None)
        if active is not None and (self.job is None or not self.job.running):
            self.show_version(active.path)

    def show_version(self, path) -> None:
        """The stored metrics of a version (what it scored on its checking sessions)."""
        from c3t.core.model_folder import read_json

        try:
            metrics = read_json(Path(path) / "metrics.json").get("checking") or {}
        except (C3tError, OSError, ValueError):
            metrics = {}
        self._show_metrics(metrics, title=f"{Path(path).name}")

    def _show_selected(self) -> None:
        rows = sorted({i.row() for i in self.versions.selectedIndexes()})
        if rows and (self.job is None or not self.job.running):
            self.show_version(self.versions.item(rows[0], 0).data(QtCore.Qt.UserRole))

    def _activate_selected(self) -> None:
        rows = sorted({i.row() for i in self.versions.selectedIndexes()})
        if not rows:
            self.metrics.setText("select a model version first")
            return
        path = self.versions.item(rows[0], 0).data(QtCore.Qt.UserRole)
        try:
            self.open_store().activate(Path(path))
        except C3tError as exc:
            self.metrics.setText(str(exc))
            return
        self.refresh_versions()
        self.activate_requested.emit(path)

    # -- training -----------------------------------------------------------------------------
    def request(self):
        from c3t.app.retrain import RetrainRequest

        sessions = self.sessions_source()
        if not sessions:
            raise C3tError("no recorded sessions to train on: record an unlabelled and a labelled session first "
                           "(Record tab), or choose the sessions folder there")
        base = self.base.text().strip()
        return RetrainRequest(sessions=sessions, method=self.method.currentText(),
                              schedule=self.schedule.currentText(), base=Path(base).expanduser() if base else None,
                              epochs=self.epochs.value() or None)

    def start(self) -> None:
        from c3t.app.retrain import RetrainJob

        if self.job is not None and self.job.running:
            return
        try:
            self.job = RetrainJob(self.request(), self.open_store())
            self.job.start()
        except C3tError as exc:
            self.phase.setText(f"cannot train: {exc}")
            return
        except Exception as exc:   # e.g. the worker process cannot start: say so in the window
            self.phase.setText(f"cannot start the training process: {type(exc).__name__}: {exc}")
            return
        self.losses = []
        self.loss_curve.setData([], [])
        self.progress.setValue(0)
        self.phase.setText("starting the training process…")
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.timer.start()

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.phase.setText("cancelling…")
            self.job.cancel()

    def poll(self) -> None:
        if self.job is None:
            return
        running = self.job.running   # read first: the events of a finished job are all queued by then
        for event in self.job.poll():
            self.handle(event)
        if not running:
            self._finished()

    def handle(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "phase":
            epochs = event.get("epochs")
            text = f"{event.get('phase')}"
            if epochs:
                text += f": epoch {event.get('epoch')}/{epochs}"
            if event.get("loss") is not None:
                self.losses.append(float(event["loss"]))
                self.loss_curve.setData(np.arange(1, len(self.losses) + 1), np.array(self.losses))
                text += f", loss {event['loss']:.3f}"
            self.phase.setText(text)
            self.progress.setValue(int(1000 * float(event.get("fraction") or 0.0)))
        elif kind == "done":
            self._show_metrics(event.get("metrics") or {})
            self.phase.setText(f"done: {Path(event['version']).name}")
            self.progress.setValue(1000)
            self.refresh_versions()
        elif kind == "error":
            self.phase.setText(f"training failed: {event.get('message')}")
        elif kind == "cancelled":
            self.phase.setText("cancelled; no model version was written")

    def _finished(self) -> None:
        self.timer.stop()
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _show_metrics(self, m: dict, title: str = "") -> None:
        lines = [title] if title else []
        if m.get("imu_top1") is not None:
            lines.append(f"IMU top-1 on the checking sessions: {100 * m['imu_top1']:.1f}% (no IMU labels in training)")
        if m.get("note"):
            lines.append(m["note"])
        if m.get("camera_top1") is not None:
            lines.append(f"camera top-1: {100 * m['camera_top1']:.1f}%")
        if m.get("sizes"):
            lines.append("windows: " + ", ".join(f"{k} {v}" for k, v in m["sizes"].items()))
        if m.get("train_seconds") is not None:
            lines.append(f"trained in {m['train_seconds']:.0f} s")
        if (m.get("onnx") or {}).get("used") is False:
            lines.append(f"runs with the torch backend: the ONNX export failed ({m['onnx']['reason']})")
        self.metrics.setText("\n".join(lines))
        confusion = m.get("imu_confusion")
        self.confusion_image.clear()
        if confusion:
            c = np.asarray(confusion, dtype=np.float32)
            self.confusion_image.setImage(c.T, levels=(0, max(float(c.max()), 1.0)))
            classes = m.get("classes") or []
            ticks = [[(i + 0.5, str(i)) for i in range(len(c))]]
            for axis in ("left", "bottom"):
                self.confusion.getAxis(axis).setTicks(ticks)
            self.confusion.setToolTip("\n".join(f"{i}: {name}" for i, name in enumerate(classes)))
