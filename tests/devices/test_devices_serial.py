"""SerialImu and the data-forwarder line format, through a real pseudo-terminal."""
from __future__ import annotations

import os
import re
import struct
import threading
import time
import tty

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.devices.lineformat import LineStream
from c3t.devices.serial_imu import SerialImu, SerialImuConfig
from c3t.core.streams.units import RAD_TO_DEG, STANDARD_GRAVITY as G
from tests.conftest import HANG_S


def sample_line(k: int) -> str:
    # six channels that identify the sample and its channel order (the first column does not
    # count up, or it would rightly be taken for a sequence number)
    return f"{k % 97 * 0.25},{k},{-k},{k % 13},{k * 0.5},{(k % 7) - 3}\n"


def check_sample(row: np.ndarray) -> int:
    k = int(row[1])
    expected = np.array([k % 97 * 0.25, k, -k, k % 13, k * 0.5, (k % 7) - 3], dtype=np.float32)
    np.testing.assert_array_equal(row, expected)
    return k


MALFORMED = [
    "1.0,2.0,3.0\n",                      # too few fields
    "1,2,3,4,5,6,7\n",                    # too many
    "abc,def,ghi,jkl,mno,pqr\n",          # not numbers
    "1.0,2.0,3.0,4.0,5.0,6.0.0\n",        # a broken number
    "1,2,,,5\n",                          # two empty fields are missing values: still one too few
    "\xff\xfe,1,2,3,4,5\n",               # not ASCII
    "nan,nan,nan,nan,nan,nan\n",          # only missing values (a single nan is a missing value: issue 31)
]


class FastClock:
    """Host time running `speed` times faster than real time (the adapter's logic unchanged)."""

    def __init__(self, speed: float):
        self.speed, self.t0 = speed, time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self.t0) * self.speed

    def real(self, seconds: float) -> float:
        return seconds / self.speed


class FakeDevice:
    """A pseudo-terminal behind a stable symlink, like /dev/serial/by-id/...; can be unplugged."""

    def __init__(self, link: str):
        self.link = link
        self.master = self.slave = None

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing: a serial port
        tmp = self.link + ".new"
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.link)

    def write(self, text: str) -> None:
        os.write(self.master, text.encode("latin-1"))

    def unplug(self) -> None:
        os.unlink(self.link)
        os.close(self.master)
        os.close(self.slave)


def wait_for(cond, timeout: float = HANG_S) -> bool:   # the timeout only ends a hang
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


