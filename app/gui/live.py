"""The live view: camera preview, scrolling IMU plots, the predicted action with confidence
bars, the C3T attention heatmap and a timeline of recent predictions. It draws one
LiveView (app/runtime/live.py); the main window calls `draw(view)` on a timer."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from c3t.app.gui.widgets import MessageLabel, PlotOrNote, box
from c3t.app.runtime.live import decision_rule, explain_decision
from c3t.core.options import NO_ACTION

IMU_NAMES = ("acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z")
COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#469990")
TOP = 5          # confidence bars shown
NAME_PX = 200    # the widest a class name beside its bar is drawn (elided, whole in its tooltip)
TIMELINE_S = 30  # seconds of predictions in the timeline


def class_colour(name: str, classes: list[str]) -> QtGui.QColor:
    """The colour of `name` in the live view: one hue per class, grey for "no action" and unknown names."""
    if name == NO_ACTION or name not in classes:
        return QtGui.QColor("#9a9a9a")
    return QtGui.QColor.fromHsv(int(360 * classes.index(name) / max(len(classes), 1)) % 360, 170, 220)


class ConfidenceBars(QtWidgets.QWidget):
    """The top classes of the smoothed scores the decision is taken from, as labelled bars: a
    bar at or above the "no action" threshold has its class's colour, one below it is grey."""

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
        self._styles = [""] * TOP

    def show_probs(self, probs, classes: list[str], threshold: float = 0.0) -> None:
        """Show the top classes of `probs` as percentages; bars below `threshold` are grey (`probs` None:
        empty bars)."""
        order = np.argsort(probs)[::-1][:TOP] if probs is not None else []
        for i in range(TOP):
            if i < len(order):
                k = int(order[i])
                self.names[i].setText(self.names[i].fontMetrics().elidedText(classes[k], QtCore.Qt.ElideRight, NAME_PX))
                self.names[i].setToolTip(classes[k])
                self.bars[i].setValue(int(1000 * probs[k]))
                self.bars[i].setFormat(f"{100 * probs[k]:.0f}%")
                colour = class_colour(classes[k], classes).name() if probs[k] >= threshold else "#b8b8b8"
            else:
                self.names[i].setText("")
                self.bars[i].setValue(0)
                self.bars[i].setFormat("")
                colour = "#b8b8b8"
            style = f"QProgressBar::chunk {{ background: {colour}; }} QProgressBar {{ text-align: center; }}"
            if style != self._styles[i]:
                self._styles[i] = style
                self.bars[i].setStyleSheet(style)


