"""The recording panel: start / stop a session (unlabelled for alignment, labelled with a class
per clip for training, or labelled for checking the IMU), the class switched by buttons or keys
(0 = no action, 1-9, then a-z), the list of recorded sessions with their durations and label
counts, delete and relabel."""
from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from c3t.app.gui.widgets import MessageLabel, box, fit_columns, list_table
from c3t.core.errors import C3tError
from c3t.core.options import NO_ACTION
from c3t.core.session.format import relabel_session

SESSION_COLUMNS = ("session", "person", "duration s", "labels", "classes", "problems")
LABEL_KEYS = "0123456789abcdefghijklmnopqrstuvwxyz"   # button i's key: 0 = no action, then the classes
MODES = {"align": "unlabelled", "har": "labelled", "check": "check"}   # use -> session folder suffix


def label_key(i: int) -> str | None:
    """The key that picks label button `i` (None past the 36th)."""
    return LABEL_KEYS[i] if i < len(LABEL_KEYS) else None


def describe_session(path: Path) -> tuple[str, ...]:
    """The row a session gets in the list (a broken folder says what is wrong)."""
    from c3t.core.session.format import Session

    try:
        s = Session(path)
    except C3tError as exc:
        return (path.name, "", "–", "–", "", str(exc))
    uses = Counter(lb.use for lb in s.labels)
    labels = ", ".join(f"{n} {'camera' if u == 'har' else 'check'}" for u, n in sorted(uses.items())) or "unlabelled"
    classes = ", ".join(f"{c} ×{n}" for c, n in Counter(lb.cls for lb in s.labels).most_common())
    return (s.name, s.person or "–", f"{s.duration_s:.1f}", labels, classes, "; ".join(s.problems))