@pytest.mark.timeout(600)
def test_pty_200hz_30s_with_malformed_lines_and_a_2s_unplug(tmp_path):
    """30 s of 6-channel lines at 200 Hz with malformed lines, ERR lines and a 2 s unplug.

    The host clock given to the adapter runs 5x real time (6 s of wall time); the pty, the
    reader thread, the parser and the reconnection are the real ones.
    """
    speed, rate, seconds = 5.0, 200, 30.0
    clock = FastClock(speed)
    dev = FakeDevice(str(tmp_path / "ttyIMU"))
    dev.plug()
    imu = SerialImu(SerialImuConfig(port=dev.link, clock=clock, reconnect_interval=clock.real(0.1)))
    written: list[int] = []
    malformed_written = 3  # fragments: at the first open, cut by the unplug, at the reopen
    times: dict[str, float] = {}

    def device() -> None:
        nonlocal malformed_written
        n_total, unplug_at, gap = int(seconds * rate), int(12 * rate), 2.0
        unplugged = False
        seg_start, seg_k0, k = time.monotonic(), 0, 0

        def due(i: int) -> float:
            return seg_start + (i - seg_k0) / (rate * speed)

        while k < n_total:
            if k == unplug_at and not unplugged:
                unplugged = True
                times["last_before"] = clock()
                wait_for(lambda: imu.health()["imu"].received >= len(written))
                dev.write("123,4.5,6")  # unplugged in the middle of a line
                time.sleep(0.1)
                dev.unplug()
                time.sleep(clock.real(gap))
                dev.plug()
                wait_for(lambda: imu.health()["imu"].connects == 2)
                dev.write(",0.25,7\n")  # the port reopens while the device is mid-line
                times["first_after"] = clock()
                seg_start, seg_k0 = time.monotonic(), k
            delay = due(k) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            chunk = []
            while k < n_total and (k != unplug_at or unplugged) and due(k) <= time.monotonic():
                chunk.append(sample_line(k))
                written.append(k)
                if k % 211 == 50:
                    chunk.append(MALFORMED[(k // 211) % len(MALFORMED)])
                    malformed_written += 1
                if k == 3001:
                    chunk.append("ERR: accelerometer saturated\n")
                k += 1
            dev.write("".join(chunk))
        dev.write(sample_line(n_total)[:5])  # a last partial line that never ends

    imu.connect()
    dev.write("0.5,-1.25\n")  # the port opened while the device was mid-line: a tail
    imu.start()
    writer = threading.Thread(target=device)
    writer.start()
    batches = []
    while writer.is_alive():
        batches += imu.read(timeout=0.05)
    writer.join()
    wait_for(lambda: imu.health()["imu"].received >= len(written))
    health = imu.health()["imu"]
    imu.stop()
    batches += imu.read(timeout=0)
    imu.disconnect()

    values = np.concatenate([b.values for b in batches])
    received = [check_sample(row) for row in values]
    assert received == written  # every well-formed sample exactly once, in order
    assert len(written) == 6000
    assert health.malformed == malformed_written
    assert health.dropped == malformed_written
    assert health.channels == 6 and imu.layout.leading == "none"
    assert abs(health.nominal_hz - rate) <= 10
    assert health.last_error is not None
    assert len(health.gaps) == 1
    t0, t1 = health.gaps[0]
    assert t1 - t0 >= 2.0
    expected = times["first_after"] - times["last_before"]
    assert abs((t1 - t0) - expected) < 1.0, (t1 - t0, expected)   # the 2 s gap (a busy CPU delays the reader)
    t_host = np.concatenate([b.t_host for b in batches])
    assert np.all(np.diff(t_host) >= 0)


def test_err_line_is_reported_not_counted(tmp_path):
    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    with SerialImu(dev.link, channels=3, rate_hz=50, leading="none") as imu:
        dev.write("\nERR: IMU not found\n1,2,3\n")
        assert wait_for(lambda: imu.health()["imu"].received == 1)
        h = imu.health()["imu"]
    dev.unplug()
    assert h.last_error.endswith("ERR: IMU not found") and dev.link in h.last_error
    assert h.malformed == 0


def test_missing_port_is_a_clear_error(tmp_path):
    with pytest.raises(C3tError, match="nothing-here.*c3t devices"):
        SerialImu(str(tmp_path / "nothing-here")).connect()


def feed_lines(stream: LineStream, lines: list[str], rate: float, t0: float = 0.0):
    """Feed lines one per 1/rate s of host time (after a newline that ends the first fragment)."""
    out = stream.feed(b"\n", t0)
    for i, line in enumerate(lines):
        out.extend(stream.feed(line.encode(), t0 + (i + 1) / rate))
    return out


def test_detects_ms_timestamp_column():
    stream = LineStream()
    lines = [f"{1000 + 10 * i},{i},{-i},{2 * i}\n" for i in range(150)]
    out = feed_lines(stream, lines, rate=100)
    assert stream.layout.leading == "timestamp" and stream.layout.channels == 3
    assert stream.layout.time_scale == 1e-3 and stream.layout.rate_hz == 100
    assert len(out) == 150 and out.rows[5] == [5.0, -5.0, 10.0] and out.lead[5] == 1050


def test_detects_sequence_column_and_plain_values():
    seq = LineStream()
    feed_lines(seq, [f"{7 + i} {0.1 * i} {0.2}\n" for i in range(120)], rate=52)
    assert seq.layout.leading == "seq" and seq.layout.channels == 2 and seq.layout.rate_hz == 52
    plain = LineStream()
    rng = np.random.default_rng(0)
    feed_lines(plain, ["\t".join(f"{v:.3f}" for v in rng.normal(size=6)) + "\n" for _ in range(120)], rate=104)
    assert plain.layout.leading == "none" and plain.layout.channels == 6 and plain.layout.rate_hz == 104


def test_overrides_skip_detection_and_wrong_lines_never_shift_channels():
    stream = LineStream(channels=3, rate_hz=50, leading="none")
    assert stream.layout is not None
    out = stream.feed(b"garbage-tail\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n1", 0.0)
    assert out.rows == [[1.0, 2.0, 3.0], [10.0, 11.0, 12.0]]
    assert out.malformed == 3  # the first-line tail, the short line, the long line
    assert stream.connection_lost() == 1  # "1" was cut by the disconnection


# -- real boards: line formats, line endings, wrong baud rates, binary protocols (issue 12) --------
def stream_lines(dev: FakeDevice, lines: list[str], rate: float, chunk: int = 5) -> None:
    """Write `lines` at `rate` lines per second (in chunks, as USB delivers them)."""
    t0 = time.monotonic()
    for i in range(0, len(lines), chunk):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        dev.write("".join(lines[i:i + chunk]))


def collect(imu, n: int, timeout: float = HANG_S) -> np.ndarray:
    """Values of the first `n` samples (fewer if they do not come within `timeout`, which only ends a hang)."""
    batches, end = [], time.monotonic() + timeout
    while sum(map(len, batches)) < n and time.monotonic() < end:
        batches += imu.read(timeout=0.05)
    return np.concatenate([b.values for b in batches]) if batches else np.zeros((0, 0), np.float32)


def mpu6050_raw(k: int) -> str:
    return f"a/g:\t{-1787 + k % 7 * 13}\t-511\t15147\t-263\t{212 - k}\t-183\r\n"


def test_a_recorded_session_keeps_the_channel_names_the_board_sent(tmp_path, capsys):
    """key:value lines recorded by `c3t record`: the manifest, the reader and `c3t info` name the
    channels as the board did (acc_x..gyro_z); the CSV columns stay ch0..ch5."""
    from c3t.app.cli import main
    from c3t.core.session.format import Session

    code = record_while(tmp_path, lambda dev, stop: stream_lines(dev, [plotter(k) for k in range(150)], 50.0, 1), 4)
    assert code == 0, capsys.readouterr().err
    names = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    session = Session(tmp_path / "s")
    assert session.manifest["streams"]["imu"]["channel_names"] == names
    assert session.imu["imu"].channel_names == tuple(names) and session.imu["imu"].values.shape[1] == 6
    capsys.readouterr()
    assert main(["info", str(tmp_path / "s")]) == 0
    assert "of 6 channels (acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z)" in capsys.readouterr().out


def plotter(k: int, sep: str = ",") -> str:
    return sep.join(f"{n}:{v}" for n, v in zip(("ax", "ay", "az", "gx", "gy", "gz"),
                                                (0.01 * k, -0.98, 0.12, 1.5, -0.3, k))) + "\r\n"


@pytest.mark.parametrize("name, line, expected, names", [
    ("label-prefixed", mpu6050_raw, lambda k: [-1787 + k % 7 * 13, -511, 15147, -263, 212 - k, -183], None),
    ("key:value", plotter, lambda k: [0.01 * k, -0.98, 0.12, 1.5, -0.3, k],
     ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]),
    ("key:value, spaces", lambda k: plotter(k, " "), lambda k: [0.01 * k, -0.98, 0.12, 1.5, -0.3, k],
     ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]),
    ("key:value, tabs, LF", lambda k: plotter(k, "\t")[:-2] + "\n", lambda k: [0.01 * k, -0.98, 0.12, 1.5, -0.3, k],
     ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]),
    ("key=value with units, bare CR", lambda k: f"AcX = {k}g | AcY = 2g | Tmp = 36.5C | GyX = -{k}\r",
     lambda k: [k, 2, 36.5, -k], ["acc_x", "acc_y", "Tmp", "gyro_x"]),
    ("units with a caret and in UTF-8, semicolons", lambda k: f"Accel: {0.01 * k:.2f} m/s^2; -9.81 m/s²; 0.5 m/s² "
     f"| T: 25.3°C | id 0x1A\n", lambda k: [0.01 * k / G, -9.81 / G, 0.5 / G, 25.3], None),   # m/s^2 -> g
    ("a leading ms timestamp that wraps (uint16)", lambda k: f"{(65000 + 20 * k) % 65536} {k % 7 - 3} {0.5 * k}\r\n",
     lambda k: [k % 7 - 3, 0.5 * k], None),
    ("a first column that rises, no timestamp", lambda k: f"{0.01 * k:.2f};{k * 37 % 11 - 5};{k % 3}\r\n",
     lambda k: [0.01 * k, k * 37 % 11 - 5, k % 3], None),
])
def test_line_formats_through_a_pty(tmp_path, name, line, expected, names):
    """Lines as Arduino sketches print them, at 50 Hz: every one a sample, channels from keys."""
    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    n = 80
    with SerialImu(dev.link) as imu:           # the default detection window (1 s)
        writer = threading.Thread(target=stream_lines, args=(dev, [line(k) for k in range(n)], 50.0))
        writer.start()
        values = collect(imu, n)
        writer.join()
        health = imu.health()["imu"]
    dev.unplug()
    np.testing.assert_allclose(values, [expected(k) for k in range(n)], rtol=1e-6)
    assert health.received == n and health.malformed == 0 and health.diagnosis is None
    assert health.channels == len(expected(0)) and health.channel_names == names
    assert health.nominal_hz == 50


