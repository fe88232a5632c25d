"""`c3t probe SPEC` on a pseudo-terminal in each line format, on garbage, and on a video file."""
from __future__ import annotations

import os
import re
import threading
import time
import tty

import numpy as np
import pytest

from c3t.app.cli import main
from tests.conftest import wait_until
from tests.core.model.test_predictor import c3t_folder  # noqa: F401  (the fixture: a small exported C3T model)


class Board:
    """A pty printing `line(k)` at `rate` Hz until stopped (raw bytes with `raw=True`)."""

    def __init__(self, line, rate: float = 50.0):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.line, self.rate = line, rate
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        k = 0
        t0 = time.monotonic()
        while not self.stop.is_set():
            data = self.line(k)
            os.write(self.master, data if isinstance(data, bytes) else data.encode())
            k += 1
            time.sleep(max(0.0, t0 + k / self.rate - time.monotonic()))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        os.close(self.master)
        os.close(self.slave)


FORMATS = {
    "plain": (lambda k: f"{k % 5 * 0.1:.1f},-0.98,0.12,1.5,-0.3,0.2\n", "6 channels, no leading column, 50 Hz"),
    "timestamped": (lambda k: f"{1000 + 20 * k},{k % 5 * 0.1:.1f},-0.98,0.12\r\n",
                    "3 channels, a leading timestamp (0.001 s per unit), 50 Hz"),
    "label-prefixed": (lambda k: f"a/g:\t{-1787 + k * 37 % 101}\t-511\t15147\t-263\t212\t-183\r\n",
                       "6 channels, no leading column, 50 Hz"),
    "key:value": (lambda k: f"ax:{k % 5 * 0.1:.1f},ay:-0.98,az:0.12,gx:1.5,gy:-0.3,gz:0.2\r",
                  "6 channels (acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z), no leading column, 50 Hz"),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_probe_shows_the_format_of_each_line_format(name, capsys):
    line, expected = FORMATS[name]
    with Board(line) as board:
        code = main(["probe", f"serial:{board.port}", "--seconds", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"probe serial:{board.port} (imu) for 2.0 s" in out
    assert f"  format: {expected}" in out
    assert "  first lines:\n    " in out and "  diagnosis: ok" in out
    samples = int(out.split("  samples: ")[1].split()[0])
    assert samples >= 40


def test_probe_diagnoses_a_wrong_baud_rate(capsys):
    rng = np.random.default_rng(0)
    with Board(lambda k: bytes(rng.integers(0x80, 0x100, 10, dtype=np.uint8)), rate=50) as board:
        code = main(["probe", f"serial:{board.port}?baud=9600", "--seconds", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "  samples: 0" in out
    assert "  diagnosis: serial:" in out and "no samples: " in out
    assert "bytes arrive but are not text" in out and "opened at 9600 baud" in out


def test_probe_reports_binary_packets_and_counts_their_lines_as_rejected(capsys):
    """WitMotion-style 0x55 packets at 100 Hz: the 0x0a/0x0d bytes in them make 'lines', each rejected."""
    def packet(k: int) -> bytes:
        body = bytes([0x55, 0x51 + k % 3, k % 256, 0, 0x0a, 0, 0xb8, 0x0b, 0x0d, 0])
        return body + bytes([sum(body) & 0xFF])

    with Board(packet, rate=100) as board:
        code = main(["probe", f"serial:{board.port}", "--seconds", "2"])
    out = capsys.readouterr().out
    assert code == 1 and "  samples: 0" in out
    received = re.search(r"  received: (\d+) bytes, (\d+) lines, (\d+) rejected", out)
    assert received and int(received[1]) > 1000 and int(received[2]) > 100 and received[2] == received[3], out
    assert "binary data, not the line format: 0x55-framed packets (WitMotion-style) such as 'U" in out


def test_probe_a_video_file(tmp_path, capsys):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    code = main(["probe", f"camera:{path}", "--seconds", "1.5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "  frame size: 64x48, nominal 20 fps" in out and "  frames: 20 at " in out
    assert "  diagnosis: ok (last message: video" in out


def test_probe_of_a_missing_device_is_a_clear_error(tmp_path, capsys):
    assert main(["probe", f"serial:{tmp_path / 'ttyNONE'}", "--seconds", "0.5"]) == 2
    assert "cannot open serial port" in capsys.readouterr().err


def test_the_live_view_and_the_device_table_show_the_diagnosis(qtbot):
    """The GUI's device table shows a silent board's state and diagnosis, as health() gives them."""
    from c3t.app.gui.devices import DevicesPanel
    from c3t.app.runtime.live import LivePipeline

    rng = np.random.default_rng(0)
    with Board(lambda k: bytes(rng.integers(0x80, 0x100, 10, dtype=np.uint8)), rate=50) as board:
        live = LivePipeline()
        live.connect(imu=f"serial:{board.port}")
        live.start()
        try:
            wait_until(lambda: getattr(live.view().devices.get("imu"), "state", None) == "no samples",
                       what="the device row's 'no samples'")
            status = live.view().devices
        finally:
            live.stop()
            live.disconnect()
    assert status["imu"].state == "no samples"
    assert "no samples: " in status["imu"].last_error and "not text" in status["imu"].last_error
    panel = DevicesPanel()
    qtbot.addWidget(panel)
    panel.show_status(status)
    cells = [panel.table.item(0, c).text() for c in range(panel.table.columnCount())]
    assert "no samples" in cells and status["imu"].last_error in cells


def test_c3t_live_says_why_a_board_gives_no_samples(c3t_folder, capsys):
    """`c3t live` from a board at the wrong baud rate: the diagnosis on stderr within seconds, and
    after NO_DATA_S (10 s) without a prediction an error exit with it."""
    rng = np.random.default_rng(0)
    with Board(lambda k: bytes(rng.integers(0x80, 0x100, 10, dtype=np.uint8)), rate=50) as board:
        code = main(["live", "--model", str(c3t_folder), "--imu", f"serial:{board.port}", "--seconds", "30"])
    err = capsys.readouterr().err
    assert code == 2, code      # an error exit before the 30 s were up (not the end of --seconds: exit 0)
    assert f"imu: serial:{board.port}: no samples: " in err and "bytes arrive but are not text" in err
    assert f"error: serial:{board.port}: no samples: " in err
