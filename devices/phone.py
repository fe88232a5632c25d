"""Phones as the IMU: Sensor Logger's HTTP pushes (`http:PORT`) and phyphox's remote access
(`phyphox:HOST[:PORT]`), each one 6-channel stream (acceleration in g with gravity, angular
rate in deg/s) on the phone's own clock.

Sensor Logger (awesome-sensor-logger, PUSHING.md and UNITS.md) POSTs JSON to a URL you give it,
once per batch period:

    {"messageId": 7, "sessionId": "...", "deviceId": "...",
     "payload": [{"name": "accelerometer", "time": 1698501144401773000, "values": {"x":..,"y":..,"z":..}}, ...]}

`time` is UTC epoch nanoseconds. Its "accelerometer" is acceleration *without* gravity (m/s^2);
"totalacceleration" (Android) is with gravity; "gravity" is the gravity vector (m/s^2);
"gyroscope" is rad/s. The models expect gravity (core/streams/units.py), so the acceleration
recorded is "totalacceleration" where the phone sends it, else "accelerometer" + "gravity"
(the gravity vector interpolated to the accelerometer's times), else the accelerometer alone,
said in health() (turn on Gravity in Sensor Logger). The choice is made once, on the first push
that carries an acceleration.

phyphox (phyphox.org wiki, "Remote-interface communication") serves `/get?BUFFER=...` while
remote access is on: `accX=T|acc_time` returns accX's values whose acc_time is above T, as
{"buffer": {"accX": {"buffer": [...], "size": n, "updateMode": "partial"}, ...},
 "status": {"measuring": true, ...}}. Its "Acceleration with g" experiment fills accX/accY/
accZ/acc_time (m/s^2, with gravity), "Gyroscope" gyrX/gyrY/gyrZ/gyr_time (rad/s); times are
seconds since the experiment started. Both sensors together need an experiment that records
both (the phyphox editor makes one in a minute); with the accelerometer alone the stream has 3
channels, and health() says so.

Security of the HTTP door (see also devices/network.py): the address and the URL to type into
the phone are logged; `?token=SECRET` makes every push carry the same token in its URL
(`http://PC:PORT/?token=SECRET`; others are refused with 403 and a logged reason); a body over
`max_body` bytes is refused (413) unread; at most MAX_CONNECTIONS requests are served at once,
each with a socket timeout (a stalled sender is cut off); the first phone (deviceId) owns the
source unless `sender=any`.
"""
from __future__ import annotations

import hmac
import http.server
import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Batch, Health
from c3t.core.streams.units import UnitPlan, plan_units
from c3t.devices.base import StreamHealth, ThreadedSource, deliver
from c3t.devices.lineformat import snap_rate
from c3t.devices.network import DIAGNOSE_AFTER_S, MAX_BATCHES, ByteBudget, where_to_send

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 4          # HTTP requests served at once; more are closed at once
REQUEST_TIMEOUT_S = 5.0      # a sender that stalls mid-request is cut off after this
MAX_PENDING_S = 5.0          # seconds of acceleration kept waiting for the gyroscope to catch up
MAX_PENDING = 50_000         # samples of one sensor kept waiting at most (whatever their times say)
SILENT_S = 3.0               # seconds without a new sample (after some came) before it is an outage
ACC_GRAVITY = ("totalacceleration", "accelerometer+gravity", "accelerometer")
CHANNEL_NAMES = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


