"""`c3t gui`, `c3t demo [--headless]` and `c3t bench gui`."""
from __future__ import annotations

import json
import os
import sys
import time

from c3t.app.cli.live import check_specs
from c3t.core.errors import C3tError
from c3t.core.model.folder import read_model_config


def register(sub, bench) -> None:
    """Add `c3t gui` and `c3t demo` to the subcommands and `c3t bench gui` to the benchmarks."""
    p = sub.add_parser("gui", help="open the desktop app: devices, live recognition, recording, retraining")
    p.add_argument("--imu", metavar="SPEC", help="connect this IMU at start, e.g. sim, serial:/dev/ttyACM0 "
                   "(default: the Settings tab's, when it says to connect at start)")
    p.add_argument("--camera", metavar="SPEC", help="connect this camera at start, e.g. camera:0, sim (default: as --imu)")
    p.add_argument("--model", help="model folder to load at start (default: the last one used)")
    _window_options(p)
    p.set_defaults(func=gui_command)

    p = sub.add_parser("demo", help="the live demo: a simulated person and camera, a model trained on the "
                                    "synthetic world (built on first run)")
    p.add_argument("--headless", action="store_true", help="no window: print the predictions in the terminal")
    p.add_argument("--seconds", type=float, help="headless: stop after this long (default: until Ctrl+C)")
    p.add_argument("--jsonl", action="store_true", help="headless: one JSON object per prediction")
    p.add_argument("--seed", type=int, default=0, help="the demo's seed: simulated world and training (default 0); "
                                                      "each seed's model is built once and kept")
    _window_options(p)
    p.set_defaults(func=demo_command)

    p = bench.add_parser("gui", help="the demo window while recording and predicting: frames drawn per second, UI stalls")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds to measure (default 60)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=bench_gui_command)


def _window_options(p) -> None:
    p.add_argument("--screenshot", metavar="FILE", help="save a PNG of the window after --after seconds, then exit "
                   "(default: no screenshot, the window stays open)")
    p.add_argument("--after", type=float, default=5.0, help="seconds before the screenshot (default 5)")
    p.add_argument("--tab", choices=("live", "record", "train", "settings"), default="live", help="tab shown at start (default live)")


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
    missing; the message has the exact command that installs them."""
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


def _app():
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6 import QtWidgets  # the binding alone: the platform plugin loads with the QApplication

    app = QtWidgets.QApplication.instance()
    if app is None:
        check_qt_platform()
        app = QtWidgets.QApplication(["c3t"])
    check_qt_bindings()
    return app


def check_qt_bindings() -> None:
    """Refuse a Qt binding that drops a reference to None on each call returning nothing
    (PySide6 6.12.0 does on Python 3.11): the app would abort after some minutes of drawing."""
    from PySide6 import QtWidgets, __version__

    label = QtWidgets.QLabel()
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("c3t")
    if sys.getrefcount(None) < before - 100:
        raise C3tError(f"PySide6 {__version__} has a reference-counting bug that crashes the app after a while "
                       f"on Python {sys.version.split()[0]}; install another version: "
                       "pip install 'PySide6-Essentials==6.11.3'")


def open_window(args, imu: str | None, camera: str | None, model: str | None, settings=None,
                predict_from: str | None = None):
    """The main window with the devices connected and the model loaded as asked."""
    from PySide6 import QtCore

    from c3t.app.gui.main import MainWindow
    from c3t.app.runtime.live import LivePipeline

    window = MainWindow(LivePipeline(), settings or QtCore.QSettings("c3t", "c3t"))
    window.show_tab(args.tab)
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
    `after` seconds and close. Returns 0; raises C3tError when the screenshot cannot be written."""
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


def check_window_args(args) -> None:
    """The window options checked before anything heavy is imported (torch, Qt)."""
    if getattr(args, "after", 0) < 0:
        raise C3tError(f"--after must be 0 or more seconds, not {args.after}")
    if getattr(args, "seconds", None) is not None and args.seconds <= 0:
        raise C3tError(f"--seconds must be more than 0, not {args.seconds}")
    if getattr(args, "screenshot", None):
        folder = os.path.dirname(os.path.abspath(args.screenshot))
        if os.path.isdir(folder) and not os.access(folder, os.W_OK):
            raise C3tError(f"cannot write the screenshot into {folder}: the folder is not writable")
    if getattr(args, "model", None):
        read_model_config(os.path.expanduser(args.model), "--model")
    check_specs(getattr(args, "imu", None), getattr(args, "camera", None))


