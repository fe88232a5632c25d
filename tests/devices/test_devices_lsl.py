"""Lab Streaming Layer in and out with real pylsl outlets and inlets (loopback): lsl:NAME and
lsl:type=... inlets, the clock offset, units from the stream info, and decisions received by an
inlet in another process."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")   # the `lsl` extra; only a missing package skips

from c3t.core.errors import C3tError
from c3t.core.streams.syncbuffer import SyncBuffer
from c3t.core.streams.units import RAD_TO_DEG
from c3t.core.streams.units import STANDARD_GRAVITY as G
from c3t.devices.lsl import DecisionOutlet, list_streams, lsl_minus_host
from c3t.devices.spec import open_source
from tests.conftest import HANG_S, wait_until

N, HZ = 300, 100.0
NAMES = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def imu_outlet(name: str, kind: str = "IMU", units=("m/s^2",) * 3 + ("rad/s",) * 3):
    info = pylsl.StreamInfo(name, kind, 6, HZ, pylsl.cf_float32, f"{name}-id")
    channels = info.desc().append_child("channels")
    for label, unit in zip(NAMES, units):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
    return pylsl.StreamOutlet(info)


def sample(k: int) -> list[float]:
    return [0.01 * (k % 40), -0.5, 9.80665, 0.2 * np.sin(k / 8), 0.0, -0.1]


def send(outlet, clock_off_s: float = 0.0) -> tuple[threading.Thread, list[float]]:
    """Push N samples at HZ from a thread, each stamped with the sender's clock + `clock_off_s`;
    returns the thread and the local_clock() of each push (the true send times)."""
    sent: list[float] = []

    def run():
        start = time.monotonic()
        for k in range(N):
            now = pylsl.local_clock()
            outlet.push_sample(sample(k), now + clock_off_s)
            sent.append(now)
            time.sleep(max(0.0, start + (k + 1) / HZ - time.monotonic()))
    thread = threading.Thread(target=run)
    thread.start()
    return thread, sent


def test_a_stream_whose_clock_is_1000_s_off_lands_on_the_host_clock():
    name = f"c3t-test-{uuid.uuid4().hex[:8]}"
    outlet = imu_outlet(name)
    with open_source(f"lsl:{name}") as src:
        assert wait_until(lambda: outlet.have_consumers(), what="the inlet connected")
        thread, sent = send(outlet, clock_off_s=1000.0)
        buf = SyncBuffer(seconds=30)
        buf.add_stream("imu", "imu", HZ)

        def all_in() -> bool:
            buf.extend(src.read(0.05))
            return buf.received("imu") >= N
        wait_until(all_in, what="every sample")
        thread.join()
        h = src.health()["imu"]
    t, values = buf.samples("imu")
    err = t - (np.array(sent) - pylsl.local_clock() + time.monotonic())      # LSL clock -> host clock
    assert np.abs(err).max() < 0.005, f"mapped times off by up to {np.abs(err).max() * 1e3:.1f} ms"
    want = np.array([sample(k) for k in range(N)]) * ([1 / G] * 3 + [RAD_TO_DEG] * 3)
    np.testing.assert_allclose(values, want, rtol=1e-5, atol=1e-6)
    assert h.received == N and h.nominal_hz == HZ and h.channel_names == NAMES
    assert h.units == ["g"] * 3 + ["deg/s"] * 3


def test_an_inlet_by_type_reads_g_when_the_stream_says_g():
    kind = f"IMU-{uuid.uuid4().hex[:8]}"
    outlet = imu_outlet(f"phone-{kind}", kind=kind, units=("g",) * 3 + ("deg/s",) * 3)
    with open_source(f"lsl:type={kind}") as src:
        wait_until(lambda: outlet.have_consumers(), what="the inlet connected")
        thread, _ = send(outlet)
        wait_until(lambda: src.health()["imu"].received == N, what="every sample")
        thread.join()
        values = np.concatenate([b.values for b in src.read(0.1)])
    np.testing.assert_allclose(values, [sample(k) for k in range(N)], rtol=1e-6)


def test_no_matching_stream_names_the_ones_that_are_there():
    visible = imu_outlet(f"visible-{uuid.uuid4().hex[:8]}")
    wait_until(lambda: any(s.name == visible.get_info().name() for s in list_streams(0.5)), what="the outlet seen")
    with pytest.raises(C3tError, match="no LSL stream with name='nobody-here'.*visible-"):
        open_source("lsl:nobody-here?resolve_s=0.5").connect()
    markers = pylsl.StreamOutlet(pylsl.StreamInfo(f"markers-{uuid.uuid4().hex[:8]}", "Markers", 1, 0, pylsl.cf_string))
    with pytest.raises(C3tError, match="carries text"):
        open_source(f"lsl:{markers.get_info().name()}").connect()


RECEIVER = textwrap.dedent("""
    import json, sys, pylsl
    name, n = sys.argv[1], int(sys.argv[2])
    decisions = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, timeout=60)[0])
    probs = pylsl.StreamInlet(pylsl.resolve_byprop("name", name + "-probabilities", timeout=60)[0])
    info = probs.info()
    ch, labels = info.desc().child("channels").child("channel"), []
    for _ in range(info.channel_count()):
        labels.append(ch.child_value("label")); ch = ch.next_sibling()
    decisions.open_stream(60); probs.open_stream(60)
    print("ready", flush=True)
    got = []
    while len(got) < n:
        s, t = decisions.pull_sample(timeout=60)
        p, tp = probs.pull_sample(timeout=60)
        got.append({"class": s[0], "confidence": float(s[1]), "t": t, "p": p, "tp": tp})
    print(json.dumps({"labels": labels, "got": got}), flush=True)
