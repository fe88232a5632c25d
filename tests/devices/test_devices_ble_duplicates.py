"""Issue 31 through BleImu with the client hook (tests/devices/test_devices_ble.py's fake radio):
notifications delivered twice after a reconnection, and per-channel scale and units of struct
profiles."""
from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.devices.ble_imu import ARDUINO_ACCEL, ARDUINO_GYRO, ARDUINO_SERVICE, NUS_SERVICE, NUS_TX, BleImu, BleImuConfig
from c3t.devices.spec import open_source
from tests.devices.test_devices_ble import ADDRESS, FakePeripheral, drain, wait_for

NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
CHAR = "0000ffe1-0000-1000-8000-00805f9b34fb"
SERVICE = "0000ffe0-0000-1000-8000-00805f9b34fb"


def doubled(radio: FakePeripheral) -> None:
    """The current callback fires twice from now on (registered twice, as after some reconnections)."""
    radio.callbacks.append(radio.callbacks[-1])


def test_nus_lines_notified_twice_after_a_reconnection_are_kept_once():
    """300 numbered lines, each notification delivered twice on the current connection: 300
    samples, 300 duplicates counted and said, no sequence number twice."""
    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["notify"]}})
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, backoff_initial=0.01, backoff_max=0.02))
    line = lambda k: f"{k},{k % 7 * 0.1:.1f},-0.98,0.12\n".encode()
    with imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        k = 0
        while imu.decoder.layout is None:          # the format is detected on the first connection
            radio.notify(NUS_TX, line(k))
            k += 1
            time.sleep(0.02)
        first = k
        radio.drop_link()
        assert wait_for(lambda: imu.health()["imu"].connects == 2 and radio.subscriptions() == 2)
        doubled(radio)
        for k in range(first, first + 300):
            radio.notify(NUS_TX, line(k))
        batches = drain(imu, lambda b: sum(map(len, b)) >= first + 300, timeout=60)
        health = imu.health()["imu"]
    assert imu.decoder.layout.leading == "seq"
    seq = np.concatenate([b.seq for b in batches])
    np.testing.assert_array_equal(seq, np.arange(first + 300))      # each exactly once
    assert health.duplicates >= 299 and health.received == first + 300   # the last copy waits for a next one
    assert "came twice" in health.warning and "dropped, each kept once" in health.warning


def test_uart_lines_without_a_counter_in_notifications_delivered_twice_are_read_once():
    """Lines without a counter, cut into 20-byte notifications, every notification delivered twice
    after a reconnection: each line read once and whole (no bytes spliced in twice)."""
    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["notify"]}})
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, channels=6, rate_hz=100, leading="none",
                              backoff_initial=0.01, backoff_max=0.02))
    line = lambda k: f"{(k * 7) % 11 * 0.1:.2f},-0.98,{k},1.5,-0.3,0.20\n"
    with imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        radio.drop_link()
        assert wait_for(lambda: imu.health()["imu"].connects == 2 and radio.subscriptions() == 2)
        doubled(radio)
        text = "\n" + "".join(line(k) for k in range(200))
        for i in range(0, len(text), 20):
            radio.notify(NUS_TX, text[i:i + 20].encode())
        batches = drain(imu, lambda b: sum(map(len, b)) >= 200, timeout=60)
        health = imu.health()["imu"]
    values = np.concatenate([b.values for b in batches])
    np.testing.assert_array_equal(values[:, 2], np.arange(200))
    assert health.malformed == 0 and health.duplicates >= len(text) // 20 - 1
    assert "came twice" in health.warning


def test_a_uart_device_repeating_the_same_line_is_not_taken_for_duplicates():
    """A still sensor printing the same line again and again, one line per notification: every line is a sample."""
    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["notify"]}})
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, channels=3, rate_hz=50, leading="none"))
    with imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        for _ in range(40):
            radio.notify(NUS_TX, b"0.00,0.00,1.00\n")
        batches = drain(imu, lambda b: sum(map(len, b)) >= 40)
        health = imu.health()["imu"]
    assert sum(map(len, batches)) == 40 and health.duplicates == 0


@pytest.mark.parametrize("leading, fmt", [("seq", "<H3h"), ("timestamp", "<I3h")])
def test_struct_records_delivered_twice_are_kept_once(leading, fmt):
    radio = FakePeripheral({SERVICE: {CHAR: ["notify"]}})
    cfg = BleImuConfig(ADDRESS, profile="struct", characteristic=CHAR, struct_format=fmt, leading=leading,
                       time_scale=1e-3, rate_hz=50, client_factory=radio.factory)
    with BleImu(cfg) as imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        doubled(radio)
        for k in range(50):
            radio.notify(CHAR, struct.pack(fmt, 20 * k if leading == "timestamp" else k, k, -k, 7))
        batches = drain(imu, lambda b: sum(map(len, b)) >= 50)
        assert wait_for(lambda: imu.health()["imu"].duplicates == 50)
        health = imu.health()["imu"]
    values = np.concatenate([b.values for b in batches])
    np.testing.assert_array_equal(values[:, 0], np.arange(50))
    assert health.received == 50 and health.dropped == 0


