"""Starting the desktop app: the checks before Qt starts, the QApplication, the main window with its
devices and model, and the demo's first-run progress dialog. `c3t gui`, `c3t demo` and
`c3t bench gui` (app/cli) call these; they hold no Qt themselves.
"""
from __future__ import annotations

import logging
import os
import sys
import time

from c3t.core.errors import C3tError

log = logging.getLogger(__name__)

# What Qt's xcb platform plugin (PySide6's plugins/platforms/libqxcb.so and libQt6XcbQpa.so.6)
# loads, by `ldd`, with the Debian/Ubuntu package that ships each library. Qt aborts the process
# (SIGABRT, no Python exception) when one is missing, so they are looked up before Qt starts.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def _loadable(soname: str) -> bool:
    """Whether the dynamic linker finds `soname` (the way Qt's plugin would load it)."""
    import ctypes

    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def uses_xcb(environ=None, platform: str | None = None) -> bool:
    """Whether Qt will start its xcb (X11) platform plugin here."""
    environ = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0].split(";")[0] == "xcb"
    wayland = environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland"
    return bool(environ.get("DISPLAY")) and not wayland


def missing_xcb_packages(loadable=_loadable) -> list[str]:
    """The Debian/Ubuntu packages of the xcb plugin's libraries that cannot be loaded."""
    return sorted({package for soname, package in XCB_LIBRARIES.items() if not loadable(soname)})


def check_qt_platform(environ=None, loadable=_loadable, platform: str | None = None) -> None:
    """Refuse to start Qt when it would abort: no display, or the X11 (xcb) plugin's libraries
    missing; the message has the exact command that installs them.

    Raises:
        C3tError: on Linux with no display and no QT_QPA_PLATFORM, or when Qt would use xcb and
            some of XCB_LIBRARIES cannot be loaded (the message names their packages).
    """
    environ = os.environ if environ is None else environ
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY") \
            and (platform or sys.platform).startswith("linux") and "QT_QPA_PLATFORM" not in environ:
        raise C3tError("no display: run on a desktop, set QT_QPA_PLATFORM=offscreen (screenshots only), "
                       "or use `c3t demo --headless`")
    if not uses_xcb(environ, platform):
        return
    missing = missing_xcb_packages(loadable)
    if missing:
        raise C3tError("the window needs system libraries that Qt's X11 (xcb) platform plugin loads, and "
                       f"{len(missing)} are missing ({', '.join(missing)}); install them with\n"
                       f"    sudo apt-get install {' '.join(missing)}\n"
                       "or run without a window: `c3t demo --headless`")


def check_qt_bindings() -> None:
    """Refuse a Qt binding that drops a reference to None on each call returning nothing
    (PySide6 6.12.0 does on Python 3.11): the app would abort after some minutes of drawing.

    Raises:
        C3tError: when the installed PySide6 has that bug (the message names a version to install).
    """
    from PySide6 import QtWidgets, __version__

    label = QtWidgets.QLabel()
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("c3t")
    if sys.getrefcount(None) < before - 100:
        raise C3tError(f"PySide6 {__version__} has a reference-counting bug that crashes the app after a while "
                       f"on Python {sys.version.split()[0]}; install another version: "
                       "pip install 'PySide6-Essentials==6.11.3'")


def qt_app():
    """The QApplication (created once, after check_qt_platform), with the binding checked.

    Raises:
        C3tError: from check_qt_platform or check_qt_bindings when Qt cannot run safely here.
    """
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6 import QtWidgets  # the binding alone: the platform plugin loads with the QApplication

    app = QtWidgets.QApplication.instance()
    if app is None:
        check_qt_platform()
        app = QtWidgets.QApplication(["c3t"])
        log.debug("QApplication started on the %s platform", app.platformName())
    check_qt_bindings()
    return app


def open_window(tab: str, imu: str | None, camera: str | None, model: str | None, settings=None,
                predict_from: str | None = None):
    """The main window showing `tab`, with the devices connected and the model loaded as asked (None:
    the ones the Settings tab stores); `settings` a QSettings (default the user's)."""
    from PySide6 import QtCore

    from c3t.app.gui.main import MainWindow
    from c3t.app.runtime.live import LivePipeline

    window = MainWindow(LivePipeline(), settings or QtCore.QSettings("c3t", "c3t"))
    window.show_tab(tab)
    if predict_from:
        window.set_predict_from(predict_from)
    model = model or window.settings.value("model/folder")
    if model:
        window.load_model(str(model))
    if not imu and not camera and str(window.settings.value("devices/connect_at_start", "false")).lower() == "true":
        imu, camera = window.devices.choice()     # the stored devices (Settings tab)
    if imu or camera:
        window.devices.set_choice(imu or "", camera or "")
        window.connect_devices(imu or "", camera or "")
    return window


def run_window(app, window, screenshot: str | None, after: float) -> int:
    """Show `window` and run the Qt event loop until it closes; with `screenshot`, save that PNG after
    `after` seconds and close. Returns 0.

    Raises:
        C3tError: when the screenshot cannot be written.
    """
    from PySide6 import QtCore

    result = {"error": None}
    if screenshot:
        def shoot():
            """Save the screenshot, then close the window and quit the app."""
            try:
                window.screenshot(screenshot)
                print(f"screenshot written to {screenshot}")
            except C3tError as exc:
                result["error"] = str(exc)
            window.close()
            app.quit()

        QtCore.QTimer.singleShot(int(1000 * after), shoot)
    window.show()
    app.exec()
    if result["error"]:
        raise C3tError(result["error"])
    return 0


