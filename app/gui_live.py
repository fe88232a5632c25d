"""The live view: camera preview, scrolling IMU plots, the predicted action with confidence
bars, the C3T attention heatmap and a timeline of recent predictions. It draws one
LiveView (app/live.py); the main window calls `draw(view)` on a timer."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from c3t.core.vocabulary import NO_ACTION
from c3t.app.gui_widgets import MessageLabel

IMU_NAMES = ("acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z")
COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#469990")
TOP = 5          # confidence bars shown
TIMELINE_S = 30  # seconds of predictions in the timeline


def class_colour(name: str, classes: list[str]) -> QtGui.QColor:
    if name == NO_ACTION or name not in classes:
        return QtGui.QColor("#9a9a9a")
    return QtGui.QColor.fromHsv(int(360 * classes.index(name) / max(len(classes), 1)) % 360, 170, 220)


class ConfidenceBars(QtWidgets.QWidget):
    """The top classes of the latest window as labelled horizontal bars."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.names, self.bars = [], []
        for i in range(TOP):
            name, bar = QtWidgets.QLabel(""), QtWidgets.QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setFormat("")
            grid.addWidget(name, i, 0)
            grid.addWidget(bar, i, 1)
            self.names.append(name)
            self.bars.append(bar)
        grid.setColumnStretch(1, 1)

    def show_probs(self, probs, classes: list[str]) -> None:
        order = np.argsort(probs)[::-1][:TOP] if probs is not None else []
        for i in range(TOP):
            if i < len(order):
                k = int(order[i])
                self.names[i].setText(classes[k])
                self.bars[i].setValue(int(1000 * probs[k]))
                self.bars[i].setFormat(f"{100 * probs[k]:.0f}%")
            else:
                self.names[i].setText("")
                self.bars[i].setValue(0)
                self.bars[i].setFormat("")


