"""Lab Streaming Layer (LSL): an IMU stream in (`lsl:NAME`, `lsl:type=IMU`), c3t's decisions out,
and the streams `c3t devices` can see. Needs the optional `lsl` extra (pip install c3t[lsl]):
pylsl, whose wheels bundle liblsl for Linux x86_64 (glibc >= 2.35), macOS and Windows.

Inlet. The stream is found by name (`lsl:NAME`) or by any stream-info property
(`lsl:type=IMU`, `lsl:source_id=...`). Channel count, channel labels and units come from the
stream's info (desc/channels/channel/label and unit), the rate from its nominal_srate. Each
sample carries the sender's LSL timestamp (its local_clock); `time_correction()` gives the
offset that maps the sender's clock onto this machine's, refreshed every
CLOCK_REFRESH_S seconds. The batch's `t_device` is timestamp + offset, so c3t's clock model
(core/streams/clock.py) starts from LSL's estimate and only has to absorb what is left (a
sender whose own time stamps are off, the transport delay). pylsl's local_clock is
time.monotonic on Linux (both CLOCK_MONOTONIC); `t_host` is time.monotonic at arrival.

Outlet. `DecisionOutlet` publishes each decision of the live path as two LSL streams, stamped
with the window's end (on the LSL clock): NAME (type "Markers", 2 string channels: the decided
class name and its confidence) and NAME-probabilities (type "Probabilities", one float32
channel per class, labelled with the class names), so LabRecorder records them beside the
raw streams and other programs can react.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Batch, Health
from c3t.core.streams.units import UnitPlan, plan_units, unit_of
from c3t.devices.base import StreamHealth, ThreadedSource, deliver

log = logging.getLogger(__name__)

INSTALL = "pip install 'c3t[lsl]' (or pip install pylsl)"
CLOCK_REFRESH_S = 5.0        # seconds between time_correction() refreshes
UNITS_AFTER = 20             # samples held back to read the units from (at most HOLD_S)
HOLD_S = 1.0
SILENT_S = 1.5               # seconds without a sample before health() says so


def pylsl():
    """The pylsl module, imported on first use.

    Raises:
        C3tError: pylsl is missing, or its liblsl cannot be loaded (a platform its wheels do not
            cover); the message says what to install.
    """
    try:
        import pylsl as module
        _quiet(module)
    except ImportError as exc:
        raise C3tError(f"Lab Streaming Layer needs pylsl: {INSTALL}") from exc
    except (RuntimeError, OSError) as exc:   # pylsl is there but finds no liblsl binary
        raise C3tError(f"pylsl is installed but cannot load liblsl ({str(exc).splitlines()[0]}). Its wheels bundle "
                       "liblsl for Linux x86_64 with glibc >= 2.35, macOS and Windows; elsewhere install liblsl "
                       "(conda install -c conda-forge liblsl, or build it) and set PYLSL_LIB to the library") from exc
    return module


# where liblsl reads its configuration (its docs: the working folder, the user's, the system's)
LSL_CONFIGS = ("lsl_api.cfg", "~/lsl_api/lsl_api.cfg", "/etc/lsl_api/lsl_api.cfg")
_configured = False


def _quiet(module) -> None:
    """liblsl logs at INFO to stderr ("Loaded default config"...): keep its warnings and errors only,
    unless the user configures liblsl (LSLAPICFG or a lsl_api.cfg file), once, before its first use."""
    global _configured
    if _configured:
        return
    _configured = True
    if os.environ.get("LSLAPICFG") or any(os.path.exists(os.path.expanduser(p)) for p in LSL_CONFIGS):
        return
    module.set_config_content("[log]\nlevel = -1\n")


@dataclass
class LslStreamInfo:
    """One LSL stream on the network: what `c3t devices` lists."""

    spec: str          # the spec that opens it, e.g. lsl:PhoneIMU
    name: str
    type: str
    channels: int
    rate_hz: float     # nominal; 0 = irregular
    source_id: str
    hostname: str


def list_streams(wait_s: float = 1.0) -> list[LslStreamInfo]:
    """The LSL streams visible within `wait_s` seconds.

    Raises:
        C3tError: pylsl is missing or cannot load liblsl.
    """
    lsl = pylsl()
    return [LslStreamInfo(f"lsl:{i.name()}", i.name(), i.type(), i.channel_count(), i.nominal_srate(),
                          i.source_id(), i.hostname()) for i in lsl.resolve_streams(wait_time=wait_s)]


def lsl_minus_host(lsl, tries: int = 9) -> float:
    """pylsl's local_clock() minus time.monotonic(), in seconds (0 on Linux, where both read
    CLOCK_MONOTONIC, up to how far apart the two reads are). Each of `tries` reads of local_clock
    sits between two monotonic reads; the one with the smallest gap is kept, against its
    midpoint, so a read the scheduler interrupted does not shift every stamp by that pause."""
    best_gap, best = np.inf, 0.0
    for _ in range(tries):
        before = time.monotonic()
        lsl_now = lsl.local_clock()
        after = time.monotonic()
        if after - before < best_gap:
            best_gap, best = after - before, lsl_now - 0.5 * (before + after)
    return best


def channel_labels(info) -> tuple[list[str | None], list[str | None]]:
    """(labels, units) of a pylsl StreamInfo's desc/channels/channel entries (None where absent)."""
    labels, units = [], []
    ch = info.desc().child("channels").child("channel")
    for _ in range(info.channel_count()):
        labels.append(ch.child_value("label") or None)
        units.append(ch.child_value("unit") or None)
        ch = ch.next_sibling()
    return labels, units


