"""Small widgets the panels share.

`MessageLabel` shows a status or error text of any length without ever widening the window:
it wraps (also inside long paths), keeps at most `max_lines` lines with an ellipsis, and
puts the full text in its tooltip and on the clipboard-friendly `full_text` attribute.
`PlotOrNote` shows a plot once it has something to draw and a sentence until then (no empty
axes). `gui_words` rewrites the command line's wording in a message for the window.
"""
from __future__ import annotations

import re

from PySide6 import QtCore, QtWidgets

BREAK_AFTER = "/\\,;:=&_-."   # a long path or spec may wrap after these
ZERO_WIDTH_SPACE = "\u200b"
LINE_CHARS = 240              # characters shown per line of the message (the tooltip has all)


class MessageLabel(QtWidgets.QLabel):
    """A QLabel for messages: its width never depends on the text (the layout decides it)."""

    def __init__(self, text: str = "", max_lines: int = 4, parent=None):
        super().__init__(parent)
        self.max_lines = max_lines
        self.full_text = ""
        self.setWordWrap(True)
        self.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop)   # more than fits loses its end, never its
        self.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)   # first line (a version's name)
        self.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        """Show `text` wrapped, at most max_lines lines with an ellipsis; the whole text stays in text()
        and, when long, in the tooltip."""
        text = str(text or "")
        self.full_text = text
        self.setToolTip(text if len(text) > 80 else "")
        lines = text.splitlines() or [""]
        shown = lines[: self.max_lines]
        if len(lines) > self.max_lines:
            shown[-1] += " …"
        shown = [_breakable(line[:LINE_CHARS] + ("…" if len(line) > LINE_CHARS else "")) for line in shown]
        super().setText("\n".join(shown))

    def text(self) -> str:
        """The full message, as given (not the wrapped or shortened one on screen)."""
        return self.full_text

    def _cap(self, height: int) -> int:
        """At most max_lines lines tall (wrapping in a narrow window must not make it tower)."""
        margins = self.contentsMargins()
        lines = self.fontMetrics().lineSpacing() * self.max_lines + margins.top() + margins.bottom()
        return min(height, lines)

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802
        """Qt's minimum size, no taller than max_lines lines."""
        return QtCore.QSize(0, self._cap(super().minimumSizeHint().height()))

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802
        """Qt's preferred size, no taller than max_lines lines."""
        return QtCore.QSize(100, self._cap(super().sizeHint().height()))

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        """The height the wrapped text needs at `width` pixels, no taller than max_lines lines."""
        return self._cap(super().heightForWidth(width))


def _breakable(text: str) -> str:
    """Let Qt's word wrap break long tokens (paths, specs) after separators."""
    return "".join(c + ZERO_WIDTH_SPACE if c in BREAK_AFTER else c for c in text)


class PlotOrNote(QtWidgets.QStackedWidget):
    """A plot, or in its place a sentence saying why there is nothing to draw yet."""

    def __init__(self, plot: QtWidgets.QWidget, note: str, parent=None):
        super().__init__(parent)
        self.plot = plot
        self.note = MessageLabel(note, max_lines=4)
        self.note.setAlignment(QtCore.Qt.AlignCenter)
        self.note.setStyleSheet("color: #707070; border: 1px dashed #b0b0b0;")
        self.addWidget(self.note)
        self.addWidget(plot)
        self.setCurrentWidget(self.note)

    @property
    def empty(self) -> bool:
        """True while the note is shown instead of the plot."""
        return self.currentWidget() is self.note

    def show_plot(self) -> None:
        """Show the plot instead of the note."""
        if self.currentWidget() is not self.plot:
            self.setCurrentWidget(self.plot)

    def show_note(self, text: str | None = None) -> None:
        """Show the note instead of the plot, with `text` when given."""
        if text is not None and text != self.note.text():
            self.note.setText(text)
        if self.currentWidget() is not self.note:
            self.setCurrentWidget(self.note)


# The command line's words in a message -> the window's controls (messages come from code the
# CLI shares). Longest first: a phrase is replaced before the flag inside it.
GUI_WORDS = (
    ("leave out --camera", "set Camera to (none) or Predict from to IMU only"),
    ("leave out --imu", "set IMU to (none) or Predict from to camera only"),
    ("record a session with --check", "record a session in the check mode (Record tab)"),
    ("recorded with --check", "recorded in the check mode (Record tab)"),
    ("(e.g. --imu sim)", "(e.g. sim)"),
    ("--check", "the check mode (Record tab)"),
    ("choose another --out", "choose another folder"),
    ("--out", "the folder"),
    ("--imu", "the IMU field"),
    ("--camera", "the Camera field"),
    ("--model", "File > Open model folder"),
)


def gui_words(message: str) -> str:
    """`message` with command-line wording (flags, "leave out --camera") replaced by the
    window's controls; `c3t ...` commands that stand on their own are kept."""
    parts = message.split("`")
    for i in range(0, len(parts), 2):     # odd parts are `quoted commands`: kept as they are
        for cli, gui in GUI_WORDS:
            parts[i] = re.sub(r"(?<![\w-])" + re.escape(cli) + r"(?![\w-])", gui, parts[i])
    return "`".join(parts)


def box(kind: str, *items) -> QtWidgets.QBoxLayout:
    """A QVBoxLayout ("v") or QHBoxLayout ("h") holding `items` in order: widgets, layouts, or
    (widget, stretch) pairs."""
    layout = QtWidgets.QVBoxLayout() if kind == "v" else QtWidgets.QHBoxLayout()
    for item in items:
        thing, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(thing, QtWidgets.QLayout):
            layout.addLayout(thing, stretch)
        else:
            layout.addWidget(thing, stretch)
    return layout


def scrolled(widget: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    """`widget` in a frameless scroll area: a tall page (a form) scrolls instead of raising the
    window's minimum height above a small screen's."""
    area = QtWidgets.QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QtWidgets.QFrame.NoFrame)
    return area


def fit_columns(table: QtWidgets.QTableWidget) -> None:
    """Size `table`'s columns to their contents, the last one still stretched to the table's edge
    (resizing to contents alone leaves a gap there until the window is resized)."""
    table.resizeColumnsToContents()
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    header.setStretchLastSection(True)


def list_table(columns) -> QtWidgets.QTableWidget:
    """A read-only table of whole-row selections (sessions, model versions) with `columns` as
    headers and the last column stretched."""
    table = QtWidgets.QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().hide()
    table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
    table.horizontalHeader().setStretchLastSection(True)
    return table