class Timeline(QtWidgets.QWidget):
    """Recent decisions as coloured blocks along time (newest at the right), with the ground
    truth underneath when the source knows it (the simulator)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(44)
        self.rows: list[tuple[float, str, str | None]] = []
        self.classes: list[str] = []
        self.now = 0.0

    def set_rows(self, predictions, truths, classes, now: float) -> None:
        truths = list(truths) if len(truths) == len(predictions) else [None] * len(predictions)
        self.rows = [(p.t, p.action, t) for p, t in zip(predictions, truths) if p.t >= now - TIMELINE_S]
        self.classes, self.now = list(classes), now
        self.update()

    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        w, h = self.width(), self.height()
        painter.fillRect(0, 0, w, h, QtGui.QColor("#202020"))
        has_truth = any(t is not None for _, _, t in self.rows)
        band = h // 2 if has_truth else h
        for i, (t, action, truth) in enumerate(self.rows):
            t_next = self.rows[i + 1][0] if i + 1 < len(self.rows) else self.now
            x0 = int(w * (1 - (self.now - t) / TIMELINE_S))
            x1 = max(x0 + 1, int(w * (1 - (self.now - t_next) / TIMELINE_S)))
            painter.fillRect(x0, 0, x1 - x0, band - 1, class_colour(action, self.classes))
            if has_truth and truth is not None:
                painter.fillRect(x0, band + 1, x1 - x0, h - band - 1, class_colour(truth, self.classes))
        painter.setPen(QtGui.QColor("#ffffff"))
        painter.drawText(4, 12, "decision")
        if has_truth:
            painter.drawText(4, band + 12, "truth")
        painter.end()


class LivePanel(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.paused = False
        self.window_s = 5.0
        self.frames_drawn = 0
        self._last_pred_t = None

        self.camera = pg.ImageView()
        self.camera.ui.histogram.hide()
        self.camera.ui.roiBtn.hide()
        self.camera.ui.menuBtn.hide()
        self.camera.setMinimumSize(240, 180)
        self.camera_note = MessageLabel("no camera connected")
        self.camera_note.setAlignment(QtCore.Qt.AlignCenter)

        self.plot = pg.PlotWidget(title="IMU")
        self.plot.setLabel("bottom", "seconds")
        self.legend = self.plot.addLegend(offset=(5, 5))
        self.curves = []
        self.pause_box = QtWidgets.QCheckBox("pause")
        self.pause_box.toggled.connect(lambda on: setattr(self, "paused", on))
        self.length = QtWidgets.QDoubleSpinBox()
        self.length.setRange(1.0, 10.0)
        self.length.setValue(self.window_s)
        self.length.setSuffix(" s")
        self.length.valueChanged.connect(lambda v: setattr(self, "window_s", float(v)))
        self.autorange = QtWidgets.QCheckBox("auto y-range")
        self.autorange.setChecked(True)
        self.autorange.toggled.connect(self._set_autorange)
        self.legend_box = QtWidgets.QCheckBox("legend")
        self.legend_box.setChecked(True)
        self.legend_box.toggled.connect(self.legend.setVisible)
        self.predict_from = QtWidgets.QComboBox()
        for key, text in (("all", "IMU + camera"), ("imu", "IMU only"), ("camera", "camera only")):
            self.predict_from.addItem(text, key)

        self.action = QtWidgets.QLabel(NO_ACTION)
        font = self.action.font()
        font.setPointSize(26)
        font.setBold(True)
        self.action.setFont(font)
        self.action.setAlignment(QtCore.Qt.AlignCenter)
        self.detail = MessageLabel("")
        self.detail.setAlignment(QtCore.Qt.AlignCenter)
        self.bars = ConfidenceBars()

        self.attention = pg.PlotWidget(title="C3T attention over the window's time steps")
        self.attention.setMaximumHeight(130)
        self.attention.hideAxis("left")
        self.attention.setLabel("bottom", "time step (oldest → newest)")
        self.attention_image = pg.ImageItem()
        self.attention_image.setColorMap(pg.colormap.get("viridis"))
        self.attention.addItem(self.attention_image)
        self.timeline = Timeline()

        controls = QtWidgets.QHBoxLayout()
        for w in (self.pause_box, QtWidgets.QLabel("window"), self.length, self.autorange, self.legend_box,
                  QtWidgets.QLabel("predict from"), self.predict_from):
            controls.addWidget(w)
        controls.addStretch(1)
        left = QtWidgets.QVBoxLayout()
        left.addWidget(self.camera, 3)
        left.addWidget(self.camera_note)
        left.addWidget(self.plot, 4)
        left.addLayout(controls)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.action)
        right.addWidget(self.detail)
        right.addWidget(self.bars)
        right.addWidget(self.attention)
        right.addStretch(1)
        top = QtWidgets.QHBoxLayout()
        top.addLayout(left, 3)
        top.addLayout(right, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(QtWidgets.QLabel(f"last {TIMELINE_S} s of decisions"))
        layout.addWidget(self.timeline)

    def _set_autorange(self, on: bool) -> None:
        if on:
            self.plot.enableAutoRange(axis="y")
        else:
            self.plot.disableAutoRange(axis="y")

    def _ensure_curves(self, channels: int) -> None:
        if len(self.curves) == channels:
            return
        for c in self.curves:
            self.plot.removeItem(c)
        self.legend.clear()
        names = IMU_NAMES if channels == 6 else [f"ch {i}" for i in range(channels)]
        self.curves = [self.plot.plot(pen=pg.mkPen(COLOURS[i % len(COLOURS)], width=1.5), name=names[i])
                       for i in range(channels)]

    def draw(self, view) -> None:
        """Draw one LiveView."""
        if not self.paused:
            self._show_signals(view)
        self._show_prediction(view)
        self.frames_drawn += 1

    def _show_signals(self, view) -> None:
        if view.imu.ndim == 2 and len(view.imu):
            self._ensure_curves(view.imu.shape[1])
            keep = view.imu_t >= -self.window_s
            t, x = view.imu_t[keep], view.imu[keep]
            for i, c in enumerate(self.curves):
                c.setData(t, x[:, i])
            self.plot.setXRange(-self.window_s, 0, padding=0)
        if view.frame is not None:
            rgb = view.frame[..., ::-1]
            self.camera.setImage(np.ascontiguousarray(rgb.transpose(1, 0, 2)), autoLevels=False, levels=(0, 255),
                                 autoRange=self.camera.image is None)
            self.camera_note.setText(f"camera {view.frame.shape[1]}x{view.frame.shape[0]}")
        elif "camera" not in view.devices:
            self.camera_note.setText("no camera connected")

    def _show_prediction(self, view) -> None:
        if not view.predictions:
            self.action.setText("waiting for a model" if view.model is None else "waiting for a full window")
            self.detail.setText("")
            self.bars.show_probs(None, view.classes)
            return
        p = view.predictions[-1]
        if p.t == self._last_pred_t:
            return
        self._last_pred_t = p.t
        self.action.setText(p.action)
        colour = class_colour(p.action, view.classes).name()
        self.action.setStyleSheet(f"color: {colour};")
        text = f"confidence {p.confidence:.2f} · {'+'.join(p.modalities)} · {p.latency_ms:.1f} ms ({p.backend})"
        if view.truths:
            text += f"\ntruth: {view.truths[-1]}"
            if view.accuracy is not None:
                text += f" · running accuracy {view.accuracy:.0%}"
        self.detail.setText(text)
        self.bars.show_probs(p.probs, view.classes)
        if p.attention is not None:   # colour scale: uniform attention (1 / steps) sits mid-scale
            att = np.asarray(p.attention, dtype=np.float32)
            self.attention_image.setImage(att[:, None], levels=(0.0, 2.0 / len(att)))
        self.timeline.set_rows(view.predictions, view.truths, view.classes, view.t)
