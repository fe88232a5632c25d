"""Source spec strings, `c3t devices` and `c3t bench buffer`."""
from __future__ import annotations

import time

import pytest

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.devices.ble_imu import BleImu
from c3t.devices.camera import OpenCvCamera
from c3t.devices.serial_imu import SerialImu
from c3t.devices.spec import open_source, parse_spec
from tests.conftest import HANG_S


def test_parse_the_forms():
    assert parse_spec("serial:/dev/ttyACM0?baud=115200") == ("serial", "/dev/ttyACM0", {"baud": "115200"})
    assert parse_spec("ble:AA:BB:CC:DD:EE:FF?profile=nus") == ("ble", "AA:BB:CC:DD:EE:FF", {"profile": "nus"})
    assert parse_spec("camera:0") == ("camera", "0", {})
    assert parse_spec("camera:clip.mp4?fps=15") == ("camera", "clip.mp4", {"fps": "15"})
    assert parse_spec("camera:http://cam.local/video?auth=x") == ("camera", "http://cam.local/video?auth=x", {})
    assert parse_spec("camera:rtsp://cam/s?width=640") == ("camera", "rtsp://cam/s", {"width": "640"})
    assert parse_spec("sim") == ("sim", "", {})
    assert parse_spec("sim?seed=3") == ("sim", "", {"seed": "3"})


@pytest.mark.parametrize("bad", ["", "usb:3", "serial:", "/dev/ttyACM0", "serial:/dev/x?baud"])
def test_bad_specs_list_the_forms(bad):
    with pytest.raises(C3tError, match="(?s)serial:PORT.*ble:ADDRESS.*camera:INDEX.*sim.*replay:SESSION_DIR"):
        open_source(bad)


def test_open_source_builds_configured_sources():
    s = open_source("serial:/dev/ttyACM0?baud=9600&channels=6&rate_hz=104.5&leading=seq")
    assert isinstance(s, SerialImu) and s.streams == ["imu"]
    assert (s.config.port, s.config.baud, s.config.channels, s.config.rate_hz, s.config.leading) == \
        ("/dev/ttyACM0", 9600, 6, 104.5, "seq")
    b = open_source("ble:AA:BB:CC:DD:EE:FF?profile=struct&characteristic=ffe1&struct_format=<6h&scale=0.001")
    assert isinstance(b, BleImu) and b.config.struct_format == "<6h" and b.config.scale == 0.001
    c = open_source("camera:2?width=640&height=480&loop=true")
    assert isinstance(c, OpenCvCamera) and c.config.source == 2 and c.config.loop is True
    assert open_source("camera:clip.mp4").config.source == "clip.mp4"
    assert c.spec == "camera:2?width=640&height=480&loop=true"


def test_parameter_errors_name_the_parameter():
    with pytest.raises(C3tError, match="unknown parameter 'bauds'.*baud"):
        open_source("serial:COM3?bauds=9600")
    with pytest.raises(C3tError, match="baud='fast': expected a whole number"):
        open_source("serial:COM3?baud=fast")
    with pytest.raises(C3tError, match="unknown parameter 'clock'"):
        open_source("serial:COM3?clock=1")
    with pytest.raises(C3tError, match="profile 'classic'"):
        open_source("ble:AA:BB:CC:DD:EE:FF?profile=classic")


def test_replay_spec_builds_a_replay_source():
    from c3t.devices.replay import ReplaySource

    s = open_source("replay:sessions/2024-01-01?speed=4&streams=imu")
    assert isinstance(s, ReplaySource) and s.config.session == "sessions/2024-01-01"
    assert (s.config.speed, s.config.streams) == (4.0, "imu")
    with pytest.raises(C3tError, match="sessions/2024-01-01 does not exist"):
        s.connect()


def test_sim_source_runs_into_the_buffer():
    from c3t.core.streams.syncbuffer import SyncBuffer

    source = open_source("sim")
    buf = SyncBuffer(seconds=10)
    got = 0
    with source:
        buf.add_source(source)
        deadline = time.monotonic() + HANG_S     # ends a hang only: a busy CPU may take long to start
        while time.monotonic() < deadline:
            batches = source.read(timeout=0.05)
            buf.extend(batches)
            got += sum(len(b) for b in batches)
            if all(buf.received(s) > 0 for s in source.streams):
                break
    assert got > 0 and all(buf.received(s) > 0 for s in source.streams)


def test_devices_command_lists_what_it_finds(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Serial ports:" in out and "Cameras:" in out and "BLE: not scanned" in out


def test_bench_buffer_prints_figures(capsys):
    assert main(["bench", "buffer", "--seconds", "8", "--windows", "5", "--size", "64x48"]) == 0
    out = capsys.readouterr().out
    assert "samples/s" in out and "x real time" in out and "median" in out
