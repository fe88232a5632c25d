"""XDF files: c3t writes them itself (core/session/xdf.py) and pyxdf reads them back with the same
samples and time stamps; LabRecorder-style files import into sessions, units converted."""
from __future__ import annotations

import numpy as np
import pytest

pyxdf = pytest.importorskip("pyxdf")   # the `lsl` extra; only a missing package skips

from c3t.core.errors import C3tError
from c3t.core.session.format import Session
from c3t.core.session.writer import Recorder, StreamSpec
from c3t.core.session.xdf import XdfStream, export_xdf, import_xdf, write_xdf
from c3t.core.streams.contract import Batch, Health
from c3t.core.streams.units import RAD_TO_DEG
from c3t.core.streams.units import STANDARD_GRAVITY as G

T0 = 5000.0     # the recording's host clock at its start (LSL's local_clock on Linux)


def recorded_session(path, n: int = 700, frames: int = 20):
    rng = np.random.default_rng(1)
    t = T0 + 0.1 + np.arange(n) / 100 + rng.uniform(0, 0.004, n)         # arrival jitter
    values = rng.normal(size=(n, 6)).astype(np.float32)
    rec = Recorder(path, [StreamSpec("imu", "imu", 100), StreamSpec("camera", "camera", 10)],
                   clock=lambda: T0, t0=T0)
    rec.write(Batch("imu", t, values, t_device=np.arange(n) / 100))
    img = rng.integers(0, 255, size=(frames, 24, 32, 3), dtype=np.uint8)
    rec.write(Batch("camera", T0 + 0.1 + np.arange(frames) / 10, img))
    rec.add_label(1.0, 2.5, "wave", "har")
    rec.add_label(3.0, None, "clap", "check")
    names = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    rec.close("done", {"imu": Health(nominal_hz=100, channels=6, channel_names=names, units=["g"] * 3 + ["deg/s"] * 3)})
    return Session(path)


def by_name(streams):
    return {s["info"]["name"][0]: s for s in streams}


def test_export_is_read_back_by_pyxdf_with_the_same_samples_and_time_stamps(tmp_path):
    session = recorded_session(tmp_path / "s")
    lines = export_xdf(tmp_path / "s", tmp_path / "s.xdf")
    assert len(lines) == 3
    streams, _ = pyxdf.load_xdf(str(tmp_path / "s.xdf"), dejitter_timestamps=False)
    s = by_name(streams)
    imu = s["imu"]
    np.testing.assert_array_equal(imu["time_stamps"], T0 + session.imu["imu"].t)
    np.testing.assert_array_equal(imu["time_series"], session.imu["imu"].values)
    assert imu["info"]["type"] == ["IMU"] and float(imu["info"]["nominal_srate"][0]) == 100
    channels = imu["info"]["desc"][0]["channels"][0]["channel"]
    assert [c["label"][0] for c in channels][:2] == ["acc_x", "acc_y"] and channels[3]["unit"] == ["deg/s"]
    np.testing.assert_array_equal(s["camera"]["time_stamps"], T0 + session.cameras["camera"].t)
    np.testing.assert_array_equal(s["camera"]["time_series"][:, 0], session.cameras["camera"].frame)
    labels = s["c3t-labels"]
    assert [list(v) for v in labels["time_series"][:2]] == [["wave", "har", "start"], ["wave", "har", "end"]]
    np.testing.assert_allclose(labels["time_stamps"][:2], [T0 + 1.0, T0 + 2.5])
    # pyxdf's default (dejitter on) fits a line through a regular stream's stamps: close, not equal
    dejittered = by_name(pyxdf.load_xdf(str(tmp_path / "s.xdf"))[0])["imu"]["time_stamps"]
    assert np.abs(dejittered - imu["time_stamps"]).max() < 0.005


def test_an_export_imports_back_into_the_same_session(tmp_path):
    session = recorded_session(tmp_path / "s")
    export_xdf(tmp_path / "s", tmp_path / "s.xdf")
    report = import_xdf(tmp_path / "s.xdf", tmp_path / "back")
    back = Session(tmp_path / "back")
    assert "labels <- 2 label(s)" in " ".join(report) and "camera" in " ".join(report)
    np.testing.assert_allclose(back.imu["imu"].values, session.imu["imu"].values, rtol=1e-6)
    np.testing.assert_allclose(back.imu["imu"].t, session.imu["imu"].t, atol=0.005)   # pyxdf dejitters on import
    assert [(lb.cls, lb.use, round(lb.start, 3)) for lb in back.labels] == [("wave", "har", 1.0), ("clap", "check", 3.0)]
    assert back.manifest["streams"]["imu"]["units"] == ["g"] * 3 + ["deg/s"] * 3


