"""`c3t bench gui`'s measurement: the demo window while it records and predicts (offscreen)."""
from __future__ import annotations

import logging
import os
import tempfile
import time

from c3t.core.errors import C3tError

log = logging.getLogger(__name__)


def measure_demo_window(seconds: float) -> dict:
    """Run the demo window (devices connected, the seed-0 demo model predicting (built first when missing), a session recording into a
    temporary folder) for `seconds` after its first prediction; returns the frames the live view drew
    ("frames", "fps" per second), UI-thread stalls over 100 ms ("stalls_over_100ms", "worst_stall_ms"),
    the seconds recorded ("recorded_s") and the predictions the view holds.

    Raises:
        C3tError: when Qt cannot start here, the demo model cannot be built, or the pipeline made no
            prediction within a minute.
    """
    import numpy as np
    from PySide6 import QtCore

    from c3t.app.gui.start import open_window, qt_app
    from c3t.app.runtime.demo import DEMO_PREDICT_FROM, demo_spec
    from c3t.app.runtime.headless import demo_model_with_bars

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = qt_app()
    model = demo_model_with_bars(0)
    with tempfile.TemporaryDirectory(prefix="c3t-bench-gui-") as tmp:
        settings = QtCore.QSettings(os.path.join(tmp, "settings.ini"), QtCore.QSettings.IniFormat)
        window = open_window("live", demo_spec(0), demo_spec(0), str(model), settings, DEMO_PREDICT_FROM)
        window.record.folder.setText(os.path.join(tmp, "sessions"))
        window.show()
        phase = {"recording": False, "t0": None, "frames0": 0}

        def check():
            """Once the first prediction is shown, start recording and the measured span (`seconds` long)."""
            if not phase["recording"] and window.pipeline.view().predictions:
                window.record.start_requested.emit(str(window.record.next_session_folder()), None, "align")
                phase.update(recording=True, t0=time.perf_counter(), frames0=window.live.frames_drawn)
                window.stalls.clear()
                log.debug("first prediction shown: recording and measuring for %g s", seconds)
                QtCore.QTimer.singleShot(int(1000 * seconds), app.quit)

        poll = QtCore.QTimer()
        poll.timeout.connect(check)
        poll.start(100)
        QtCore.QTimer.singleShot(int(1000 * (seconds + 60)), app.quit)  # no predictions within a minute
        app.exec()
        poll.stop()
        if not phase["recording"]:
            window.close()
            raise C3tError("the demo pipeline made no prediction within a minute; see `c3t demo --headless`")
        elapsed = time.perf_counter() - phase["t0"]
        frames = window.live.frames_drawn - phase["frames0"]
        view = window.pipeline.view()
        recorded = view.recording.seconds if view.recording else 0.0
        stalls = np.array(window.stalls) * 1000
        window.close()
    return {"seconds": round(elapsed, 1), "frames": frames, "fps": round(frames / elapsed, 1),
            "stalls_over_100ms": len(stalls),
            "worst_stall_ms": round(float(stalls.max()), 1) if len(stalls) else 0.0,
            "recorded_s": round(recorded, 1), "predictions_held": len(view.predictions)}