class Timeline(QtWidgets.QWidget):
    """Recent decisions as coloured blocks along time (newest at the right), with the ground
    truth underneath when the source knows it (the simulator), and a seconds scale."""

    SCALE_H = 14   # pixels of the time scale under the blocks

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(44 + self.SCALE_H)
        self.rows: list[tuple[float, str, str | None]] = []
        self.classes: list[str] = []
        self.now = 0.0

    def set_rows(self, predictions, truths, classes, now: float) -> None:
        """Keep the decisions (and truths when there is one per prediction) of the last TIMELINE_S seconds
        before `now`, and repaint."""
        truths = list(truths) if len(truths) == len(predictions) else [None] * len(predictions)
        self.rows = [(p.t, p.action, t) for p, t in zip(predictions, truths) if p.t >= now - TIMELINE_S]
        self.classes, self.now = list(classes), now
        self.update()

    def shown_classes(self) -> list[str]:
        """The classes the blocks show (decisions and truths), in the model's order."""
        seen = {a for _, a, _ in self.rows} | {t for _, _, t in self.rows if t is not None}
        return [c for c in dict.fromkeys([*self.classes, NO_ACTION]) if c in seen]

    def legend_html(self) -> str:
        """Colour swatches with the class names the timeline shows."""
        return " ".join(f"<span style='color:{class_colour(c, self.classes).name()}'>■</span> {c}&nbsp;"
                        for c in self.shown_classes())

    def paintEvent(self, event) -> None:
        """Draw the decision blocks, the truth blocks under them, and the seconds scale."""
        painter = QtGui.QPainter(self)
        w, h = self.width(), self.height() - self.SCALE_H
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
        painter.drawText(4, 12, "decision" if self.rows else "decision: none yet")
        if has_truth:
            painter.drawText(4, band + 12, "truth (simulator)")
        painter.setPen(self.palette().color(QtGui.QPalette.WindowText))
        metrics = painter.fontMetrics()
        for ago in range(0, TIMELINE_S + 1, 5):        # the scale: seconds before now
            x = int(w * (1 - ago / TIMELINE_S))
            painter.drawLine(x if x < w else w - 1, h, x if x < w else w - 1, h + 3)
            text = "now" if ago == 0 else f"-{ago} s"
            tx = min(max(x - metrics.horizontalAdvance(text) // 2, 0), w - metrics.horizontalAdvance(text))
            painter.drawText(tx, h + self.SCALE_H - 1, text)
        painter.end()


def _axis_plot(title: str, left: str, bottom: str | None = None) -> pg.PlotWidget:
    """A plot with its units on the axes and no SI-prefix rescaling ("(x0.001)")."""
    plot = pg.PlotWidget(title=title)
    plot.setLabel("left", left)
    if bottom:
        plot.setLabel("bottom", bottom)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).enableAutoSIPrefix(False)
    plot.setMouseEnabled(x=False, y=True)
    return plot


class LivePanel(QtWidgets.QWidget):
    """The Live tab: the camera frame, the IMU signals of the last seconds, the decision with its
    confidence bars, the timeline of decisions and the attention strip, drawn from a LiveView."""
    def __init__(self, parent=None):
        super().__init__(parent)
        self.paused = False
        self.window_s = 5.0
        self.frames_drawn = 0
        self._last_pred_t = None
        self.threshold = 0.5
        self._steps = 0                 # time steps the attention strip's ticks were made for

        self.camera = pg.ImageView()
        self.camera.ui.histogram.hide()
        self.camera.ui.roiBtn.hide()
        self.camera.ui.menuBtn.hide()
        self.camera.setMinimumSize(240, 120)
        self.camera_note = MessageLabel("no camera connected")
        self.camera_note.setAlignment(QtCore.Qt.AlignCenter)

        # the accelerometer (g) and the gyroscope (deg/s) differ ~100x in range: one plot each
        self.acc_plot = _axis_plot("accelerometer", "g")
        self.gyro_plot = _axis_plot("gyroscope", "deg/s", "seconds before now")
        self.gyro_plot.setXLink(self.acc_plot)
        self.plots = [self.acc_plot, self.gyro_plot]
        self.titles = {self.acc_plot: ("accelerometer", []), self.gyro_plot: ("gyroscope", [])}   # plot -> (title, legend)
        self.show_legend = True
        plots = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(plots)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.acc_plot, 1)    # equal stretch: equal heights whatever the plots' size hints
        column.addWidget(self.gyro_plot, 1)   # (after a 1-channel device the gyroscope's stayed ~30 px)
        self.imu_view = PlotOrNote(plots, "no IMU data yet: connect an IMU above (sim is a simulated person)")
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
        self.legend_box.toggled.connect(self._set_legend)
        self.predict_from = QtWidgets.QComboBox()
        for key, text in (("all", "IMU + camera"), ("imu", "IMU only"), ("camera", "camera only")):
            self.predict_from.addItem(text, key)

        self.action = QtWidgets.QLabel(NO_ACTION)
        font = self.action.font()
        font.setPointSize(26)
        font.setBold(True)
        self.action.setFont(font)
        self.action.setAlignment(QtCore.Qt.AlignCenter)
        self.action.setWordWrap(True)   # a long class name wraps in the large type instead of widening the window
        self.action.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.confidence = QtWidgets.QLabel("")
        self.confidence.setAlignment(QtCore.Qt.AlignCenter)
        self.detail = MessageLabel("")
        self.detail.setAlignment(QtCore.Qt.AlignCenter)
        self.rule = MessageLabel("", max_lines=2)
        self.rule.setStyleSheet("color: #606060;")
        self.bars = ConfidenceBars()

        self.attention = _axis_plot("C3T attention: which time steps of the window decided", "",
                                    "time step of the window (1 = oldest)")
        self.attention.setMaximumHeight(150)
        self.attention.hideAxis("left")
        self.attention.setMouseEnabled(x=False, y=False)
        self.attention_image = pg.ImageItem()
        self.attention.addItem(self.attention_image)
        self.attention_bar = pg.ColorBarItem(values=(0.0, 0.25), colorMap=pg.colormap.get("viridis"),
                                             interactive=False, width=10, label="weight")
        self.attention_bar.setImageItem(self.attention_image, insert_in=self.attention.getPlotItem())
        self.attention_view = PlotOrNote(self.attention, "attention over time appears with a C3T model's first "
                                                         "prediction")
        self.attention_view.setMaximumHeight(150)
        self.timeline = Timeline()
        self.timeline_legend = QtWidgets.QLabel("")
        self.timeline_legend.setWordWrap(True)
        self.timeline_legend.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)

        controls = QtWidgets.QHBoxLayout()
        for w in (self.pause_box, QtWidgets.QLabel("window"), self.length, self.autorange, self.legend_box,
                  QtWidgets.QLabel("predict from"), self.predict_from):
            controls.addWidget(w)
        controls.addStretch(1)
        left = box("v", (self.camera, 2), self.camera_note, (self.imu_view, 5), controls)
        right = box("v", self.action, self.confidence, self.detail, self.bars, self.rule, self.attention_view)
        right.addStretch(1)
        top = QtWidgets.QHBoxLayout()
        top.addLayout(left, 3)
        top.addLayout(right, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(QtWidgets.QLabel(f"last {TIMELINE_S} s of decisions"))
        layout.addWidget(self.timeline)
        layout.addWidget(self.timeline_legend)

    def show_settings(self, settings) -> None:
        """Show the decision rule (smoothing, history, threshold) the predictor uses."""
        self.threshold = settings.threshold
        self.rule.setText(f"bars: {decision_rule(settings)}")
        self._last_pred_t = None

    def _set_autorange(self, on: bool) -> None:
        for plot in self.plots:
            if on:
                plot.enableAutoRange(axis="y")
            else:
                plot.disableAutoRange(axis="y")

    def _set_legend(self, on: bool) -> None:
        self.show_legend = on
        for plot in self.plots:
            self._show_title(plot)

    def _show_title(self, plot) -> None:
        """The plot's title, followed by its legend (a coloured line and the name of each curve) when the
        legend is on: in the title row, above the traces, never on them."""
        title, legend = self.titles[plot]
        keys = "&nbsp;&nbsp;".join(f"<span style='color:{colour}'>━━</span>&nbsp;{name}" for name, colour in legend)
        plot.setTitle(f"{title}&nbsp;&nbsp;&nbsp;&nbsp;{keys}" if self.show_legend and keys else title)

    def _ensure_curves(self, channels: int) -> None:
        if len(self.curves) == channels:
            return
        for plot in self.plots:
            plot.clear()
        six = channels == 6
        self.gyro_plot.setVisible(six)
        self.acc_plot.setLabel("left", "g" if six else "device units")
        self.acc_plot.setLabel("bottom", None if six else "seconds before now")
        names = IMU_NAMES if six else [f"ch {i}" for i in range(channels)]
        plot_of = [self.acc_plot] * 3 + [self.gyro_plot] * 3 if six else [self.acc_plot] * channels
        colours = [COLOURS[i % len(COLOURS)] for i in range(channels)]
        self.curves = [plot_of[i].plot(pen=pg.mkPen(colours[i], width=1.5)) for i in range(channels)]
        self.titles = {self.acc_plot: ("accelerometer" if six else f"IMU: {channels} channels",
                                       [(n, c) for n, c, p in zip(names, colours, plot_of) if p is self.acc_plot]),
                       self.gyro_plot: ("gyroscope", [(n, c) for n, c, p in zip(names, colours, plot_of)
                                                      if p is self.gyro_plot])}
        for plot in self.plots:
            self._show_title(plot)

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
            self.acc_plot.setXRange(-self.window_s, 0, padding=0)
            self.imu_view.show_plot()
        elif "imu" not in view.devices:
            self.imu_view.show_note("no IMU connected: choose one above (sim is a simulated person)")
        else:   # connected, nothing to draw: say why in the device's words, as its row in the table does
            d = view.devices["imu"]
            self.imu_view.show_note(f"no IMU samples from {d.spec} ({d.state})" + (f": {d.last_error}" if d.last_error
                                                                                  else ""))
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
            self.action.setStyleSheet("")
            self.confidence.setText("")
            self.detail.setText("open a model: File > Open model folder…" if view.model is None else "")
            self.bars.show_probs(None, view.classes)
            self.timeline.set_rows([], [], view.classes, view.t)
            self.timeline_legend.setText("")
            if self._last_pred_t is not None or not self.attention_view.empty:
                self.attention_view.show_note("attention over time appears with a C3T model's first prediction")
            self._last_pred_t = None
            return
        p = view.predictions[-1]
        if p.t == self._last_pred_t:
            return
        self._last_pred_t = p.t
        self.action.setText(p.action)
        colour = class_colour(p.action, view.classes).name()
        self.action.setStyleSheet(f"color: {colour};")
        self.confidence.setText(explain_decision(p, view.classes, self.threshold))
        text = f"from {' + '.join(p.modalities)} · {p.latency_ms:.1f} ms ({p.backend})"
        if view.truths:
            text += f"\ntruth: {view.truths[-1]}"
            if view.accuracy is not None:
                text += f" · running accuracy {view.accuracy:.0%}"
        self.detail.setText(text)
        self.bars.show_probs(p.smoothed if p.smoothed is not None else p.probs, view.classes, self.threshold)
        if p.attention is not None:   # colour scale: uniform attention (1 / steps) sits mid-scale
            att = np.asarray(p.attention, dtype=np.float32)
            self.attention_image.setImage(att[:, None], levels=(0.0, 2.0 / len(att)))
            self.attention_bar.setLevels((0.0, 2.0 / len(att)))
            if len(att) != self._steps:
                self._steps = len(att)
                self.attention.getAxis("bottom").setTicks([[(i + 0.5, str(i + 1)) for i in range(len(att))]])
            self.attention_view.show_plot()
        else:
            self.attention_view.show_note("this model gives no attention over time: only C3T models do")
        self.timeline.set_rows(view.predictions, view.truths, view.classes, view.t)
        self.timeline_legend.setText(self.timeline.legend_html())