""")


def test_decisions_reach_an_inlet_in_another_process_with_class_names():
    name = f"c3t-decisions-{uuid.uuid4().hex[:8]}"
    classes = ["wave", "clap", "no action"]
    out = DecisionOutlet(name, classes)
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, name, "20"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        wait_until(lambda: out._decisions.have_consumers() and out._probabilities.have_consumers(),
                   what="the other process connected")
        sent = []
        for k in range(20):
            p = np.roll([0.7, 0.2, 0.1], k)
            t_end = time.monotonic() - 0.05
            out.push(t_end, classes[int(np.argmax(p))], float(p.max()), p)
            sent.append((t_end, classes[int(np.argmax(p))], p))
        received = json.loads(proc.stdout.readline())
    finally:
        proc.wait(timeout=HANG_S)
    assert received["labels"] == classes and len(received["got"]) == 20
    offset = lsl_minus_host(pylsl)   # the same clock on Linux: ~0, read without a scheduler pause
    for (t_end, cls, p), got in zip(sent, received["got"]):
        assert got["class"] == cls and got["confidence"] == pytest.approx(p.max(), abs=1e-4)
        np.testing.assert_allclose(got["p"], p, rtol=1e-6)
        assert got["t"] == pytest.approx(t_end + offset, abs=1e-4) and got["tp"] == got["t"]   # the window end


def test_a_silent_stream_is_diagnosed_and_a_pause_is_a_gap():
    name = f"c3t-silent-{uuid.uuid4().hex[:8]}"
    outlet = imu_outlet(name)
    with open_source(f"lsl:{name}") as src:
        h = wait_until(lambda: (h := src.health()["imu"]).diagnosis and h, what="the silence said")
        assert "sent nothing" in h.diagnosis and h.state == "no samples"
        for k in range(30):
            outlet.push_sample(sample(k))
        wait_until(lambda: src.health()["imu"].received == 30, what="the first samples")
        wait_until(lambda: src.health()["imu"].state == "reconnecting", what="the pause seen as an outage")
        for k in range(30, 60):
            outlet.push_sample(sample(k))
        h = wait_until(lambda: (h := src.health()["imu"]).received == 60 and h, what="the samples after the pause")
    assert len(h.gaps) == 1 and "no sample for" in h.last_error
