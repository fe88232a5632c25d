"""Issue 31: session files that went through another program (a spreadsheet, an editor, an
interrupted copy) on real files: `c3t info` compares them with the manifest and names each
difference; reading keeps what is valid and says what it skipped."""
from __future__ import annotations

import numpy as np
import pytest

from c3t.app.cli import main
from c3t.core.session.format import Session, read_labels
from tests.core.session.test_session import feed, new_recorder

LABELS = [("start", "end", "class", "use"), ("0.500", "1.500", "wave", "har"), ("2.000", "", "clap", "check")]


@pytest.fixture
def session(tmp_path):
    """A closed session of 2 s: 400 IMU samples, 60 frames in 2 segments, two labels."""
    rec = new_recorder(tmp_path / "s", segment_s=1.0)
    feed(rec, 2.0)
    rec.close("done")
    return tmp_path / "s"


@pytest.mark.parametrize("encoding, newline, pad", [
    ("utf-8-sig", "\r\n", ""),          # Excel on Windows: a UTF-8 BOM and CRLF
    ("utf-8-sig", "\n", "  "),          # a BOM, and spaces around the fields
    ("utf-16", "\r\n", ""),             # Notepad's "Unicode": UTF-16 with its BOM
    ("utf-8", "\r", " "),               # old Mac line ends
    ("utf-32", "\n", ""),
])
def test_labels_saved_by_another_program_are_read(session, encoding, newline, pad, capsys):
    text = newline.join(",".join(f"{pad}{c}{pad}" for c in row) for row in LABELS) + newline
    (session / "labels.csv").write_bytes(text.encode(encoding))
    labels, problems = read_labels(session / "labels.csv")
    assert [(lb.start, lb.end, lb.cls, lb.use) for lb in labels] == [(0.5, 1.5, "wave", "har"), (2.0, None, "clap", "check")]
    assert problems == []
    assert main(["info", str(session)]) == 0
    assert "labels: 2 (1 camera labels for training, 1 IMU labels for checking)" in capsys.readouterr().out


def test_labels_from_a_comma_decimal_spreadsheet_are_read(session):
    """Excel in a comma-decimal locale saves 'start;end;class;use' with '0,5'."""
    (session / "labels.csv").write_bytes("\ufeffstart;end;class;use\r\n0,5;1,5;wave;har\r\n2;;clap;check\r\n".encode())
    labels, _ = read_labels(session / "labels.csv")
    assert [(lb.start, lb.end, lb.cls) for lb in labels] == [(0.5, 1.5, "wave"), (2.0, None, "clap")]


def test_an_imu_file_cut_short_is_named_as_such(session, capsys):
    """An interrupted copy kept 150 of the 400 rows (and half a line): the manifest's count
    against the file, not "N bytes ignored at the crash"."""
    path = session / "imu.csv"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:151]) + b"\n" + lines[151][:8])
    s = Session(session)
    assert len(s.imu["imu"]) == 150
    cut = [p for p in s.problems if p.startswith("imu.csv holds 150 samples but the manifest counts 400")]
    assert cut and "250 are missing, the file was cut short" in cut[0]
    assert any("ends in the middle of a line (8 bytes ignored): it was cut short after" in p for p in s.problems)
    assert not any("crash" in p for p in s.problems)
    assert main(["info", str(session)]) == 0
    assert "problem: imu.csv holds 150 samples but the manifest counts 400" in capsys.readouterr().out


def test_a_cut_video_segment_is_named_and_its_readable_frames_are_kept(session, capsys):
    seg = session / "camera" / "seg_000001.avi"
    data = seg.read_bytes()
    seg.write_bytes(data[: len(data) // 2])
    s = Session(session)
    assert any(p.startswith(f"camera/seg_000001.avi is {len(data) // 2} bytes, the manifest says {len(data)}: cut short")
               for p in s.problems)
    rows = np.concatenate([r for r, _ in s.segment_frames("camera")])
    assert 30 <= len(rows) < 60                      # segment 0 whole, the first frames of segment 1
    assert any("only" in p and "frames decode (the file was cut short)" in p for p in s.problems)
    assert main(["info", str(session)]) == 0
    assert "problem: camera/seg_000001.avi is" in capsys.readouterr().out


def test_a_missing_video_segment_of_a_closed_session_is_not_called_a_crash(session):
    (session / "camera" / "seg_000000.avi").unlink()
    s = Session(session)
    assert any("seg_000000.avi are missing from camera/ although the recording closed cleanly" in p for p in s.problems)
    assert not any("crash" in p for p in s.problems)


def test_non_numbers_from_the_device_are_missing_values_in_the_session(tmp_path):
    """IMU values that were not numbers (nan) are written and read back as nan, and said."""
    from c3t.core.streams.contract import Batch, Health

    rec = new_recorder(tmp_path / "s")
    values = np.tile(np.array([0.1, 0.2, 0.3, np.nan, np.nan, np.nan], np.float32), (10, 1))
    rec.write(Batch("imu", rec.t0 + np.arange(10) / 200.0, values))
    h = Health(missing=30, warning="serial:x: 30 values were not numbers ('nan') in channel(s) ch3, ch4, ch5")
    rec.close("done", {"imu": h})
    s = Session(tmp_path / "s")
    assert np.isnan(s.imu["imu"].values[:, 3:]).all() and np.isfinite(s.imu["imu"].values[:, :3]).all()
    assert any(p.startswith("stream 'imu' while recording: 30 values were not numbers (kept as nan)") for p in s.problems)


def test_windows_over_missing_values_count_as_missing_data():
    """A window over samples the device sent as nan is not complete: training skips it (and says
    how many), live inference sees the steps masked."""
    from c3t.core.errors import C3tError
    from c3t.core.streams.contract import Batch
    from c3t.core.streams.syncbuffer import SyncBuffer
    from c3t.core.streams.window import WindowSpec

    buf = SyncBuffer()
    buf.add_stream("imu", "imu", 100.0, channels=6)
    values = np.ones((300, 6), np.float32)
    values[150:, 3:] = np.nan
    buf.ingest(Batch("imu", np.arange(300) / 100.0, values))
    spec = WindowSpec(seconds=1.0, imu_steps=32, imu_channels=6)
    assert buf.window(1.2, spec, imu="imu", camera=None).complete
    with pytest.raises(C3tError, match="has no data"):
        buf.window(2.8, spec, imu="imu", camera=None)
    w = buf.window(2.8, spec, imu="imu", camera=None, allow_missing=1.0)
    assert not w.imu_mask.any() and np.isfinite(w.imu).all()
