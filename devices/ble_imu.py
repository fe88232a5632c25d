"""BleImu: an IMU over Bluetooth Low Energy (bleak), with reconnection.

Profiles (picked by the services the device offers, or named with `profile=`):

- "nus": a BLE UART (Nordic UART Service 6E400001-..., or the HM-10 FFE0 service); the device
  notifies the same line format as a serial IMU (see lineformat.py; LF, CRLF or CR end a line).
  The characteristic to subscribe to is the one whose properties say notify/indicate, whatever
  its UUID. Lines are reassembled across notifications, since a notification carries at most
  MTU-3 bytes and may cut a line anywhere.
- "arduino": the Arduino Nano 33 BLE (Sense) service (e905de3e-0000-...): acceleration (3001)
  and gyroscope (3002) characteristics of 3 little-endian float32 each. An accelerometer
  notification and a gyroscope notification make one 6-channel sample (an accelerometer value
  replaced before its gyroscope partner came is counted as dropped).
- "struct": any notify `characteristic` whose payload is one or more records of `struct_format`
  (Python struct syntax, e.g. "<6h" or "<I6f"), each value multiplied by `scale` (one for all
  channels, or one per channel: "0.000061,0.000061,0.000061,0.00875,0.00875,0.00875"; `units` names
  each channel's unit the same way); with
  `leading="timestamp"` (or "seq") the first field is the device time (or sequence number).

A background thread runs an asyncio loop. `connect()` makes the first connection (and raises
C3tError if it cannot); `start()` subscribes. When the link drops the adapter reconnects with
exponential backoff (`backoff_initial` doubling up to `backoff_max`) on a fresh client and
subscribes again; the backoff returns to `backoff_initial` only once a connection has delivered
samples, so a device that accepts connections and drops them at once is not hammered. A failed
subscription is its own cause ("subscribing to ... failed", with a hint), reported in
`last_error` and the diagnosis, and retried with the same backoff. Every notification callback
carries the number of the connection it was made for; callbacks left over from an earlier
connection (some backends keep them and then deliver each notification twice) are ignored and
counted in `ignored_notifications`, so no sample is delivered twice after a reconnection. A
notification the current callback gets twice is caught too: samples with the same sequence number
(or device time) and values as a recent one are dropped, and a BLE UART notification equal to the
one before and followed by a different one is left out; both count in health's `duplicates`.

Never silent: notifications that arrive but give no samples (lines in another format, payloads
of the wrong size) make `health()` say so within two seconds (state "no samples", `diagnosis`).

`client_factory(address, disconnected_callback)` builds the client (bleak.BleakClient by
default); tests pass a fake transport, the parsing and reconnection logic stay the same.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Batch, Health, Source
from c3t.devices.base import BatchQueue, Duplicates, StreamHealth, deliver, imu_batch
from c3t.devices.ble_profiles import (  # noqa: F401
    ARDUINO_ACCEL,
    ARDUINO_GYRO,
    ARDUINO_SERVICE,
    HM10_SERVICE,
    NUS_SERVICE,
    NUS_TX,
    PROFILES,
    Decoded,
    describe_services,
    make_decoder,
    recognise_profile,
)
from c3t.devices.lineformat import SILENT_AFTER_S, line_health, quote

log = logging.getLogger(__name__)


@dataclass
class BleDeviceInfo:
    """One BLE device found by scan(): its advertised name (None if it sends none), address,
    signal strength `rssi` in dBm (None if unknown) and the IMU profile its advertised services
    match."""

    name: str | None
    address: str
    rssi: int | None
    profile: str | None     # "nus", "arduino" or None (not recognised)

    @property
    def spec(self) -> str:
        """The source spec that opens this device, e.g. "ble:AA:BB:CC:DD:EE:FF?profile=nus"."""
        return f"ble:{self.address}" + (f"?profile={self.profile}" if self.profile else "")


async def _discover(timeout: float):
    from bleak import BleakScanner

    return await BleakScanner.discover(timeout=timeout, return_adv=True)


def scan(timeout: float = 5.0, discover: Callable | None = None) -> list[BleDeviceInfo]:
    """BLE devices in range, strongest first, with the profile each one advertises, after scanning
    `timeout` seconds (`discover`: a replacement for bleak's scanner, for tests).

    Raises:
        C3tError: when the scan itself fails (no adapter, Bluetooth off, no permission).
    """
    log.debug("scanning for BLE devices for %g s", timeout)
    try:
        found = asyncio.run((discover or _discover)(timeout))
    except Exception as exc:  # no adapter, BlueZ not running, permissions...
        raise C3tError(f"BLE scan failed: {exc}. Check that Bluetooth is on and that this user "
                       "may use it (on Linux: bluetoothd running, user in the 'bluetooth' group).") from exc
    out = [BleDeviceInfo(adv.local_name or dev.name, dev.address, adv.rssi, recognise_profile(adv.service_uuids))
           for dev, adv in found.values()]
    return sorted(out, key=lambda d: -(d.rssi if d.rssi is not None else -999))


@dataclass
class BleImuConfig:
    """Settings of a BleImu; the fields are the ble: spec's query parameters. Times are in
    seconds: `connect_timeout` bounds one connection attempt, and the wait before a reconnection
    starts at `backoff_initial` and doubles up to `backoff_max`. `clock` stamps arrivals (host
    seconds); `client_factory(address, disconnected_callback)` builds the client (default:
    bleak.BleakClient; tests pass a fake)."""

    address: str
    profile: str = "auto"                 # "auto", "nus", "arduino" or "struct"
    characteristic: str | None = None     # struct: the notify characteristic UUID
    struct_format: str | None = None      # struct: record layout, e.g. "<6h" or "<I6f"
    scale: float | str = 1.0              # struct: value multiplier(s), one or one per channel ("0.000061,...,0.00875")
    units: str | None = None              # struct: the unit of each channel after scaling ("g,g,g,deg/s,deg/s,deg/s")
    leading: str = "auto"                 # nus: as a serial IMU; struct: "none", "timestamp", "seq"
    time_scale: float | None = None       # seconds per timestamp unit (struct default 1e-3)
    channels: int | None = None           # nus: override detection
    rate_hz: float | None = None          # nominal rate (nus: detected if None)
    connect_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    stream: str = "imu"
    clock: Callable[[], float] = time.monotonic
    client_factory: Callable[..., Any] | None = None


# -- the source ----------------------------------------------------------------------------
class BleImu(Source):
    """An IMU on Bluetooth Low Energy (bleak), delivering one stream of (n, C) float32
    batches; the profiles ("nus", "arduino", "struct") and the reconnection are described in the
    module docstring. The "nus" profile follows Nordic's UART Service: service 6E400001-...,
    the device notifies its bytes on TX 6E400003-... and takes the host's writes on RX
    6E400002-... (the HM-10 FFE0 service is handled the same way).

    Raises:
        C3tError: for a profile not in PROFILES (connect() raises C3tError when the device cannot be
            reached or offers no IMU service this adapter knows)
    """

    def __init__(self, config: BleImuConfig | str, **overrides):
        if isinstance(config, str):
            config = BleImuConfig(address=config, **overrides)
        if config.profile not in PROFILES:
            raise C3tError(f"ble:{config.address}: profile {config.profile!r} is not one of {', '.join(PROFILES)}")
        self.config = config
        self.spec = f"ble:{config.address}"
        self.profile: str | None = None if config.profile == "auto" else config.profile
        self.decoder = None
        self.ignored_notifications = 0
        self._health = StreamHealth(nominal_hz=config.rate_hz, name=self.spec)
        self._queue = BatchQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client = None
        self._generation = 0
        self._running = False
        self._supervisor: asyncio.Future | None = None
        self._link_lost: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._last_sample_t: float | None = None
        self._subscribe_failure: str | None = None
        self._packets = _PacketTally()
        self._subscribed: tuple | None = None     # (client, connection) subscribed to
        self._duplicates = Duplicates()            # samples a link delivered twice

    @property
    def streams(self) -> list[str]:
        """The one IMU stream, named by `config.stream` (default "imu")."""
        return [self.config.stream]

    # -- the loop thread ---------------------------------------------------------------
    def _ensure_loop(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"BleImu {self.config.address}",
                                        daemon=True)
        self._thread.start()

    def _call(self, coro, timeout: float | None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _make_client(self):
        factory = self.config.client_factory
        if factory is None:
            from bleak import BleakClient

            factory = lambda address, disconnected_callback: BleakClient(  # noqa: E731
                address, disconnected_callback=disconnected_callback, timeout=self.config.connect_timeout)
        client = None

        def on_disconnect(_client=None):
            # bleak calls this in the loop thread; only the current client's loss matters
            """bleak's disconnected callback: flags the link as lost, but only for the current client."""
            if client is self._client and self._link_lost is not None:
                self._link_lost.set()

        client = factory(self.config.address, disconnected_callback=on_disconnect)
        return client

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
        """Start the asyncio loop thread and make the first connection, waiting up to
        connect_timeout + 5 s; on the first connection the profile is picked (from the services when
        "auto") and its decoder made. No-op when connected.

        Raises:
            C3tError: naming the address and what to check when the device cannot be reached, or when it
                offers none of the known IMU services (with its services listed)
        """
        if self._client is not None:
            return
        self._ensure_loop()
        try:
            self._call(self._connect_once(), self.config.connect_timeout + 5.0)
        except C3tError:
            raise
        except Exception as exc:
            raise C3tError(
                f"cannot connect to BLE device {self.config.address}: {exc or type(exc).__name__}. "
                "Check that it is powered, advertising and not connected to another host (phone, "
                "nRF Connect); `c3t devices --ble` lists what is in range."
            ) from exc

    async def _connect_once(self) -> None:
        client = self._make_client()
        self._client = client
        try:
            await asyncio.wait_for(client.connect(), self.config.connect_timeout)
        except BaseException:
            self._client = None
            raise
        if self.decoder is None:
            try:
                self.decoder = self._make_decoder(client)
            except BaseException:
                self._client = None
                await self._quiet_disconnect(client)
                raise
        self._generation += 1
        self.decoder.connection_opened(self.config.clock())
        self._health.connected()

    def _make_decoder(self, client):
        if self.profile is None:
            self.profile = recognise_profile(str(sv.uuid) for sv in client.services)
            if self.profile is None:
                raise C3tError(
                    f"ble:{self.config.address} offers none of the known IMU services (Nordic UART "
                    f"{NUS_SERVICE}, HM-10 UART {HM10_SERVICE}, Arduino {ARDUINO_SERVICE}); its services are "
                    f"{describe_services(client.services)}. "
                    "Use profile=struct with characteristic=UUID and struct_format=FORMAT.")
            log.info("%s: profile %s recognised from the services", self.spec, self.profile)
        return make_decoder(self.profile, client.services, self.config, self.spec)

    async def _subscribe(self, client, generation: int) -> None:
        if (id(client), generation) == self._subscribed:
            return   # subscribed on this connection already: a second callback would double every notification
        self._subscribed = (id(client), generation)
        for uuid in self.decoder.characteristics:
            def callback(sender, data, _uuid=uuid, _gen=generation):
                """Hand one characteristic's notification on, with its connection number."""
                self._on_notify(_gen, _uuid, data)
            await client.start_notify(uuid, callback)

    def start(self) -> None:
        """Connect if needed, then start the supervisor on the loop thread: it subscribes to the
        decoder's characteristics and, when the link drops, reconnects with backoff and subscribes
        again. No-op while running."""
        if self._running:
            return
        self.connect()
        self._running = True
        self._queue.reopen()
        self._supervisor = asyncio.run_coroutine_threadsafe(self._supervise(), self._loop)

    async def _supervise(self) -> None:
        """Subscribe; when the link drops, reconnect with backoff and subscribe again."""
        self._stopping = asyncio.Event()
        backoff = self.config.backoff_initial
        while not self._stopping.is_set():
            if self._client is None:
                try:
                    await self._connect_once()
                except Exception as exc:
                    self._health.error(f"{self.spec}: reconnect failed ({exc or type(exc).__name__}); "
                                       f"next try in {backoff:g} s")
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.config.backoff_max)
                    continue
            client, generation = self._client, self._generation
            self._link_lost = asyncio.Event()
            received_before = self._health.snapshot().received
            subscribed = await self._subscribe_reporting(client, generation, backoff)
            if subscribed:
                self._subscribe_failure = None
                await self._while_linked()
            if self._stopping.is_set():
                break
            # the link is gone (or useless): record the outage, drop this client, try again
            now = self.config.clock()
            self._health.outage_begins(self._last_sample_t if self._last_sample_t is not None else now)
            if subscribed:
                self._health.error(f"{self.spec}: connection lost; reconnecting in {backoff:g} s")
            cut = self.decoder.connection_lost()
            if cut:
                self._health.drop(cut, malformed=True)
            self._client = None
            await self._quiet_disconnect(client)
            if self._health.snapshot().received > received_before:
                backoff = self.config.backoff_initial   # that connection worked: start over
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.config.backoff_max)

    async def _while_linked(self) -> None:
        """Wait until the link drops or the source stops; meanwhile release the lines held back
        by format detection once its time has passed (a device may pause after a burst)."""
        waiters = [asyncio.ensure_future(self._link_lost.wait()), asyncio.ensure_future(self._stopping.wait())]
        poll = getattr(self.decoder, "poll", None)
        while not any(w.done() for w in waiters):
            await asyncio.wait(waiters, timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
            if poll is not None and self._running:
                self._emit(poll(self.config.clock()))
        for w in waiters:
            w.cancel()

    async def _subscribe_reporting(self, client, generation: int, backoff: float) -> bool:
        """Subscribe; a failure is reported as such (never as a lost connection). True if done."""
        try:
            await self._subscribe(client, generation)
            return True
        except Exception as exc:
            uuids = ", ".join(self.decoder.characteristics)
            self._subscribe_failure = (
                f"{self.spec}: subscribing to notifications of {uuids} failed "
                f"({exc or type(exc).__name__}); retrying in {backoff:g} s. The device may need pairing "
                "first (bluetoothctl: pair, trust), or another host holds the subscription; if this "
                "characteristic cannot notify, name the right one (profile=struct&characteristic=UUID)")
            self._health.error(self._subscribe_failure)
            return False

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    @staticmethod
    async def _quiet_disconnect(client) -> None:
        try:
            await client.disconnect()
        except Exception:  # already gone
            pass

    def read(self, timeout: float | None = None) -> list[Batch]:
        """Drain the batches decoded from notifications (see Source.read)."""
        return self._queue.get_all(timeout)

    def stop(self) -> None:
        """Stop the supervisor (waiting up to 5 s), deliver the samples still held back by
        format detection and close the queue; state "stopped". Batches received can still be read."""
        if self._running and self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: self._stopping and self._stopping.set())
            try:
                self._supervisor.result(timeout=5.0)
            except Exception:
                pass
            self._running = False
            if self.decoder is not None:  # lines still held back by channel/rate detection
                self._emit(self.decoder.finish(self.config.clock()))
        self._queue.close()
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        """stop() if running, disconnect the client and end the loop thread; state
        "disconnected". Safe to call twice."""
        if self._running:
            self.stop()
        if self._loop is not None:
            client, self._client = self._client, None
            if client is not None:
                try:
                    self._call(self._quiet_disconnect(client), 5.0)
                except Exception:
                    pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)
            self._loop.close()
            self._loop = self._thread = None
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
        """{stream: Health}; while notifications arrive but give no samples, or subscribing
        fails, the diagnosis says why (state "no samples")."""
        now = self.config.clock()
        h = self._health.snapshot(now)
        lines = getattr(self.decoder, "lines", None)
        if lines is not None:
            line_health(h, lines, now)
        else:
            h.channels = getattr(self.decoder, "channels", None)
            h.units = list(getattr(self.decoder, "units", None) or []) or h.units
            h.bytes_received = self._packets.bytes
            h.diagnosed(self._packets.diagnose(self.spec, now))
        if h.duplicates:
            h.warn(f"{self.spec}: {h.duplicates} samples or notifications came twice (the same sequence number or "
                   "device time and the same values, or the same bytes back to back) and were dropped, each kept once: "
                   "the link delivered notifications twice (a callback registered twice after a reconnection, or a "
                   "backend repeating them)")
        if self._subscribe_failure and h.received == 0:
            h.diagnosed(f"{self.spec}: no samples: {self._subscribe_failure.split(': ', 1)[1]}")
            if h.state in ("connected", "reconnecting"):
                h.state = "no samples"
        return {self.config.stream: h}

    # -- notifications (loop thread) -----------------------------------------------------
    def _on_notify(self, generation: int, uuid: str, data) -> None:
        if generation != self._generation or not self._running:
            self.ignored_notifications += 1   # a callback left from an earlier connection
            return
        now = self.config.clock()
        decoded = self.decoder.decode(uuid, data, now)
        self._packets.add(bytes(data), decoded, now)
        self._emit(decoded)

    def _emit(self, d: Decoded) -> None:
        if d.duplicates:
            self._health.add("duplicates", d.duplicates)
        if d.malformed:
            self._health.drop(d.malformed, malformed=True)
        if d.dropped:
            self._health.drop(d.dropped)
        for message in d.device_errors:
            self._health.error(message)
        layout = getattr(self.decoder, "layout", None)
        if layout is not None and self._health.snapshot().nominal_hz is None and layout.rate_hz:
            self._health.set(nominal_hz=layout.rate_hz)
        if not d.rows:
            return
        leading = layout.leading if layout is not None else getattr(self.decoder, "leading", "none")
        scale = layout.time_scale if layout is not None else (self.config.time_scale or 1e-3)
        batch = imu_batch(self.config.stream, d.t_host, d.rows, d.lead, leading, scale)
        self._last_sample_t = deliver(self._health, self._queue, batch, self._duplicates) or self._last_sample_t