class SensorJoin:
    """Joins separately timed 3-axis sensors into one stream on the first sensor's times: each
    sample of the primary sensor is emitted once every other sensor has a sample at or after
    it, the others linearly interpolated to its time (np.interp per axis). Memory is bounded:
    primary samples waiting more than `max_pending_s` (a sensor that stopped) are dropped and
    counted in `dropped`."""

    def __init__(self, sensors: list[str], max_pending_s: float = MAX_PENDING_S):
        self.sensors = list(sensors)
        self.max_pending_s = max_pending_s
        self._t = {s: np.zeros(0) for s in sensors}
        self._v = {s: np.zeros((0, 3)) for s in sensors}
        self.dropped = 0

    def add(self, sensor: str, t: np.ndarray, xyz: np.ndarray) -> None:
        """Add samples of `sensor`: times (n,) in seconds, values (n, 3). Samples not after the
        last one held are ignored (a sender repeating itself)."""
        t, xyz = np.asarray(t, dtype=np.float64), np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        old = self._t[sensor]
        keep = t > old[-1] if len(old) else np.ones(len(t), dtype=bool)
        keep &= np.concatenate([[True], np.diff(t) > 0]) if len(t) else keep
        self._t[sensor] = np.concatenate([old, t[keep]])
        self._v[sensor] = np.concatenate([self._v[sensor], xyz[keep]])
        extra = len(self._t[sensor]) - MAX_PENDING
        if extra > 0:                   # a sender that floods one sensor: the oldest go, counted
            self.dropped += extra if sensor == self.sensors[0] else 0
            self._t[sensor], self._v[sensor] = self._t[sensor][extra:], self._v[sensor][extra:]

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """(t (m,), rows (m, 3 x sensors)) of the primary samples every sensor now covers."""
        first = self.sensors[0]
        t = self._t[first]
        ends = [self._t[s][-1] if len(self._t[s]) else -np.inf for s in self.sensors[1:]]
        ready = t <= min(ends) if ends else np.ones(len(t), dtype=bool)
        if len(t) and not ready.all() and t[-1] - t[~ready][0] > self.max_pending_s:
            stale = t < t[-1] - self.max_pending_s
            self.dropped += int(stale.sum())
            self._t[first], self._v[first] = t[~stale], self._v[first][~stale]
            return self.take()
        n = int(ready.sum())
        out_t, cols = t[:n], [self._v[first][:n]]
        for s in self.sensors[1:]:
            ts, vs = self._t[s], self._v[s]
            cols.append(np.column_stack([np.interp(out_t, ts, vs[:, k]) for k in range(3)]) if n else np.zeros((0, 3)))
            if n:   # keep what later samples interpolate from: the last one at or before the emitted time
                cut = max(0, int(np.searchsorted(ts, out_t[-1], side="right")) - 1)
                self._t[s], self._v[s] = ts[cut:], vs[cut:]
        self._t[first], self._v[first] = t[n:], self._v[first][n:]
        return out_t, np.concatenate(cols, axis=1)


class _PhoneStream:
    """What both phone sources share: the stream's health, queue, joining, units and rate."""

    def _init_phone(self, config) -> None:
        self._health = StreamHealth(nominal_hz=config.rate_hz)
        self._init_reader(MAX_BATCHES)
        self._join: SensorJoin | None = None
        self._plan: UnitPlan | None = None
        self._note: str | None = None          # what was decided about gravity / missing sensors
        self._problem: str | None = None       # why nothing usable arrives (the diagnosis)
        self._opened_at: float | None = None
        self._last_sample_t: float | None = None

    @property
    def streams(self) -> list[str]:
        """The one IMU stream, named by `config.stream` (default "imu")."""
        return [self.config.stream]

    def _deliver(self, t_device: np.ndarray, rows: np.ndarray) -> None:
        if not len(t_device):
            return
        if self._plan is None:
            kinds = CHANNEL_NAMES[:rows.shape[1]]
            declared = "si" if self.config.units == "auto" else self.config.units
            self._plan = plan_units(rows.shape[1], kinds, declared, samples=rows, source=self.spec)
            self._health.set(channels=rows.shape[1], channel_names=kinds)
        if self.config.rate_hz is None and self._health.snapshot().nominal_hz is None and len(t_device) > 2:
            self._health.set(nominal_hz=snap_rate(1.0 / float(np.median(np.diff(t_device)))))
        now = self.config.clock()
        batch = Batch(self.config.stream, np.full(len(t_device), now), self._plan.apply(rows), t_device=t_device)
        self._last_sample_t = deliver(self._health, self._queue, batch)
        self._problem = None
        if self._join is not None and self._join.dropped:
            self._health.drop(self._join.dropped)
            self._join.dropped = 0

    def _phone_health(self, waiting: str) -> dict[str, Health]:
        """Health with the units, the notes and, while nothing usable came for DIAGNOSE_AFTER_S
        seconds, the diagnosis (`waiting`: what to say when nothing arrived at all)."""
        now = self.config.clock()
        last = self._last_sample_t
        if last is not None and now - last > SILENT_S and self._health.snapshot(now).state == "connected":
            self._health.outage_begins(last)       # the next sample ends it: a gap
            self._health.error(f"{self.spec}: nothing new from the phone for {now - last:.1f} s (recording "
                               "stopped, app in the background, or the network dropped); waiting for it")
        h = self._health.snapshot(now)
        if self._plan is not None:
            h.units = list(self._plan.units)
            h.units_note = "; ".join(n for n in (self._note, self._plan.note) if n) or None
        elif self._note:
            h.units_note = self._note
        if h.received == 0 and self._opened_at is not None and now - self._opened_at >= DIAGNOSE_AFTER_S \
                and h.state not in ("stopped", "disconnected"):
            h.diagnosed(f"{self.spec}: no samples: {self._problem or waiting}")
        return {self.config.stream: h}


