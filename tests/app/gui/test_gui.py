"""The desktop app driven with pytest-qt (offscreen): connect the simulated devices, see
predictions, record an unlabelled and a labelled session, retrain, switch models; the
screenshot and headless demo commands."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from c3t.app.gui.main import TABS, MainWindow
from c3t.app.runtime.live import LivePipeline
from c3t.app.runtime.retrain import ModelStore, RetrainRequest, retrain
from c3t.core.options import NO_ACTION, defaults_for
from c3t.core.session.format import Session, find_sessions

SIM = "sim?actions=wave,jog,squat&width=96&height=72&seed=3"
TRAIN_MS = 1_800_000   # a retrain's end: minutes idle, many more beside other work; only ends a hang
pytestmark = pytest.mark.timeout(3600)   # the module's fixtures record sessions and train a model


@pytest.fixture(scope="module")
def sessions_root(sim_sessions):
    return sim_sessions.root


@pytest.fixture(scope="module")
def store(sim_sessions, tmp_path_factory):
    """A model store with one retrained, exported, active version (few epochs: the GUI needs a
    working model, not a good one)."""
    store = ModelStore(tmp_path_factory.mktemp("gui-models") / "models")
    version, _ = retrain(RetrainRequest(sessions=sim_sessions.folders, method="c3t", epochs=4, cache=sim_sessions.cache),
                         store)
    store.activate(version)
    return store


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.IniFormat)
    w = MainWindow(LivePipeline(), settings)
    w.record.folder.setText(str(tmp_path / "sessions"))
    w.train.models.setText(str(tmp_path / "models"))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def connect_sim(qtbot, w):
    w.devices.set_choice(SIM, SIM)
    w.devices.connect_button.click()
    qtbot.waitUntil(lambda: {d.state for d in w.pipeline.view().devices.values()} == {"connected"}
                    and len(w.pipeline.view().devices) == 2, timeout=60000)
    qtbot.waitUntil(lambda: w.devices.table.rowCount() == 2 and float(w.devices.table.item(0, 2).text().split()[0]) > 0,
                    timeout=60000)


def test_connect_the_simulated_devices_and_see_predictions(qtbot, window, store):
    connect_sim(qtbot, window)
    qtbot.waitUntil(window.devices.disconnect_button.isEnabled, timeout=60000)
    window.load_model(str(store.active()))
    qtbot.waitUntil(lambda: window.model_label.text().startswith("model: "), timeout=60000)
    # a camera that falls more than a hop behind (a busy CPU renders the simulated frames late)
    # is predicted around from the IMU alone, so wait for a window both modalities covered
    fused = lambda: [p for p in window.pipeline.view().predictions if p.modalities == ("imu", "camera")]  # noqa: E731
    qtbot.waitUntil(lambda: len(fused()) >= 3, timeout=60000)
    view = window.pipeline.view()
    p = fused()[-1]
    assert p.probs.shape == (len(view.classes),) and abs(float(p.probs.sum()) - 1) < 1e-3
    assert p.attention is not None
    assert view.truths and view.truths[-1] in view.classes + [NO_ACTION]
    qtbot.waitUntil(lambda: window.live.action.text() in view.classes + [NO_ACTION], timeout=60000)
    assert window.live.bars.names[0].text() in view.classes
    x, y = window.live.curves[0].getData()
    assert len(x) > 50 and np.isfinite(y).all() and x.max() <= 0
    assert window.live.camera.image is not None and window.live.camera.image.shape[:2] == (96, 72)
    assert window.frames > 10 and window.live.frames_drawn > 10

    window.set_predict_from("imu")      # the model sees the IMU only, the camera stays on screen
    qtbot.waitUntil(lambda: window.pipeline.view().predictions
                    and window.pipeline.view().predictions[-1].modalities == ("imu",), timeout=60000)
    image = window.grab().toImage()
    assert image.width() > 600 and image.height() > 400


def test_a_model_that_cannot_take_the_inputs_is_reported_in_words(qtbot, window, tmp_path):
    window.load_model(str(tmp_path / "not-a-model"))
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=60000)
    assert "could not load the model" in window.banner.text() and "not-a-model" in window.banner.text()
    window.connect_devices("serial:/dev/does-not-exist", "")
    qtbot.waitUntil(lambda: "could not connect" in window.banner.text(), timeout=60000)
    assert "/dev/does-not-exist" in window.banner.text()


def test_record_an_unlabelled_and_a_labelled_session(qtbot, window):
    connect_sim(qtbot, window)
    window.show_tab("record")
    rec = window.record
    rec.unlabelled.setChecked(True)
    rec.person.setText(" ann ")                               # who wears the IMU: into each manifest
    qtbot.waitUntil(lambda: all(d.nominal_hz for d in window.pipeline.view().devices.values()), timeout=60000)
    rec.start_button.click()
    assert rec.recording, window.banner.text()
    qtbot.wait(1500)
    assert rec.recording and window.pipeline.recording
    rec.start_button.click()
    assert not rec.recording and rec.table.rowCount() == 1
    assert rec.table.item(0, 3).text() == "unlabelled"

    rec.classes_edit.setText("wave, jog")
    rec.set_classes(rec._typed_classes())
    rec.labelled.setChecked(True)
    rec.choose_label_index(1)                                 # "wave" before starting
    rec.start_button.click()
    assert rec.recording, window.banner.text()
    qtbot.wait(1200)
    qtbot.keyClick(rec, QtCore.Qt.Key_2)                      # "jog"
    qtbot.wait(1200)
    qtbot.keyClick(rec, QtCore.Qt.Key_0)                      # a rest
    qtbot.wait(600)
    rec.start_button.click()
    assert rec.table.rowCount() == 2
    labelled = Session(sorted(find_sessions(rec.sessions_root()))[-1])
    assert [lb.cls for lb in labelled.labels] == ["wave", "jog", NO_ACTION]
    assert all(lb.use == "har" for lb in labelled.labels)
    assert labelled.labels[0].end == pytest.approx(labelled.labels[1].start)
    assert labelled.labels[1].end - labelled.labels[1].start > 0.9   # (a busy CPU may make it longer)
    assert labelled.imu["imu"].t[-1] > 2.5 and len(labelled.cameras["camera"]) > 40
    assert "3 camera" in rec.table.item(1, 3).text()
    assert labelled.person == "ann" and rec.table.item(1, 1).text() == rec.table.item(0, 1).text() == "ann"
    assert window.settings.value("record/person") == " ann "


def test_retrain_from_the_window_and_switch_to_the_new_model(qtbot, window, sessions_root, store, sim_sessions,
                                                            monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(sim_sessions.xdg))   # the sessions' windows, cut once for every test
    connect_sim(qtbot, window)
    window.load_model(str(store.active()))
    qtbot.waitUntil(lambda: len(window.pipeline.view().predictions) >= 1, timeout=60000)
    first = window.pipeline.view().model
    window.record.folder.setText(str(sessions_root))
    window.record.refresh()
    assert window.record.table.rowCount() == 3
    window.show_tab("train")
    train = window.train
    train.epochs.setValue(3)
    train.train_button.click()
    assert not train.train_button.isEnabled() and train.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: train.phase.text().startswith(("done", "training failed")), timeout=TRAIN_MS)
    assert train.phase.text().startswith("done"), train.phase.text()
    refine = defaults_for("c3t", "motion", epochs=3).refine_epochs   # the retrain's default refinement phase
    assert train.progress.value() == 1000 and len(train.losses) == 3 + refine   # a loss point per epoch of each phase
    assert "IMU top-1 on the checking sessions" in train.metrics.text()
    qtbot.waitUntil(lambda: train.train_button.isEnabled(), timeout=60000)
    assert train.versions.rowCount() == 1
    train.versions.selectRow(0)
    train.activate_button.click()
    qtbot.waitUntil(lambda: window.pipeline.view().model not in (None, first), timeout=60000)
    assert train.versions.item(0, 4).text() == "●"
    qtbot.waitUntil(lambda: len(window.pipeline.view().predictions) >= 1, timeout=60000)  # no restart needed


def test_settings_persist_between_runs(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.IniFormat)
    w = MainWindow(LivePipeline(), settings)
    qtbot.addWidget(w)
    w.devices.set_choice("serial:/dev/ttyUSB7", "camera:2")
    w.live.length.setValue(7.5)
    w.close()
    again = MainWindow(LivePipeline(), QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.IniFormat))
    qtbot.addWidget(again)
    assert again.devices.choice() == ("serial:/dev/ttyUSB7", "camera:2")
    assert again.live.length.value() == 7.5
    again.close()


def cli(args, tmp_path, demo_dir=None, timeout=600):   # the timeout only ends a hang
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    if demo_dir is not None:
        env["C3T_DEMO_DIR"] = str(demo_dir)
    return subprocess.run([sys.executable, "-m", "c3t.app.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_screenshot_and_headless_demo_commands(tmp_path, store):
    demo = tmp_path / "demo"
    shutil.copytree(store.root, demo / "seed-0" / "models", symlinks=True)   # the demo of seed 0, built
    shot = tmp_path / "shot.png"
    r = cli(["demo", "--screenshot", str(shot), "--after", "2", "--tab", "live"], tmp_path, demo)
    assert r.returncode == 0, r.stderr
    from PySide6 import QtGui

    image = QtGui.QImage(str(shot))
    assert image.width() > 600 and image.height() > 400

    def seen(run) -> list:
        """(data time, decision, probabilities) of each prediction a --jsonl run printed."""
        rows = [json.loads(ln) for ln in run.stdout.splitlines() if ln.startswith("{")]
        return [(row["t"], row["action"], row["probs"]) for row in rows]
    # the headless demo runs the simulator on paced simulated time: a second run (here beside a
    # CPU-burning process) sees the same data and makes the same predictions
    first = cli(["demo", "--headless", "--seconds", "4", "--jsonl"], tmp_path, demo)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        second = cli(["demo", "--headless", "--seconds", "4", "--jsonl"], tmp_path, demo)
    finally:
        burner.kill()
    assert first.returncode == second.returncode == 0, second.stderr
    assert len(seen(first)) >= 10 and seen(first) == seen(second)
    rows = [json.loads(ln) for ln in first.stdout.splitlines() if ln.startswith("{")]
    assert sum("truth" in row and "accuracy" in row for row in rows) >= 5   # the simulator's ground truth beside each
    assert "predictions from camera + IMU" in first.stdout and "predictions (onnxruntime)" in first.stderr



def test_the_qt_binding_in_use_keeps_none_alive(qapp):
    from c3t.app.gui.start import check_qt_bindings

    check_qt_bindings()   # raises on a PySide6 that drops None references (6.12.0 on Python 3.11)


def test_relabel_and_a_broken_session_in_the_list(qtbot, window, sessions_root, tmp_path):
    from c3t.app.gui.record import describe_session
    from c3t.core.session.format import relabel_session

    copy = tmp_path / "copy"
    shutil.copytree(sessions_root / "02-har", copy / "02-har")
    (copy / "broken").mkdir()
    (copy / "broken" / "manifest.json").write_text("{ not json")
    assert relabel_session(copy / "02-har", "right hand wave", "wave") > 0
    labels = [lb.cls for lb in Session(copy / "02-har").labels]
    assert "wave" in labels and "right hand wave" not in labels
    row = describe_session(copy / "broken")
    assert row[0] == "broken" and "not valid JSON" in row[5]
    window.record.folder.setText(str(copy))
    window.record.refresh()
    names = [window.record.table.item(r, 0).text() for r in range(window.record.table.rowCount())]
    assert "02-har" in names


def test_cancel_a_retrain_from_the_window(qtbot, window, sessions_root, sim_sessions, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(sim_sessions.xdg))
    window.record.folder.setText(str(sessions_root))
    window.record.refresh()
    train = window.train
    train.epochs.setValue(200)
    train.train_button.click()
    qtbot.waitUntil(lambda: "epoch" in train.phase.text(), timeout=TRAIN_MS)
    train.cancel_button.click()
    qtbot.waitUntil(lambda: train.train_button.isEnabled(), timeout=60000)
    assert "cancelled" in train.phase.text()
    assert train.versions.rowCount() == 0 and not any(p.name.startswith("v") for p in train.open_store().root.iterdir())


def test_a_long_message_never_widens_the_window(qtbot, window):
    for tab in TABS:    # each tab once, so that the window has its size before any message
        window.show_tab(tab)
        qtbot.wait(50)
    before, minimum = window.width(), window.minimumSizeHint()
    message = "training failed: " + "/very/long/path/without/spaces" * 100 + " and more words " * 50
    for label in (window.model_label, window.train.phase, window.train.metrics,
                  window.record.status, window.live.detail, window.live.camera_note):
        label.setText(message)
    window.show_error(message + "\nStill connected as before: imu sim")
    for tab in TABS:    # every tab still fits a 1280x800 screen less a title bar: nothing pushed off it
        window.show_tab(tab)
        qtbot.wait(50)
        assert window.minimumSizeHint().height() <= 770, tab
    window.show_tab("train")
    qtbot.wait(100)
    assert window.width() <= before and window.minimumSizeHint().width() <= minimum.width()
    assert window.train.phase.text() == message and window.train.phase.toolTip() == message
    cancel = window.train.cancel_button
    assert cancel.isVisible() and cancel.mapTo(window, QtCore.QPoint(cancel.width(), 0)).x() <= window.width()
    window.banner_box.findChild(QtWidgets.QToolButton).click()      # the banner's ✕ hides it
    assert not window.banner.isVisible()
