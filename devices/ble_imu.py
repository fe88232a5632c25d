"""BleImu: an IMU over Bluetooth Low Energy (bleak), with reconnection.

Profiles (picked by the services the device offers, or named with `profile=`):

- "nus": Nordic UART Service (6E400001-...); the device notifies 6E400003-... with the same
  line format as a serial IMU (see lineformat.py). Lines are reassembled across notifications,
  since a notification carries at most MTU-3 bytes and may cut a line anywhere.
- "arduino": the Arduino Nano 33 BLE (Sense) service (e905de3e-0000-...): acceleration (3001)
  and gyroscope (3002) characteristics of 3 little-endian float32 each. An accelerometer
  notification and a gyroscope notification make one 6-channel sample (an accelerometer value
  replaced before its gyroscope partner came is counted as dropped).
- "struct": any notify `characteristic` whose payload is one or more records of `struct_format`
  (Python struct syntax, e.g. "<6h" or "<I6f"), each value multiplied by `scale`; with
  `leading="timestamp"` (or "seq") the first field is the device time (or sequence number).

A background thread runs an asyncio loop. `connect()` makes the first connection (and raises
C3tError if it cannot); `start()` subscribes. When the link drops the adapter reconnects with
exponential backoff (`backoff_initial` doubling up to `backoff_max`) on a fresh client and
subscribes again. Every notification callback carries the number of the connection it was made
for; callbacks left over from an earlier connection (some backends keep them and then deliver
each notification twice) are ignored and counted in `ignored_notifications`.

`client_factory(address, disconnected_callback)` builds the client (bleak.BleakClient by
default); tests pass a fake transport, the parsing and reconnection logic stay the same.
"""
from __future__ import annotations

import asyncio
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from c3t.core.errors import C3tError
from c3t.devices.base import Batch, BatchQueue, Health, Source, StreamHealth, imu_batch
from c3t.devices.lineformat import LineStream

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"          # device -> host, notify
ARDUINO_SERVICE = "e905de3e-0000-44de-92c4-bb6e04fb0212"
ARDUINO_ACCEL = "e905de3e-3001-44de-92c4-bb6e04fb0212"   # 3 x float32 LE, g
ARDUINO_GYRO = "e905de3e-3002-44de-92c4-bb6e04fb0212"    # 3 x float32 LE, deg/s
PROFILES = ("auto", "nus", "arduino", "struct")
SERVICE_PROFILES = {NUS_SERVICE: "nus", ARDUINO_SERVICE: "arduino"}


def recognise_profile(service_uuids) -> str | None:
    """The profile a device offers, from its advertised or discovered service UUIDs."""
    for uuid in service_uuids or ():
        profile = SERVICE_PROFILES.get(str(uuid).lower())
        if profile:
            return profile
    return None


@dataclass
class BleDeviceInfo:
    name: str | None
    address: str
    rssi: int | None
    profile: str | None     # "nus", "arduino" or None (not recognised)

    @property
    def spec(self) -> str:
        return f"ble:{self.address}" + (f"?profile={self.profile}" if self.profile else "")


async def _discover(timeout: float):
    from bleak import BleakScanner

    return await BleakScanner.discover(timeout=timeout, return_adv=True)


def scan(timeout: float = 5.0, discover: Callable | None = None) -> list[BleDeviceInfo]:
    """BLE devices in range, strongest first, with the profile each one advertises."""
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
    address: str
    profile: str = "auto"                 # "auto", "nus", "arduino" or "struct"
    characteristic: str | None = None     # struct: the notify characteristic UUID
    struct_format: str | None = None      # struct: record layout, e.g. "<6h" or "<I6f"
    scale: float = 1.0                    # struct: value multiplier (raw counts -> units)
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


# -- decoders: notification payloads -> samples --------------------------------------------
@dataclass
class Decoded:
    rows: list
    lead: list
    t_host: list
    malformed: int = 0
    dropped: int = 0
    device_errors: tuple = ()