class RecordPanel(QtWidgets.QWidget):
    """The Record tab: the sessions folder, the kind of recording (unlabelled, labelled camera labels,
    check), who wears the IMU (`person`), the class being performed, Start / Stop, and the recorded
    sessions. Emits
    start_requested(folder, first label or None, use), stop_requested, and label_changed(class or
    None) when the class is changed while recording; the main window does the recording."""
    start_requested = QtCore.Signal(str, object, str)   # session folder, first label (None: unlabelled), use
    stop_requested = QtCore.Signal()
    label_changed = QtCore.Signal(object)          # class name, or None for "no label"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recording = False
        self.folder = QtWidgets.QLineEdit(str(Path.home() / "c3t" / "sessions"))
        browse = QtWidgets.QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        self.person = QtWidgets.QLineEdit()
        self.person.setPlaceholderText("who wears the IMU, e.g. alice or p01 (per-person training and tests "
                                       "group sessions by it)")
        self.unlabelled = QtWidgets.QRadioButton("unlabelled (pairs for alignment, D_Align)")
        self.labelled = QtWidgets.QRadioButton("labelled (camera labels for training, D_HAR): a class per clip")
        self.check = QtWidgets.QRadioButton("check (IMU labels to score the model, D_Val/D_Test: never trained on)")
        self.unlabelled.setChecked(True)
        self.mode = QtWidgets.QButtonGroup(self)
        for b in (self.unlabelled, self.labelled, self.check):
            self.mode.addButton(b)
        self.mode.buttonToggled.connect(lambda *_: self._mode_changed())
        self.classes_edit = QtWidgets.QLineEdit()
        self.classes_edit.setPlaceholderText("classes, comma-separated (default: the model's)")
        self.classes_edit.editingFinished.connect(lambda: self.set_classes(self._typed_classes()))
        self.label_box = QtWidgets.QGroupBox("current label (key 0 = no action, between clips; keys on the buttons)")
        self.label_grid = QtWidgets.QGridLayout(self.label_box)
        self.label_buttons = QtWidgets.QButtonGroup(self)
        self.label_buttons.setExclusive(True)
        self.label_buttons.idClicked.connect(self._label_clicked)
        self.start_button = QtWidgets.QPushButton("Start recording")
        self.start_button.setCheckable(False)
        self.start_button.clicked.connect(self._start_stop)
        self.status = MessageLabel("not recording")
        self.table = list_table(SESSION_COLUMNS)
        refresh, delete, relabel = (QtWidgets.QPushButton(t) for t in ("Refresh", "Delete…", "Relabel…"))
        refresh.clicked.connect(self.refresh)
        delete.clicked.connect(self._delete)
        relabel.clicked.connect(self._relabel)
        self.classes: list[str] = []

        where = box("h", QtWidgets.QLabel("sessions folder"), (self.folder, 1), browse,
                    QtWidgets.QLabel("person"), (self.person, 1))
        mode = box("v", self.unlabelled, self.labelled, self.check, self.classes_edit)
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
        layout.addWidget(QtWidgets.QLabel("recorded sessions: select rows to train on those only "
                                          "(none selected: the Train tab uses them all)"))
        layout.addWidget(self.table, 1)
        layout.addLayout(tools)
        for i, key in enumerate(LABEL_KEYS):
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(key), self)
            shortcut.activated.connect(lambda k=i: self.choose_label_index(k))
        self._mode_changed()

    # -- labels -----------------------------------------------------------------------------
    def _typed_classes(self) -> list[str]:
        return [c.strip() for c in self.classes_edit.text().split(",") if c.strip()]

    def labelling(self) -> bool:
        """Whether the chosen mode labels clips (labelled or check)."""
        return not self.unlabelled.isChecked()

    def use(self) -> str:
        """The chosen mode as the session's label use: "align", "har" or "check"."""
        return "check" if self.check.isChecked() else "har" if self.labelled.isChecked() else "align"

    def _mode_changed(self) -> None:
        self.label_box.setEnabled(self.labelling())
        self.classes_edit.setEnabled(self.labelling() and not self.recording)

    def set_classes(self, classes: list[str]) -> None:
        """The label buttons: 0 = no action, then the classes (keys 1-9, then a-z, shown on the buttons)."""
        classes = [c for c in classes if c != NO_ACTION]
        if classes == self.classes and self.label_buttons.buttons():
            return
        self.classes = classes
        for b in self.label_buttons.buttons():
            self.label_buttons.removeButton(b)
            b.deleteLater()
        for i, name in enumerate([NO_ACTION] + classes):
            key = label_key(i)
            text = f"{key}  {name}" if key else name
            b = QtWidgets.QPushButton(text)
            b.setCheckable(True)
            self.label_buttons.addButton(b, i)
            self.label_grid.addWidget(b, i // 4, i % 4)
        self.label_buttons.button(0).setChecked(True)

    def current_label(self) -> str | None:
        """The class being performed (NO_ACTION, a class too: rests teach the model to say so);
        None when recording unlabelled."""
        i = self.label_buttons.checkedId()
        if not self.labelling() or i < 0:
            return None
        return NO_ACTION if i == 0 else self.classes[i - 1]

    def choose_label_index(self, i: int) -> None:
        """Choose the class button `i` (0: "no action") as if clicked; ignored when not labelling."""
        button = self.label_buttons.button(i)
        if button is not None and self.labelling():
            button.setChecked(True)
            self._label_clicked(i)

    def _label_clicked(self, i: int) -> None:
        if self.recording and self.labelling():
            self.label_changed.emit(self.current_label())

    # -- recording ----------------------------------------------------------------------------
    def next_session_folder(self) -> Path:
        """A new session folder under the sessions folder, named by the time and the kind of recording."""
        root = Path(self.folder.text()).expanduser()
        return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{MODES[self.use()]}"

    def _start_stop(self) -> None:
        if self.recording:
            self.stop_requested.emit()
            return
        if self.labelling():
            if self._typed_classes():
                self.set_classes(self._typed_classes())
            if not self.classes:
                self.status.setText("not started: a labelled recording needs classes to label with. Type them "
                                    "above (comma-separated) or load a model (File > Open model folder), or "
                                    "choose unlabelled")
                self.status.setStyleSheet("color: #8a1c14;")
                return
        self.status.setStyleSheet("")
        self.start_requested.emit(str(self.next_session_folder()), self.current_label(), self.use())

    def set_recording(self, recording: bool) -> None:
        """Show whether a recording is running (the button's text, the kinds locked); when it stops,
        list the sessions again."""
        self.recording = recording
        self.start_button.setText("Stop recording" if recording else "Start recording")
        for b in (self.unlabelled, self.labelled, self.check, self.person):
            b.setEnabled(not recording)
        self._mode_changed()
        if not recording:
            self.status.setText("not recording")
            self.refresh()

    def show_status(self, status) -> None:
        """Show the running recording's seconds, folder, label, labelled clips and samples written (nothing
        once the panel knows the recording stopped: a view made before Stop must not say it still runs)."""
        if status is None or not self.recording:
            return
        written = ", ".join(f"{k} {v}" for k, v in status.written.items())
        self.status.setText(f"● recording {status.seconds:.1f} s into {Path(status.folder).name} · "
                            f"label: {status.label or 'none'} · {status.labels} labelled clips · written {written}")

    # -- sessions list ------------------------------------------------------------------------
    def sessions_root(self) -> Path:
        """The sessions folder typed in the panel (~ expanded)."""
        return Path(self.folder.text()).expanduser()

    def session_paths(self) -> list[Path]:
        """Every session folder under the sessions folder ([] when the folder does not exist)."""
        from c3t.core.session.format import find_sessions

        root = self.sessions_root()
        return find_sessions(root) if root.is_dir() else []

    def refresh(self) -> None:
        """List the sessions again: name, seconds, labels, classes and problems of each."""
        paths = self.session_paths()
        self.table.setRowCount(len(paths))
        for r, p in enumerate(paths):
            for c, v in enumerate(describe_session(p)):
                item = QtWidgets.QTableWidgetItem(v)
                item.setData(QtCore.Qt.UserRole, str(p))
                self.table.setItem(r, c, item)
        fit_columns(self.table)

    def selected_paths(self) -> list[Path]:
        """The session folders of the selected rows (in table order)."""
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