def adafruit_basic_readings(k: int) -> list[str]:
    """One sample as Adafruit's MPU6050 'basic_readings' example prints it: three lines and a blank one."""
    return [f"Acceleration X: {0.01 * k:.2f}, Y: -0.98, Z: 9.81 m/s^2\r\n",
            f"Rotation X: {k % 5 * 0.1:.1f}, Y: -0.30, Z: 0.20 rad/s\r\n",
            f"Temperature: {25 + 0.01 * k:.2f} degC\r\n", "\r\n"]


def test_a_sample_printed_over_several_lines_is_one_sample(tmp_path):
    """Samples of three differently labelled lines at 10 Hz, the port opened in the middle of one:
    each sample's 7 numbers in order; the two lines of the sample cut by the open are rejected."""
    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    n = 30

    def board() -> None:
        """10 samples a second on the board's own clock: a late sample does not delay the next
        (a busy test machine must not slow the board it fakes)."""
        lines, started = adafruit_basic_readings(0)[1:], time.monotonic()   # the rest of a sample begun before
        for k in range(1, n + 1):
            for line in lines:
                dev.write(line)
                time.sleep(0.003)                               # println at 115200 baud
            lines = adafruit_basic_readings(k)
            time.sleep(max(0.0, started + 0.1 * k - time.monotonic()))

    with SerialImu(dev.link) as imu:
        writer = threading.Thread(target=board)
        writer.start()
        values = collect(imu, n - 1)
        writer.join()
        assert wait_for(lambda: imu.health()["imu"].received == n - 1)
        health = imu.health()["imu"]
    dev.unplug()
    expected = [[0.01 * k / G, -0.98 / G, 9.81 / G, k % 5 * 0.1 * RAD_TO_DEG, -0.3 * RAD_TO_DEG, 0.2 * RAD_TO_DEG,
                 25 + 0.01 * k] for k in range(1, n)]          # m/s^2 and rad/s as written, recorded in g and deg/s
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert health.channels == 7 and health.nominal_hz == 10 and health.malformed == 2
    assert imu.layout.record is not None and len(imu.layout.record) == 3 and health.diagnosis is None


