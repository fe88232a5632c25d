"""The session format and recorder: round trip, flushing, crashes, full disks, labels, `c3t info`."""
from __future__ import annotations

import errno
import json
import shutil
import subprocess
import time

import numpy as np
import pytest

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.core.session.format import Label, Session, read_labels, write_labels
from c3t.core.session.record_loop import record
from c3t.core.session.writer import Recorder, RecorderConfig, StreamSpec
from c3t.core.streams.contract import Batch
from tests.conftest import wait_until

IMU_HZ, FPS = 200.0, 30.0


def frame_for(i: int, size=(64, 48)) -> np.ndarray:
    """A frame whose brightness encodes its number (JPEG keeps flat areas within a few levels)."""
    return np.full((size[1], size[0], 3), (i * 7) % 200 + 20, np.uint8)


def feed(rec: Recorder, seconds: float, t_start: float = 0.0, seed: int = 0, gap=None):
    """Synthetic IMU (batches of 4, device time + seq) and camera batches covering `seconds`;
    returns what was sent. `gap` = (t0, t1) session seconds with no IMU samples."""
    rng = np.random.default_rng(seed)
    sent_imu, sent_frames = [], []
    n_imu, n_cam = int(seconds * IMU_HZ), int(seconds * FPS)
    for k in range(0, n_imu, 4):
        idx = np.arange(k, min(k + 4, n_imu))
        t = t_start + idx / IMU_HZ
        if gap and gap[0] <= t[0] < gap[1]:
            continue
        values = rng.normal(size=(len(idx), 6)).astype(np.float32)
        rec.write(Batch("imu", rec.t0 + t + 0.003, values, t_device=100.0 + t, seq=idx))
        sent_imu.append((t + 0.003, values))
    for i in range(n_cam):
        t = t_start + i / FPS
        rec.write(Batch("camera", [rec.t0 + t + 0.01], frame_for(i)[None], seq=[i]))
        sent_frames.append(t + 0.01)
    return sent_imu, sent_frames


def new_recorder(folder, **config):
    streams = [StreamSpec("imu", "imu", IMU_HZ), StreamSpec("camera", "camera", FPS)]
    return Recorder(folder, streams, [{"spec": "synthetic", "type": "test"}],
                    config=RecorderConfig(**{"fsync": False, **config}))


def test_round_trip_keeps_every_sample_bit_exact(tmp_path):
    rec = new_recorder(tmp_path / "s", segment_s=1.0)
    sent_imu, sent_frames = feed(rec, 3.0)
    rec.add_label(0.5, 1.5, "wave", "har")
    rec.add_label(2.0, None, "clap, twice", "check")
    m = rec.close("test done")
    assert m["closed"] and m["counts"] == {"imu": 600, "camera": 90} and m["stop_reason"] == "test done"
    assert m["measured_hz"]["imu"] == pytest.approx(IMU_HZ, rel=1e-3) and m["streams"]["camera"]["size"] == [64, 48]
    assert m["clock_fits"]["imu"]["offset"] == pytest.approx(-100.0, abs=0.01) and m["app_version"] != "unknown"

    s = Session(tmp_path / "s")
    assert s.closed_cleanly and s.problems == []
    imu = s.imu["imu"]
    np.testing.assert_array_equal(imu.values, np.concatenate([v for _, v in sent_imu]))   # float32, every bit
    np.testing.assert_allclose(imu.t, np.concatenate([t for t, _ in sent_imu]), atol=2e-6)
    np.testing.assert_allclose(imu.t_device - imu.t, 100.0 - 0.003, atol=2e-6)
    assert imu.seq.tolist() == list(range(600))
    cam = s.cameras["camera"]
    np.testing.assert_allclose(cam.t, sent_frames, atol=2e-6)
    assert len(set(cam.segment.tolist())) == 3          # 1 s segments
    assert not list((tmp_path / "s" / "camera").glob("*.part.avi"))
    decoded = list(s.frames())
    assert len(decoded) == 90
    for row, t, image in decoded[::7]:
        assert abs(int(image.mean()) - int(frame_for(row)[0, 0, 0])) <= 3
    assert s.labels == [Label(0.5, 1.5, "wave", "har"), Label(2.0, None, "clap, twice", "check")]
    assert s.label_at(2.5).cls == "clap, twice" and s.label_at(1.7) is None
    order = [float(c.t_host[-1]) for c in s.chunks()]
    assert order == sorted(order) and sum(len(c) for c in s.chunks()) == 690


def test_a_reader_during_the_header_write_sees_no_samples_yet(tmp_path):
    """A reader that opens a live session while the recorder is writing imu.csv's header (its
    channel count not yet in the manifest) gets no samples and a note, never a header mismatch."""
    rec = new_recorder(tmp_path / "s")
    (tmp_path / "s" / "imu.csv").write_bytes(b"t,t_device,se")   # the header, cut mid-write
    s = Session(tmp_path / "s")
    assert len(s.imu["imu"]) == 0 and any("header line is not complete" in p for p in s.problems)
    (tmp_path / "s" / "imu.csv").write_bytes(b"t,t_device,seq,ch0,ch1\n0.5,100.5,0,1.0,2.0\n")
    s = Session(tmp_path / "s")
    assert len(s.imu["imu"]) == 1 and s.imu["imu"].values.tolist() == [[1.0, 2.0]]
    rec.close()


