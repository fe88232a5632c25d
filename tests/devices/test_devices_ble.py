"""BleImu with the bleak client replaced by a fake radio; decoding and reconnection are real."""
from __future__ import annotations

import asyncio
import struct
import time
from types import SimpleNamespace

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.devices import ble_imu
from c3t.devices.ble_imu import ARDUINO_ACCEL, ARDUINO_GYRO, ARDUINO_SERVICE, NUS_SERVICE, NUS_TX, BleImu, BleImuConfig, scan
from tests.conftest import HANG_S

ADDRESS = "AA:BB:CC:DD:EE:FF"


class FakeServices:
    """bleak's service collection: {service: [characteristic]} or {service: {characteristic: [properties]}}."""

    def __init__(self, services: dict):
        self._services = services

    def __iter__(self):
        return iter(SimpleNamespace(uuid=s, characteristics=[SimpleNamespace(uuid=c, properties=list(
            cs[c] if isinstance(cs, dict) else [])) for c in cs]) for s, cs in self._services.items())

    def get_characteristic(self, uuid):
        for cs in self._services.values():
            if uuid.lower() in cs:
                return SimpleNamespace(uuid=uuid.lower())
        return None


class FakePeripheral:
    """The device across the radio, shared by every client made for it. Like some backends, it
    keeps the callbacks of earlier connections and calls them too (duplicated notifications)."""

    def __init__(self, services: dict[str, list[str]]):
        self.services = FakeServices(services)
        self.refuse_connects = 0          # the next N connection attempts fail
        self.refuse_subscriptions = 0     # the next N start_notify calls fail
        self.attempts: list[float] = []   # time of every connection attempt
        self.callbacks: list[tuple[str, object]] = []
        self.client = None
        self.loop = None

    def factory(self, address, disconnected_callback):
        assert address == ADDRESS
        return FakeClient(self, disconnected_callback)

    def notify(self, uuid: str, data: bytes) -> None:
        for u, cb in list(self.callbacks):
            if u == uuid:
                self.loop.call_soon_threadsafe(cb, SimpleNamespace(uuid=u), bytearray(data))

    def drop_link(self) -> None:
        client = self.client
        client.is_connected = False
        self.loop.call_soon_threadsafe(client.disconnected_callback, client)

    def subscriptions(self) -> int:
        return len(self.callbacks)


class FakeClient:
    def __init__(self, peripheral: FakePeripheral, disconnected_callback):
        self.peripheral = peripheral
        self.disconnected_callback = disconnected_callback
        self.is_connected = False

    @property
    def services(self):
        return self.peripheral.services

    async def connect(self):
        p = self.peripheral
        p.attempts.append(time.monotonic())
        await asyncio.sleep(0)
        if p.refuse_connects > 0:
            p.refuse_connects -= 1
            raise OSError(f"Device with address {ADDRESS} was not found")
        p.loop = asyncio.get_running_loop()
        p.client = self
        self.is_connected = True

    async def start_notify(self, uuid, callback):
        assert self.is_connected
        if self.peripheral.refuse_subscriptions > 0:
            self.peripheral.refuse_subscriptions -= 1
            raise OSError("[org.bluez.Error.NotPermitted] Notify not permitted")
        self.peripheral.callbacks.append((uuid.lower(), callback))

    async def disconnect(self):
        self.is_connected = False


def wait_for(cond, timeout=HANG_S):   # the timeout only ends a hang
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.002)
    return cond()


def send_lines(peripheral, text: str, mtu_payload: int = 20) -> None:
    data = text.encode()
    for i in range(0, len(data), mtu_payload):
        peripheral.notify(NUS_TX, data[i:i + mtu_payload])


def drain(imu, until, timeout=HANG_S):
    batches = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        batches += imu.read(timeout=0.02)
        if until(batches):
            break
    return batches