def test_lf_crlf_and_cr_all_end_lines_even_mixed_and_split():
    stream = LineStream(channels=3, rate_hz=50, leading="none")
    out = stream.feed(b"1,2,3\n4,5,6\r\n7,8,9\r10,11,12\r", 0.0)
    out.extend(stream.feed(b"\n13,14,15\r", 0.1))     # a CRLF split across two chunks
    out.extend(stream.feed(b"\n", 0.2))
    assert out.rows == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12], [13, 14, 15]]
    assert out.malformed == 0 and stream.lines_received == 5


def test_line_rate_from_arrival_times_ignores_late_chunks():
    """50 Hz in chunks of 5 lines for 1 s, each chunk 1-4 ms late, three of them 20-45 ms late
    (a reader woken late on a busy CPU): the rate stays within 1 % (a least-squares fit read 52)."""
    rng = np.random.default_rng(4)
    times = np.empty(51)
    for first in range(0, 51, 5):
        last = min(first + 5, 51) - 1
        times[first:last + 1] = last / 50 + rng.uniform(0.001, 0.004)
    for chunk, late in ((2, 0.045), (5, 0.02), (9, 0.03)):
        times[chunk * 5:chunk * 5 + 5] += late
    times = np.maximum.accumulate(times)                # arrivals keep their order
    assert LineStream._host_rate(times) == pytest.approx(50, rel=0.01)
    assert LineStream._host_rate(np.array([0.0, 0.0, 0.1, 0.1])) == pytest.approx(20)   # two chunks: end to end