class NusDecoder:
    """Line format over NUS: bytes from successive notifications form lines."""

    leading_kind = "auto"

    def __init__(self, config: BleImuConfig, name: str):
        self.lines = LineStream(channels=config.channels, rate_hz=config.rate_hz, leading=config.leading,
                                time_scale=config.time_scale, source=name)
        self.characteristics = [NUS_TX]

    @property
    def layout(self):
        return self.lines.layout

    def connection_opened(self) -> None:
        self.lines.connection_opened()

    def connection_lost(self) -> int:
        return self.lines.connection_lost()

    def decode(self, uuid: str, data: bytes, t_host: float) -> Decoded:
        p = self.lines.feed(bytes(data), t_host)
        return Decoded(p.rows, p.lead, p.t_host, p.malformed, 0, tuple(p.device_errors))

    def finish(self, t_host: float) -> Decoded:
        p = self.lines.finish_detection()
        return Decoded(p.rows, p.lead, p.t_host, p.malformed, 0, tuple(p.device_errors))


class FloatTripletDecoder:
    """Arduino-style characteristics of 3 x float32 LE; one value of each makes a sample."""

    def __init__(self, characteristics: list[str]):
        self.characteristics = characteristics
        self._latest: dict[str, tuple] = {}
        self.channels = 3 * len(characteristics)

    def connection_opened(self) -> None:
        self._latest.clear()

    def connection_lost(self) -> int:
        n = 1 if self._latest else 0
        self._latest.clear()
        return n

    def decode(self, uuid: str, data: bytes, t_host: float) -> Decoded:
        out = Decoded([], [], [])
        if len(data) != 12:
            out.malformed = 1
            return out
        values = struct.unpack("<3f", bytes(data))
        if not all(np.isfinite(values)):
            out.malformed = 1
            return out
        if uuid in self._latest:
            out.dropped = 1  # its partner never came
        self._latest[uuid] = values
        if len(self._latest) == len(self.characteristics):
            out.rows.append([v for c in self.characteristics for v in self._latest[c]])
            out.t_host.append(t_host)
            self._latest.clear()
        return out

    def finish(self, t_host: float) -> Decoded:
        return Decoded([], [], [])


class StructDecoder:
    """Records of a struct format, packed back to back in each notification."""

    def __init__(self, config: BleImuConfig):
        if not config.characteristic or not config.struct_format:
            raise C3tError(f"ble:{config.address}: profile 'struct' needs characteristic=UUID and "
                           "struct_format=FORMAT (e.g. '<6h' or '<I6f')")
        try:
            self.record = struct.Struct(config.struct_format)
        except struct.error as exc:
            raise C3tError(f"ble:{config.address}: struct_format {config.struct_format!r} is not a "
                           f"Python struct format ({exc}); e.g. '<6h' for six int16") from exc
        self.leading = "none" if config.leading == "auto" else config.leading
        if self.leading not in ("none", "timestamp", "seq"):
            raise C3tError(f"ble:{config.address}: leading={config.leading!r}; use none, timestamp or seq")
        n_fields = len(self.record.unpack(bytes(self.record.size)))
        self.channels = n_fields - (self.leading != "none")
        if self.channels < 1:
            raise C3tError(f"ble:{config.address}: struct_format {config.struct_format!r} leaves no channels")
        self.scale = config.scale
        self.characteristics = [config.characteristic.lower()]

    def connection_opened(self) -> None:
        pass

    def connection_lost(self) -> int:
        return 0

    def decode(self, uuid: str, data: bytes, t_host: float) -> Decoded:
        out = Decoded([], [], [])
        if not data or len(data) % self.record.size:
            out.malformed = 1
            return out
        for rec in self.record.iter_unpack(bytes(data)):
            if self.leading == "none":
                out.rows.append([v * self.scale for v in rec])
            else:
                out.lead.append(rec[0])
                out.rows.append([v * self.scale for v in rec[1:]])
            out.t_host.append(t_host)
        return out

    def finish(self, t_host: float) -> Decoded:
        return Decoded([], [], [])


