"""Phones as the IMU, on loopback: a real HTTP client posting Sensor Logger's JSON to http:PORT,
and a small local HTTP server answering phyphox's remote-access API for phyphox:HOST:PORT."""
from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from c3t.core.streams.units import RAD_TO_DEG
from c3t.core.streams.units import STANDARD_GRAVITY as G
from c3t.devices.phone import MAX_CONNECTIONS
from c3t.devices.spec import open_source
from tests.conftest import wait_until
from tests.devices.test_devices_serial import collect


def collect_timed(src, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(t_device, values) of the first `n` samples (waits for them; the timeout only ends a hang)."""
    batches = []

    def enough() -> bool:
        batches.extend(src.read(0.05))
        return sum(map(len, batches)) >= n
    wait_until(enough, what=f"{n} samples")
    return np.concatenate([b.t_device for b in batches]), np.concatenate([b.values for b in batches])

T0_NS = 1_700_000_000_000_000_000      # Sensor Logger's time: UTC epoch nanoseconds
HZ, PER_PUSH, PUSHES = 100, 20, 30     # 600 samples in pushes of 0.2 s


def acc(j: int) -> list[float]:
    """Acceleration without gravity (m/s^2), as Sensor Logger's "accelerometer" sends it."""
    return [0.01 * (j % 50), -0.2, 0.1 * np.sin(j / 10)]


def gyro(j: int) -> list[float]:
    return [0.5 * np.cos(j / 7), 0.0, -0.25]          # rad/s


GRAVITY = [0.0, 0.0, 9.80665]


def push_body(i: int, device: str = "phone-1", sensors=("accelerometer", "gravity", "gyroscope")) -> bytes:
    payload = []
    for j in range(i * PER_PUSH, (i + 1) * PER_PUSH):
        t = T0_NS + j * 1_000_000_000 // HZ
        values = {"accelerometer": acc(j), "gravity": GRAVITY, "gyroscope": gyro(j),
                  "totalacceleration": list(np.add(acc(j), GRAVITY))}
        for k, name in enumerate(sensors):      # each sensor stamps its own (slightly later) time
            x, y, z = values[name]
            payload.append({"name": name, "time": t + 1000 * k, "values": {"x": x, "y": y, "z": z}})
    payload.append({"name": "battery", "time": T0_NS, "values": {"batteryLevel": 0.8}})
    return json.dumps({"messageId": i, "sessionId": "s1", "deviceId": device, "payload": payload}).encode()


def post(port: int, body: bytes, query: str = "") -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/{query}", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def post_or_refused(port: int, body: bytes) -> int | None:
    """post(), or None where the server closed the connection unanswered (it does so while every
    request slot is still held by a stalled sender)."""
    try:
        return post(port, body)
    except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
        return None


def expected(n: int) -> np.ndarray:
    return np.array([list(np.add(acc(j), GRAVITY) / G) + list(np.multiply(gyro(j), RAD_TO_DEG)) for j in range(n)])


@pytest.mark.parametrize("sensors", [("accelerometer", "gravity", "gyroscope"), ("totalacceleration", "gyroscope")])
def test_sensor_logger_pushes_become_one_6_channel_stream_with_gravity(sensors):
    with open_source("http:0?token=s3cret") as src:
        assert "?token=s3cret" in src.url and "Sensor Logger" in src.address_text
        for i in range(PUSHES):
            assert post(src.config.port, push_body(i, sensors=sensors), "?token=s3cret") == 200
        n = PUSHES * PER_PUSH
        values = collect(src, n)
        h = src.health()["imu"]
    # the gyroscope is interpolated to the accelerometer's times, stamped 1-2 us before its own
    np.testing.assert_allclose(values, expected(len(values)), rtol=1e-5, atol=2e-3)
    assert len(values) >= 0.99 * n and h.received == len(values) and h.nominal_hz == HZ
    assert h.units == ["g"] * 3 + ["deg/s"] * 3 and h.channel_names[0] == "acc_x"


def test_device_times_are_the_phones_nanosecond_clock():
    with open_source("http:0") as src:
        for i in range(3):
            post(src.config.port, push_body(i))
        t, _ = collect_timed(src, 3 * PER_PUSH - 1)
    np.testing.assert_allclose(t - T0_NS * 1e-9, np.arange(len(t)) / HZ, atol=1e-6)


def test_accelerometer_without_gravity_is_said():
    with open_source("http:0") as src:
        post(src.config.port, push_body(0, sensors=("accelerometer", "gyroscope")))
        h = wait_until(lambda: (h := src.health()["imu"]).units_note and h, what="a note")
    assert "WITHOUT gravity" in h.units_note and "turn on Gravity" in h.units_note


def test_wrong_token_other_phones_malformed_and_huge_pushes_are_refused_and_counted():
    with open_source("http:0?token=s3cret&max_body=100000") as src:
        port = src.config.port
        assert post(port, push_body(0), "?token=wrong") == 403
        assert post(port, push_body(0)) == 403
        assert post(port, push_body(0), "?token=s3cret") == 200
        assert post(port, push_body(1, device="phone-2"), "?token=s3cret") == 409
        assert post(port, b"{not json", "?token=s3cret") == 400
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.putrequest("POST", "/?token=s3cret")
        conn.putheader("Content-Length", str(10**9))
        conn.endheaders()                                   # the body never comes: refused unread
        assert conn.getresponse().status == 413
        conn.close()
        assert post(port, push_body(1), "?token=s3cret") == 200     # still serving
        h = src.health()["imu"]
        assert src.refused == 5 and h.malformed == 1 and "refused" in h.last_error


def test_stalled_connections_cannot_block_pushes_for_ever():
    with open_source("http:0") as src:
        port = src.config.port
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS + 2)]
        for s in stalled:
            s.sendall(b"POST / HTTP/1.1\r\n")                # and then nothing
        wait_until(lambda: src.refused >= 2, what="connections over the limit refused")
        for s in stalled:
            s.close()
        wait_until(lambda: post_or_refused(port, push_body(0)) == 200, what="a push after the stall")
        assert src.health()["imu"].received >= PER_PUSH - 1


