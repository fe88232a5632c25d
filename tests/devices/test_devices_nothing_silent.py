"""Issue 31 through the real serial adapter (pty + pyserial): values that are not numbers,
decimal commas, foreign device clocks, a port another program holds."""
from __future__ import annotations

import os

import numpy as np
import pytest

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.devices.serial_imu import SerialImu, SerialImuConfig
from tests.conftest import wait_until
from tests.devices.test_probe import Board


def read_samples(imu: SerialImu, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, t_device) of the first `n` samples (waiting as long as a loaded machine needs)."""
    batches = []
    wait_until(lambda: (batches.extend(imu.read(timeout=0.05)) or sum(map(len, batches)) >= n), what=f"{n} samples")
    values = np.concatenate([b.values for b in batches])[:n]
    t_device = [b.t_device for b in batches]
    return values, (np.concatenate(t_device)[:n] if all(t is not None for t in t_device) else None)


# -- 1. non-numbers in number slots ------------------------------------------------------------
NON_NUMBERS = ["nan", "NaN", "-nan", "inf", "-inf", "ovf", "---", "", "null", "N/A", "None", "?"]


@pytest.mark.parametrize("word", NON_NUMBERS)
def test_a_failed_gyro_printing_non_numbers_keeps_six_channels_with_missing_values(word):
    """`0.01,-0.98,0.12,nan,nan,nan` (a gyro that failed): 6 channels, the gyro's values missing
    (nan) in their own channels, counted and said in health()."""
    line = lambda k: f"{k % 7 * 0.01:.2f},-0.98,0.12,{word},{word},{word}\n"
    with Board(line) as board, SerialImu(SerialImuConfig(board.port)) as imu:
        values, _ = read_samples(imu, 60)
        health = wait_until(lambda: (h := imu.health()["imu"]).warning and h, what="the warning")
    assert imu.layout.channels == 6 and values.shape == (60, 6)
    np.testing.assert_allclose(values[:, 1:3], [[-0.98, 0.12]] * 60, rtol=1e-6)
    assert np.isnan(values[:, 3:]).all() and np.isfinite(values[:, :3]).all()
    assert health.state == "connected" and health.malformed == 0 and health.missing >= 3 * 60
    assert "channel(s) ch3, ch4, ch5" in health.warning and "kept as missing values (nan)" in health.warning
    assert repr(word or "(empty)") in health.warning


def test_non_numbers_in_key_value_lines_keep_their_channel_names():
    line = lambda k: f"ax:{k % 5 * 0.1:.1f},ay:-0.98,az:0.12,gx:ovf,gy:1.5,gz:NaN\r\n"
    with Board(line) as board, SerialImu(SerialImuConfig(board.port)) as imu:
        values, _ = read_samples(imu, 40)
        health = wait_until(lambda: (h := imu.health()["imu"]).warning and h, what="the warning")
    assert health.channel_names == ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    assert np.isnan(values[:, [3, 5]]).all() and np.allclose(values[:, 4], 1.5)
    assert "channel(s) gyro_x, gyro_z" in health.warning


def test_a_board_printing_only_non_numbers_gives_no_samples_and_probe_says_why(capsys):
    with Board(lambda k: "nan,nan,nan,nan,nan,nan\n") as board:
        code = main(["probe", f"serial:{board.port}", "--seconds", "2"])
    out = capsys.readouterr().out
    assert code == 1 and "  samples: 0" in out
    assert "only missing values (nan) where numbers belong" in out


def test_probe_explains_missing_values(capsys):
    with Board(lambda k: f"{k % 3 * 0.1:.1f},-0.98,0.12,nan,nan,nan\n") as board:
        code = main(["probe", f"serial:{board.port}", "--seconds", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "  format: 6 channels, no leading column, 50 Hz" in out
    assert "values missing (not numbers)" in out and "  warning: serial:" in out and "ch3, ch4, ch5" in out


# -- 2. decimal commas ------------------------------------------------------------------------
@pytest.mark.parametrize("sep", [";", "\t", " ", "; "])
def test_decimal_commas_where_the_separator_makes_them_unambiguous(sep):
    """`0,01;-0,98;0,12;1,50;-0,30;0,20` (a comma-decimal locale): six values, not twelve."""
    line = lambda k: sep.join(["0,01", "-0,98", f"{k % 9},{k % 7}5", "1,50", "-0,30", "0,20"]) + "\r\n"
    with Board(line) as board, SerialImu(SerialImuConfig(board.port)) as imu:
        values, _ = read_samples(imu, 40)
        health = imu.health()["imu"]
    assert imu.layout.channels == 6 and health.malformed == 0
    np.testing.assert_allclose(values[:, [0, 1, 3, 4, 5]], [[0.01, -0.98, 1.5, -0.3, 0.2]] * 40, rtol=1e-6)
    third = values[:, 2].astype(np.float64)   # "k%9,k%7 5": one decimal number a.b5 below 9, never a*10 + b5
    assert np.all(third < 9) and np.allclose(np.rint(third * 100) % 10, 5)


def test_decimal_commas_separated_by_commas_are_said_to_be_ambiguous(capsys):
    with Board(lambda k: f"0,01,-0,98,0,{12 + k % 3}\n") as board:
        main(["probe", f"serial:{board.port}", "--seconds", "2"])
    out = capsys.readouterr().out
    assert "  note: serial:" in out and "may use a decimal comma" in out and "cannot be read unambiguously" in out


# -- 3. foreign device clocks -------------------------------------------------------------------
CLOCKS = {   # unit -> (seconds per unit, clock value of sample k at 50 Hz)
    "ns": (1e-9, lambda k: 1_234_567_890_123_456 + k * 20_000_000),            # Android SensorEvent.timestamp
    "us": (1e-6, lambda k: 4_000_000 + k * 20_000),
    "ms": (1e-3, lambda k: 1_700_000_000_000 + k * 20),                          # Unix epoch in ms
    "1/32768 s": (1 / 32768, lambda k: 100_000 + round(k * 32768 / 50)),        # an RTC's ticks
    "100 ns": (1e-7, lambda k: 638_000_000_000_000_000 + k * 200_000),          # .NET ticks
}


@pytest.mark.parametrize("unit", list(CLOCKS))
@pytest.mark.parametrize("leading", ["auto", "timestamp"])
def test_a_leading_device_clock_of_any_unit_is_a_clock_not_a_channel(unit, leading):
    scale, clock = CLOCKS[unit]
    line = lambda k: f"{clock(k)},{k % 5 * 0.1:.1f},-0.98,0.12,1.5,-0.3,0.2\n"
    with Board(line) as board, SerialImu(SerialImuConfig(board.port, leading=leading)) as imu:
        values, t_device = read_samples(imu, 40)
    layout = imu.layout
    assert layout.leading == "timestamp" and layout.channels == 6 and values.shape == (40, 6)
    assert layout.time_scale == pytest.approx(scale) and layout.rate_hz == 50
    np.testing.assert_allclose(np.diff(t_device), 0.02, rtol=1e-3)
    np.testing.assert_allclose(values[:, 1:], [[-0.98, 0.12, 1.5, -0.3, 0.2]] * 40, rtol=1e-6)


def test_a_large_rising_clock_of_an_unknown_unit_is_a_clock_not_a_channel():
    """An uptime in 10 us ticks (none of the known units), not named: still a clock, its unit measured."""
    line = lambda k: f"{5_000_000_000 + k * 2000},{k % 5 * 0.1:.1f},-0.98,0.12\n"
    with Board(line) as board, SerialImu(SerialImuConfig(board.port)) as imu:
        values, _ = read_samples(imu, 30)
        health = imu.health()["imu"]
    assert imu.layout.leading == "timestamp" and imu.layout.channels == 3 and values.shape == (30, 3)
    assert imu.layout.time_scale == pytest.approx(1e-5, rel=0.2)
    assert "unit is none of" in health.last_error


def test_a_named_timestamp_of_an_unknown_unit_is_measured_and_said():
    """A clock counting 1/5000 s (none of the known units), named with leading=timestamp."""
    line = lambda k: f"{7 + k * 100},{k % 5 * 0.1:.1f},-0.98,0.12\n"
    with Board(line) as board, SerialImu(SerialImuConfig(board.port, leading="timestamp")) as imu:
        read_samples(imu, 30)
        health = imu.health()["imu"]
    assert imu.layout.channels == 3
    assert imu.layout.time_scale == pytest.approx(1 / 5000, rel=0.2)
    assert "unit is none of" in health.last_error and "time_scale=" in health.last_error


# -- 6. a port another program holds --------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="exclusive access and /proc are POSIX")
def test_a_port_another_program_holds_is_refused_naming_the_holder():
    import serial

    with Board(lambda k: f"{k % 5 * 0.1:.1f},-0.98,0.12\n") as board:
        holder = serial.Serial(board.port, 115200, timeout=0.2, exclusive=True)   # the Arduino serial monitor
        try:
            imu = SerialImu(SerialImuConfig(board.port))
            with pytest.raises(C3tError) as err:
                imu.connect()
            got = holder.read(200)
        finally:
            holder.close()
        imu.disconnect()
        message = str(err.value)
        assert "is in use by another program" in message and f"pid {os.getpid()}" in message
        assert len(got) > 0      # the holder still gets its data
        with SerialImu(SerialImuConfig(board.port)) as imu:   # once released, c3t opens it
            values, _ = read_samples(imu, 10)
    assert values.shape == (10, 3)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the holders of a port are read from /proc")
def test_a_program_that_holds_the_port_without_a_lock_is_named():
    """A script or `cat /dev/ttyACM0` in another terminal takes no lock: c3t opens the port but says
    who else has it open (each program would get only part of the lines)."""
    import subprocess
    import sys

    holds = "import os, sys, time; os.open(sys.argv[1], os.O_RDONLY | os.O_NOCTTY); print('open', flush=True); time.sleep(120)"
    with Board(lambda k: f"{k % 5 * 0.1:.1f},-0.98,0.12\n") as board:
        other = subprocess.Popen([sys.executable, "-c", holds, board.port], stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout.readline().strip() == "open"
            with SerialImu(SerialImuConfig(board.port)) as imu:
                health = imu.health()["imu"]
        finally:
            other.kill()
            other.wait()
    assert f"the port is also open in pid {other.pid} (python" in (health.warning or ""), health
    assert health.warning == health.last_error


def test_c3t_record_says_what_was_not_numbers_and_fails_when_nothing_usable_came(tmp_path, capsys):
    """`c3t record` from a board whose gyro prints nan: recorded with the gyro missing (nan), the
    problem said at the end and kept in the session; from a board printing only nan: exit 1."""
    from c3t.core.session.format import Session

    with Board(lambda k: f"{k % 3 * 0.1:.1f},-0.98,0.12,nan,nan,nan\n") as board:
        code = main(["record", "--imu", f"serial:{board.port}", "--duration", "2.5", "--out", str(tmp_path / "a"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "problem: stream 'imu' while recording: " in err and "values were not numbers" in err
    session = Session(tmp_path / "a")
    assert np.isnan(session.imu["imu"].values[:, 3:]).all() and session.imu["imu"].values.shape[1] == 6
    assert any("ch3, ch4, ch5" in p for p in session.info()["problems"])
    with Board(lambda k: "nan,nan,nan,nan,nan,nan\n") as board:
        code = main(["record", "--imu", f"serial:{board.port}", "--duration", "2.5", "--out", str(tmp_path / "b"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "imu recorded no samples" in err and "only missing values (nan)" in err