def test_leading_counter_that_wraps_is_still_a_sequence_number():
    stream = LineStream(detect_seconds=1.0)
    lines = [f"{(250 + i) % 256},{0.5 * i},{-i}\n" for i in range(100)]   # uint8 counter wraps
    out = feed_lines(stream, lines, rate=50)
    assert stream.layout.leading == "seq" and stream.layout.channels == 2 and stream.layout.rate_hz == 50
    assert len(out) == 100 and out.rows[10] == [5.0, -10.0]


def wait_diagnosis(imu, timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        h = imu.health()["imu"]
        if h.diagnosis:
            return h, time.monotonic()
        time.sleep(0.02)
    return imu.health()["imu"], time.monotonic()


def test_wrong_baud_rate_is_diagnosed_within_two_seconds(tmp_path):
    """Bytes with the high bit set and no line end, ~500 bytes/s (a sketch at another baud rate)."""
    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    stop = threading.Event()
    rng = np.random.default_rng(1)

    def garbage():
        while not stop.is_set():
            dev.write(bytes(rng.integers(0x80, 0x100, 25, dtype=np.uint8)).decode("latin-1"))
            time.sleep(0.05)

    with SerialImu(dev.link, baud=115200) as imu:
        writer = threading.Thread(target=garbage)
        writer.start()
        health, _ = wait_diagnosis(imu, HANG_S)
        stop.set()
        writer.join()
    dev.unplug()
    assert health.state == "no samples" and health.received == 0 and health.bytes_received > 0
    assert health.diagnosis == health.last_error
    assert re.search(rf"^serial:{re.escape(dev.link)}: no samples: \d+ bytes, 0 lines \(0 rejected\) in [\d.]+ s; "
                     r"bytes arrive but are not text \(last bytes '\\x..", health.diagnosis)
    assert "opened at 115200 baud: set ?baud= to the rate of the sketch's Serial.begin(...)" in health.diagnosis


def witmotion_packet(kind: int, values) -> bytes:
    body = bytes([0x55, kind]) + struct.pack("<4h", *values)
    return body + bytes([sum(body) & 0xFF])


def test_witmotion_binary_packets_are_reported_as_binary(tmp_path):
    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    packets = b"".join(witmotion_packet(0x51 + k % 3, (k, 10 * k, 2048, 3000)) for k in range(300))
    with SerialImu(dev.link) as imu:
        for i in range(0, len(packets), 66):   # 6 packets every 20 ms
            os.write(dev.master, packets[i:i + 66])
            time.sleep(0.02)
            h = imu.health()["imu"]
            if h.diagnosis:
                break
        health, _ = wait_diagnosis(imu, HANG_S)
    dev.unplug()
    assert health.received == 0 and health.state == "no samples"
    assert "no samples: " in health.diagnosis
    assert "binary data, not the line format: 0x55-framed packets (WitMotion-style) such as '\\x55" \
        .replace("\\x55", "U") in health.diagnosis


@pytest.mark.parametrize("lines, reason", [
    (["Initializing I2C devices...\n", "Testing device connections...\n"] * 60, "(no numbers): the lines carry no numbers"),
    (["ERR: IMU not found\n"] * 60, "the device reports 'ERR: IMU not found'"),
])
def test_text_that_is_no_sample_is_diagnosed(tmp_path, lines, reason):
    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    with SerialImu(dev.link) as imu:
        writer = threading.Thread(target=stream_lines, args=(dev, lines, 40.0, 1))
        writer.start()
        health, _ = wait_diagnosis(imu, HANG_S)
        writer.join()
    dev.unplug()
    assert health.state == "no samples" and health.received == 0
    assert reason in health.diagnosis


def test_bytes_waiting_at_open_are_cleared_and_the_first_line_after_is_data(tmp_path):
    """A board that starts 1.5 s after the port opens (the reset that opening causes), 500
    lines at 200 Hz with malformed lines mixed in: all of them arrive."""
    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    dev.write("0.5,-1.25,3\n7,8")   # waiting before the open: cleared, never counted
    imu = SerialImu(dev.link)
    imu.connect()
    imu.start()
    time.sleep(1.5)
    n, lines = 500, []
    for k in range(n):
        lines.append(sample_line(k))
        if k % 97 == 5:
            lines.append(MALFORMED[k % len(MALFORMED)])
    writer = threading.Thread(target=stream_lines, args=(dev, lines, 200.0 * len(lines) / n))
    writer.start()
    values = collect(imu, n)
    writer.join()
    assert wait_for(lambda: imu.health()["imu"].malformed == len(lines) - n)
    health = imu.health()["imu"]
    imu.stop()
    imu.disconnect()
    dev.unplug()
    assert [check_sample(row) for row in values] == list(range(n))
    assert health.received == n and health.malformed == len(lines) - n


def record_while(tmp_path, sender, duration: float) -> int:
    """`c3t record` from a pty device for `duration` s while `sender(dev, stop)` writes to it;
    returns the command's exit code."""
    from c3t.app.cli import main

    dev = FakeDevice(str(tmp_path / "tty"))
    dev.plug()
    stop = threading.Event()
    writer = threading.Thread(target=sender, args=(dev, stop))
    writer.start()
    try:
        return main(["record", "--imu", f"serial:{dev.link}", "--duration", str(duration),
                     "--out", str(tmp_path / "s"), "--quiet"])
    finally:
        stop.set()
        writer.join()
        dev.unplug()


def test_record_of_a_board_that_sends_bytes_but_no_samples_fails_with_the_diagnosis(tmp_path, capsys):
    """`c3t record` from a board at the wrong baud rate: a non-zero exit and the diagnosis."""
    def garbage(dev, stop):
        while not stop.is_set():
            dev.write("\xe3\x9f\xfe\x81" * 5)
            time.sleep(0.02)

    code = record_while(tmp_path, garbage, 2.5)
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: imu recorded no samples: serial:{tmp_path / 'tty'}" in err
    assert "no samples: " in err and "bytes arrive but are not text" in err and "c3t probe SPEC" in err


def test_record_of_label_prefixed_lines_records_them(tmp_path, capsys):
    from c3t.core.session.format import Session

    code = record_while(tmp_path, lambda dev, stop: stream_lines(dev, [mpu6050_raw(k) for k in range(150)], 50.0, 1), 4)
    assert code == 0, capsys.readouterr().err
    session = Session(tmp_path / "s")
    assert session.info()["streams"]["imu"]["samples"] >= 100
