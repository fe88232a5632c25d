"""BLE IMU profiles: which characteristics carry the samples, and how payloads become samples.

- "nus": a BLE UART: the Nordic UART Service (6E400001-...) or the HM-10/CC254x serial service
  (FFE0). The device notifies (or indicates) text lines in the line format of a serial IMU
  (see lineformat.py), reassembled across notifications. Which characteristic is the device's
  transmit side is read from the characteristic *properties* (notify/indicate: device -> host;
  write: host -> device), not from fixed UUID roles: boards and libraries swap them.
- "arduino": the Arduino Nano 33 BLE (Sense) service (e905de3e-0000-...): acceleration (3001)
  and gyroscope (3002) characteristics of 3 little-endian float32 each.
- "struct": any notify `characteristic` whose payload is records of `struct_format`.

`make_decoder(profile, services, config, name)` picks the characteristics and returns a decoder:
`characteristics` (the UUIDs to subscribe to), `decode(uuid, data, t_host) -> Decoded`,
`finish(t_host)`, `connection_opened(t_host)`, `connection_lost() -> cut samples`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.streams.units import plan_units, unit_of
from c3t.devices.lineformat import LineStream

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"          # device -> host, notify
ARDUINO_SERVICE = "e905de3e-0000-44de-92c4-bb6e04fb0212"
ARDUINO_ACCEL = "e905de3e-3001-44de-92c4-bb6e04fb0212"   # 3 x float32 LE, g
ARDUINO_GYRO = "e905de3e-3002-44de-92c4-bb6e04fb0212"    # 3 x float32 LE, deg/s
ARDUINO_UNITS = {ARDUINO_ACCEL: "g", ARDUINO_GYRO: "deg/s"}
HM10_SERVICE = "0000ffe0-0000-1000-8000-00805f9b34fb"  # HM-10 / CC254x serial: one notify+write characteristic
PROFILES = ("auto", "nus", "arduino", "struct")
SERVICE_PROFILES = {NUS_SERVICE: "nus", HM10_SERVICE: "nus", ARDUINO_SERVICE: "arduino"}
UART_SERVICES = (NUS_SERVICE, HM10_SERVICE)


def recognise_profile(service_uuids) -> str | None:
    """The profile a device offers, from its advertised or discovered service UUIDs."""
    for uuid in service_uuids or ():
        profile = SERVICE_PROFILES.get(str(uuid).lower())
        if profile:
            return profile
    return None



# -- decoders: notification payloads -> samples --------------------------------------------
@dataclass
class Decoded:
    """Samples decoded from one notification: rows (n, C), lead (device time or sequence
    numbers, if any), t_host (n,); malformed payloads and dropped samples counted; `reason`
    says why the last payload was rejected."""

    rows: list
    lead: list
    t_host: list
    malformed: int = 0
    dropped: int = 0
    device_errors: tuple = ()
    reason: str | None = None
    duplicates: int = 0         # notifications delivered twice, left out


class NusDecoder:
    """Line format over a BLE UART: bytes from successive notifications form lines."""

    def __init__(self, config: Any, name: str, characteristics: list[str] | None = None):
        self.lines = LineStream(channels=config.channels, rate_hz=config.rate_hz, leading=config.leading,
                                time_scale=config.time_scale, source=name)
        self.characteristics = characteristics or [NUS_TX]
        self._prev: bytes | None = None     # the last notification's bytes
        self._held = 0                      # copies of it held back: 1 a possible duplicate, -1 a run (fed)

    @property
    def layout(self):
        """The LineLayout the line parser has detected (None until it is known)."""
        return self.lines.layout

    def connection_opened(self, t_host: float | None = None) -> None:
        """A new connection at host time `t_host` (seconds): the line parser starts with an
        empty buffer."""
        self.lines.connection_opened(t_host)
        self._prev, self._held = None, 0

    def connection_lost(self) -> int:
        """The link dropped: the partly received line is discarded. Returns how many samples
        that cut (0 or 1)."""
        return self.lines.connection_lost()

    def decode(self, uuid: str, data: bytes, t_host: float) -> Decoded:
        """Feed one notification's bytes (at most MTU-3 of them, cutting a line anywhere) to the
        line parser; the samples of the lines it completed, stamped `t_host`.

        A notification delivered twice (a callback registered twice after a reconnection) would
        splice its bytes into the lines twice. Pieces of varying text lines never repeat back to
        back, so a notification exactly equal to the one before, and followed by a different
        one, is a duplicate: held back when it comes, left out (counted in `duplicates`) when the
        next one differs. Three or more equal ones in a row are a device repeating itself (the
        same line, again and again): all are fed."""
        data = bytes(data)
        if data == self._prev:
            if self._held == -1:
                return self._decoded(self.lines.feed(data, t_host))
            self._held += 1
            if self._held < 2:
                return Decoded([], [], [])
            self._held = -1                  # a run: the held copy and this one are data
            return self._decoded(self.lines.feed(data + data, t_host))
        out = Decoded([], [], [], duplicates=1 if self._held == 1 else 0)
        self._prev, self._held = data, 0
        got = self._decoded(self.lines.feed(data, t_host))
        got.duplicates = out.duplicates
        return got

    def finish(self, t_host: float) -> Decoded:
        """The samples held back while the line format was being detected, released now (on stop)."""
        return self._decoded(self.lines.finish_detection())

    def poll(self, t_host: float) -> Decoded:
        """Samples held back while detecting the format, once the detection time has passed."""
        return self._decoded(self.lines.poll(t_host))

    @staticmethod
    def _decoded(p) -> Decoded:
        return Decoded(p.rows, p.lead, p.t_host, p.malformed, 0, tuple(p.device_errors))


class FloatTripletDecoder:
    """Arduino-style characteristics of 3 x float32 LE; one value of each makes a sample."""

    def __init__(self, characteristics: list[str]):
        self.characteristics = characteristics
        self.units = [ARDUINO_UNITS.get(c, "?") for c in characteristics for _ in range(3)]
        self._latest: dict[str, tuple] = {}
        self.channels = 3 * len(characteristics)

    def connection_opened(self, t_host: float | None = None) -> None:
        """A new connection: forget values still waiting for their partners."""
        self._latest.clear()

    def connection_lost(self) -> int:
        """Forget a half-made sample; returns 1 if there was one (cut by the loss), else 0."""
        n = 1 if self._latest else 0
        self._latest.clear()
        return n

    def decode(self, uuid: str, data: bytes, t_host: float) -> Decoded:
        """One notification of characteristic `uuid`: 12 bytes, 3 x float32 little-endian (g
        for the Arduino acceleration characteristic, deg/s for its gyroscope). Once every
        characteristic has sent a value, their values make one sample of 3 x len(characteristics)
        channels, stamped `t_host`. Another payload size or a non-finite value counts as malformed;
        a value replaced before its partners came counts as dropped."""
        out = Decoded([], [], [])
        if len(data) != 12:
            out.malformed, out.reason = 1, f"{len(data)} bytes, not 3 float32 (12 bytes)"
            return out
        values = struct.unpack("<3f", bytes(data))
        if not all(np.isfinite(values)):
            out.malformed, out.reason = 1, "a value that is not a finite number"
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
        """Nothing is held back: an empty Decoded."""
        return Decoded([], [], [])


def per_channel(value, channels: int, name: str, address: str, kind=float) -> list:
    """One value per channel from a spec's `name=`: a single value for every channel, or a
    comma-separated list of `channels` values ("0.000061,0.000061,0.000061,0.00875,0.00875,0.00875",
    "g,g,g,deg/s,deg/s,deg/s"); `kind` converts each.

    Raises:
        C3tError: for another count of values or a value `kind` cannot read
    """
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [value]
    if len(items) == 1:
        items = items * channels
    if len(items) != channels:
        raise C3tError(f"ble:{address}: {name}= has {len(items)} values for {channels} channels; give one for "
                       f"every channel, or a single one for all")
    try:
        return [kind(v) for v in items]
    except (TypeError, ValueError):
        raise C3tError(f"ble:{address}: {name}={value!r}: expected numbers, e.g. {name}=0.000061,0.00875") from None


class StructDecoder:
    """Records of a struct format, packed back to back in each notification.

    Raises:
        C3tError: when `characteristic` or `struct_format` is missing, `leading` is not none / timestamp
            / seq, or the struct format is not valid or leaves no channels
    """

    def __init__(self, config: Any):
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
        self.scale = per_channel(config.scale, self.channels, "scale", config.address, float)
        self.units = None
        if config.units:   # named units convert to c3t's g and deg/s (core/streams/units.py); others stay as named
            given = per_channel(config.units, self.channels, "units", config.address, str)
            texts = [unit_of(u) for u in given]
            plan = plan_units(self.channels, None, "auto", texts, None, f"ble:{config.address}")
            self.scale = [s * f if t else s for s, f, t in zip(self.scale, plan.scale, texts)]
            self.units = [plan.units[i] if t else given[i] for i, t in enumerate(texts)]
        self.characteristics = [config.characteristic.lower()]

    def connection_opened(self, t_host: float | None = None) -> None:
        """Nothing to reset: records never span notifications."""
        pass

    def connection_lost(self) -> int:
        """Nothing can be cut by a lost link: returns 0."""
        return 0

    def decode(self, uuid: str, data: bytes, t_host: float) -> Decoded:
        """The records of `struct_format` packed in one payload, each channel times its `scale`, all
        stamped `t_host`; with a leading field (timestamp or seq) that field goes unscaled to
        `lead`. A payload that is not a whole number of records counts as one malformed."""
        out = Decoded([], [], [])
        if not data or len(data) % self.record.size:
            out.malformed = 1
            out.reason = (f"{len(data)} bytes are not whole records of {self.record.format!r} "
                          f"({self.record.size} bytes each)")
            return out
        for rec in self.record.iter_unpack(bytes(data)):
            if self.leading != "none":
                out.lead.append(rec[0])
            out.rows.append([v * s for v, s in zip(rec[self.leading != "none":], self.scale)])
            out.t_host.append(t_host)
        return out

    def finish(self, t_host: float) -> Decoded:
        """Nothing is held back: an empty Decoded."""
        return Decoded([], [], [])


# -- choosing the characteristics ------------------------------------------------------------
def _props(char) -> set[str]:
    return {str(p).lower() for p in (getattr(char, "properties", None) or ())}


def describe_services(services) -> str:
    """Services and their characteristics with properties, for error messages."""
    parts = []
    for s in services:
        chars = ", ".join(f"{str(c.uuid).lower()} [{'/'.join(sorted(_props(c))) or '?'}]"
                          for c in getattr(s, "characteristics", ()))
        parts.append(f"{str(s.uuid).lower()} ({chars})" if chars else str(s.uuid).lower())
    return "; ".join(parts) or "none"


def uart_transmit_characteristics(services, name: str) -> list[str]:
    """The device -> host characteristics of a BLE UART service: those that notify or indicate.

    A service whose characteristics state no properties (some backends' caches) falls back to
    the Nordic TX UUID.

    Raises:
        C3tError: naming the characteristics, when none can notify
    """
    for s in services:
        if str(s.uuid).lower() not in UART_SERVICES:
            continue
        chars = list(getattr(s, "characteristics", ()))
        if chars and not any(_props(c) for c in chars):
            return [NUS_TX] if any(str(c.uuid).lower() == NUS_TX for c in chars) else [str(chars[0].uuid).lower()]
        tx = [str(c.uuid).lower() for c in chars if _props(c) & {"notify", "indicate"}]
        if tx:
            return list(dict.fromkeys(tx))
        raise C3tError(f"{name}: the UART service {str(s.uuid).lower()} has no characteristic that notifies or "
                       f"indicates (its characteristics: {describe_services([s])}); the device cannot send "
                       "samples to this host over it")
    return [NUS_TX]


def make_decoder(profile: str, services, config: Any, name: str):
    """The decoder of `profile` for a connected device's `services` (bleak's collection).

    Raises:
        C3tError: when the device lacks the characteristic the profile reads (the message lists its
            services)
    """
    uuids = [str(s.uuid).lower() for s in services]
    if profile == "nus":
        return NusDecoder(config, name, uart_transmit_characteristics(services, name))
    if profile == "arduino":
        chars = [u for u in (ARDUINO_ACCEL, ARDUINO_GYRO) if services.get_characteristic(u) is not None]
        if not chars:
            raise C3tError(f"{name}: no Arduino acceleration characteristic {ARDUINO_ACCEL}")
        return FloatTripletDecoder(chars)
    decoder = StructDecoder(config)
    if services.get_characteristic(decoder.characteristics[0]) is None:
        raise C3tError(f"{name} has no characteristic {config.characteristic}; its services are {uuids}")
    return decoder