def test_nus_lines_across_notifications_and_reconnection_with_backoff():
    radio = FakePeripheral({NUS_SERVICE: [NUS_TX]})
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, leading="seq", channels=6, rate_hz=100,
                              backoff_initial=0.02, backoff_max=0.08))
    line = lambda k: f"{k},{k * 0.5},{-k},0.25,{k % 9},1e-3,-7\n"  # noqa: E731
    with imu:
        assert imu.profile == "nus"
        assert wait_for(lambda: radio.subscriptions() == 1)
        send_lines(radio, "9,0.0\n" + "".join(line(k) for k in range(0, 50)))  # starts with a tail
        first = drain(imu, lambda b: sum(map(len, b)) >= 50)
        send_lines(radio, "".join(line(k) for k in range(50, 60)) + "60,30.0,-6")  # cut by the drop
        first += drain(imu, lambda b: sum(map(len, b)) >= 10)
        radio.refuse_connects = 3
        radio.drop_link()
        assert wait_for(lambda: radio.subscriptions() == 2 and imu.health()["imu"].connects == 2)
        send_lines(radio, "\n" + "".join(line(k) for k in range(70, 120)))  # 60-69 lost in the outage
        second = drain(imu, lambda b: sum(map(len, b)) >= 50)
    health = imu.health()["imu"]
    seq = np.concatenate([b.seq for b in first + second])
    np.testing.assert_array_equal(seq, list(range(60)) + list(range(70, 120)))  # each exactly once
    values = np.concatenate([b.values for b in first + second])
    np.testing.assert_allclose(values[:, 0], seq * 0.5)
    assert values.shape[1] == 6
    assert imu.ignored_notifications > 0       # the stale callback fired and was ignored
    assert health.malformed == 2               # the first tail, the line cut by the drop
    assert health.dropped == 2 + 10            # plus 60-69, numbered but never delivered
    assert len(health.gaps) == 1 and health.connects == 2 and health.state == "disconnected"
    # backoff: the failed attempts were spaced 0.02, 0.04, 0.08 s (+ the first wait 0.02)
    gaps = np.diff(radio.attempts[1:])
    assert len(radio.attempts) == 1 + 3 + 1
    assert np.all(gaps >= np.array([0.04, 0.08, 0.08]) * 0.9), gaps


def test_arduino_float_triplets_pair_into_six_channels():
    radio = FakePeripheral({ARDUINO_SERVICE: [ARDUINO_ACCEL, ARDUINO_GYRO]})
    with BleImu(ADDRESS, client_factory=radio.factory) as imu:
        assert imu.profile == "arduino"
        assert wait_for(lambda: radio.subscriptions() == 2)
        acc = lambda i: struct.pack("<3f", i, 0.5, -1.0)  # noqa: E731
        gyr = lambda i: struct.pack("<3f", 10 * i, 20.0, 30.0)  # noqa: E731
        radio.notify(ARDUINO_ACCEL, acc(1))
        radio.notify(ARDUINO_GYRO, gyr(1))
        radio.notify(ARDUINO_ACCEL, acc(2))
        radio.notify(ARDUINO_ACCEL, acc(3))      # replaces 2 before its gyroscope partner came
        radio.notify(ARDUINO_GYRO, gyr(3))
        radio.notify(ARDUINO_GYRO, b"\x00" * 8)  # wrong size
        batches = drain(imu, lambda b: sum(map(len, b)) >= 2)
        assert wait_for(lambda: imu.health()["imu"].malformed == 1)
        health = imu.health()["imu"]
    values = np.concatenate([b.values for b in batches])
    np.testing.assert_allclose(values, [[1, 0.5, -1, 10, 20, 30], [3, 0.5, -1, 30, 20, 30]])
    assert health.dropped == 2 and health.channels == 6


def test_struct_records_with_device_timestamps_and_sequence_drops():
    char = "0000ffe1-0000-1000-8000-00805f9b34fb"
    radio = FakePeripheral({"0000ffe0-0000-1000-8000-00805f9b34fb": [char]})
    cfg = BleImuConfig(ADDRESS, profile="struct", characteristic=char, struct_format="<I3h",
                       leading="timestamp", time_scale=1e-3, scale=0.01, rate_hz=50, client_factory=radio.factory)
    with BleImu(cfg) as imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        radio.notify(char, struct.pack("<I3h", 1000, 100, -200, 300) + struct.pack("<I3h", 1020, 1, 2, 3))
        radio.notify(char, b"\x01\x02\x03")  # not a whole record
        batches = drain(imu, lambda b: sum(map(len, b)) >= 2)
        assert wait_for(lambda: imu.health()["imu"].malformed == 1)
    values = np.concatenate([b.values for b in batches])
    np.testing.assert_allclose(values, [[1.0, -2.0, 3.0], [0.01, 0.02, 0.03]], rtol=1e-6)
    np.testing.assert_allclose(np.concatenate([b.t_device for b in batches]), [1.0, 1.02])

    cfg = BleImuConfig(ADDRESS, profile="struct", characteristic=char, struct_format="<H2f",
                       leading="seq", client_factory=radio.factory)
    radio.callbacks.clear()
    with BleImu(cfg) as imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        for s in (5, 6, 9, 10):
            radio.notify(char, struct.pack("<H2f", s, 1.0, 2.0))
        batches = drain(imu, lambda b: sum(map(len, b)) >= 4)
        health = imu.health()["imu"]
    assert np.concatenate([b.seq for b in batches]).tolist() == [5, 6, 9, 10]
    assert health.dropped == 2  # 7 and 8 never came