def gui_command(args) -> int:
    """`c3t gui`: open the desktop app with the devices and model asked for (or the last ones used);
    returns 0 when the window is closed. Raises C3tError for wrong options or when Qt cannot start here."""
    check_window_args(args)
    app = _app()
    window = open_window(args, args.imu, args.camera, args.model)
    return run_window(app, window, args.screenshot, args.after)


def demo_command(args) -> int:
    """`c3t demo`: the simulated person and camera with the demo model (trained on first run), in the
    window or, with --headless, as printed predictions; returns 0. Raises C3tError for wrong options,
    a cancelled first build, or when Qt cannot start here."""
    check_window_args(args)
    from c3t.app.runtime.demo import DEMO_PREDICT_FROM, demo_spec, ensure_demo_model

    spec = demo_spec(args.seed)
    if args.headless:   # simulated time paced to the wall clock: a busy CPU slows the show, never changes it
        spec += "&realtime=false&paced=true"
        from c3t.app.cli.live import run_live
        from c3t.app.runtime.live import LivePipeline

        model = _ensure_demo_headless(args.seed)
        live = LivePipeline(predict_from=DEMO_PREDICT_FROM)
        live.set_model(model)
        source = {"all": "camera + IMU", "imu": "the IMU", "camera": "the camera"}[DEMO_PREDICT_FROM]
        print(f"demo: model {model}; the simulated person {spec}: IMU and camera connected, "
              f"predictions from {source}", flush=True)
        return run_live(live, spec, spec, args.seconds, args.jsonl, data_seconds=True)
    from PySide6 import QtCore

    from c3t.app.runtime.demo import demo_root

    app = _app()
    model = _build_with_dialog(app, lambda progress: ensure_demo_model(progress, args.seed))
    # its own settings, and the demo's sessions and model versions in the Record and Train tabs
    window = open_window(args, spec, spec, str(model), QtCore.QSettings("c3t", "c3t-demo"), DEMO_PREDICT_FROM)
    window.record.folder.setText(str(demo_root(args.seed) / "sessions"))
    window.train.models.setText(str(demo_root(args.seed) / "models"))
    window.record.refresh()
    window.train.refresh_versions()
    return run_window(app, window, args.screenshot, args.after)


def _ensure_demo_headless(seed: int):
    """The demo model for `seed`; on first run one line saying so, then a progress bar per phase."""
    from c3t.app.runtime.demo import BUILD_MINUTES, demo_model, ensure_demo_model
    from c3t.training.progress import PhaseBars

    found = demo_model(seed)
    if found is not None:
        return found
    print(f"building the demo model once (seed {seed}): ~{BUILD_MINUTES} min on an idle 2-core CPU; "
          "later runs start at once", file=sys.stderr, flush=True)
    bars = PhaseBars()

    def report(phase: str, fraction: float | None) -> None:
        """Show a build step on the phase bars; print the final "demo model ready" line."""
        if phase.startswith("demo model ready"):
            bars.close()
            print(phase, file=sys.stderr, flush=True)
        else:
            bars(phase, fraction)

    try:
        return ensure_demo_model(report, seed)
    finally:
        bars.close()


def _eta(elapsed: float, done: float, start: float) -> str:
    """ "about N min left" from the rate since `start` (the fraction done when timing began)."""
    if done - start < 0.02 or elapsed < 3:
        return "estimating the time left…"
    left = elapsed * (1.0 - done) / (done - start)
    return f"about {left / 60:.0f} min left" if left >= 90 else f"about {max(left, 1):.0f} s left"


