"""The training panel: one click retrains CA or C3T on the selected sessions (plus an optional
base dataset) in a worker process, with a progress bar per phase and the time left, the live
loss, a validation curve (D_Val's IMU top-1, or without D_Val the label-free alignment loss on
D_Align), cancel, the metrics on the checking sessions (IMU top-1, confusion matrix, a warning
when the model selection rules disagree) and the model versions to activate. The main window
switches the live view to an activated version."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from c3t.app.gui.widgets import MessageLabel, PlotOrNote, fit_columns, list_table
from c3t.core.errors import C3tError
from c3t.core.model.folder import METRICS_FILE
from c3t.core.options import SCHEDULES
from c3t.training.progress import time_left

VERSION_COLUMNS = ("version", "method", "IMU top-1 (checking)", "classes", "active")


class TrainPanel(QtWidgets.QWidget):
    """The Train tab: retrain on the recorded sessions in a separate process, with its phase, progress,
    loss curve and checking score, and the model versions of the models folder. Emits
    activate_requested(model folder) when a version is made the active one."""
    activate_requested = QtCore.Signal(str)     # model folder

    def __init__(self, sessions_source, parent=None):
        """`sessions_source()` returns the session folders selected in the recording panel
        (all of them when none is selected)."""
        super().__init__(parent)
        self.sessions_source = sessions_source
        self.job = None
        self.store = None
        self.losses: list[float] = []
        self.checks: list[float] = []    # per epoch: D_Val top-1 (%), or the D_Align loss without D_Val
        self.check_kind = ""             # "val" or "align", what self.checks holds

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
        self.sessions_note = MessageLabel("", max_lines=3)
        self.train_button = QtWidgets.QPushButton("Train on the selected sessions")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.phase = MessageLabel("idle")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.loss_plot = pg.PlotWidget(title="training loss")
        self.loss_plot.setLabel("bottom", "epoch (all phases)")
        self.loss_plot.setLabel("left", "loss")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#f58231", width=2))
        self.loss_view = PlotOrNote(self.loss_plot, "the training loss is drawn here, epoch by epoch, "
                                                    "once a training runs")
        self.check_plot = pg.PlotWidget(title="validation")
        self.check_plot.setLabel("bottom", "epoch (all phases)")
        self.check_curve = self.check_plot.plot(pen=pg.mkPen("#4363d8", width=2))
        self.check_view = PlotOrNote(self.check_plot, "the validation curve is drawn here: IMU top-1 on the "
                                                      "checking sessions' D_Val, or without one the alignment loss "
                                                      "on the unlabelled windows (no labels)")
        self.metrics = MessageLabel("", max_lines=12)
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.confusion = pg.PlotWidget(title="IMU confusion (checking sessions)")
        self.confusion_image = pg.ImageItem()
        self.confusion.addItem(self.confusion_image)
        self.confusion.invertY(True)
        self.confusion.setMouseEnabled(x=False, y=False)
        self.confusion.setLabel("left", "true class")
        self.confusion.setLabel("bottom", "predicted class (numbered as on the left)")
        self.confusion_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get("viridis"),
                                             interactive=False, width=10, label="share of the true class")
        self.confusion_bar.setImageItem(self.confusion_image, insert_in=self.confusion.getPlotItem())
        self.confusion_view = PlotOrNote(self.confusion, "")
        self.versions = list_table(VERSION_COLUMNS)
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
        left.addWidget(self.sessions_note)
        left.addLayout(run)
        left.addWidget(self.phase)
        left.addWidget(self.progress)
        left.addWidget(self.loss_view, 1)
        left.addWidget(self.check_view, 1)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.metrics)
        right.addWidget(self.confusion_view, 3)
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

    def show_sessions(self, sessions: list[Path], selected: bool) -> None:
        """Say which sessions a training would use: those selected in the Record tab, or all."""
        names = ", ".join(p.name for p in sessions[:6]) + (f" and {len(sessions) - 6} more" if len(sessions) > 6 else "")
        if not sessions:
            self.sessions_note.setText("trains on: no sessions yet (record some in the Record tab, or choose "
                                       "its sessions folder)")
            self.train_button.setText("Train (no sessions)")
        elif selected:
            self.sessions_note.setText(f"trains on the {len(sessions)} sessions selected in the Record tab: {names}")
            self.train_button.setText(f"Train on the {len(sessions)} selected sessions")
        else:
            self.sessions_note.setText(f"trains on all {len(sessions)} sessions of the Record tab's folder "
                                       f"(select rows there to train on fewer): {names}")
            self.train_button.setText(f"Train on all {len(sessions)} sessions")

    # -- model versions -----------------------------------------------------------------------
    def open_store(self):
        """The ModelStore of the models folder typed in the panel (a new one when the folder changed)."""
        from c3t.app.runtime.retrain import ModelStore

        root = Path(self.models.text()).expanduser()
        if self.store is None or Path(self.store.root) != root:
            self.store = ModelStore(root)
        return self.store

    def refresh_versions(self) -> None:
        """List the model versions (name, method, IMU top-1 on the checking sessions or why broken,
        classes, active) and, unless training, show the active one's metrics."""
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
        fit_columns(self.versions)
        active = next((v for v in rows if v.active), None)
        if active is not None and (self.job is None or not self.job.running):
            self.show_version(active.path)

    def show_version(self, path) -> None:
        """The stored metrics of a version (what it scored on its checking sessions)."""
        from c3t.core.model.folder import read_json

        try:
            metrics = read_json(Path(path) / METRICS_FILE).get("checking") or {}
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
        """The RetrainRequest for the chosen sessions and options.

        Raises:
            C3tError: when there are no sessions to train on
        """
        from c3t.app.runtime.retrain import RetrainRequest

        sessions = self.sessions_source()
        if not sessions:
            raise C3tError("no recorded sessions to train on: record an unlabelled and a labelled session first "
                           "(Record tab), or choose the sessions folder there")
        base = self.base.text().strip()
        return RetrainRequest(sessions=sessions, method=self.method.currentText(),
                              schedule=self.schedule.currentText(), base=Path(base).expanduser() if base else None,
                              epochs=self.epochs.value() or None)

    def start(self) -> None:
        """Start a retraining process (nothing when one is running); shows why in the panel when it
        cannot start."""
        from c3t.app.runtime.retrain import RetrainJob

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
        self.losses, self.checks, self.check_kind = [], [], ""
        self.loss_curve.setData([], [])
        self.check_curve.setData([], [])
        self.loss_view.show_note("waiting for the first epoch…")
        self.check_view.show_note("waiting for the first epoch…")
        self.progress.setValue(0)
        self.phase.setText("starting the training process…")
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.timer.start()

    def cancel(self) -> None:
        """Ask the running retraining to stop; no model version is written."""
        if self.job is not None and self.job.running:
            self.phase.setText("cancelling…")
            self.job.cancel()

    def shutdown(self) -> None:
        """Stop a running training and release the worker's queue (the window is closing)."""
        self.timer.stop()
        if self.job is not None:
            self.job.close()

    def poll(self) -> None:
        """The timer's slot: show the events the retraining sent, and tidy up once it has ended."""
        if self.job is None:
            return
        running = self.job.running   # read first: the events of a finished job are all queued by then
        for event in self.job.poll():
            self.handle(event)
        if not running:
            self._finished()

    def handle(self, event: dict) -> None:
        """Show one retraining event: a phase (epoch, loss, progress), done (its metrics and the new
        version), an error or a cancel."""
        from c3t.app.runtime.retrain import phase_words

        kind = event.get("kind")
        if kind == "phase":
            epochs = event.get("epochs")
            text = phase_words(event.get("phase", ""))
            if epochs:
                text += f": epoch {event.get('epoch')}/{epochs}"
            if event.get("loss") is not None:
                self.losses.append(float(event["loss"]))
                self.loss_curve.setData(np.arange(1, len(self.losses) + 1), np.array(self.losses))
                every = max(1, -(-len(self.losses) // 8))          # whole epochs on the axis, about 8 ticks
                self.loss_plot.getAxis("bottom").setTickSpacing(every, every)
                self.loss_view.show_plot()
                text += f", loss {event['loss']:.3f}"
                self._add_check(event)
            if event.get("seconds_left") is not None:
                text += f"; about {time_left(event['seconds_left'])} left" + (" in training" if epochs else "")
            self.phase.setText(text)
            self.progress.setValue(int(1000 * float(event.get("fraction") or 0.0)))
        elif kind == "done":
            self.phase.setText(f"done: {Path(event['version']).name}")
            self.progress.setValue(1000)
            self.refresh_versions()
            # the new version in the detail panel, named (not the version active before it)
            self._show_metrics(event.get("metrics") or {}, title=Path(event["version"]).name)
        elif kind == "error":
            self.phase.setText(f"training failed: {event.get('message')}")
        elif kind == "cancelled":
            self.phase.setText("cancelled; no model version was written")

    def _add_check(self, event: dict) -> None:
        """Extend the validation curve by one epoch: D_Val's IMU top-1 (%) when the epoch has one,
        else D_Align's alignment loss (label-free; lower is better); epochs without either
        (a phase that neither validates nor aligns) add nothing."""
        kind = "val" if event.get("val_top1") is not None else "align" if event.get("align_loss") is not None else ""
        if not kind:
            return
        if kind != self.check_kind:   # the curve shows one quantity: a new one starts it afresh
            self.checks, self.check_kind = [], kind
            if kind == "val":
                self.check_plot.setTitle("validation: IMU top-1 on D_Val (checking sessions)")
                self.check_plot.setLabel("left", "top-1 (%)")
            else:
                self.check_plot.setTitle("label-free check: alignment loss on D_Align (lower is better)")
                self.check_plot.setLabel("left", "InfoNCE loss")
        self.checks.append(100 * float(event["val_top1"]) if kind == "val" else float(event["align_loss"]))
        self.check_curve.setData(np.arange(1, len(self.checks) + 1), np.array(self.checks))
        self.check_view.show_plot()

    def _finished(self) -> None:
        self.timer.stop()
        self.job.close()
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _show_metrics(self, m: dict, title: str = "") -> None:
        lines = [title] if title else []
        if m.get("imu_top1") is not None:
            lines.append(f"IMU top-1 on the checking sessions: {100 * m['imu_top1']:.1f}% (no IMU labels in training)")
        if m.get("note"):
            lines.append(m["note"])
        if m.get("selection_warning"):
            lines.append(f"⚠ warning: {m['selection_warning']}")
        selection = m.get("selection") or {}
        if selection.get("why"):
            lines.append(f"epoch chosen by {selection['used']} instead of {selection['asked']}: {selection['why']}")
        if m.get("early_stopped_at_epoch"):
            lines.append("stopped early (the alignment loss levelled off): " +
                         ", ".join(f"{k} at epoch {e}" for k, e in m["early_stopped_at_epoch"].items()))
        if m.get("camera_top1") is not None:
            lines.append(f"camera top-1: {100 * m['camera_top1']:.1f}%")
        if m.get("fusion_top1") is not None:
            lines.append(f"camera + IMU top-1: {100 * m['fusion_top1']:.1f}%")
        if m.get("sizes"):
            lines.append("windows: " + ", ".join(f"{k} {v}" for k, v in m["sizes"].items()))
        if m.get("train_seconds") is not None:
            lines.append(f"trained in {m['train_seconds']:.0f} s")
        if (m.get("onnx") or {}).get("used") is False:
            lines.append(f"runs with the torch backend: the ONNX export failed ({m['onnx']['reason']})")
        self.metrics.setText("\n".join(lines))
        self.show_confusion(m.get("imu_confusion"), m.get("classes") or [],
                            m.get("note") or "no confusion matrix: this version has no checking score")

    def show_confusion(self, confusion, classes: list[str], empty_note: str) -> None:
        """Rows (true classes) as shares of their windows, the class names numbered down the left
        and the numbers along the bottom (names would collide there), the count in each cell, a
        colour bar."""
        for item in [i for i in self.confusion.getPlotItem().items if isinstance(i, pg.TextItem)]:
            self.confusion.removeItem(item)
        if not confusion:
            self.confusion_image.clear()
            self.confusion_view.show_note(empty_note)
            return
        c = np.asarray(confusion, dtype=np.float32)
        shares = c / np.maximum(c.sum(axis=1, keepdims=True), 1.0)
        self.confusion_image.setImage(shares.T, levels=(0.0, 1.0))
        self.confusion_bar.setLevels((0.0, 1.0))
        names = list(classes) if len(classes) == len(c) else [str(i) for i in range(len(c))]
        self.confusion.getAxis("left").setTicks([[(i + 0.5, f"{name}  {i + 1}") for i, name in enumerate(names)]])
        self.confusion.getAxis("bottom").setTicks([[(i + 0.5, str(i + 1)) for i in range(len(names))]])
        for (r, k), n in np.ndenumerate(c):
            if n:
                text = pg.TextItem(str(int(n)), color="#000000" if shares[r, k] > 0.6 else "#ffffff", anchor=(0.5, 0.5))
                text.setPos(k + 0.5, r + 0.5)
                self.confusion.addItem(text)
        self.confusion.setToolTip("rows: true class, columns: predicted class; numbers: windows\n" +
                                  "\n".join(f"{i + 1} = {name}" for i, name in enumerate(names)))
        self.confusion_view.show_plot()