def test_unknown_device_and_unreachable_device_are_clear_errors():
    radio = FakePeripheral({"0000180f-0000-1000-8000-00805f9b34fb": ["00002a19-0000-1000-8000-00805f9b34fb"]})
    imu = BleImu(ADDRESS, client_factory=radio.factory)
    with pytest.raises(C3tError, match="none of the known IMU services.*0000180f.*profile=struct"):
        imu.connect()
    imu.disconnect()
    radio.refuse_connects = 1
    imu = BleImu(ADDRESS, client_factory=radio.factory)
    with pytest.raises(C3tError, match=f"cannot connect to BLE device {ADDRESS}.*not found.*c3t devices --ble"):
        imu.connect()
    imu.disconnect()
    with pytest.raises(C3tError, match="struct_format"):
        BleImu(BleImuConfig(ADDRESS, profile="struct", characteristic="ffe1", struct_format="<Q?z",
                            client_factory=radio.factory)).connect()


def test_scan_recognises_profiles():
    dev = lambda addr, name: SimpleNamespace(address=addr, name=name)  # noqa: E731
    adv = lambda name, rssi, uuids: SimpleNamespace(local_name=name, rssi=rssi, service_uuids=uuids)  # noqa: E731

    async def discover(timeout):
        return {
            "A": (dev("A", None), adv("Nano33BLESense-1234", -70, [ARDUINO_SERVICE])),
            "B": (dev("B", "UART"), adv(None, -40, [NUS_SERVICE.upper()])),
            "C": (dev("C", "Headphones"), adv("Headphones", -90, [])),
        }

    found = scan(0.1, discover=discover)
    assert [(d.address, d.name, d.profile) for d in found] == [
        ("B", "UART", "nus"), ("A", "Nano33BLESense-1234", "arduino"), ("C", "Headphones", None)]
    assert found[0].spec == "ble:B?profile=nus"
    assert ble_imu.recognise_profile([]) is None


# -- real boards (issue 12) ------------------------------------------------------------------------
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
HM10_CHAR = "0000ffe1-0000-1000-8000-00805f9b34fb"


def cr_line(k: int) -> str:
    return f"{(k * 7) % 11 * 0.1:.2f},{-0.98},{k},{1.5},{-0.3},0.20\r"


@pytest.mark.parametrize("services, tx", [
    ({NUS_SERVICE: {NUS_RX: ["write", "write-without-response"], NUS_TX: ["notify"]}}, NUS_TX),
    ({NUS_SERVICE: {NUS_RX: ["notify"], NUS_TX: ["write-without-response"]}}, NUS_RX),     # roles swapped
    ({ble_imu.HM10_SERVICE: {HM10_CHAR: ["read", "write-without-response", "notify"]}}, HM10_CHAR),
])
def test_uart_lines_ending_in_cr_from_the_characteristic_that_notifies(services, tx):
    """Nordic UART lines ending in a bare CR, 20-byte notifications, 100 Hz: every line a sample."""
    radio = FakePeripheral(services)
    with BleImu(ADDRESS, client_factory=radio.factory) as imu:
        assert imu.profile == "nus" and imu.decoder.characteristics == [tx]
        assert wait_for(lambda: radio.subscriptions() == 1)
        n = 150
        buffered = b""
        for k in range(n):                      # 100 Hz, in notifications of at most 20 bytes
            buffered += cr_line(k).encode()
            while len(buffered) >= 20:
                radio.notify(tx, buffered[:20])
                buffered = buffered[20:]
            time.sleep(0.01)
        radio.notify(tx, buffered)
        batches = drain(imu, lambda b: sum(map(len, b)) >= n)
        health = imu.health()["imu"]
    values = np.concatenate([b.values for b in batches])
    assert values.shape == (n, 6) and health.received == n and health.malformed == 0
    np.testing.assert_allclose(values[:, 2], np.arange(n))
    np.testing.assert_allclose(values[:, 5], 0.2, rtol=1e-6)
    assert health.diagnosis is None