def test_a_device_restart_that_reuses_sequence_numbers_is_not_taken_for_duplicates():
    radio = FakePeripheral({SERVICE: {CHAR: ["notify"]}})
    cfg = BleImuConfig(ADDRESS, profile="struct", characteristic=CHAR, struct_format="<H3h", leading="seq",
                       rate_hz=50, client_factory=radio.factory)
    with BleImu(cfg) as imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        for run in (5, 6):                    # restarted: 0..19 again, with other values
            for k in range(20):
                radio.notify(CHAR, struct.pack("<H3h", k, k, 100, run))
        batches = drain(imu, lambda b: sum(map(len, b)) >= 40)
    assert sum(map(len, batches)) == 40 and imu.health()["imu"].duplicates == 0


def test_struct_profiles_scale_and_name_units_per_channel():
    """An LSM6DS3-style record: accelerometer counts x 0.061 mg, gyroscope counts x 8.75 mdps,
    given per channel in the spec."""
    radio = FakePeripheral({SERVICE: {CHAR: ["notify"]}})
    imu = open_source(f"ble:{ADDRESS}?profile=struct&characteristic={CHAR}&struct_format=<6h"
                      "&scale=0.000061,0.000061,0.000061,0.00875,0.00875,0.00875&units=g,g,g,deg/s,deg/s,deg/s")
    imu.config.client_factory = radio.factory
    with imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        radio.notify(CHAR, struct.pack("<6h", 16393, 0, -16393, 1000, -2000, 0))
        batches = drain(imu, lambda b: sum(map(len, b)) >= 1)
        health = imu.health()["imu"]
    np.testing.assert_allclose(batches[0].values[0], [1.0, 0, -1.0, 8.75, -17.5, 0], rtol=1e-4)
    assert health.units == ["g", "g", "g", "deg/s", "deg/s", "deg/s"]
    with pytest.raises(C3tError, match="scale= has 2 values for 6 channels"):
        BleImu(BleImuConfig(ADDRESS, profile="struct", characteristic=CHAR, struct_format="<6h", scale="1,2",
                            client_factory=radio.factory)).connect()


def test_struct_channels_in_si_units_are_recorded_in_g_and_deg_per_s():
    radio = FakePeripheral({SERVICE: {CHAR: ["notify"]}})
    cfg = BleImuConfig(ADDRESS, profile="struct", characteristic=CHAR, struct_format="<6f", client_factory=radio.factory,
                       scale="1,1,1,1,1,0.001", units="m/s^2,m/s^2,m/s^2,rad/s,rad/s,mdps")
    with BleImu(cfg) as imu:
        assert wait_for(lambda: radio.subscriptions() == 1)
        radio.notify(CHAR, struct.pack("<6f", 9.80665, 0.0, -9.80665, np.pi, 0.0, 2000.0))
        batches = drain(imu, lambda b: sum(map(len, b)) >= 1)
        health = imu.health()["imu"]
    np.testing.assert_allclose(batches[0].values[0], [1.0, 0, -1.0, 180.0, 0, 0.002], rtol=1e-5)
    assert health.units == ["g", "g", "g", "deg/s", "deg/s", "deg/s"]


def test_the_arduino_profile_names_its_units():
    radio = FakePeripheral({ARDUINO_SERVICE: [ARDUINO_ACCEL, ARDUINO_GYRO]})
    with BleImu(ADDRESS, client_factory=radio.factory) as imu:
        assert wait_for(lambda: radio.subscriptions() == 2)
        assert imu.health()["imu"].units == ["g", "g", "g", "deg/s", "deg/s", "deg/s"]


def test_probe_explains_duplicate_notifications():
    """`c3t probe` on a BLE UART whose notifications arrive twice: the count and the warning."""
    import threading

    from c3t.devices.probe import probe

    radio = FakePeripheral({NUS_SERVICE: {NUS_RX: ["write"], NUS_TX: ["notify"]}})
    imu = BleImu(BleImuConfig(ADDRESS, client_factory=radio.factory, channels=3, rate_hz=50, leading="seq"))
    stop = threading.Event()

    def device():
        assert wait_for(lambda: radio.subscriptions() == 1, 30)
        doubled(radio)
        k = 0
        while not stop.is_set():
            radio.notify(NUS_TX, f"{k},{k % 7 * 0.1:.1f},-0.98,0.12\n".encode())
            k += 1
            time.sleep(0.02)

    thread = threading.Thread(target=device, daemon=True)
    thread.start()
    try:
        report = probe(f"ble:{ADDRESS}", seconds=2.0, source=imu)
    finally:
        stop.set()
        thread.join()
    text = report.text()
    assert report.ok and "duplicates dropped" in text and "  warning: ble:" in text and "came twice" in text
