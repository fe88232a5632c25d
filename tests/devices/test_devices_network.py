"""tcp:/udp: sources on loopback with real sockets: phones (HyperIMU-style SI lines), boards serving
lines, one sender per source, stalls, floods, huge lines and the diagnosis when nothing usable comes."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.core.streams.units import RAD_TO_DEG
from c3t.core.streams.units import STANDARD_GRAVITY as G
from c3t.devices.network import MAX_BATCHES
from c3t.devices.spec import open_source
from tests.conftest import HANG_S, wait_until
from tests.devices.test_devices_serial import collect

N = 300


def phone_line(k: int) -> bytes:
    """A HyperIMU-style CSV line: ms timestamp, accelerometer m/s^2 (gravity on z), gyroscope rad/s."""
    return f"{1000 + 10 * k},{0.01 * k:.2f},-0.20,9.81,{(k % 7) * 0.1:.1f},0.05,-0.30\n".encode()


def phone_expected(k: int) -> list[float]:
    return [0.01 * k / G, -0.2 / G, 9.81 / G, (k % 7) * 0.1 * RAD_TO_DEG, 0.05 * RAD_TO_DEG, -0.3 * RAD_TO_DEG]


def paced(send, lines, hz: float = 100.0) -> threading.Thread:
    """Send `lines` at `hz` on the sender's own schedule (a late line does not delay the next)."""
    def run():
        start = time.monotonic()
        for k, line in enumerate(lines):
            send(line)
            time.sleep(max(0.0, start + (k + 1) / hz - time.monotonic()))
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_phone_connecting_to_tcp_port_is_recorded_in_g_and_deg_per_s():
    with open_source("tcp:0") as src:
        assert "send to" in src.address_text and str(src.config.port) in src.address_text
        phone = socket.create_connection(("127.0.0.1", src.config.port))
        sender = paced(phone.sendall, [phone_line(k) for k in range(N)])
        values = collect(src, N)
        sender.join()
        h = wait_until(lambda: (h := src.health()["imu"]).received == N and h, what="every sample")
        phone.close()
    np.testing.assert_allclose(values, [phone_expected(k) for k in range(N)], rtol=1e-5)
    assert h.units == ["g"] * 3 + ["deg/s"] * 3 and "m/s^2" in h.units_note
    assert h.nominal_hz == 100 and h.malformed == 0 and src.layout.leading == "timestamp"


def test_tcp_connect_reads_a_board_with_unit_text_and_reconnects_when_it_restarts():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    lines = [f"{(k % 4) * 10 - 15} mg, -20 mg, 1000 mg, {k % 5} dps, 2 dps, -3 dps\n".encode() for k in range(200)]

    def board():
        for half in (lines[:100], lines[100:]):     # serves half, restarts (closes), serves the rest
            conn, _ = server.accept()
            paced(conn.sendall, half).join()
            time.sleep(0.2)
            conn.close()

    thread = threading.Thread(target=board)
    thread.start()
    with open_source(f"tcp:127.0.0.1:{port}?reconnect_interval=0.1") as src:
        values = collect(src, 200)
        thread.join()
        h = wait_until(lambda: (h := src.health()["imu"]).received == 200 and h, what="every sample")
    server.close()
    np.testing.assert_allclose(values, [[(k % 4) * 0.01 - 0.015, -0.02, 1.0, k % 5, 2, -3] for k in range(200)], rtol=1e-5)
    assert h.units == ["g"] * 3 + ["deg/s"] * 3 and h.connects >= 2 and len(h.gaps) >= 1   # (the server socket accepts again after the second close)


def test_udp_takes_one_sender_and_refuses_another():
    with open_source("udp:0") as src:
        phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind(("127.0.0.2", 0))
        target = ("127.0.0.1", src.config.port)
        sender = paced(lambda line: phone.sendto(line.rstrip(b"\n"), target), [phone_line(k) for k in range(N)])
        wait_until(lambda: src.health()["imu"].bytes_received > 0, what="the phone's first datagram")   # the phone is the sender
        for _ in range(5):
            stranger.sendto(b"1,2,3,4,5,6,7", target)
        values = collect(src, N)
        sender.join()
        h = wait_until(lambda: (h := src.health()["imu"]).received == N and h, what="every sample")
        phone.close()
        stranger.close()
    np.testing.assert_allclose(values, [phone_expected(k) for k in range(N)], rtol=1e-5)
    assert src.refused == 5 and "127.0.0.2" in (h.last_error or "")


def test_a_second_tcp_sender_is_refused_and_a_stalled_one_is_cut_off():
    with open_source("tcp:0?idle_timeout=0.5") as src:
        port = src.config.port
        first = socket.create_connection(("127.0.0.1", port))
        first.sendall(b"".join(phone_line(k) for k in range(50)))
        wait_until(lambda: src.health()["imu"].lines_received == 50, what="the first sender's lines")
        second = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        second.settimeout(HANG_S)
        assert second.recv(10) == b""               # refused: closed at once
        assert src.refused == 1
        # the first sender stalls: cut off after idle_timeout, so another sender can connect
        wait_until(lambda: "sent nothing for 0.5 s" in (src.health()["imu"].last_error or ""),
                   what="the stalled sender cut off")
        third = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        third.sendall(b"".join(phone_line(k) for k in range(50, 100)))
        wait_until(lambda: src.health()["imu"].received == 100, what="the next sender's samples")
        for s in (first, second, third):
            s.close()
    assert src.health()["imu"].connects == 2


