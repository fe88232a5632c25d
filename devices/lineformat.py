"""The Edge Impulse data-forwarder line format: one sample per line, bytes in, samples out.

A device prints one sample per line, values separated by commas, tabs or spaces:

    0.01,-0.98,0.12,1.5,-0.3,0.2          six channels
    10234,0.01,-0.98,0.12,1.5,-0.3,0.2    with a leading device timestamp (or sequence number)
    ERR: IMU not found                    a device error, reported (not a sample)

`LineStream` turns arriving byte chunks into samples. Unless told (`channels`, `rate_hz`,
`leading`), it watches the first `detect_seconds` of lines and then fixes the layout: the
channel count is the most common field count, the rate is counted from arrivals (or read from
the device timestamps), and a leading column is a sequence number if it counts up by one and a
timestamp if it rises at the sample rate in s, ms or us. Lines seen while detecting are kept
and delivered once the layout is fixed, so nothing is lost.

After the layout is fixed a line is a sample only if it has exactly the expected number of
finite numeric fields; anything else is counted as malformed and skipped, so a damaged line
can never shift channels. The first bytes after a (re)connection, up to the first newline,
may be the tail of a line and are discarded (and counted); a line cut by a disconnection is
discarded too.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

SEPARATORS = re.compile(r"[,\t ]+")
LEADING_CHOICES = ("auto", "none", "timestamp", "seq")
# rates that IMU firmware commonly runs at; a counted rate within 3% snaps to one of them
COMMON_RATES = (10, 12.5, 20, 25, 26, 30, 50, 52, 60, 100, 104, 119, 120, 200, 208, 238, 250,
                400, 416, 476, 500, 833, 952, 1000)
TIME_SCALES = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
MAX_LINE = 4096  # bytes; a longer "line" is garbage (wrong baud rate)


@dataclass
class LineLayout:
    """What the lines carry, once known."""

    channels: int
    rate_hz: float
    leading: str = "none"          # "none", "timestamp" or "seq"
    time_scale: float = 1.0        # seconds per unit of the timestamp column

    @property
    def fields(self) -> int:
        return self.channels + (self.leading != "none")


@dataclass
class Parsed:
    """What one `feed` produced."""

    t_host: list[float] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)   # channel values
    lead: list[float] = field(default_factory=list)         # leading column, if any
    malformed: int = 0
    device_errors: list[str] = field(default_factory=list)
    layout_fixed: LineLayout | None = None                  # set on the feed that fixed it

    def __len__(self) -> int:
        return len(self.rows)

    def extend(self, other: "Parsed") -> None:
        self.t_host += other.t_host
        self.rows += other.rows
        self.lead += other.lead
        self.malformed += other.malformed
        self.device_errors += other.device_errors


def split_fields(line: str) -> list[str]:
    return [f for f in SEPARATORS.split(line.strip(" ,\t\r")) if f]


def parse_numbers(fields: list[str]) -> list[float] | None:
    try:
        values = [float(f) for f in fields]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def snap_rate(hz: float) -> float:
    best = min(COMMON_RATES, key=lambda r: abs(r - hz))
    return float(best) if abs(best - hz) <= 0.03 * best else round(hz, 1)


class LineStream:
    """Reassembles lines from byte chunks and parses them into samples."""

    def __init__(self, channels: int | None = None, rate_hz: float | None = None,
                 leading: str = "auto", time_scale: float | None = None,
                 detect_seconds: float = 1.0, source: str = "device"):
        if leading not in LEADING_CHOICES:
            raise ValueError(f"leading={leading!r}; use one of {', '.join(LEADING_CHOICES)}")
        self.source = source
        self._want = dict(channels=channels, rate_hz=rate_hz, leading=leading, time_scale=time_scale)
        self._detect_seconds = detect_seconds
        self.layout: LineLayout | None = None
        if channels is not None and rate_hz is not None and leading != "auto" and \
                (leading != "timestamp" or time_scale is not None):
            self.layout = LineLayout(channels, float(rate_hz), leading, time_scale or 1.0)
        self._buf = bytearray()
        self._skip_fragment = True           # the first bytes of a connection may be a tail
        self._pending: list[tuple[float, list[float]]] = []   # (t_host, numbers) while detecting
        self._pending_malformed = 0
        self._detect_start: float | None = None

    # -- connection events -------------------------------------------------------------
    def connection_opened(self) -> None:
        """A new connection: its first bytes up to a newline may be the tail of a line."""
        self._buf.clear()
        self._skip_fragment = True

    def connection_lost(self) -> int:
        """The connection dropped; a partly received line is discarded. Returns 1 if one was."""
        cut = 1 if self._buf.strip() else 0
        self._buf.clear()
        self._skip_fragment = True
        if self.layout is None:
            self._pending_malformed += cut
            return 0
        return cut

    # -- data --------------------------------------------------------------------------
    def feed(self, data: bytes, t_host: float) -> Parsed:
        """Add bytes that arrived at `t_host`; return the complete samples they finished."""
        out = Parsed()
        self._buf += data
        lines = self._buf.split(b"\n")
        self._buf = bytearray(lines.pop())
        if len(self._buf) > MAX_LINE:       # no newline for too long: garbage, not a sample
            self._buf.clear()
            self._skip_fragment = True
            out.malformed += 1
        for raw in lines:
            if self._skip_fragment:
                self._skip_fragment = False
                if raw.strip():
                    out.malformed += 1
                continue
            self._line(raw, t_host, out)
        if self.layout is None and self._detect_start is not None \
                and t_host - self._detect_start >= self._detect_seconds:
            self._fix_layout(out)
        return out

    def _line(self, raw: bytes, t_host: float, out: Parsed) -> None:
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            self._count_malformed(out)
            return
        if not text:
            return
        if text[:3].upper() == "ERR":
            out.device_errors.append(f"{self.source}: {text}")
            return
        numbers = parse_numbers(split_fields(text))
        if numbers is None:
            self._count_malformed(out)
            return
        if self.layout is None:
            if self._detect_start is None:
                self._detect_start = t_host
            self._pending.append((t_host, numbers))
            return
        self._accept(numbers, t_host, out)

    def _count_malformed(self, out: Parsed) -> None:
        if self.layout is None:
            self._pending_malformed += 1
        else:
            out.malformed += 1

    def _accept(self, numbers: list[float], t_host: float, out: Parsed) -> None:
        layout = self.layout
        if len(numbers) != layout.fields:
            out.malformed += 1
            return
        out.t_host.append(t_host)
        if layout.leading == "none":
            out.rows.append(numbers)
        else:
            out.lead.append(numbers[0])
            out.rows.append(numbers[1:])

    # -- detection ---------------------------------------------------------------------
    def finish_detection(self) -> Parsed:
        """Fix the layout now from what was seen (e.g. the device sent less than a second)."""
        out = Parsed()
        if self.layout is None and self._pending:
            self._fix_layout(out)
        return out

    def _fix_layout(self, out: Parsed) -> None:
        want = self._want
        counts = Counter(len(n) for _, n in self._pending)
        leading = want["leading"]
        if want["channels"] is None:
            n_fields = counts.most_common(1)[0][0]
        elif leading == "auto":   # one field more than the channels means a leading column
            c = want["channels"]
            n_fields = c + 1 if counts[c + 1] > counts[c] else c
        else:
            n_fields = want["channels"] + (leading != "none")
        kept = [(t, n) for t, n in self._pending if len(n) == n_fields]
        times = np.array([t for t, _ in kept])
        first = np.array([n[0] for _, n in kept])
        host_hz = self._host_rate(times)
        if leading == "auto":
            if want["channels"] is not None and n_fields == want["channels"]:
                leading = "none"
            else:
                leading = self._guess_leading(first, host_hz, n_fields)
                if leading == "none" and want["channels"] is not None:
                    out.device_errors.append(
                        f"{self.source}: lines have {n_fields} fields but channels={want['channels']} "
                        "and the first is neither a sequence number nor a timestamp; such lines are "
                        "skipped (set leading=timestamp or seq, or fix channels)")
                    n_fields = want["channels"]
        scale = want["time_scale"]
        if leading == "timestamp" and scale is None:
            scale = self._guess_scale(first, host_hz) or 1.0
        rate = want["rate_hz"]
        if rate is None:
            if leading == "timestamp" and len(first) > 2 and np.median(np.diff(first)) > 0:
                rate = snap_rate(1.0 / (float(np.median(np.diff(first))) * scale))
            else:
                rate = snap_rate(host_hz) if host_hz > 0 else 0.0
        self.layout = LineLayout(n_fields - (leading != "none"), float(rate), leading, scale or 1.0)
        out.malformed += self._pending_malformed
        for t, numbers in self._pending:
            self._accept(numbers, t, out)
        self._pending.clear()
        self._pending_malformed = 0
        out.layout_fixed = self.layout

    @staticmethod
    def _host_rate(times: np.ndarray) -> float:
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        # the first chunk's lines arrived together; count the lines after it over the span
        first_chunk = int(np.sum(times == times[0]))
        return (len(times) - first_chunk) / (times[-1] - times[0])

    @staticmethod
    def _guess_leading(first: np.ndarray, host_hz: float, n_fields: int) -> str:
        if n_fields < 2 or len(first) < 5:
            return "none"
        d = np.diff(first)
        if not np.all(d > 0):
            return "none"
        if np.all(first == np.round(first)) and np.median(d) == 1:
            return "seq"
        return "timestamp" if LineStream._guess_scale(first, host_hz) else "none"

    @staticmethod
    def _guess_scale(first: np.ndarray, host_hz: float) -> float | None:
        """Seconds per timestamp unit: the one making the column rise at the host rate (x3)."""
        if len(first) < 3 or host_hz <= 0:
            return None
        units_per_sample = float(np.median(np.diff(first)))
        if units_per_sample <= 0:
            return None
        best = min(TIME_SCALES.values(), key=lambda s: abs(math.log(units_per_sample * s * host_hz)))
        return best if abs(math.log(units_per_sample * best * host_hz)) < math.log(3) else None
