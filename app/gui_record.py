"""The recording panel: start / stop a session (unlabelled for alignment, or labelled with a
class per clip switched by buttons or the number keys), the list of recorded sessions with
their durations and label counts, delete and relabel."""
from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from c3t.core.errors import C3tError
from c3t.core.vocabulary import NO_ACTION
from c3t.app.gui_widgets import MessageLabel

SESSION_COLUMNS = ("session", "duration s", "labels", "classes", "problems")


def describe_session(path: Path) -> tuple[str, ...]:
    """The row a session gets in the list (a broken folder says what is wrong)."""
    from c3t.core.session import Session

    try:
        s = Session(path)
    except C3tError as exc:
        return (path.name, "–", "–", "", str(exc))
    uses = Counter(lb.use for lb in s.labels)
    labels = ", ".join(f"{n} {'camera' if u == 'har' else 'check'}" for u, n in sorted(uses.items())) or "unlabelled"
    classes = ", ".join(f"{c} ×{n}" for c, n in Counter(lb.cls for lb in s.labels).most_common())
    return (s.name, f"{s.duration_s:.1f}", labels, classes, "; ".join(s.problems))


def relabel_session(path: Path, old: str, new: str) -> int:
    """Rename class `old` to `new` in a session's labels; returns how many labels changed."""
    import dataclasses

    from c3t.core.session import LABELS, Session, write_labels

    if not new.strip():
        raise C3tError("the new class name is empty")
    s = Session(path)
    changed = [dataclasses.replace(lb, cls=new.strip()) if lb.cls == old else lb for lb in s.labels]
    count = sum(lb.cls == old for lb in s.labels)
    if count:
        write_labels(path / s.manifest.get("labels", LABELS), changed)
    return count


