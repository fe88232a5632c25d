"""`c3t gui`, `c3t demo [--headless]` and `c3t bench gui`."""
from __future__ import annotations

import json
import os
import sys
import time

from c3t.app.cli import bench_parser
from c3t.core.errors import C3tError


def register(sub) -> None:
    p = sub.add_parser("gui", help="open the desktop app: devices, live recognition, recording, retraining")
    p.add_argument("--imu", metavar="SPEC", help="connect this IMU at start (e.g. sim, serial:/dev/ttyACM0)")
    p.add_argument("--camera", metavar="SPEC", help="connect this camera at start (e.g. camera:0, sim)")
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

    p = bench_parser(sub, "gui", "the demo window while recording and predicting: frames drawn per second, UI stalls")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds to measure (default 60)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=bench_gui_command)


def _window_options(p) -> None:
    p.add_argument("--screenshot", metavar="FILE", help="save a PNG of the window after --after seconds, then exit")
    p.add_argument("--after", type=float, default=5.0, help="seconds before the screenshot (default 5)")
    p.add_argument("--tab", choices=("live", "record", "train"), default="live", help="tab shown at start")


def _app():
    from PySide6 import QtWidgets

    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux") \
            and "QT_QPA_PLATFORM" not in os.environ:
        raise C3tError("no display: run on a desktop, set QT_QPA_PLATFORM=offscreen (screenshots only), "
                       "or use `c3t demo --headless`")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["c3t"])
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

    from c3t.app.gui_main import MainWindow
    from c3t.app.live import LivePipeline

    window = MainWindow(LivePipeline(), settings or QtCore.QSettings("c3t", "c3t"))
    window.show_tab(args.tab)
    if predict_from:
        window.set_predict_from(predict_from)
    model = model or window.settings.value("model/folder")
    if model:
        window.load_model(str(model))
    if imu or camera:
        window.devices.set_choice(imu or "", camera or "")
        window.connect_devices(imu or "", camera or "")
    return window


def run_window(app, window, screenshot: str | None, after: float) -> int:
    from PySide6 import QtCore

    result = {"error": None}
    if screenshot:
        def shoot():
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


def gui_command(args) -> int:
    app = _app()
    window = open_window(args, args.imu, args.camera, args.model)
    return run_window(app, window, args.screenshot, args.after)


def demo_command(args) -> int:
    from c3t.app.demo import DEMO_PREDICT_FROM, demo_spec, ensure_demo_model

    spec = demo_spec(args.seed)
    if args.headless:
        from c3t.app.inference_commands import run_live
        from c3t.app.live import LivePipeline

        model = _ensure_demo_headless(args.seed)
        live = LivePipeline(predict_from=DEMO_PREDICT_FROM)
        live.set_model(model)
        print(f"demo: model {model}; the simulated person {spec}: IMU and camera connected, "
              f"predictions from the IMU", flush=True)
        return run_live(live, spec, spec, args.seconds, args.jsonl)
    from PySide6 import QtCore

    from c3t.app.demo import demo_root

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
    from c3t.app.demo import BUILD_MINUTES, demo_model, ensure_demo_model
    from c3t.training.progress import PhaseBars

    found = demo_model(seed)
    if found is not None:
        return found
    print(f"building the demo model once (seed {seed}): ~{BUILD_MINUTES} min on an idle 2-core CPU; "
          "later runs start at once", file=sys.stderr, flush=True)
    bars = PhaseBars()

    def report(phase: str, fraction: float | None) -> None:
        if phase.startswith("demo model ready"):
            bars.close()
            print(phase, file=sys.stderr, flush=True)
        else:
            bars(phase, fraction)

    try:
        return ensure_demo_model(report, seed)
    finally:
        bars.close()


def _build_with_dialog(app, build):
    """Run `build(progress)` (the demo model, trained on first run) with a progress dialog."""
    import threading

    from PySide6 import QtCore, QtWidgets

    state = {"text": "checking for the demo model…", "fraction": 0.0, "done": False, "result": None, "error": None}

    def progress(text, fraction):
        state["text"], state["fraction"] = text, fraction if fraction is not None else state["fraction"]

    def work():
        try:
            state["result"] = build(progress)
        except Exception as exc:  # shown in the dialog's place, then raised below
            state["error"] = exc
        state["done"] = True

    threading.Thread(target=work, daemon=True).start()
    dialog = None
    started = time.monotonic()
    while not state["done"]:
        if dialog is None and time.monotonic() - started > 0.5:
            dialog = QtWidgets.QProgressDialog("Preparing the demo model (first run only)…", None, 0, 1000)
            dialog.setWindowTitle("c3t demo")
            dialog.setMinimumDuration(0)
            dialog.setWindowModality(QtCore.Qt.ApplicationModal)
            dialog.show()
        if dialog is not None:
            dialog.setLabelText(state["text"])
            dialog.setValue(int(1000 * min(max(state["fraction"] or 0.0, 0.0), 1.0)))
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
        time.sleep(0.02)
    if dialog is not None:
        dialog.close()
    if state["error"] is not None:
        raise state["error"]
    return state["result"]


def bench_gui_command(args) -> int:
    """The demo window (devices connected, model predicting, a session recording) for
    `seconds`: frames the live view drew per second and UI-thread stalls (> 100 ms)."""
    import tempfile

    import numpy as np
    from PySide6 import QtCore

    from c3t.app.demo import DEMO_PREDICT_FROM, demo_spec

    if args.seconds < 5:
        raise C3tError("--seconds must be at least 5")
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
            if not phase["recording"] and window.pipeline.view().predictions:
                window.record.start_requested.emit(str(window.record.next_session_folder()), None)
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