@dataclass
class LslInletConfig:
    """Settings of LslInlet (the lsl: spec's query parameters): `query` is NAME or
    PROPERTY=VALUE (from the spec's target); times in seconds."""

    query: str
    resolve_s: float = 5.0           # how long connect() looks for the stream
    units: str = "auto"              # "auto" (the stream's unit labels, else the magnitude), "si", "g"
    max_buffer_s: int = 30           # seconds LSL buffers while c3t does not read
    stream: str = "imu"
    clock: Callable[[], float] = time.monotonic


class LslInlet(ThreadedSource):
    """An IMU stream received over LSL; see the module docstring.

    Raises:
        C3tError: (from connect()) pylsl is missing or no stream matches (the visible ones named).
    """

    def __init__(self, config: LslInletConfig | str, **overrides):
        if not isinstance(config, LslInletConfig):
            config = LslInletConfig(query=config, **overrides)
        self.config = config
        self.spec = f"lsl:{config.query}"
        self._health = StreamHealth(name=self.spec)
        self._init_reader()
        self._inlet = None
        self._labels: list[str | None] = []
        self._unit_texts: list[str | None] = []
        self._plan: UnitPlan | None = None
        self._held: list[tuple[np.ndarray, np.ndarray, float]] = []
        self._offset = 0.0                 # time_correction(): sender clock -> this machine's LSL clock
        self._offset_at = -np.inf
        self._lsl_minus_host = 0.0         # pylsl.local_clock() - time.monotonic() (0 on Linux)
        self._last_sample_t: float | None = None
        self._opened_at: float | None = None

    @property
    def streams(self) -> list[str]:
        """The one IMU stream, named by `config.stream` (default "imu")."""
        return [self.config.stream]

    def _resolve(self):
        lsl = pylsl()
        prop, sep, value = self.config.query.partition("=")
        prop, value = (prop.strip(), value.strip()) if sep else ("name", self.config.query)
        found = lsl.resolve_byprop(prop, value, minimum=1, timeout=self.config.resolve_s)
        if not found:
            seen = ", ".join(f"{s.name} (type {s.type}, {s.channels} ch)" for s in list_streams(0.5)) or "none"
            raise C3tError(f"{self.spec}: no LSL stream with {prop}={value!r} in {self.config.resolve_s:g} s (visible: "
                           f"{seen}). `c3t devices` lists them; is the sending app streaming, on this network?")
        return lsl, found[0]

    def connect(self) -> None:
        """Find the stream and open an inlet on it. No-op when open.

        Raises:
            C3tError: pylsl is missing, no stream matches (the visible ones are named) or the stream
                carries text.
        """
        if self._inlet is not None:
            return
        lsl, info = self._resolve()
        if info.channel_format() == lsl.cf_string:
            raise C3tError(f"{self.spec}: stream {info.name()!r} carries text (markers), not IMU numbers")
        self._inlet = lsl.StreamInlet(info, max_buflen=self.config.max_buffer_s, recover=True)
        full = self._inlet.info(timeout=self.config.resolve_s)
        self._labels, units = channel_labels(full)
        self._unit_texts = [unit_of(u) for u in units]
        rate = full.nominal_srate()
        self._health.set(nominal_hz=rate if rate > 0 else None, channels=full.channel_count(),
                         channel_names=[n or f"ch{i}" for i, n in enumerate(self._labels)], last_error=None)
        self._lsl_minus_host = lsl_minus_host(lsl)
        self._inlet.open_stream(timeout=self.config.resolve_s)
        self._opened_at = self.config.clock()
        self._health.connected()
        log.info("%s: inlet on %s (%s, %d channels, %g Hz) from %s", self.spec, full.name(), full.type(),
                 full.channel_count(), rate, full.hostname())

    def stop(self) -> None:
        """Stop the reader thread; samples held back for the units are delivered; "stopped"."""
        self._stop_reader(2.0)
        self._release(force=True)
        self._health.set(state="stopped")

    def disconnect(self) -> None:
        """stop() and close the inlet; "disconnected". Safe to call twice."""
        if self._thread is not None:
            self.stop()
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None
        self._health.set(state="disconnected")

    def health(self) -> dict[str, Health]:
        """{stream: Health}, with the units once decided."""
        now = self.config.clock()
        h = self._health.snapshot(now)
        if self._plan is not None:
            h.units, h.units_note = list(self._plan.units), self._plan.note
        if h.received == 0 and not self._held and self._opened_at is not None and now - self._opened_at >= SILENT_S \
                and h.state == "connected":
            h.diagnosed(f"{self.spec}: no samples: the stream was found but sent nothing in {now - self._opened_at:.1f} s; "
                        "is the sending app streaming (not paused)?")
        return {self.config.stream: h}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                values, stamps = self._inlet.pull_chunk(timeout=0.1, max_samples=4096, min_samples=1, as_numpy=True)
                now = self.config.clock()
                self._refresh_offset(now)
            except (RuntimeError, OSError) as exc:  # pylsl.LostError, a timeout: it recovers by itself (recover=True)
                self._health.error(f"{self.spec}: {exc!r}")
                self._stop.wait(0.5)
                continue
            if stamps is None or not len(stamps):
                self._check_silence(now)
                continue
            t_device = np.asarray(stamps, dtype=np.float64) + self._offset - self._lsl_minus_host
            self._held.append((np.asarray(values, dtype=np.float64), t_device, now))
            self._release()

    def _check_silence(self, now: float) -> None:
        """No sample for SILENT_S (or 5 periods): an outage (pylsl reconnects by itself when the
        sender comes back; the next sample ends it, as a gap)."""
        h = self._health.snapshot(now)
        period = 1.0 / h.nominal_hz if h.nominal_hz else 0.0
        last = self._last_sample_t
        if last is not None and h.state == "connected" and now - last > max(SILENT_S, 5 * period):
            self._health.outage_begins(last)
            self._health.error(f"{self.spec}: no sample for {now - last:.1f} s (the sender stopped or the network "
                               "dropped); waiting for it to come back")

    def _refresh_offset(self, now: float) -> None:
        if now - self._offset_at >= CLOCK_REFRESH_S:
            try:
                self._offset = float(self._inlet.time_correction(timeout=1.0))
                self._offset_at = now
            except (RuntimeError, OSError) as exc:  # a timeout: keep the last offset, try again next time
                self._health.error(f"{self.spec}: time_correction failed ({exc!r}); keeping {self._offset:+.6f} s")

    def _release(self, force: bool = False) -> None:
        """Deliver the held chunks once the units are decided (after UNITS_AFTER samples or HOLD_S)."""
        if not self._held:
            return
        if self._plan is None:
            rows = np.concatenate([v for v, _, _ in self._held])
            if not force and len(rows) < UNITS_AFTER and self._held[-1][2] - self._held[0][2] < HOLD_S:
                return
            names = [n.lower() if n else None for n in self._labels]
            self._plan = plan_units(rows.shape[1], names if all(names) else None, self.config.units,
                                    self._unit_texts, rows, self.spec)
            if self._plan.note:
                log.warning("%s", self._plan.note)
        for values, t_device, t_host in self._held:
            batch = Batch(self.config.stream, np.full(len(t_device), t_host), self._plan.apply(values), t_device=t_device)
            self._last_sample_t = deliver(self._health, self._queue, batch)
        self._held = []