class RecordPanel(QtWidgets.QWidget):
    start_requested = QtCore.Signal(str, object)   # session folder, first label (None: unlabelled)
    stop_requested = QtCore.Signal()
    label_changed = QtCore.Signal(object)          # class name, or None for "no label"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recording = False
        self.folder = QtWidgets.QLineEdit(str(Path.home() / "c3t" / "sessions"))
        browse = QtWidgets.QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        self.unlabelled = QtWidgets.QRadioButton("unlabelled (pairs for alignment, D_Align)")
        self.labelled = QtWidgets.QRadioButton("labelled (camera labels, D_HAR): a class per clip")
        self.unlabelled.setChecked(True)
        self.classes_edit = QtWidgets.QLineEdit()
        self.classes_edit.setPlaceholderText("classes, comma-separated (default: the model's)")
        self.classes_edit.editingFinished.connect(lambda: self.set_classes(self._typed_classes()))
        self.label_box = QtWidgets.QGroupBox("current label (keys 1-9; 0 = no action, the rest between clips)")
        self.label_grid = QtWidgets.QGridLayout(self.label_box)
        self.label_buttons = QtWidgets.QButtonGroup(self)
        self.label_buttons.setExclusive(True)
        self.label_buttons.idClicked.connect(self._label_clicked)
        self.start_button = QtWidgets.QPushButton("Start recording")
        self.start_button.setCheckable(False)
        self.start_button.clicked.connect(self._start_stop)
        self.status = MessageLabel("not recording")
        self.table = QtWidgets.QTableWidget(0, len(SESSION_COLUMNS))
        self.table.setHorizontalHeaderLabels(SESSION_COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        refresh, delete, relabel = (QtWidgets.QPushButton(t) for t in ("Refresh", "Delete…", "Relabel…"))
        refresh.clicked.connect(self.refresh)
        delete.clicked.connect(self._delete)
        relabel.clicked.connect(self._relabel)
        self.classes: list[str] = []

        where = QtWidgets.QHBoxLayout()
        where.addWidget(QtWidgets.QLabel("sessions folder"))
        where.addWidget(self.folder, 1)
        where.addWidget(browse)
        mode = QtWidgets.QVBoxLayout()
        mode.addWidget(self.unlabelled)
        mode.addWidget(self.labelled)
        mode.addWidget(self.classes_edit)
        run = QtWidgets.QHBoxLayout()
        run.addWidget(self.start_button)
        run.addWidget(self.status, 1)
        tools = QtWidgets.QHBoxLayout()
        for b in (refresh, delete, relabel):
            tools.addWidget(b)
        tools.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(where)
        layout.addLayout(mode)
        layout.addWidget(self.label_box)
        layout.addLayout(run)
        layout.addWidget(QtWidgets.QLabel("recorded sessions"))
        layout.addWidget(self.table, 1)
        layout.addLayout(tools)
        for key in range(10):
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(str(key)), self)
            shortcut.activated.connect(lambda k=key: self.choose_label_index(k))

    # -- labels -----------------------------------------------------------------------------
    def _typed_classes(self) -> list[str]:
        return [c.strip() for c in self.classes_edit.text().split(",") if c.strip()]

    def set_classes(self, classes: list[str]) -> None:
        """The label buttons: 0 = no action, then the classes (the first nine get number keys)."""
        classes = [c for c in classes if c != NO_ACTION]
        if classes == self.classes and self.label_buttons.buttons():
            return
        self.classes = classes
        for b in self.label_buttons.buttons():
            self.label_buttons.removeButton(b)
            b.deleteLater()
        for i, name in enumerate([NO_ACTION] + classes):
            text = f"{i}  {name}" if i < 10 else name
            b = QtWidgets.QPushButton(text)
            b.setCheckable(True)
            self.label_buttons.addButton(b, i)
            self.label_grid.addWidget(b, i // 4, i % 4)
        self.label_buttons.button(0).setChecked(True)

    def current_label(self) -> str | None:
        """The class being performed (NO_ACTION, a class too: rests teach the model to say so);
        None when recording unlabelled."""
        i = self.label_buttons.checkedId()
        if not self.labelled.isChecked() or i < 0:
            return None
        return NO_ACTION if i == 0 else self.classes[i - 1]

    def choose_label_index(self, i: int) -> None:
        button = self.label_buttons.button(i)
        if button is not None:
            button.setChecked(True)
            self._label_clicked(i)

    def _label_clicked(self, i: int) -> None:
        if self.recording and self.labelled.isChecked():
            self.label_changed.emit(self.current_label())

    # -- recording ----------------------------------------------------------------------------
    def next_session_folder(self) -> Path:
        root = Path(self.folder.text()).expanduser()
        kind = "labelled" if self.labelled.isChecked() else "align"
        return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}"

    def _start_stop(self) -> None:
        if self.recording:
            self.stop_requested.emit()
        else:
            self.start_requested.emit(str(self.next_session_folder()), self.current_label())

    def set_recording(self, recording: bool) -> None:
        self.recording = recording
        self.start_button.setText("Stop recording" if recording else "Start recording")
        self.unlabelled.setEnabled(not recording)
        self.labelled.setEnabled(not recording)
        if not recording:
            self.status.setText("not recording")
            self.refresh()

    def show_status(self, status) -> None:
        if status is None:
            return
        written = ", ".join(f"{k} {v}" for k, v in status.written.items())
        self.status.setText(f"● recording {status.seconds:.1f} s into {Path(status.folder).name} · "
                            f"label: {status.label or 'none'} · {status.labels} labelled clips · written {written}")

    # -- sessions list ------------------------------------------------------------------------
    def sessions_root(self) -> Path:
        return Path(self.folder.text()).expanduser()

    def session_paths(self) -> list[Path]:
        from c3t.core.session import find_sessions

        root = self.sessions_root()
        return find_sessions(root) if root.is_dir() else []

    def refresh(self) -> None:
        paths = self.session_paths()
        self.table.setRowCount(len(paths))
        for r, p in enumerate(paths):
            for c, v in enumerate(describe_session(p)):
                item = QtWidgets.QTableWidgetItem(v)
                item.setData(QtCore.Qt.UserRole, str(p))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    def selected_paths(self) -> list[Path]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [Path(self.table.item(r, 0).data(QtCore.Qt.UserRole)) for r in rows]

    def _choose_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Sessions folder", self.folder.text())
        if path:
            self.folder.setText(path)
            self.refresh()

    def _delete(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        names = ", ".join(p.name for p in paths)
        if QtWidgets.QMessageBox.question(self, "Delete sessions", f"Delete {names} from disk?") \
                != QtWidgets.QMessageBox.Yes:
            return
        for p in paths:
            shutil.rmtree(p)
        self.refresh()

    def _relabel(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        old, ok = QtWidgets.QInputDialog.getText(self, "Relabel", "class to rename:")
        if not ok or not old:
            return
        new, ok = QtWidgets.QInputDialog.getText(self, "Relabel", f"new name for {old!r}:")
        if not ok:
            return
        try:
            n = sum(relabel_session(p, old, new) for p in paths)
        except C3tError as exc:
            QtWidgets.QMessageBox.warning(self, "Relabel", str(exc))
            return
        self.status.setText(f"renamed {n} labels {old!r} → {new!r}")
        self.refresh()