def test_files_are_flushed_while_recording(tmp_path):
    rec = new_recorder(tmp_path / "s", flush_s=0.3, segment_s=0.5)
    feed(rec, 1.0)
    # no close: a reader (or a crash) sees what is on disk after a flush
    def flushed():
        s = Session(tmp_path / "s")
        return s if len(s.imu["imu"]) == 200 else None

    s = wait_until(flushed, interval=0.1, what="all 200 IMU samples on disk")
    assert not s.closed_cleanly and "not closed cleanly" in s.problems[0]
    assert len(s.imu["imu"]) == 200
    assert len(s.cameras["camera"]) >= 15 and s.cameras["camera"].lost <= 15   # the open segment is the only loss
    rec.close()
    assert Session(tmp_path / "s").closed_cleanly


def test_crash_leftovers_are_reported_and_the_rest_is_kept(tmp_path):
    rec = new_recorder(tmp_path / "s", segment_s=1.0)
    feed(rec, 2.0)
    rec.close()
    folder = tmp_path / "s"
    m = json.loads((folder / "manifest.json").read_text())
    m["closed"] = False
    (folder / "manifest.json").write_text(json.dumps(m))
    with open(folder / "imu.csv", "ab") as f:          # a line torn by the crash
        f.write(b"2.000,102.000,400,0.1,0.2")
    with open(folder / "camera.csv", "ab") as f:       # rows of a segment that was never finalised
        f.write(b"60,2,2.010000,nan,60\n61,2,2.043333,nan,61\n")
    (folder / "camera" / "seg_000002.part.avi").write_bytes(b"RIFF\0\0")
    s = Session(folder)
    assert len(s.imu["imu"]) == 400 and len(s.cameras["camera"]) == 60 and s.cameras["camera"].lost == 2
    text = " | ".join(s.problems)
    assert "not closed cleanly" in text and "cut off" in text and "2 frame(s) in unfinished" in text
    assert "corrupt" not in text


def test_corrupt_line_inside_a_file_is_reported(tmp_path):
    rec = new_recorder(tmp_path / "s")
    feed(rec, 0.5)
    rec.close()
    path = tmp_path / "s" / "imu.csv"
    lines = path.read_text().splitlines()
    lines[10] = "garbage"
    path.write_text("\n".join(lines) + "\n")
    s = Session(tmp_path / "s")
    assert len(s.imu["imu"]) == 99 and any("corrupt line(s) inside" in p for p in s.problems)


def test_a_full_disk_stops_cleanly_and_keeps_what_was_written(tmp_path, monkeypatch):
    """ENOSPC from the IMU file after some data: the recording stops with a clear message."""
    import c3t.core.session.writer as R

    calls = {"n": 0}
    real = R._ImuFile.write

    def failing(self, *a):
        calls["n"] += 1
        if calls["n"] > 50:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real(self, *a)

    monkeypatch.setattr(R._ImuFile, "write", failing)
    rec = new_recorder(tmp_path / "s", flush_s=0.2)
    feed(rec, 3.0)
    wait_until(lambda: rec.failure is not None, what="the recorder's failure")
    assert rec.failure is not None and "is full" in str(rec.failure) and "kept" in str(rec.failure)
    rec.write(Batch("imu", [rec.t0 + 9.0], np.zeros((1, 6), np.float32)))   # ignored, counted
    m = rec.close()
    assert m["closed"] and m["stop_reason"].startswith("failed: the disk holding")
    s = Session(tmp_path / "s")
    assert len(s.imu["imu"]) == 50 * 4 and not [p for p in s.problems if "corrupt" in p]
    assert not (tmp_path / "s" / ".space-reserve").exists()


def test_low_free_space_stops_before_the_disk_is_full(tmp_path):
    rec = new_recorder(tmp_path / "s", min_free_bytes=1 << 62, flush_s=0.1)
    feed(rec, 0.5)
    wait_until(lambda: rec.failure is not None, what="the recorder's failure")
    assert "MB left" in str(rec.failure)
    rec.close()
    assert Session(tmp_path / "s").closed_cleanly


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                                       capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_real_full_disk(small_tmpfs):
    """A 2 MB tmpfs fills up with noisy frames: a clear error, a closed and readable session."""
    from c3t.core.streams.contract import Batch as B

    class Noise:   # a camera + IMU that fill the disk fast
        config, spec, name, streams = None, "noise", "noise", ["imu", "camera"]

        def __init__(self):
            from c3t.devices.base import StreamHealth

            self.h = {"imu": StreamHealth(100.0), "camera": StreamHealth(30.0)}
            self.rng, self.i = np.random.default_rng(0), 0

        def connect(self): pass
        def start(self): self.t0 = time.monotonic()
        def stop(self): pass
        def disconnect(self): pass
        def health(self): return {k: v.snapshot() for k, v in self.h.items()}

        def read(self, timeout=None):
            time.sleep(0.005)
            self.i += 1
            now = time.monotonic()
            return [B("imu", [now], self.rng.normal(size=(1, 6)).astype(np.float32)),
                    B("camera", [now], self.rng.integers(0, 255, (1, 60, 80, 3), dtype=np.uint8))]

    out = small_tmpfs / "s"
    with pytest.raises(C3tError, match=r"(?s)is full.*kept and readable"):
        record(out, [(Noise(), ["imu", "camera"])], duration=60,
               config=RecorderConfig(min_free_bytes=0, reserve_bytes=64 << 10, fsync=False))
    s = Session(out)
    assert s.closed_cleanly and "failed" in s.manifest["stop_reason"]
    assert len(s.imu["imu"]) > 10 and len(s.cameras["camera"]) >= 1
    assert s.check_segments("camera") == []
    assert sum(1 for _ in s.frames()) == len(s.cameras["camera"])