class _PacketTally:
    """Notifications since the last sample, for the diagnosis of binary profiles."""

    def __init__(self) -> None:
        self.bytes = 0
        self.count = self.rejected = 0
        self.t_first: float | None = None
        self.last: bytes = b""
        self.reason: str | None = None

    def add(self, data: bytes, decoded: Decoded, t_host: float) -> None:
        """Count a notification of `data` that decoded to `decoded` at host time `t_host`
        (seconds); one that gave samples resets the tally."""
        self.bytes += len(data)
        if decoded.rows:
            self.count = self.rejected = 0
            self.t_first = None
            return
        self.count += 1
        self.t_first = t_host if self.t_first is None else self.t_first
        self.last = data
        if decoded.malformed:
            self.rejected += 1
            self.reason = decoded.reason

    def diagnose(self, name: str, now: float) -> str | None:
        """Why a binary profile gives no samples, naming `name`: the notifications since
        the last sample and the last rejected payload with its reason, once they have come for
        SILENT_AFTER_S seconds or more and at least one was rejected; else None."""
        if self.t_first is None or now - self.t_first < SILENT_AFTER_S or not self.rejected:
            return None
        return (f"{name}: no samples: {self.count} notifications ({self.rejected} rejected) in "
                f"{now - self.t_first:.1f} s; last {quote(self.last)} ({self.reason}): check the profile and "
                "struct_format= against what the device sends")
