"""SerialImu: an IMU printing text lines (see lineformat.py) over a serial port.

    with SerialImu(SerialImuConfig("/dev/ttyACM0")) as imu:
        for batch in imu.read(timeout=1.0): ...

A reader thread reads the port, stamps each chunk with the host arrival time and parses it
with `LineStream` (channel count, rate and a leading timestamp/sequence column are detected
from the first second unless given). When the port goes away (unplugged, device reset) the
reader records the outage, keeps trying to reopen the same path every `reconnect_interval`
seconds and resumes; the outage becomes a gap in `health()["imu"].gaps`, from the last sample
before it to the first sample after it. `ERR` lines from the device land in `last_error`.

Opening the port clears the bytes already waiting (the only bytes that can be the tail of a
line); every complete line after that is data, including the first one (a board that resets
when the port opens and starts printing later loses nothing). When bytes arrive but no samples
come (wrong baud rate, a binary protocol, lines in another format), `health()` says so within
two seconds: state "no samples" and the diagnosis in `diagnosis` and `last_error`.
"""
from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Health
from c3t.devices.base import LineSource, StreamHealth
from c3t.devices.lineformat import line_health

log = logging.getLogger(__name__)
BUSY_ERRNOS = (errno.EBUSY, errno.EAGAIN, errno.EACCES)


def port_holders(port: str) -> list[tuple[int, str]]:
    """(pid, command name) of the processes that have the serial device `port` open, found by
    reading /proc/*/fd (Linux; the processes of other users are visible only to root); [] where
    the system cannot tell."""
    try:
        target = os.path.realpath(port)
        procs = list(Path("/proc").iterdir())
    except OSError:
        return []
    holders = []
    for proc in procs:
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                holders.append((int(proc.name), (proc / "comm").read_text().strip()))
        except OSError:   # gone, or another user's
            continue
    return holders


def port_busy(port: str, exc: BaseException) -> str | None:
    """The message for a port another program holds (pyserial's "Could not exclusively lock
    port", EBUSY from a TIOCEXCL lock), naming the holders where /proc tells them; None when
    `exc` is another failure."""
    code = getattr(exc, "errno", None) or getattr(getattr(exc, "__cause__", None), "errno", None)
    if code not in BUSY_ERRNOS and "exclusively lock" not in str(exc) and "busy" not in str(exc).lower():
        return None
    holders = port_holders(port)
    who = ("held by " + ", ".join(f"pid {pid} ({name})" for pid, name in holders)) if holders else \
        "held by a program this user cannot see (another user's, or the system cannot tell)"
    log.info("serial port %s is busy: %s", port, who)
    return (f"serial port {port!r} is in use by another program ({who}): {exc}. Close it (Arduino IDE's serial "
            "monitor or plotter, screen, minicom, edge-impulse-data-forwarder, another c3t) and connect again; "
            "c3t opens ports exclusively so that no two programs split one board's data")


@dataclass
class SerialImuConfig:
    """Settings of a SerialImu; the fields are the serial: spec's query parameters. `baud`
    in baud, `rate_hz` in Hz, times in seconds; fields left None are detected from the lines of
    the first `detect_seconds`."""

    port: str
    baud: int = 115200
    channels: int | None = None          # None: detect from the first second
    rate_hz: float | None = None         # None: detect from the first second
    leading: str = "auto"                # "auto", "none", "timestamp" or "seq"
    time_scale: float | None = None      # seconds per timestamp unit (None: detect s/ms/us)
    detect_seconds: float = 1.0
    units: str = "auto"                  # "auto", "si" (m/s^2, rad/s) or "g" (g, deg/s): core/streams/units.py
    reconnect_interval: float = 0.5      # seconds between attempts to reopen the port
    read_timeout: float = 0.05           # seconds one port read may block
    stream: str = "imu"
    # host clock for arrival stamps; tests may pass a faster one, the logic stays the same
    clock: Callable[[], float] = time.monotonic