def test_uart_service_without_a_notifying_characteristic_is_a_clear_error():
    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["read"]}})
    imu = BleImu(ADDRESS, client_factory=radio.factory)
    with pytest.raises(C3tError, match="no characteristic that notifies or indicates.*6e400003.*read"):
        imu.connect()
    imu.disconnect()


def test_failed_subscription_is_its_own_cause_and_retries_back_off():
    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["notify"]}})
    radio.refuse_subscriptions = 4
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, backoff_initial=0.02, backoff_max=0.08))
    with imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        # while it failed, health said why
        failures = len(radio.attempts) - 1
        text = "".join(cr_line(k) for k in range(100)).encode()
        for i in range(0, len(text), 20):
            radio.notify(NUS_TX, text[i:i + 20])
        batches = drain(imu, lambda b: sum(map(len, b)) >= 100, timeout=10)
    assert failures == 4 and sum(map(len, batches)) == 100
    gaps = np.diff(radio.attempts)
    assert np.all(gaps >= np.array([0.02, 0.04, 0.08, 0.08]) * 0.9), gaps   # doubling, capped


def test_failed_subscription_is_reported_not_masked_as_connection_lost():
    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["notify"]}})
    radio.refuse_subscriptions = 10**6
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, backoff_initial=0.05, backoff_max=0.2))
    with imu:
        assert wait_for(lambda: len(radio.attempts) >= 3)
        health = imu.health()["imu"]
        time.sleep(0.5)
        attempts = len(radio.attempts)
    assert health.state == "no samples" and health.received == 0
    assert health.diagnosis.startswith(f"ble:{ADDRESS}: no samples: subscribing to notifications of {NUS_TX} "
                                       "failed ([org.bluez.Error.NotPermitted] Notify not permitted); retrying in")
    assert "pairing" in health.diagnosis and "connection lost" not in health.last_error
    assert attempts <= 3 + 0.5 / 0.2 + 2      # backed off to 0.2 s, not looping


def test_no_sample_twice_after_reconnections_with_stale_callbacks():
    """Some backends keep the callbacks of earlier connections: after two reconnections every
    notification reaches three callbacks; each sample is delivered once."""
    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["notify"]}})
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, channels=6, rate_hz=100, leading="none",
                              backoff_initial=0.01, backoff_max=0.02))
    got = []
    with imu:
        for part in range(3):
            assert wait_for(lambda: radio.subscriptions() == part + 1 and imu.health()["imu"].connects == part + 1)
            text = "".join(cr_line(k) for k in range(part * 40, part * 40 + 40)).encode()
            for i in range(0, len(text), 20):
                radio.notify(NUS_TX, text[i:i + 20])
            got += drain(imu, lambda b: sum(map(len, b)) >= 40)
            if part < 2:
                radio.drop_link()
    values = np.concatenate([b.values for b in got])
    np.testing.assert_array_equal(values[:, 2], np.arange(120))
    assert imu.ignored_notifications > 0


def test_struct_payloads_of_the_wrong_size_are_diagnosed():
    char = "0000ffe4-0000-1000-8000-00805f9b34fb"
    radio = FakePeripheral({"0000ffe5-0000-1000-8000-00805f9b34fb": {char: ["notify"]}})
    cfg = BleImuConfig(ADDRESS, profile="struct", characteristic=char, struct_format="<6h", client_factory=radio.factory)
    with BleImu(cfg) as imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < HANG_S and not imu.health()["imu"].diagnosis:
            radio.notify(char, bytes([0x55, 0x51]) + bytes(9))   # 11-byte WitMotion packets
            time.sleep(0.02)
        health = imu.health()["imu"]
    assert health.state == "no samples" and health.bytes_received > 0
    assert "no samples: " in health.diagnosis and "(11 bytes are not whole records of '<6h' (12 bytes each))" \
        in health.diagnosis