def run_gui(tab: str, imu: str | None, camera: str | None, model: str | None,
            screenshot: str | None, after: float) -> int:
    """`c3t gui`: the desktop app until its window closes (see open_window, run_window); returns 0.

    Raises:
        C3tError: when Qt cannot start here or the screenshot cannot be written.
    """
    app = qt_app()
    return run_window(app, open_window(tab, imu, camera, model), screenshot, after)


def run_demo_window(seed: int, tab: str, screenshot: str | None, after: float) -> int:
    """`c3t demo`: the window on the simulated person and camera with the demo model of `seed`, built
    first (with a progress dialog) when missing, and its own settings, sessions and model versions;
    returns 0.

    Raises:
        C3tError: when Qt cannot start here, the build is cancelled or the screenshot cannot be written.
    """
    from PySide6 import QtCore

    from c3t.app.runtime.demo import DEMO_PREDICT_FROM, demo_root, demo_spec, ensure_demo_model

    app = qt_app()
    model = build_with_dialog(app, lambda progress: ensure_demo_model(progress, seed))
    spec = demo_spec(seed)
    window = open_window(tab, spec, spec, str(model), QtCore.QSettings("c3t", "c3t-demo"), DEMO_PREDICT_FROM)
    window.record.folder.setText(str(demo_root(seed) / "sessions"))
    window.train.models.setText(str(demo_root(seed) / "models"))
    window.record.refresh()
    window.train.refresh_versions()
    return run_window(app, window, screenshot, after)


def _eta(elapsed: float, done: float, start: float) -> str:
    """ "about N min left" from the rate since `start` (the fraction done when timing began)."""
    if done - start < 0.02 or elapsed < 3:
        return "estimating the time left…"
    left = elapsed * (1.0 - done) / (done - start)
    return f"about {left / 60:.0f} min left" if left >= 90 else f"about {max(left, 1):.0f} s left"


class _BuildDialog:
    """The first-run progress dialog: the phase, one bar for the whole build, the time left, and
    Cancel. Progress reports arrive on the build's thread; a timer on the UI thread shows them."""

    def __init__(self):
        self.text, self.fraction, self.cancel = "checking for the demo model…", 0.0, False
        self.start = self.t0 = None
        self.dialog = None

    def progress(self, text: str, fraction: float | None) -> None:
        """Take a progress report of the build (its phase's text, the fraction 0..1 within it).

        Raises:
            Cancelled: once Cancel was pressed (the build stops at this report).
        """
        from c3t.app.runtime.demo import build_fraction
        from c3t.training.methods import Cancelled

        if self.cancel:
            raise Cancelled()
        self.text, self.fraction = text, build_fraction(text, fraction)
        if self.start is None:
            self.start, self.t0 = self.fraction, time.monotonic()

    def show(self) -> None:
        """Create and show the dialog (application-modal, at least 600 px wide)."""
        from PySide6 import QtCore, QtWidgets

        self.dialog = dialog = QtWidgets.QProgressDialog("", "Cancel", 0, 1000)
        dialog.setWindowTitle("c3t demo: first run")
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumWidth(600)
        dialog.setWindowModality(QtCore.Qt.ApplicationModal)
        dialog.canceled.connect(self._cancelled)
        dialog.show()

    def _cancelled(self) -> None:
        self.cancel = True

    def update(self) -> None:
        """Show the latest report: phase, time left and bar, or that the build is being cancelled."""
        from c3t.app.runtime.demo import BUILD_MINUTES

        dialog = self.dialog
        self.cancel = self.cancel or dialog.wasCanceled()
        if self.cancel:
            text = "cancelling: the step under way finishes first (a few seconds)…"
            dialog.setCancelButtonText("Cancelling…")
        else:
            eta = _eta(time.monotonic() - self.t0, self.fraction, self.start) \
                if self.t0 is not None else "estimating the time left…"
            text = (f"Building the demo model, once: about {BUILD_MINUTES} min on an idle 2-core CPU; later runs "
                    f"start at once.\n\nNow: {self.text}\n{eta}")
        if dialog.labelText() != text:
            dialog.setLabelText(text)
        dialog.setValue(int(1000 * min(max(self.fraction or 0.0, 0.0), 1.0)))


def build_with_dialog(app, build):
    """Run `build(progress)` (the demo model, trained on first run) on a worker thread (main.Background)
    with a progress dialog shown after half a second: the phase, one bar for the whole build, the time
    left, and Cancel (stops at the next progress report, within seconds; nothing half-built is kept:
    the next run resumes). Returns what `build` returns.

    Raises:
        C3tError: when Cancel was pressed, or the build's own error (its message).
    """
    from PySide6 import QtCore

    from c3t.app.gui.main import Background
    from c3t.training.methods import Cancelled

    state = _BuildDialog()
    outcome = {}
    loop = QtCore.QEventLoop()

    def work():
        """The build, with a cancellation kept as a value (Background reports other errors in words)."""
        try:
            return build(state.progress)
        except Cancelled:
            return Cancelled

    def done(result, error) -> None:
        """Keep the build's result or error and leave the local event loop."""
        outcome.update(result=result, error=error)
        loop.quit()

    worker = Background()
    worker.run(work, done)
    timer = QtCore.QTimer()
    timer.timeout.connect(state.update)   # also once hidden: QProgressDialog.cancel() hides it
    QtCore.QTimer.singleShot(500, lambda: outcome or (state.show(), timer.start(50)))
    if not outcome:
        loop.exec()
    timer.stop()
    if state.dialog is not None:
        state.dialog.close()
    if outcome["result"] is Cancelled:
        log.info("the demo model build was cancelled")
        raise C3tError("cancelled: the demo model was not built; the next `c3t demo` builds it "
                       "(sessions already recorded are kept)")
    if outcome["error"] is not None:
        raise C3tError(outcome["error"])
    return outcome["result"]