class SerialImu(LineSource):
    """An IMU on a serial port (USB CDC, UART bridge, pseudo-terminal) printing one sample per
    text line. Raises C3tError from connect() if the port cannot be opened."""

    def __init__(self, config: SerialImuConfig | str, **overrides):
        if isinstance(config, str):
            config = SerialImuConfig(port=config, **overrides)
        self.config = config
        self.spec = f"serial:{config.port}"
        self._health = StreamHealth(nominal_hz=config.rate_hz, name=self.spec)
        self._init_reader()
        self._lines = self._line_stream(baud=config.baud, units=config.units)
        self._port = None
        self._last_sample_t: float | None = None

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
        """Open the port at `baud` and clear the bytes already waiting; no-op when open.

        Raises:
            C3tError: naming the port and the usual fixes (the port's name, another program holding it,
                the 'dialout' group on Linux) when pyserial cannot open it
        """
        if self._port is not None:
            return
        import serial  # pyserial

        try:
            self._port = self._open()
        except (serial.SerialException, OSError) as exc:
            busy = port_busy(self.config.port, exc)
            if busy:
                raise C3tError(busy) from exc
            raise C3tError(
                f"cannot open serial port {self.config.port!r}: {exc}. Check that the device is "
                "plugged in and named right (`c3t devices` lists ports), that no other program "
                "(Arduino serial monitor, edge-impulse-data-forwarder) holds it, and on Linux "
                "that you are in the 'dialout' group."
            ) from exc
        self._health.set(last_error=self._health.snapshot().warning)   # another reader, or nothing

    def _open(self):
        import serial

        # exclusive (POSIX: an flock on the port): a program reading the port already keeps its
        # data, and a second reader that took turns with it would get neither whole
        extra = {"exclusive": True} if os.name == "posix" else {}
        port = serial.Serial(self.config.port, self.config.baud, timeout=self.config.read_timeout, **extra)
        port.reset_input_buffer()   # bytes waiting from before the open: the only possible partial line
        self._warn_other_readers()
        self._lines.connection_opened(self.config.clock())
        self._health.connected()
        return port

    def _warn_other_readers(self) -> None:
        """Say so when other processes have the port open without a lock (cat, a script): they read
        from it too, and each program gets only part of the lines."""
        others = [(pid, name) for pid, name in port_holders(self.config.port) if pid != os.getpid()]
        if others:
            who = ", ".join(f"pid {pid} ({name})" for pid, name in others)
            message = (f"{self.spec}: the port is also open in {who}, which reads from it too: each program gets only "
                       "part of the lines. Close it for complete data")
            log.warning(message)
            self._health.set(warning=message)
            self._health.error(message)

    def start(self) -> None:
        """Connect if needed and start the reader thread, which reopens the port every
        `reconnect_interval` seconds after a loss. No-op while running."""
        if self.running:
            return
        self.connect()
        self._start_reader(f"SerialImu {self.config.port}")

    def stop(self) -> None:
        """Stop the reader thread (waiting up to 2 s) and deliver the lines held back while the
        format was being detected; state "stopped". Batches received can still be read."""
        self._stop_reader(2.0)
        self._emit(self._lines.finish_detection())   # lines held back while detecting the format (readable after close)
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        """stop() if running and close the port; state "disconnected". Safe to call twice."""
        if self._thread is not None:
            self.stop()
        self._close_port()
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
        """{stream: Health}, with the byte and line counts and, while bytes arrive but no
        samples come, the diagnosis (state "no samples")."""
        now = self.config.clock()
        h = line_health(self._health.snapshot(now), self._lines, now)
        return {self.config.stream: h}

    # -- reader thread -----------------------------------------------------------------
    def _close_port(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # closing a vanished port may fail; it is gone either way
                pass
            self._port = None

    def _run(self) -> None:
        import serial

        clock = self.config.clock
        while not self._stop.is_set():
            if self._port is None:
                try:
                    self._port = self._open()
                except (serial.SerialException, OSError) as exc:
                    why = port_busy(self.config.port, exc) or f"cannot reopen ({exc})"
                    self._health.error(f"{self.spec}: {why}; retrying every {self.config.reconnect_interval:g} s")
                    self._stop.wait(self.config.reconnect_interval)
                    continue
            try:
                data = self._port.read(max(1, self._port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                now = clock()
                self._health.outage_begins(self._last_sample_t if self._last_sample_t is not None else now)
                self._health.error(f"{self.spec}: connection lost ({exc}); reconnecting")
                cut = self._lines.connection_lost()
                if cut:
                    self._health.drop(cut, malformed=True)
                self._close_port()
                continue
            if data:
                self._emit(self._lines.feed(data, clock()))
            elif self.layout is None:
                self._emit(self._lines.poll(clock()))
