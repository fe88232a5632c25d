"""The Settings tab's Lab Streaming Layer toggle: decisions published under the name given, refused
with the reason in the window when no model is loaded."""
from __future__ import annotations

import uuid

import pytest

pylsl = pytest.importorskip("pylsl")   # the `lsl` extra; only a missing package skips

from tests.app.gui.test_gui_parts import window  # noqa: F401  (the window fixture)
from tests.conftest import HANG_S
from tests.core.model.test_predictor import c3t_folder  # noqa: F401  (a small exported model)


def test_the_lsl_toggle_publishes_the_decisions_and_says_why_it_cannot(qtbot, window, c3t_folder):  # noqa: F811
    window.show_tab("settings")
    tab = window.settings_panel
    tab.lsl_out.setChecked(True)                      # no model yet: its class names label the channels
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=60000)
    assert "load a model" in window.banner.text() and not tab.lsl_out.isChecked()
    window.load_model(str(c3t_folder))
    qtbot.waitUntil(lambda: window.pipeline.engine is not None, timeout=60000)
    name = f"c3t-gui-{uuid.uuid4().hex[:8]}"
    tab.lsl_name.setText(name)
    tab.lsl_out.setChecked(True)
    assert window.pipeline.lsl_out == name
    found = pylsl.resolve_byprop("name", f"{name}-probabilities", timeout=HANG_S)
    assert found and found[0].channel_count() == len(window.pipeline.engine.classes)
    tab.lsl_out.setChecked(False)
    assert window.pipeline.lsl_out is None


def test_the_device_list_offers_phones_and_network_sources(window):  # noqa: F811
    offered = [window.devices.imu.itemText(i) for i in range(window.devices.imu.count())]
    assert {"tcp:5555", "udp:5555", "http:8000", "lsl:type=IMU"} <= set(offered)