def test_labels_file_is_editable_and_checked(tmp_path):
    path = tmp_path / "labels.csv"
    write_labels(path, [Label(1.0, 2.5, "wave"), Label(3.0, None, "jog", "check")])
    text = path.read_text()
    path.write_text(text + "# a comment\n4.0,5.0,clap,\n")
    labels, problems = read_labels(path)
    assert [lb.cls for lb in labels] == ["wave", "jog", "clap"] and labels[2].use == "har" and problems == []
    path.write_text(text + "6.0,5.0,clap,har\n")
    with pytest.raises(C3tError, match="line 4.*end after it starts"):
        read_labels(path)
    path.write_text(text + "6.0,7.0,clap,test\n")
    with pytest.raises(C3tError, match="line 4.*'har'.*'check'"):
        read_labels(path)


def test_info_reports_rates_gaps_and_labels(tmp_path, capsys):
    rec = new_recorder(tmp_path / "s")
    feed(rec, 4.0, gap=(1.5, 2.5))
    rec.add_label(0.2, 1.2, "wave")
    rec.close()
    assert main(["info", str(tmp_path / "s"), "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out.strip().splitlines()[-1])
    assert info["imu_samples"] == 800 - 200 and info["frames"] == 120
    assert info["duration_s"] == pytest.approx(3.98, abs=0.02) and info["closed_cleanly"]
    assert len(info["gaps"]) == 1 and info["gaps"][0]["stream"] == "imu"
    assert info["gaps"][0]["seconds"] == pytest.approx(1.0, abs=0.01)
    assert info["streams"]["imu"]["sequence_missing"] == 200
    assert "closed cleanly: yes" in out and "gaps: 1" in out and "wave" in out
    # a stream that delivered short says so, with the measured rate and the gap time
    assert len(info["warnings"]) == 1 and info["warnings"][0].startswith("imu delivers")
    assert "Hz of 200 Hz nominal" in info["warnings"][0] and "1.0 s of gaps in 4 s" in info["warnings"][0]
    assert "warning: imu delivers" in out


def test_delivery_warning_rule():
    from c3t.core.streams.delivery import delivery_warning

    assert delivery_warning("camera", 30.0, 29.0, 0.1, 100.0) is None            # within 10%, no real gap
    text = delivery_warning("camera", 30.0, 11.7, 42.0, 100.0)
    assert text.startswith("camera delivers 11.7 Hz of 30 Hz nominal (61% short), 42.0 s of gaps in 100 s")
    assert delivery_warning("imu", None, 5.0) is None                           # unknown nominal rate: no judgement


def test_a_session_is_never_overwritten(tmp_path):
    rec = new_recorder(tmp_path / "s")
    rec.close()
    with pytest.raises(C3tError, match="not empty"):
        new_recorder(tmp_path / "s")
    with pytest.raises(C3tError, match="no manifest.json"):
        Session(tmp_path)


@pytest.mark.parametrize("frames", [40, 4])
def test_a_camera_of_unknown_rate_gets_its_measured_rate_in_the_video_header(tmp_path, frames):
    """A camera stream without a nominal rate (a webcam that reports none): the segment's video
    header declares the rate measured from the frames' times (12 fps here), not a default of
    30; a recording shorter than the frames held back to measure it keeps every frame."""
    import cv2

    rec = Recorder(tmp_path / "s", [StreamSpec("camera", "camera", None)], [{"spec": "synthetic", "type": "test"}],
                   config=RecorderConfig(fsync=False, segment_s=60.0))
    for i in range(frames):
        rec.write(Batch("camera", [rec.t0 + i / 12.0], frame_for(i)[None], seq=[i]))
    m = rec.close("done")
    assert m["counts"] == {"camera": frames}
    s = Session(tmp_path / "s")
    assert len(s.cameras["camera"].t) == frames and s.problems == []
    cap = cv2.VideoCapture(str(next((tmp_path / "s" / "camera").glob("seg_*.avi"))))
    try:
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0, rel=0.01)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
    finally:
        cap.release()