@pytest.mark.parametrize("body, expect", [
    (None, "no push arrived"),
    (json.dumps({"messageId": 0, "sessionId": "s", "deviceId": "d", "payload": [
        {"name": "location", "time": T0_NS, "values": {"latitude": 1.0}}]}).encode(), "carry no accelerometer"),
])
def test_nothing_usable_is_diagnosed(body, expect):
    with open_source("http:0") as src:
        if body is not None:
            post(src.config.port, body)
        h = wait_until(lambda: (h := src.health()["imu"]).diagnosis and h, what="a diagnosis")
    assert expect in h.diagnosis and h.state == "no samples"


# -- phyphox --------------------------------------------------------------------------------
class FakePhyphox:
    """phyphox's remote access on loopback: /control?cmd=start starts the experiment; /get returns
    the buffers (acc*, gyr* at 100 Hz in m/s^2 and rad/s, times in seconds since the start) with the
    wiki's threshold syntax: `acc_time=T` / `accX=T|acc_time` give the values after T, a bare name
    only the newest."""

    def __init__(self, buffers=("acc", "gyr"), measuring: bool = True):
        self.buffers, self.measuring, self.start = buffers, measuring, None
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/control":
                    fake.start = fake.start or time.monotonic()
                    body = {"result": True}
                else:
                    body = fake.get(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def value(name: str, k: int) -> float:
        t = k / HZ
        return {"acc_time": t, "accX": 0.3 * np.sin(k / 9), "accY": 0.0, "accZ": 9.80665,
                "gyr_time": t, "gyrX": 0.1, "gyrY": -0.2 * np.cos(k / 5), "gyrZ": 0.0}[name]

    def get(self, query) -> dict:
        n = int((time.monotonic() - self.start) * HZ) if self.start and self.measuring else 0
        out = {}
        for name, arg in query:
            if not name.startswith(self.buffers):
                continue
            since = float(arg.split("|")[0]) if arg else None
            ks = range(n) if since is not None else range(max(0, n - 1), n)
            ks = [k for k in ks if since is None or k / HZ > since]
            out[name] = {"size": 0, "updateMode": "partial", "buffer": [self.value(name, k) for k in ks]}
        return {"buffer": out, "status": {"session": "x", "measuring": self.measuring, "timedRun": False}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_phyphox_is_polled_into_a_6_channel_stream():
    phone = FakePhyphox()
    try:
        with open_source(f"phyphox:127.0.0.1:{phone.port}?poll_s=0.05") as src:
            t, values = collect_timed(src, 200)
            h = src.health()["imu"]
    finally:
        phone.close()
    ks = np.round(t * HZ).astype(int)                  # acc_time: the experiment's seconds
    assert np.array_equal(ks, np.arange(ks[0], ks[0] + len(ks)))        # none lost after the first poll
    assert h.units == ["g"] * 3 + ["deg/s"] * 3 and h.nominal_hz == HZ
    want = [[FakePhyphox.value(n, k) for n in ("accX", "accY", "accZ", "gyrX", "gyrY", "gyrZ")] for k in ks]
    np.testing.assert_allclose(values, np.array(want) * ([1 / G] * 3 + [RAD_TO_DEG] * 3), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("buffers, measuring, expect", [
    (("acc", "gyr"), False, "press play"),
    (("lux",), True, "no buffers accX"),
])
def test_phyphox_that_sends_nothing_usable_is_diagnosed(buffers, measuring, expect):
    phone = FakePhyphox(buffers=buffers, measuring=measuring)
    try:
        with open_source(f"phyphox:127.0.0.1:{phone.port}?poll_s=0.05") as src:
            h = wait_until(lambda: (h := src.health()["imu"]).diagnosis and h, what="a diagnosis")
    finally:
        phone.close()
    assert expect in h.diagnosis


def test_phyphox_at_a_wrong_address_is_a_clear_error():
    from c3t.core.errors import C3tError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                    # nothing listens there
    with pytest.raises(C3tError, match="Allow remote access"):
        open_source(f"phyphox:127.0.0.1:{port}?timeout_s=2").connect()


def test_a_phone_that_stops_pushing_is_an_outage_then_a_gap():
    with open_source("http:0") as src:
        post(src.config.port, push_body(0))
        wait_until(lambda: src.health()["imu"].state == "reconnecting", what="the silence seen as an outage")
        assert "nothing new from the phone" in src.health()["imu"].last_error
        post(src.config.port, push_body(1))
        h = wait_until(lambda: (h := src.health()["imu"]).state == "connected" and h, what="the phone back")
    assert len(h.gaps) == 1 and h.received >= 2 * PER_PUSH - 1


def test_a_push_flood_is_refused_and_waiting_samples_are_capped():
    from c3t.devices.phone import MAX_PENDING, SensorJoin

    with open_source("http:0?max_bytes_per_s=1000") as src:
        assert post(src.config.port, push_body(0)) == 429           # ~6 kB: over a second's budget, refused unread
        assert "a flood?" in src.health()["imu"].last_error and src.health()["imu"].received == 0
    join = SensorJoin(["accelerometer", "gyroscope"])
    join.add("accelerometer", np.arange(MAX_PENDING + 1000) * 1e-6, np.zeros((MAX_PENDING + 1000, 3)))
    t, _ = join.take()                                   # no gyroscope ever: nothing to emit, nothing kept beyond the cap
    assert len(t) == 0 and join.dropped == 1000 and len(join._t["accelerometer"]) == MAX_PENDING


def test_the_token_is_not_shown_or_recorded():
    from c3t.core.session.writer import jsonable

    with open_source("http:0?token=s3cret") as src:
        assert post(src.config.port, push_body(0), "?token=nope") == 403
        h = src.health()["imu"]
        assert src.spec == "http:0?token=***" and "s3cret" not in (h.last_error or "") + (h.diagnosis or "")
        assert jsonable(src.config)["token"] == "(hidden)" and "?token=s3cret" in src.url   # the phone needs it