class DecisionOutlet:
    """Publishes live decisions over LSL (see the module docstring). `class_names` label the
    probability channels.

    Raises:
        C3tError: pylsl is missing or cannot load liblsl.
    """

    def __init__(self, name: str, class_names: list[str], source_id: str | None = None):
        lsl = pylsl()
        self.name, self.class_names = name, list(class_names)
        sid = source_id or f"c3t-{name}"
        info = lsl.StreamInfo(name, "Markers", 2, lsl.IRREGULAR_RATE, lsl.cf_string, sid)
        _label_channels(info, ["class", "confidence"])
        probs = lsl.StreamInfo(f"{name}-probabilities", "Probabilities", len(self.class_names), lsl.IRREGULAR_RATE,
                               lsl.cf_float32, sid + "-probabilities")
        _label_channels(probs, self.class_names)
        self._decisions = lsl.StreamOutlet(info)
        self._probabilities = lsl.StreamOutlet(probs)
        self._lsl_minus_host = lsl_minus_host(lsl)
        self.sent = 0
        log.info("LSL outlets %r and %r: one sample per decision", name, f"{name}-probabilities")

    def push(self, t_end: float, label: str, confidence: float, probabilities) -> None:
        """Publish one decision: `t_end` the window's end (host monotonic seconds), `label` the
        decided class name, `confidence` in [0, 1], `probabilities` (K,) in class_names' order."""
        stamp = float(t_end) + self._lsl_minus_host
        self._decisions.push_sample([str(label), f"{float(confidence):.4f}"], stamp)
        self._probabilities.push_sample(np.asarray(probabilities, dtype=np.float32).tolist(), stamp)
        self.sent += 1

    def close(self) -> None:
        """Withdraw both streams from the network."""
        self._decisions = self._probabilities = None


def _label_channels(info, labels: list[str]) -> None:
    channels = info.desc().append_child("channels")
    for label in labels:
        channels.append_child("channel").append_child_value("label", str(label))