def _build_with_dialog(app, build):
    """Run `build(progress)` (the demo model, trained on first run) with a progress dialog: the
    phase, one bar for the whole build, the time left, and Cancel (stops at the next progress
    report, within seconds; nothing half-built is kept: the next run resumes)."""
    import threading

    from PySide6 import QtCore, QtWidgets

    from c3t.app.runtime.demo import BUILD_MINUTES, build_fraction
    from c3t.training.methods import Cancelled

    state = {"text": "checking for the demo model…", "fraction": 0.0, "done": False, "result": None, "error": None,
             "cancel": False, "start": None, "t0": None}

    def progress(text, fraction):
        """Take a progress report of the build (the phase's text, its fraction 0..1); raises Cancelled
        once Cancel was pressed."""
        if state["cancel"]:
            raise Cancelled()
        state["text"], state["fraction"] = text, build_fraction(text, fraction)
        if state["start"] is None:
            state["start"], state["t0"] = state["fraction"], time.monotonic()

    def work():
        """Run the build in the worker thread, keeping its result or its exception."""
        try:
            state["result"] = build(progress)
        except BaseException as exc:  # shown in the dialog's place, then raised below
            state["error"] = exc
        state["done"] = True

    threading.Thread(target=work, daemon=True).start()
    dialog = None
    started = time.monotonic()
    while not state["done"]:
        if dialog is None and time.monotonic() - started > 0.5:
            dialog = QtWidgets.QProgressDialog("", "Cancel", 0, 1000)
            dialog.setWindowTitle("c3t demo: first run")
            dialog.setMinimumDuration(0)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            dialog.setMinimumWidth(600)
            dialog.setWindowModality(QtCore.Qt.ApplicationModal)
            dialog.canceled.connect(lambda: state.update(cancel=True))
            dialog.show()
        if dialog is not None:
            state["cancel"] = state["cancel"] or dialog.wasCanceled()
            if state["cancel"]:
                text = "cancelling: the step under way finishes first (a few seconds)…"
                dialog.setCancelButtonText("Cancelling…")
            else:
                eta = _eta(time.monotonic() - state["t0"], state["fraction"], state["start"]) \
                    if state["t0"] is not None else "estimating the time left…"
                text = (f"Building the demo model, once: about {BUILD_MINUTES} min on an idle 2-core CPU; later runs "
                        f"start at once.\n\nNow: {state['text']}\n{eta}")
            if dialog.labelText() != text:
                dialog.setLabelText(text)
            dialog.setValue(int(1000 * min(max(state["fraction"] or 0.0, 0.0), 1.0)))
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
        time.sleep(0.02)
    if dialog is not None:
        dialog.close()
    if isinstance(state["error"], Cancelled):
        raise C3tError("cancelled: the demo model was not built; the next `c3t demo` builds it "
                       "(sessions already recorded are kept)")
    if state["error"] is not None:
        raise state["error"]
    return state["result"]


def bench_gui_command(args) -> int:
    """The demo window (devices connected, model predicting, a session recording) for
    `seconds`: frames the live view drew per second and UI-thread stalls (> 100 ms)."""
    import tempfile

    import numpy as np
    from PySide6 import QtCore

    from c3t.app.runtime.demo import DEMO_PREDICT_FROM, demo_spec

    if args.seconds < 5:
        raise C3tError("--seconds must be at least 5")
    check_window_args(args)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = _app()
    model = _ensure_demo_headless(0)
    with tempfile.TemporaryDirectory(prefix="c3t-bench-gui-") as tmp:
        settings = QtCore.QSettings(os.path.join(tmp, "settings.ini"), QtCore.QSettings.IniFormat)
        args.tab = "live"
        window = open_window(args, demo_spec(0), demo_spec(0), str(model), settings, DEMO_PREDICT_FROM)
        window.record.folder.setText(os.path.join(tmp, "sessions"))
        window.show()
        phase = {"recording": False, "t0": None, "frames0": 0}

        def check():
            """Once the first prediction is shown, start recording and the measured span (`seconds` long)."""
            if not phase["recording"] and window.pipeline.view().predictions:
                window.record.start_requested.emit(str(window.record.next_session_folder()), None, "align")
                phase.update(recording=True, t0=time.perf_counter(), frames0=window.live.frames_drawn)
                window.stalls.clear()
                QtCore.QTimer.singleShot(int(1000 * args.seconds), app.quit)

        poll = QtCore.QTimer()
        poll.timeout.connect(check)
        poll.start(100)
        QtCore.QTimer.singleShot(int(1000 * (args.seconds + 60)), app.quit)  # no predictions within a minute
        app.exec()
        poll.stop()
        if not phase["recording"]:
            window.close()
            raise C3tError("the demo pipeline made no prediction within a minute; see `c3t demo --headless`")
        elapsed = time.perf_counter() - phase["t0"]
        frames = window.live.frames_drawn - phase["frames0"]
        view = window.pipeline.view()
        recorded = view.recording.seconds if view.recording else 0.0
        predictions = len(view.predictions)
        stalls = np.array(window.stalls) * 1000
        window.close()
    result = {"seconds": round(elapsed, 1), "frames": frames, "fps": round(frames / elapsed, 1),
              "stalls_over_100ms": int(len(stalls)), "worst_stall_ms": round(float(stalls.max()), 1) if len(stalls) else 0.0,
              "recorded_s": round(recorded, 1), "predictions_held": predictions}
    print(f"live view: {result['fps']:.1f} frames drawn per second over {elapsed:.0f} s while recording "
          f"({recorded:.0f} s written) and predicting; UI-thread stalls over 100 ms: {len(stalls)}"
          + (f" (worst {result['worst_stall_ms']:.0f} ms)" if len(stalls) else ""))
    if args.json:
        print(json.dumps(result))
    return 0
