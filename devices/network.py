"""NetLines: IMU text lines over the network (TCP or UDP), parsed like a serial board's.

    tcp:5555                 listen on port 5555: a phone (HyperIMU) or board connects and sends lines
    tcp:192.168.1.7:5555     connect to a board that serves lines on that address
    udp:5555                 datagrams of lines sent to port 5555

Every line goes through the serial source's line-format detection (lineformat.LineStream:
channels, rate, a leading timestamp or counter, unit text, units=si|g), so anything a serial
board may print, a network sender may send. HyperIMU streams CSV lines in SI units (m/s^2,
rad/s) with the phone as the client and the PC as the server (`tcp:PORT` or `udp:PORT`);
the magnitude test of core/streams/units.py reads them as m/s^2 and converts to g and deg/s.

A listening source is an open door on the user's network, so it
- says where it listens (address, port, and the address to type into the phone) in the log and
  in `address_text`;
- takes one sender at a time: while one is connected (TCP) or once the first datagram came (UDP),
  other addresses are refused, each refusal logged and counted in health; the same address
  reconnecting takes over (a phone whose connection dropped). `sender=any` lets any newcomer
  take over;
- bounds what a sender can cost: lines longer than lineformat.MAX_LINE are rejected, a read is
  at most READ_BYTES, more than `max_bytes_per_s` is slowed (TCP: not read, so the sender
  waits) or dropped (UDP), batches waiting for a reader are capped (base.BatchQueue), and a TCP
  sender silent for `idle_timeout` seconds is disconnected so it cannot hold the port.
Nothing a sender sends can raise out of the reader thread; problems go to health().

Never silent: with nothing usable after DIAGNOSE_AFTER_S seconds, health() says why (no sender
connected, connected but nothing sent, refused senders, or the line-format diagnosis of what
arrived).
"""
from __future__ import annotations

import logging
import re
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Health
from c3t.devices.base import LineSource, StreamHealth
from c3t.devices.lineformat import MAX_LINE, line_health

log = logging.getLogger(__name__)