def test_a_labrecorder_style_file_imports_in_g_and_deg_per_s(tmp_path):
    n = 400
    t = 12_000.0 + np.arange(n) / 50
    si = np.column_stack([np.full(n, 0.5), np.zeros(n), np.full(n, 9.80665), np.sin(t), np.zeros(n), np.full(n, -1.0)])
    write_xdf(tmp_path / "lab.xdf", [
        XdfStream("EEG", "EEG", "float32", 250.0, 12_000.0 + np.arange(1000) / 250, np.zeros((1000, 4)),
                  [f"e{i}" for i in range(4)]),
        XdfStream("PhoneIMU", "Accelerometer", "double64", 50.0, t, si,
                  ["accX", "accY", "accZ", "gyroX", "gyroY", "gyroZ"], ["m/s^2"] * 3 + ["rad/s"] * 3),
        XdfStream("Events", "Markers", "string", 0.0, np.array([12_001.0, 12_005.0]), [["start"], ["stop"]], ["ev"]),
    ])
    report = " ".join(import_xdf(tmp_path / "lab.xdf", tmp_path / "s"))
    session = Session(tmp_path / "s")
    imu = session.imu["imu"]
    assert len(imu) == n and "'PhoneIMU'" in report and "not imported: 'EEG'" in report
    np.testing.assert_allclose(imu.values, si * ([1 / G] * 3 + [RAD_TO_DEG] * 3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(imu.t, t - 12_000.0, atol=1e-4)
    markers = (tmp_path / "s" / "markers.csv").read_text().splitlines()
    assert markers[0] == "t,stream,text" and markers[1].endswith("Events,start") and len(markers) == 3


def test_files_that_are_not_xdf_or_hold_no_imu_are_clear_errors(tmp_path):
    (tmp_path / "x.xdf").write_bytes(b"not an xdf file at all")
    with pytest.raises(C3tError, match="could not be read as XDF"):
        import_xdf(tmp_path / "x.xdf", tmp_path / "s1")
    write_xdf(tmp_path / "m.xdf", [XdfStream("Events", "Markers", "string", 0.0, np.array([1.0]), [["go"]], ["ev"])])
    with pytest.raises(C3tError, match="no IMU stream in the file.*Events"):
        import_xdf(tmp_path / "m.xdf", tmp_path / "s2")
    with pytest.raises(C3tError, match="no such XDF file"):
        import_xdf(tmp_path / "missing.xdf", tmp_path / "s3")


def test_a_raw_video_stream_becomes_the_session_camera(tmp_path):
    """A LabRecorder file with a VideoRaw stream (LSL's convention: a frame per sample, its shape in
    desc/encoding): the frames land in the session's camera stream at their time stamps, colours
    turned from RGB to c3t's BGR; a video stream without a usable shape is named, not imported."""
    n, h, w = 40, 24, 32
    t = 500.0 + np.arange(n) / 20
    imu = np.tile([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], (4 * n, 1))
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, :, :, 0] = 200                      # red in RGB
    frames[:, : h // 2, :, 1] = np.arange(n)[:, None, None] * 5   # a top half that changes over time
    write_xdf(tmp_path / "v.xdf", [
        XdfStream("Watch", "IMU", "float32", 80.0, 500.0 + np.arange(4 * n) / 80, imu, [f"c{i}" for i in range(6)]),
        XdfStream("Webcam", "VideoRaw", "int16", 20.0, t, frames.reshape(n, -1).astype(np.int16),
                  encoding={"width": w, "height": h, "color_channels": 3, "color_format": "RGB"}),
        XdfStream("Other", "VideoRaw", "int16", 20.0, t, np.zeros((n, 7), np.int16)),
    ])
    report = " ".join(import_xdf(tmp_path / "v.xdf", tmp_path / "s"))
    assert "camera <- 'Webcam' (VideoRaw): 40 frames of 32x24" in report
    assert "not imported: 'Other' (VideoRaw, numeric): a VideoRaw stream needs desc/encoding" in report
    session = Session(tmp_path / "s")
    got = list(session.frames("camera"))
    assert len(got) == n
    np.testing.assert_allclose([ts for _, ts, _ in got], t - 500.0, atol=1e-3)
    first = got[5][2]
    assert first.shape == (h, w, 3) and abs(int(first[h - 1, 0, 2]) - 200) < 20 and int(first[h - 1, 0, 0]) < 30   # red is BGR's last