@pytest.mark.parametrize("what, payload, expect", [
    ("nobody connects (wrong port in the phone)", None, "no sender has connected"),
    ("binary bytes (wrong format)", bytes(range(256)) * 8, "no samples"),
    ("lines without numbers", b"hello phone\n" * 40, "no numbers"),
    ("values without line ends", b"0.1,0.2,9.8,0,0,0 " * 20, "no line end"),
])
def test_nothing_usable_is_diagnosed(what, payload, expect):
    with open_source("tcp:0") as src:
        conn = None
        if payload is not None:
            conn = socket.create_connection(("127.0.0.1", src.config.port))
            conn.sendall(payload)
        h = wait_until(lambda: (h := src.health()["imu"]).diagnosis and h, what=f"a diagnosis for {what}")
        if conn is not None:
            conn.close()
    assert expect in h.diagnosis and h.state == "no samples"


def test_raw_sensor_counts_are_said_to_be_in_unknown_units():
    with open_source("tcp:0") as src:
        conn = socket.create_connection(("127.0.0.1", src.config.port))
        paced(conn.sendall, [f"-1787,-511,15147,{k % 9},212,-183\n".encode() for k in range(150)]).join()
        h = wait_until(lambda: (h := src.health()["imu"]).units_note and h, what="a note on the units")
        conn.close()
    assert "neither about 1 (g) nor about 9.8" in h.units_note and h.units[:3] == ["raw"] * 3


def test_declared_units_that_contradict_the_data_are_said():
    with open_source("tcp:0?units=g") as src:
        conn = socket.create_connection(("127.0.0.1", src.config.port))
        paced(conn.sendall, [phone_line(k) for k in range(150)]).join()
        h = wait_until(lambda: (h := src.health()["imu"]).units_note and h, what="a note on the units")
        values = collect(src, 150)
        conn.close()
    assert "units=g was set" in h.units_note and "units=si" in h.units_note
    np.testing.assert_allclose(values[:, 2], 9.81, rtol=1e-6)       # as declared: not converted


def test_huge_lines_and_floods_neither_crash_nor_grow_memory():
    with open_source("tcp:0?max_bytes_per_s=500000&channels=6&rate_hz=100&leading=timestamp&time_scale=0.001") as src:
        conn = socket.create_connection(("127.0.0.1", src.config.port))
        conn.sendall(b"9" * 400_000)                                # one "line" of 400 kB, then a newline
        conn.sendall(b"\n" + b"".join(phone_line(k) for k in range(N)))
        wait_until(lambda: src.health()["imu"].received == N, what="the good lines after the huge one")
        assert src.health()["imu"].malformed >= 1
        flood = b"".join(phone_line(k) for k in range(20_000))      # ~ 0.7 MB as fast as the socket takes it
        conn.sendall(flood)
        wait_until(lambda: (h := src.health()["imu"]).last_error and "flood" in h.last_error,
                       what="the flood said")
        assert src.running and len(src._queue._items) <= MAX_BATCHES
        conn.close()


def test_a_taken_port_is_a_clear_error():
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen(1)
    try:
        with pytest.raises(C3tError, match="cannot listen on .* choose another port"):
            open_source(f"tcp:{holder.getsockname()[1]}").connect()
    finally:
        holder.close()
    with pytest.raises(C3tError, match="not a port number"):
        open_source("udp:phone")


def test_probe_shows_where_to_send_and_the_units():
    from c3t.devices.probe import probe

    src = open_source("udp:0")
    src.connect()
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = paced(lambda line: phone.sendto(line, ("127.0.0.1", src.config.port)), [phone_line(k) for k in range(150)])
    report = probe("udp:0", seconds=3.0, source=src)
    sender.join()
    phone.close()
    text = report.text()
    assert "on the phone, send to" in text and "units: recorded in g, g, g, deg/s, deg/s, deg/s" in text
    assert "read as m/s^2" in text and report.samples > 0


@pytest.mark.parametrize("spec", ["tcp:0", "udp:0"])
def test_hyperimu_packets_with_a_mac_address_and_hash_line_ends(spec):
    """HyperIMU (HIMUServer's README): a timestamp and the phone's MAC address before the sensors'
    values, and '#' as the line end when so configured."""
    def packet(k: int) -> bytes:
        return phone_line(k).rstrip(b"\n").replace(b",", b",a4:5e:60:e2:1b:07,", 1) + b"#"

    with open_source(spec) as src:
        target = ("127.0.0.1", src.config.port)
        if spec.startswith("udp"):
            phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            send = lambda data: phone.sendto(data, target)
        else:
            phone = socket.create_connection(target)
            send = phone.sendall
        paced(send, [packet(k) for k in range(N)]).join()
        values = collect(src, N)
        h = wait_until(lambda: (h := src.health()["imu"]).received == N and h, what="every sample")
        phone.close()
    np.testing.assert_allclose(values, [phone_expected(k) for k in range(N)], rtol=1e-5)
    assert h.channels == 6 and src.layout.leading == "timestamp" and h.malformed == 0
