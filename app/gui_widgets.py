"""Small widgets the panels share.

`MessageLabel` shows a status or error text of any length without ever widening the window:
it wraps (also inside long paths), keeps at most `max_lines` lines with an ellipsis, and
puts the full text in its tooltip and on the clipboard-friendly `full_text` attribute.
"""
from __future__ import annotations

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
        self.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
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
        return QtCore.QSize(0, self._cap(super().minimumSizeHint().height()))

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802
        return QtCore.QSize(100, self._cap(super().sizeHint().height()))

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._cap(super().heightForWidth(width))


def _breakable(text: str) -> str:
    """Let Qt's word wrap break long tokens (paths, specs) after separators."""
    return "".join(c + ZERO_WIDTH_SPACE if c in BREAK_AFTER else c for c in text)