# -- Sensor Logger: HTTP pushes ------------------------------------------------------------
@dataclass
class PhonePushConfig:
    """Settings of PhonePush (the http: spec's query parameters): `port` and `host` (the
    address to bind, "" = all) from the spec; times in seconds, sizes in bytes."""

    port: int
    host: str = ""
    token: str | None = None         # pushes must carry ?token=THIS in their URL (None: not asked)
    sender: str = "one"              # "one": the first phone (deviceId) owns the source; "any"
    units: str = "auto"              # auto: Sensor Logger's documented m/s^2 and rad/s; "si" or "g"
    rate_hz: float | None = None     # None: from the phone's timestamps
    max_body: int = 2_000_000        # a push larger than this is refused unread (413)
    max_bytes_per_s: int = 1_000_000   # pushes beyond this many bytes a second are refused (429); ~60 kB/s is usual
    stream: str = "imu"
    clock: Callable[[], float] = time.monotonic


class PhonePush(_PhoneStream, ThreadedSource):
    """Receives Sensor Logger's HTTP pushes on `port`; see the module docstring.

    Raises:
        C3tError: (from the constructor) an unknown sender; (from connect()) a port that cannot be bound.
    """

    def __init__(self, config: PhonePushConfig | int, **overrides):
        if not isinstance(config, PhonePushConfig):
            config = PhonePushConfig(port=int(config), **overrides)
        if config.sender not in ("one", "any"):
            raise C3tError(f"sender={config.sender!r}: use one (the first phone) or any")
        self.config = config
        self.spec = f"http:{config.host + ':' if config.host else ''}{config.port}"
        self._init_phone(config)
        self._server: http.server.ThreadingHTTPServer | None = None
        self._lock = threading.RLock()           # pushes are handled on several threads
        self._busy = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.budget = ByteBudget(config.max_bytes_per_s, config.clock)
        self._device: str | None = None
        self._last_message: int | None = None
        self._acc: str | None = None             # one of ACC_GRAVITY, once chosen
        self._join_names: list[str] = []         # the pushed sensors joined, the acceleration first
        self.refused = 0
        self.pushes = 0
        self.address_text = ""

    @property
    def url(self) -> str:
        """What to type into Sensor Logger's HTTP Push URL (the first LAN address)."""
        text = where_to_send(self.config.host, self.config.port, "http").split("send to ")[-1].split(" or ")[0]
        return text + (f"?token={self.config.token}" if self.config.token else "")

    def connect(self) -> None:
        """Bind the port and log the URL to type into the phone.

        Raises:
            C3tError: the port is taken or not allowed.
        """
        if self._server is not None:
            return
        try:
            self._server = _PushServer((self.config.host, self.config.port), self)
        except OSError as exc:
            raise C3tError(f"{self.spec}: cannot listen on port {self.config.port} ({exc}); another program "
                           "may hold it: choose another port (http:8001)") from exc
        self.config.port = self._server.server_address[1]
        self._opened_at = self.config.clock()
        self._health.set(state="connected")
        self.address_text = (f"{self.spec}: {where_to_send(self.config.host, self.config.port, 'http')}; in Sensor "
                             f"Logger: Settings > Data Streaming > HTTP Push, URL {self.url}")
        log.warning("%s", self.address_text)

    def _run(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving (pushes are answered no more); state "stopped"."""
        if self._server is not None and self.running:
            self._server.shutdown()
        self._stop_reader(2.0)
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        """stop() and close the port; "disconnected". Safe to call twice."""
        self.stop()
        if self._server is not None:
            self._server.server_close()
            self._server = None
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
        """{stream: Health}, with the diagnosis when no usable push came (see _PhoneStream)."""
        return self._phone_health(f"no push arrived ({self.address_text.split(': ', 1)[-1]}); start a recording "
                                  "in Sensor Logger with HTTP Push on and this URL")

    # -- one push (on a server thread) ---------------------------------------------------
    def refuse(self, who: str, why: str) -> None:
        """Count and log a refused push (`who`: the sender's address; `why`: the reason)."""
        with self._lock:
            self.refused += 1
            self._problem = f"pushes refused: {why}"
            self._health.error(f"{self.spec}: refused a push from {who}: {why}")
            if self.refused <= 3 or self.refused % 100 == 0:
                log.warning("%s: refused a push from %s: %s (%d refused so far)", self.spec, who, why, self.refused)

    def authorised(self, path: str) -> bool:
        """True when no token is asked or the request's URL carries the right one."""
        if self.config.token is None:
            return True
        given = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.config.token.encode())

    def push(self, body: bytes, who: str) -> tuple[int, str]:
        """Handle one push body; returns (HTTP status, reason). Never raises for bad input."""
        try:
            message = json.loads(body)
            payload = message["payload"]
            device = str(message.get("deviceId", ""))
            if not isinstance(payload, list):
                raise TypeError("payload is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            self._health.drop(1, malformed=True)
            self.refuse(who, f"not Sensor Logger's JSON ({exc!s:.80})")
            return 400, "expected Sensor Logger's JSON: {messageId, sessionId, deviceId, payload: [...]}"
        with self._lock:
            if self._device is None or self.config.sender == "any":
                self._device = device
            elif device != self._device:
                self.refuse(who, f"deviceId {device!r} is not the phone this source serves ({self._device!r}); "
                                 "one phone per source (sender=any lets another take over)")
                return 409, "another phone feeds this source"
            self.pushes += 1
            self._count_lost(message.get("messageId"))
            self._take(payload)
        return 200, "ok"

    def _count_lost(self, message_id) -> None:
        if isinstance(message_id, int):
            if self._last_message is not None and message_id > self._last_message + 1:
                self._health.error(f"{self.spec}: {message_id - self._last_message - 1} push(es) lost "
                                   f"(messageId {self._last_message} -> {message_id})")
            self._last_message = message_id

    def _take(self, payload: list) -> None:
        sensors: dict[str, list] = {}
        for entry in payload:
            try:
                name = str(entry["name"]).lower()
                v = entry["values"]
                sensors.setdefault(name, []).append((int(entry["time"]) * 1e-9, float(v["x"]), float(v["y"]), float(v["z"])))
            except (KeyError, TypeError, ValueError):
                continue          # other sensors (location, battery) have other fields
        if self._acc is None and not self._choose(sensors):
            return
        for name, rows in sensors.items():
            if name in self._join_names:
                a = np.array(rows, dtype=np.float64)
                a = a[np.argsort(a[:, 0], kind="stable")]
                self._join.add(name, a[:, 0], a[:, 1:])
        t, rows = self._join.take()
        if self._acc == "accelerometer+gravity" and len(t):
            rows = np.concatenate([rows[:, :3] + rows[:, -3:], rows[:, 3:-3]], axis=1)
        self._deliver(t, rows)

    def _choose(self, sensors: dict) -> bool:
        """Decide, on the first push with an acceleration, where gravity comes from and whether
        the gyroscope is there; False (and the diagnosis) when the push has no acceleration."""
        names = set(sensors)
        if "totalacceleration" in names:
            self._acc, first = "totalacceleration", "totalacceleration"
        elif "accelerometer" in names and "gravity" in names:
            self._acc, first = "accelerometer+gravity", "accelerometer"
        elif "accelerometer" in names:
            self._acc, first = "accelerometer", "accelerometer"
        else:
            self._problem = (f"pushes carry no accelerometer (they carry {', '.join(sorted(names)) or 'nothing usable'}); "
                             "turn on Accelerometer, Gravity and Gyroscope in Sensor Logger")
            return False
        gyro = ["gyroscope"] if "gyroscope" in names else []
        self._join_names = [first] + gyro + (["gravity"] if self._acc == "accelerometer+gravity" else [])
        self._join = SensorJoin(self._join_names)
        notes = {"accelerometer+gravity": "acceleration = accelerometer + gravity (Sensor Logger's accelerometer "
                                          "excludes gravity; the models expect it)",
                 "accelerometer": "WITHOUT gravity: Sensor Logger's accelerometer excludes it and no gravity "
                                  "or total acceleration is pushed; turn on Gravity in Sensor Logger (the models "
                                  "expect gravity)"}
        self._note = "; ".join(filter(None, [notes.get(self._acc),
                                             None if gyro else "no gyroscope pushed: 3 channels; turn on Gyroscope"]))
        if self._note:
            (log.info if self._acc != "accelerometer" and gyro else log.warning)("%s: %s", self.spec, self._note)
        return True


class _PushServer(http.server.ThreadingHTTPServer):
    """The HTTP server of one PhonePush: at most MAX_CONNECTIONS requests at once."""

    daemon_threads = True

    def __init__(self, address, source: PhonePush):
        self.source = source
        super().__init__(address, _PushHandler)

    def process_request(self, request, client_address):
        if not self.source._busy.acquire(blocking=False):
            self.source.refuse(client_address[0], f"more than {MAX_CONNECTIONS} requests at once (a flood?)")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        """A sender that vanished mid-answer (broken pipe, reset): logged, not printed."""
        log.debug("%s: request from %s ended with %r", self.source.spec, client_address[0], sys.exc_info()[1])

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.source._busy.release()


class _PushHandler(http.server.BaseHTTPRequestHandler):
    timeout = REQUEST_TIMEOUT_S            # socket timeout: a stalled sender is cut off
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # the source logs what matters
        log.debug("%s: " + format, self.client_address[0], *args)

    def _answer(self, status: int, text: str) -> None:
        body = json.dumps({"ok": status == 200, "message": text}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status != 200:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        """A browser on the phone can check the address: a short answer, nothing recorded."""
        source = self.server.source
        if not source.authorised(self.path):
            source.refuse(self.client_address[0], "wrong or missing ?token=")
            return self._answer(403, "wrong or missing ?token=")
        self._answer(200, "c3t is listening: POST Sensor Logger's JSON here")

    def do_POST(self):
        source, who = self.server.source, self.client_address[0]
        if not source.authorised(self.path):
            source.refuse(who, "wrong or missing ?token= in the push URL")
            return self._answer(403, "wrong or missing ?token=")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            source.refuse(who, "no Content-Length")
            return self._answer(411, "Content-Length required")
        if length < 0 or length > source.config.max_body:
            source.refuse(who, f"a push of {length} bytes (at most {source.config.max_body}; turn off camera "
                               "and audio in the pushes)")
            return self._answer(413, f"at most {source.config.max_body} bytes")
        with source._lock:
            within = source.budget.take(length)
        if not within:
            source.refuse(who, f"more than {source.config.max_bytes_per_s} bytes of pushes a second (a flood?)")
            return self._answer(429, "too many bytes a second")
        body = self.rfile.read(length)
        if len(body) < length:
            source.refuse(who, "the push ended early")
            return self._answer(400, "body shorter than Content-Length")
        self._answer(*source.push(body, who))


# -- phyphox: polled over HTTP -------------------------------------------------------------
@dataclass
class PhyphoxConfig:
    """Settings of Phyphox (the phyphox: spec's query parameters): `host`, `port` from the spec
    (phyphox's remote access shows them; 8080 on Android, 80 on iPhones); buffer names are
    PREFIX + X/Y/Z and PREFIX + _time; times in seconds."""

    host: str
    port: int = 8080
    acc: str = "acc"                 # accX/accY/accZ/acc_time: "Acceleration with g" (lin_acc: without g)
    gyro: str = "gyr"                # gyrX/gyrY/gyrZ/gyr_time: "Gyroscope (rotation rate)"
    units: str = "auto"              # auto: phyphox's m/s^2 and rad/s; "si" or "g"
    rate_hz: float | None = None
    poll_s: float = 0.1              # seconds between polls
    start: bool = True               # ask phyphox to start measuring (/control?cmd=start)
    timeout_s: float = 2.0           # one request's timeout
    max_body: int = 5_000_000        # a larger answer is refused (bytes)
    stream: str = "imu"
    clock: Callable[[], float] = time.monotonic


class Phyphox(_PhoneStream, ThreadedSource):
    """A phone running phyphox with remote access on, polled every `poll_s`; see the module
    docstring.

    Raises:
        C3tError: (from connect()) the phone does not answer like phyphox.
    """

    def __init__(self, config: PhyphoxConfig | str, **overrides):
        if not isinstance(config, PhyphoxConfig):
            config = PhyphoxConfig(host=config, **overrides)
        self.config = config
        self.spec = f"phyphox:{config.host}:{config.port}"
        self._init_phone(config)
        self._base = f"http://{config.host}:{config.port}"
        self._since: dict[str, float] = {}
        self._connected = False

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self._base + path, timeout=self.config.timeout_s) as r:
            body = r.read(self.config.max_body + 1)
        if len(body) > self.config.max_body:
            raise ValueError(f"an answer over {self.config.max_body} bytes")
        return json.loads(body)

    def _query(self) -> str:
        parts = []
        for prefix in (self.config.acc, self.config.gyro):
            tb = f"{prefix}_time"
            since = self._since.get(prefix)
            if since is None:       # the first poll: only the newest value of each buffer
                parts += [tb] + [f"{prefix}{a}" for a in "XYZ"]
            else:
                parts += [f"{tb}={since!r}"] + [f"{prefix}{a}={since!r}|{tb}" for a in "XYZ"]
        return "/get?" + "&".join(urllib.parse.quote(p, safe="=|_") for p in parts)

    def connect(self) -> None:
        """Ask the phone for its buffers once (and to start measuring, with `start`).

        Raises:
            C3tError: naming the address, when the phone does not answer like phyphox
        """
        if self._connected:
            return
        try:
            if self.config.start:
                self._get("/control?cmd=start")
            answer = self._get(self._query())
            self._read(answer, first=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise C3tError(f"{self.spec}: no phyphox answer at {self._base} ({exc!s:.120}). In phyphox: open an "
                           "experiment, menu > Allow remote access, and use the address it shows; phone and "
                           "computer on the same network") from exc
        self._connected = True
        self._opened_at = self.config.clock()
        self._health.connected()

    def stop(self) -> None:
        """Stop polling; state "stopped"."""
        self._stop_reader(2.0 + self.config.timeout_s)
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        """stop(); "disconnected". Safe to call twice."""
        self.stop()
        self._connected = False
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
        """{stream: Health}, with the diagnosis when polls bring nothing usable."""
        return self._phone_health("phyphox answers but sends no new acceleration; press play in phyphox")

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = self.config.clock()
            try:
                self._read(self._get(self._query()))
                if self._health.snapshot().state == "reconnecting":
                    self._health.outage_ends(self.config.clock())
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self._health.outage_begins(self._last_sample_t or self.config.clock())
                self._health.error(f"{self.spec}: poll failed ({exc!s:.120}); retrying")
            self._stop.wait(max(0.0, self.config.poll_s - (self.config.clock() - t0)))

    def _read(self, answer: dict, first: bool = False) -> None:
        buffers, status = answer.get("buffer", {}), answer.get("status", {})
        if status.get("measuring") is False:
            self._problem = "phyphox is not measuring: press play in phyphox"
        got = {}
        for prefix in (self.config.acc, self.config.gyro):
            names = [f"{prefix}_time"] + [f"{prefix}{a}" for a in "XYZ"]
            if all(n in buffers for n in names):
                cols = [np.asarray(buffers[n]["buffer"], dtype=np.float64) for n in names]
                n = min(len(c) for c in cols)
                got[prefix] = np.column_stack([c[:n] for c in cols]) if n else np.zeros((0, 4))
        if self._join is None:
            if self.config.acc not in got:
                self._problem = (f"the experiment has no buffers {self.config.acc}X/Y/Z/{self.config.acc}_time "
                                 f"(it has {', '.join(sorted(buffers)) or 'none'}): open 'Acceleration with g' or "
                                 "an experiment with accelerometer and gyroscope, or set ?acc=PREFIX")
                return
            sensors = [self.config.acc] + ([self.config.gyro] if self.config.gyro in got else [])
            self._join = SensorJoin(sensors)
            notes = [None if len(sensors) == 2 else f"no gyroscope buffers ({self.config.gyro}X...): 3 channels; use an "
                                                     "experiment with accelerometer and gyroscope"]
            if self.config.acc.startswith("lin"):
                notes.append("linear acceleration is WITHOUT gravity (the models expect gravity)")
            self._note = "; ".join(n for n in notes if n) or None
        for prefix, a in got.items():
            if len(a):
                self._since[prefix] = float(a[-1, 0])
                if not first and prefix in self._join.sensors:
                    self._join.add(prefix, a[:, 0], a[:, 1:])
        self._deliver(*self._join.take())