READ_BYTES = 16384          # bytes one read takes at most
DIAGNOSE_AFTER_S = 1.5      # seconds without a sender (or a byte) before health() says so
MAX_BATCHES = 2000          # batches waiting for read() at most (the oldest are dropped beyond)
MODES = ("listen", "connect", "udp")
# a MAC address (HyperIMU can start each line with the phone's): six hex pairs, ':' or '-' between
MAC = re.compile(rb"(?<![0-9A-Fa-f:-])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])")


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that other machines on the network can reach (the one the
    default route leaves from first), for telling the user what to type into the phone. No packet
    is sent: a UDP socket is only pointed at a non-routed address to learn the outgoing interface."""
    found: list[str] = []
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.254.254.254", 1))
        found.append(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(info[4][0])
    except OSError:
        pass
    out = [a for a in dict.fromkeys(found) if not a.startswith("127.")]
    return out or ["127.0.0.1"]


def where_to_send(bind: str, port: int, scheme: str = "") -> str:
    """'listening on BIND:PORT; on the phone, send to IP:PORT' (with `scheme`: scheme://IP:PORT/),
    naming this machine's LAN addresses when bound to all interfaces."""
    targets = [bind] if bind and bind not in ("0.0.0.0", "::") else lan_addresses()
    shown = " or ".join(f"{scheme}://{ip}:{port}/" if scheme else f"{ip}:{port}" for ip in targets)
    where = f"{bind}:{port}" if bind else f"0.0.0.0:{port} (all interfaces)"
    return f"listening on {where}; on the phone, send to {shown}"


class ByteBudget:
    """At most `per_s` bytes in each one-second period of `clock` (host seconds): what a sender may
    cost a listening source before it is slowed or refused."""

    def __init__(self, per_s: int, clock: Callable[[], float] = time.monotonic):
        self.per_s, self.clock = per_s, clock
        self._start, self._used = -float("inf"), 0

    def take(self, n: int) -> bool:
        """Count `n` bytes; False when they go over this second's budget."""
        now = self.clock()
        if now - self._start >= 1.0:
            self._start, self._used = now, 0
        self._used += n
        return self._used <= self.per_s

    def wait_s(self) -> float:
        """Seconds until the budget is renewed."""
        return max(0.0, self._start + 1.0 - self.clock())


@dataclass
class NetLinesConfig:
    """Settings of a NetLines source; the fields are the tcp:/udp: spec's query parameters.
    `port` and `host` come from the spec's target; the line-format fields are SerialImuConfig's
    (None: detect from the first `detect_seconds`); times in seconds."""

    port: int
    host: str = ""                   # listen/udp: the address to bind ("" = all); connect: the board
    mode: str = "listen"             # "listen" (tcp:PORT), "connect" (tcp:HOST:PORT), "udp" (udp:PORT)
    channels: int | None = None
    rate_hz: float | None = None
    leading: str = "auto"            # "auto", "none", "timestamp" or "seq"
    time_scale: float | None = None
    units: str = "auto"              # "auto", "si" (m/s^2, rad/s) or "g" (g, deg/s); see core/streams/units.py
    detect_seconds: float = 1.0
    sender: str = "one"              # "one": one sender address at a time; "any": a newcomer takes over
    idle_timeout: float = 5.0        # a TCP sender silent this long is disconnected
    max_bytes_per_s: int = 200_000   # more is slowed (TCP) or dropped (UDP); a 1 kHz 9-axis CSV is ~80 kB/s
    reconnect_interval: float = 0.5  # connect mode: seconds between attempts
    stream: str = "imu"
    clock: Callable[[], float] = time.monotonic


class NetLines(LineSource):
    """IMU text lines over TCP (listening or connecting) or UDP; see the module docstring.

    Raises:
        C3tError: (from the constructor) an unknown mode or sender; (from connect()) see connect.
    """

    def __init__(self, config: NetLinesConfig | int, **overrides):
        if not isinstance(config, NetLinesConfig):
            config = NetLinesConfig(port=int(config), **overrides)
        if config.mode not in MODES:
            raise C3tError(f"NetLines mode {config.mode!r}: use one of {', '.join(MODES)}")
        if config.sender not in ("one", "any"):
            raise C3tError(f"sender={config.sender!r}: use one (one sender at a time) or any")
        self.config = config
        kind = "udp" if config.mode == "udp" else "tcp"
        self.spec = f"{kind}:{config.host + ':' if config.host else ''}{config.port}"
        self._health = StreamHealth(nominal_hz=config.rate_hz, name=self.spec)
        self._init_reader(MAX_BATCHES)
        self._lines = self._line_stream(units=config.units)
        self._listener: socket.socket | None = None   # TCP server or UDP socket
        self._conn: socket.socket | None = None       # the TCP connection data comes on
        self._peer: str | None = None                 # the sender's address (ip)
        self._opened_at: float | None = None
        self._last_byte: float | None = None
        self._last_sample_t: float | None = None
        self._budget = ByteBudget(config.max_bytes_per_s, config.clock)
        self._tail = b""                              # bytes after the last line end (see _complete_lines)
        self._hash_ends: bool | None = None           # the sender ends lines with '#' (HyperIMU's option)
        self.refused = 0                              # senders refused (a second phone, a stranger)
        self.address_text = ""

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
        """Bind the port (listen, udp) or connect to the board (connect); logs where to send. No-op
        when done.

        Raises:
            C3tError: the port cannot be bound (in use, no permission) or, in connect mode, the board
                does not answer; the message names the port and what to do.
        """
        c = self.config
        if self._listener is not None or self._conn is not None:
            return
        if c.mode == "connect":
            try:
                self._attach(socket.create_connection((c.host, c.port), timeout=2.0), f"{c.host}")
            except OSError as exc:
                raise C3tError(f"{self.spec}: cannot connect to {c.host}:{c.port} ({exc}); is the board on and "
                               "serving lines on that port, and is the address right?") from exc
            self._opened_at = c.clock()
            return
        kind = socket.SOCK_DGRAM if c.mode == "udp" else socket.SOCK_STREAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((c.host, c.port))
            if c.mode == "listen":
                sock.listen(2)
        except OSError as exc:
            sock.close()
            raise C3tError(f"{self.spec}: cannot listen on {c.host or '0.0.0.0'}:{c.port} ({exc}); another "
                           "program (or another c3t) may hold the port: choose another port, or stop it") from exc
        sock.setblocking(False)
        self._listener = sock
        self.config.port = sock.getsockname()[1]      # port 0: the one the system chose
        self._opened_at = c.clock()
        self._health.set(state="connected", last_error=None)
        self.address_text = f"{self.spec}: {where_to_send(c.host, self.config.port)}" + \
            (" (UDP)" if c.mode == "udp" else " (TCP)")
        log.warning("%s", self.address_text)

    def stop(self) -> None:
        """Stop the reader thread and deliver the lines held back while detecting the format;
        state "stopped". Batches received can still be read."""
        self._stop_reader(2.0)
        self._emit(self._lines.finish_detection())
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        """stop() if running and close the sockets; state "disconnected". Safe to call twice."""
        if self._thread is not None:
            self.stop()
        self._drop_conn(None)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
        """{stream: Health}: counts, the line-format diagnosis, and while nothing arrives why
        (no sender connected, nothing sent, senders refused)."""
        now = self.config.clock()
        h = line_health(self._health.snapshot(now), self._lines, now)
        if h.diagnosis is None and self._opened_at is not None and h.received == 0 and \
                now - self._opened_at >= DIAGNOSE_AFTER_S and h.state != "stopped":
            h.diagnosed(self._silence(now - self._opened_at))
        return {self.config.stream: h}

    def _silence(self, waited: float) -> str | None:
        c = self.config
        refused = f"; refused {self.refused} other sender(s) (sender=any lets a newcomer take over)" if self.refused else ""
        if self._tail and not self._lines.bytes_received:
            return (f"{self.spec}: no samples: {len(self._tail)} bytes from {self._peer} but no line end (LF, CR, or "
                    f"HyperIMU's #) in {waited:.1f} s; end each sample with a newline")
        if self._lines.bytes_received:
            return None                     # bytes came: the line-format diagnosis speaks
        if c.mode == "connect":
            return (f"{self.spec}: no data: connected to {c.host}:{c.port} but not a byte in {waited:.1f} s; "
                    "is this the port the board serves its lines on?")
        if self._peer is None:
            what = "no datagram has arrived" if c.mode == "udp" else "no sender has connected"
            return (f"{self.spec}: no sender: {what} in {waited:.1f} s ({where_to_send(c.host, c.port)}). Check the "
                    f"address and port in the phone app, that it uses {'UDP' if c.mode == 'udp' else 'TCP'}, that "
                    f"phone and computer share a network, and that no firewall blocks port {c.port}{refused}")
        return (f"{self.spec}: no data: {self._peer} connected but sent nothing in {waited:.1f} s; start the "
                f"stream in the phone app{refused}")

    # -- reader thread -----------------------------------------------------------------
    def _attach(self, conn: socket.socket, peer: str) -> None:
        conn.setblocking(False)
        self._conn, self._peer = conn, peer
        self._tail, self._hash_ends = b"", None
        self._lines.connection_opened(self.config.clock())
        self._last_byte = self.config.clock()
        self._health.connected()
        log.info("%s: sender %s connected", self.spec, peer)

    def _drop_conn(self, why: str | None) -> None:
        if self._conn is None:
            return
        try:
            self._conn.close()
        except OSError:
            pass
        self._conn = None
        now = self.config.clock()
        self._health.outage_begins(self._last_sample_t if self._last_sample_t is not None else now)
        cut = self._lines.connection_lost() + (1 if self._tail.strip() else 0)
        self._tail = b""
        if cut:
            self._health.drop(cut, malformed=True)
        if why:
            self._health.error(f"{self.spec}: {why}")
            log.warning("%s: %s", self.spec, why)

    def _refuse(self, who: str, why: str) -> None:
        self.refused += 1
        self._health.error(f"{self.spec}: refused {who}: {why}")
        if self.refused <= 3 or self.refused % 100 == 0:   # a flood of strangers does not flood the log
            log.warning("%s: refused %s: %s (%d refused so far)", self.spec, who, why, self.refused)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.config.mode == "udp":
                    self._udp_step()
                elif self.config.mode == "listen":
                    self._listen_step()
                else:
                    self._connect_step()
                if self.layout is None:
                    self._emit(self._lines.poll(self.config.clock()))
        except Exception as exc:  # never let a sender kill the reader silently
            log.exception("%s: reader stopped", self.spec)
            self._health.error(f"{self.spec}: reader stopped: {exc!r}")
            self._health.set(state="disconnected")

    def _wait(self, socks: list[socket.socket], timeout: float = 0.05) -> list[socket.socket]:
        with selectors.DefaultSelector() as sel:
            for s in socks:
                sel.register(s, selectors.EVENT_READ)
            return [key.fileobj for key, _ in sel.select(timeout)]

    def _listen_step(self) -> None:
        socks = [self._listener] + ([self._conn] if self._conn is not None else [])
        for s in self._wait(socks):
            if s is self._listener:
                self._accept()
            elif s is self._conn:
                self._read_conn()
        self._check_idle()

    def _accept(self) -> None:
        try:
            conn, addr = self._listener.accept()
        except OSError:
            return
        ip = addr[0]
        if self._conn is not None and ip != self._peer and self.config.sender == "one":
            self._refuse(f"{ip}:{addr[1]}", f"{self._peer} is already sending (one sender per source)")
            conn.close()
            return
        if self._conn is not None:
            self._drop_conn(f"{ip} took over from {self._peer}")
        self._attach(conn, ip)

    def _check_idle(self) -> None:
        now = self.config.clock()
        if self._conn is not None and self._last_byte is not None and now - self._last_byte > self.config.idle_timeout:
            self._drop_conn(f"{self._peer} sent nothing for {self.config.idle_timeout:g} s: disconnected "
                            "(it can connect again)")

    def _connect_step(self) -> None:
        c = self.config
        if self._conn is None:
            try:
                self._attach(socket.create_connection((c.host, c.port), timeout=2.0), c.host)
            except OSError as exc:
                self._health.error(f"{self.spec}: cannot reconnect ({exc}); retrying every {c.reconnect_interval:g} s")
                self._stop.wait(c.reconnect_interval)
                return
        if self._wait([self._conn]):
            self._read_conn()

    def _read_conn(self) -> None:
        try:
            data = self._conn.recv(READ_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self._drop_conn(f"connection lost ({exc})")
            return
        if not data:
            self._drop_conn(f"{self._peer} closed the connection")
            return
        self._feed(data)
        self._throttle(len(data))

    def _udp_step(self) -> None:
        if not self._wait([self._listener]):
            return
        for _ in range(256):                     # drain what is waiting, then look at the stop flag
            try:
                data, addr = self._listener.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._health.error(f"{self.spec}: {exc}")
                return
            ip = addr[0]
            if self._peer is None or (ip != self._peer and self.config.sender == "any"):
                if self._peer is None:
                    log.info("%s: first datagram from %s: that sender is the source's now", self.spec, ip)
                    self._lines.connection_opened(self.config.clock())
                    self._health.connected()
                self._peer = ip
            elif ip != self._peer:
                self._refuse(f"datagrams from {ip}", f"{self._peer} is the sender (one sender per source)")
                continue
            if not self._budget.take(len(data)):
                self._health.drop(1)
                continue
            self._feed(data if data.endswith((b"\n", b"\r", b"#")) else data + b"\n")   # a datagram ends its line

    def _feed(self, data: bytes) -> None:
        now = self.config.clock()
        self._last_byte = now
        lines = self._complete_lines(data)
        if lines:
            self._emit(self._lines.feed(lines, now))

    def _complete_lines(self, data: bytes) -> bytes:
        """The complete lines of what arrived so far, as LineStream takes them: HyperIMU's '#' line
        ends become newlines (when the sender ends its lines with nothing else) and a MAC address in a
        line becomes the word 'mac' (its hex pairs are no channels). A tail without a line end waits
        for the next bytes, up to MAX_LINE (then LineStream rejects it as a line without an end)."""
        if self._hash_ends is None and data:
            self._hash_ends = b"#" in data and b"\n" not in data and b"\r" not in data
        if self._hash_ends:
            data = data.replace(b"#", b"\n")
        held = self._tail + data
        cut = max(held.rfind(b"\n"), held.rfind(b"\r")) + 1
        if not cut and len(held) <= MAX_LINE:
            self._tail = held
            return b""
        cut = cut or len(held)
        self._tail = held[cut:]
        return MAC.sub(b"mac", held[:cut])

    def _throttle(self, n: int) -> None:
        """TCP: past the byte budget, stop reading until the second is over (the sender waits)."""
        if self._budget.take(n):
            return
        self._health.error(f"{self.spec}: {self._peer} sends more than {self.config.max_bytes_per_s} bytes/s "
                           "(a flood?): reading is slowed to that")
        self._stop.wait(self._budget.wait_s())