# -- the source ----------------------------------------------------------------------------
class BleImu(Source):
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
        self._health = StreamHealth(nominal_hz=config.rate_hz)
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

    @property
    def streams(self) -> list[str]:
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
            if client is self._client and self._link_lost is not None:
                self._link_lost.set()

        client = factory(self.config.address, disconnected_callback=on_disconnect)
        return client

    # -- life cycle --------------------------------------------------------------------
    def connect(self) -> None:
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
        self.decoder.connection_opened()
        self._health.connected()

    def _make_decoder(self, client):
        services = [str(s.uuid).lower() for s in client.services]
        if self.profile is None:
            self.profile = recognise_profile(services)
            if self.profile is None:
                raise C3tError(
                    f"ble:{self.config.address} offers none of the known IMU services (Nordic UART "
                    f"{NUS_SERVICE}, Arduino {ARDUINO_SERVICE}); its services are {services}. "
                    "Use profile=struct with characteristic=UUID and struct_format=FORMAT.")
        if self.profile == "nus":
            return NusDecoder(self.config, self.spec)
        if self.profile == "arduino":
            chars = [u for u in (ARDUINO_ACCEL, ARDUINO_GYRO) if client.services.get_characteristic(u) is not None]
            if not chars:
                raise C3tError(f"ble:{self.config.address}: no Arduino acceleration characteristic {ARDUINO_ACCEL}")
            return FloatTripletDecoder(chars)
        decoder = StructDecoder(self.config)
        if client.services.get_characteristic(decoder.characteristics[0]) is None:
            raise C3tError(f"ble:{self.config.address} has no characteristic {self.config.characteristic}; "
                           f"its services are {services}")
        return decoder

    async def _subscribe(self, client, generation: int) -> None:
        for uuid in self.decoder.characteristics:
            def callback(sender, data, _uuid=uuid, _gen=generation):
                self._on_notify(_gen, _uuid, data)
            await client.start_notify(uuid, callback)

    def start(self) -> None:
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
            try:
                await self._subscribe(client, generation)
            except Exception as exc:
                self._health.error(f"{self.spec}: subscribing failed ({exc}); reconnecting")
                self._link_lost.set()
            if self._client is client and client.is_connected and not self._link_lost.is_set():
                backoff = self.config.backoff_initial
            waiters = [asyncio.ensure_future(self._link_lost.wait()), asyncio.ensure_future(self._stopping.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if self._stopping.is_set():
                break
            # the link is gone: record the outage, drop this client, try again
            now = self.config.clock()
            self._health.outage_begins(self._last_sample_t if self._last_sample_t is not None else now)
            self._health.error(f"{self.spec}: connection lost; reconnecting")
            cut = self.decoder.connection_lost()
            if cut:
                self._health.drop(cut, malformed=True)
            self._client = None
            await self._quiet_disconnect(client)
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.config.backoff_max)

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
        return self._queue.get_all(timeout)

    def stop(self) -> None:
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
        h = self._health.snapshot(self.config.clock())
        if self.decoder is not None:
            layout = getattr(self.decoder, "layout", None)
            h.channels = layout.channels if layout is not None else getattr(self.decoder, "channels", None)
        return {self.config.stream: h}

    # -- notifications (loop thread) -----------------------------------------------------
    def _on_notify(self, generation: int, uuid: str, data) -> None:
        if generation != self._generation or not self._running:
            self.ignored_notifications += 1   # a callback left from an earlier connection
            return
        self._emit(self.decoder.decode(uuid, data, self.config.clock()))

    def _emit(self, d: Decoded) -> None:
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
        if batch.seq is not None:
            self._health.sequence(batch.seq)
        t_host = batch.t_host
        self._health.outage_ends(float(t_host[0]))
        self._health.count(len(batch), float(t_host[-1]))
        self._last_sample_t = float(t_host[-1])
        self._queue.put(batch)
