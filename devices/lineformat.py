"""Text line formats of IMU boards: one sample per line (or per fixed cycle of lines), bytes in,
samples out.

A device prints one sample per line. Lines end in LF, CRLF or a bare CR (all three, mixed).
The numbers of a line are its values; the text around them is its *shape*:

    0.01,-0.98,0.12,1.5,-0.3,0.2                 Edge Impulse data forwarder (commas, tabs, spaces)
    10234,0.01,-0.98,0.12,1.5,-0.3,0.2           with a leading device timestamp (or sequence number)
    a/g:\t-1787\t-511\t15147\t-263\t212\t-183       a label before the numbers (MPU6050 raw example)
    ax:0.01,ay:-0.98,az:0.12,gx:1.5,gy:-0.3,gz:0.2   key:value pairs (Arduino Serial Plotter);
                                                 the keys name the channels (ax -> acc_x, gx -> gyro_x)
    AcX = -1787 | AcY = -511 | ...               key=value, units after numbers ("0.98g") are allowed
    Accel: 0.1 m/s^2, 0.2 m/s^2, 9.8 m/s^2 25.3°C   units are text, also in UTF-8 (°, ²); so are
                                                 the 2 of "^2" and hex like "0x1A"
    Acceleration X: 0.39, Y: -0.21, Z: 9.59 m/s^2   a sample over a fixed cycle of differently
    Rotation X: -0.06, Y: -0.01, Z: -0.01 rad/s     labelled lines (Adafruit's MPU6050 example):
    Temperature: 26.64 degC                         their numbers together are one sample
    ERR: IMU not found                           a device error, reported (not a sample)

`LineStream` turns arriving byte chunks into samples. Unless told (`channels`, `rate_hz`,
`leading`), it watches the first `detect_seconds` of lines and then fixes the layout: the
channel count is the most common count of numbers per line, the shape the most common shape
among those lines, the rate is counted from arrivals (or read from the device timestamps), and a
leading column is a sequence number if it counts up by one and a timestamp if it rises at the
sample rate in one of TIME_SCALES' units (s, ms, us, ns, 100 ns, 1/32768 s), within 25 % (a
counter that wraps or resets now and then is still recognised).

Values that are not numbers (nan, inf, "ovf", "---", "null", "N/A", an empty field between
commas: MISSING) keep their slot as a missing value (nan), counted in `missing_values` and said by
`missing_note` (a failed sensor prints them for its channels). Decimal commas ("0,01;-0,98") are
decimal points where another separator makes that unambiguous (`decimal_commas`).
Lines that repeat a cycle of 2 to 8 differently shaped lines make one sample per cycle, starting
with the line after the longest pause. Detection waits for 12 lines at least (up to 4 x
`detect_seconds`), so a slow board shows its cycle. Lines seen while detecting are kept and
delivered once the layout is fixed, so nothing is lost.

Units: unit text after the numbers ("m/s^2", "rad/s", "mg", "dps") is used, not ignored; with
the spec's `units=` and, failing both, the acceleration magnitude of the first second it decides
each channel's conversion to g and deg/s (core/streams/units.py), applied to every sample delivered.

After the layout is fixed a line is a sample only if it has exactly the expected number of
finite numbers and the shape of the detected lines; anything else is rejected (counted as
malformed) and skipped, so a damaged line can never shift channels. Every complete line is
data: only bytes waiting before the port opened can be a partial line, and the adapter clears
those when it opens the port. A line cut by a disconnection is discarded (and counted).

Never silent: `LineStream.diagnose(now)` explains, once bytes have arrived for a second without
a usable line, what arrived (bytes, lines, rejected lines, the last raw line) and why it was
rejected, with a hint: the baud rate (bytes that are not text), binary protocols (WitMotion-style
0x55-framed packets), missing line ends, or lines that do not fit the format.
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

# imported here, not on the reader thread at the end of detection: there, a first import took
# over a second on a busy machine, reading stalled and health() said "no samples" meanwhile
from scipy.optimize import linprog

from c3t.core.streams.contract import Health
from c3t.core.streams.units import UnitPlan, plan_units, unit_texts

log = logging.getLogger(__name__)

LEADING_CHOICES = ("auto", "none", "timestamp", "seq")
# rates that IMU firmware commonly runs at; a counted rate within 3% snaps to one of them
COMMON_RATES = (10, 12.5, 20, 25, 26, 30, 50, 52, 60, 100, 104, 119, 120, 200, 208, 238, 250,
                400, 416, 476, 500, 833, 952, 1000)
# the units of device clocks found on IMU boards and phones (seconds per unit): seconds, milli-,
# micro- and nanoseconds (Android's SensorEvent.timestamp), 100 ns ticks (Windows/.NET) and the
# 32768 Hz ticks of a watch crystal (nRF52 RTC, ESP32 RTC slow clock). Neighbours differ by a
# factor of 3 at least, so a clock whose step matches the line period within 25 % picks one.
TIME_SCALES = {"s": 1.0, "ms": 1e-3, "1/32768 s": 1 / 32768, "us": 1e-6, "100 ns": 1e-7, "ns": 1e-9}
# a detected leading timestamp rises at the rate lines arrive, within this factor (a data column
# that happens to rise for a second does not, or not that closely); a timestamp named with
# leading=timestamp only picks its unit, within a factor of 3
TIMESTAMP_TOLERANCE = 1.25
CLOCK_MAGNITUDE = 1e6      # a leading column rising on every line from here up is a clock of some unit
MAX_LINE = 4096            # bytes; a longer "line" is garbage (wrong baud rate)
LINE_END = re.compile(rb"\r\n|\r|\n")
# a number not glued to a word, a dot, a sign or a caret before it ("ax1" is a name, "1.2.3" is
# nothing, the 2 of "m/s^2" is part of a unit) and not the 0 of a hex "0x1A"; letters may follow
# it as a unit ("0.98g")
NUMBER = re.compile(r"(?<![\w.+\-^])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\d.]|x[0-9A-Fa-f])")
SEPARATORS = re.compile(r"[\s,;|]+")
# a value slot that holds no number: nan/inf (any case, any sign), overflow marks, null/None/N/A,
# dashes, stars or question marks; standing alone between separators (or after a key's : or =)
MISSING = re.compile(r"(?i)(?:(?<=^)|(?<=[\s,;|:=]))[-+]?(?:nan(?:\(\w*\))?|inf(?:inity)?|ovf|ovr|overflow|null|none|nil|"
                     r"n/?a|undef(?:ined)?|-+|\*+|\?+)(?=$|[\s,;|])")
# an empty field between two commas or semicolons (also after a key: "gx:,gy:1"), and the last
# field of a line ending in a run of separators ("0.12,,," has three; one trailing comma is none)
EMPTY_FIELD = re.compile(r"(?:(?<=,)|(?<=;)|(?<=[:=]))[ \t]*(?=[,;])|(?<=[,;][,;])[ \t]*$")
# a decimal comma: digits, one comma, digits, not part of a longer run of commas ("1,5" is 1.5 in
# "1,5;2,5" but nothing can be said of "1,5,2,5")
DECIMAL_COMMA = re.compile(r"(?<![\d.,])([-+]?\d+),(\d+)(?![\d.,])")
# a field that a decimal comma split in two: a leading zero ("0,01" -> "0", "01") or a signed zero
COMMA_HALF = re.compile(r"(?:^|,)(?:0\d+|[-+]0)(?=,|$)")
KEY = re.compile(r"([A-Za-z_][\w./\[\]]*)\s*[:=]\s*$")
CHANNEL_NAMES = (  # key -> channel name, where the key says what it is
    (re.compile(r"(?:a|ac|acc|accel|acceleration|accelerometer)[_./-]?([xyz])"), "acc_{}"),
    (re.compile(r"(?:g|gy|gyr|gyro|gyroscope)[_./-]?([xyz])"), "gyro_{}"),
    (re.compile(r"(?:m|mag|magnetometer)[_./-]?([xyz])"), "mag_{}"),
)
# a key that names a leading column (device time or a sample counter)
LEADING_KEY = re.compile(r"(?i)t|ts|time|timestamp|stamp|ms|millis|us|micros|seq|n|num|count|counter|i|idx|index|sample")
MAX_RECORD_LINES = 8       # a sample printed over at most this many lines is read as one
MIN_DETECT_LINES = 12      # lines that detection waits for (up to 4 x detect_seconds)
SILENT_AFTER_S = 1.0       # bytes without a usable line for this long: diagnose
NO_BYTES_AFTER_S = 3.0     # an open connection without a byte for this long: say so
QUOTE_CHARS = 60           # raw lines are quoted up to this many characters


@dataclass
class LineLayout:
    """What the lines carry, once known."""

    channels: int
    rate_hz: float
    leading: str = "none"          # "none", "timestamp" or "seq"
    time_scale: float = 1.0        # seconds per unit of the timestamp column
    shape: tuple | None = None     # the text around the numbers (None: not checked)
    names: tuple | None = None     # channel names from key:value keys, if every value had one
    record: tuple | None = None    # a sample printed over several lines: their shapes, in order

    @property
    def fields(self) -> int:
        """Numbers per line: the channels plus the leading column, if there is one."""
        return self.channels + (self.leading != "none")


@dataclass
class Parsed:
    """What one `feed` produced."""

    t_host: list[float] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)   # channel values
    lead: list[float] = field(default_factory=list)         # leading column, if any
    malformed: int = 0
    missing: int = 0                                        # values that were not numbers (nan in rows)
    device_errors: list[str] = field(default_factory=list)
    layout_fixed: LineLayout | None = None                  # set on the feed that fixed it

    def __len__(self) -> int:
        return len(self.rows)

    def extend(self, other: "Parsed") -> None:
        """Append another feed's samples, malformed count and device errors to this one
        (`layout_fixed` is left as it is)."""
        self.t_host += other.t_host
        self.rows += other.rows
        self.lead += other.lead
        self.malformed += other.malformed
        self.missing += other.missing
        self.device_errors += other.device_errors


@dataclass
class Line:
    """One text line taken apart: its numbers, its shape and (if every number has one) its keys."""

    numbers: list[float]            # nan where a value slot held no number (see MISSING)
    shape: tuple
    keys: tuple | None
    missing: tuple = ()             # the text of each value slot that held no number, e.g. ("nan", "nan")
    comma_suspect: bool = False     # commas separate the values and some look like halves of a decimal comma


def decimal_commas(text: str) -> tuple[str, bool]:
    """(text with decimal commas made decimal points, whether the commas are ambiguous).

    A comma between digits is a decimal comma when something else separates the values: a
    semicolon, a tab or a bar anywhere in the line, or spaces with every comma between digits
    ("0,01 -0,98"). Lines whose values are separated by commas only stay as they are; they are
    ambiguous when a field looks like half of a decimal number ("0,01,-0,98": "01", "-0")."""
    if "," not in text:
        return text, False
    if re.search(r"[;\t|]", text) or (" " in text.strip() and not re.search(r",(?!\d)|(?<!\d),", text)):
        return DECIMAL_COMMA.sub(r"\1.\2", text), False
    fields = re.sub(r"\s+", "", text)
    return text, bool(COMMA_HALF.search(fields))


def _value_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_number) of every value slot of a line: numbers, and slots that hold no
    number (MISSING words, empty fields), in order."""
    spans = [(m.start(), m.end(), True) for m in NUMBER.finditer(text)]
    taken = [(a, b) for a, b, _ in spans]
    for pattern in (MISSING, EMPTY_FIELD):
        for m in pattern.finditer(text):
            if not any(a <= m.start() < b or (a < m.end() <= b) for a, b in taken):
                spans.append((m.start(), m.end(), False))
                taken.append((m.start(), m.end()))
    return sorted(spans)


def parse_line(text: str) -> Line | None:
    """The values of a line and the text around them; None if it holds no number (a line of
    nothing but missing values counts as none).

    A value slot without a number (nan, inf, "ovf", "---", "null", "N/A", an empty field between
    commas; see MISSING) is a missing value: nan in `numbers`, its text in `missing`, so the
    line keeps its width. A number too large for a float is missing too. Decimal commas are read
    as decimal points where the separators make that unambiguous (see decimal_commas). `shape`
    is the text between the values with separators removed."""
    text, suspect = decimal_commas(text)
    found = _value_spans(text)
    if not any(is_number for _, _, is_number in found):
        return None
    numbers, missing = [], []
    for a, b, is_number in found:
        value = float(text[a:b]) if is_number else math.nan
        if not math.isfinite(value):
            value = math.nan
            missing.append(text[a:b].strip() or "(empty)")
        numbers.append(value)
    if len(missing) == len(numbers):
        return None
    spans = [(a, b) for a, b, _ in found]
    cuts = [0] + [x for span in spans for x in span] + [len(text)]
    segments = [text[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2)]
    shape = tuple(SEPARATORS.sub(" ", s).strip() for s in segments)
    keys = [KEY.search(s) for s in segments[:-1]]
    names = tuple(k.group(1) for k in keys) if all(keys) else None
    if names is not None and len(set(names)) != len(names):
        names = None
    return Line(numbers, shape, names, tuple(missing), suspect)


def channel_name(key: str) -> str:
    """A key as a channel name: ax/AcX/accel_x -> acc_x, gx/GyX -> gyro_x, mx -> mag_x, else the key."""
    k = key.lower().replace(" ", "")
    for pattern, name in CHANNEL_NAMES:
        m = pattern.fullmatch(k)
        if m:
            return name.format(m.group(1))
    return key


def snap_rate(hz: float) -> float:
    """A measured rate in Hz snapped to the nearest of COMMON_RATES when within 3 % of it
    (e.g. 99.2 -> 100.0), else rounded to 0.1 Hz."""
    best = min(COMMON_RATES, key=lambda r: abs(r - hz))
    return float(best) if abs(best - hz) <= 0.03 * best else round(hz, 1)


def quote(raw: bytes, limit: int = QUOTE_CHARS) -> str:
    """Raw bytes as a short quoted text: printable ASCII as is, other bytes as \\xNN escapes."""
    text = raw[:limit].decode("latin-1")
    quoted = ascii(text)
    return quoted + ("..." if len(raw) > limit else "")


def classify_bytes(data: bytes) -> str:
    """'empty', 'witmotion' (0x55-framed binary packets), 'binary' (not text) or 'text'."""
    if not data:
        return "empty"
    frames = sum(1 for i in range(len(data) - 1) if data[i] == 0x55 and 0x50 <= data[i + 1] <= 0x5F)
    if frames >= 3 and frames * 11 >= 0.5 * len(data):
        return "witmotion"
    text = sum(1 for b in data if 0x20 <= b < 0x7F or b in (9, 10, 13))
    return "binary" if text < 0.8 * len(data) else "text"


def decode_line(raw: bytes) -> str | None:
    """A line's bytes as text, stripped: UTF-8 (units such as "°C" or "m/s²"), or Latin-1 when at
    least 80 % of the bytes are printable ASCII (a unit's odd byte, "25.3\xb0C"); None when the
    bytes are not text (a wrong baud rate, binary data)."""
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip() if classify_bytes(raw) == "text" else None


class _Tally:
    """What arrived since the last usable line (for the diagnosis), replaced, never mutated
    across threads in a way a reader could see half done."""

    def __init__(self) -> None:
        self.bytes = self.lines = self.rejected = 0
        self.t_first: float | None = None      # first byte since the last usable line
        self.recent = b""                      # the last bytes since then (at most 512)
        self.last_line: bytes | None = None    # the last rejected line
        self.reason: str | None = None         # why it was rejected
        self.device_error: str | None = None


class LineStream:
    """Reassembles lines from byte chunks and parses them into samples.

    channels, rate_hz, leading, time_scale: fix what is known (None/"auto": detect it from the
    first `detect_seconds` of lines). `source` names the device in messages; `baud` (serial
    only) is quoted in the hint when bytes arrive that are not text.

    Raises:
        ValueError: for a `leading` not in LEADING_CHOICES
    """

    def __init__(self, channels: int | None = None, rate_hz: float | None = None,
                 leading: str = "auto", time_scale: float | None = None,
                 detect_seconds: float = 1.0, source: str = "device", baud: int | None = None,
                 units: str | None = "auto"):
        if leading not in LEADING_CHOICES:
            raise ValueError(f"leading={leading!r}; use one of {', '.join(LEADING_CHOICES)}")
        self.source = source
        self.baud = baud
        self._want = dict(channels=channels, rate_hz=rate_hz, leading=leading, time_scale=time_scale)
        self._units = units               # "auto", "si" or "g": see core/streams/units.py
        self.unit_plan: UnitPlan | None = None   # the channels' conversion to g and deg/s, once decided
        self._detect_seconds = detect_seconds
        self.layout: LineLayout | None = None
        if channels is not None and rate_hz is not None and leading != "auto" and \
                (leading != "timestamp" or time_scale is not None):
            self.layout = LineLayout(channels, float(rate_hz), leading, time_scale or 1.0)
        self._buf = bytearray()
        self._pending: list[tuple[float, Line]] = []   # (t_host, line) while detecting
        self._pending_malformed = 0
        self._partial: list[Line] = []                 # the lines so far of a multi-line sample
        self._detect_start: float | None = None
        # totals, and what arrived since the last usable line (see diagnose)
        self.bytes_received = 0
        self.lines_received = 0
        self.lines_rejected = 0
        self.raw_lines: list[bytes] = []               # the first few complete lines (for `c3t probe`)
        self.notes: list[str] = []                     # what detection found doubtful (said once)
        self.missing_values = 0                        # values that were not numbers, kept as nan
        self.missing_by_channel: Counter = Counter()   # channel index -> values missing
        self.missing_words: Counter = Counter()        # what stood in their place ("nan", "ovf", ...)
        self._opened_at: float | None = None
        self._last_good: float | None = None
        self._tally = _Tally()

    # -- connection events -------------------------------------------------------------
    def connection_opened(self, t_host: float | None = None) -> None:
        """A new connection. The adapter has cleared the bytes that were waiting (the only
        possible partial line), so every complete line from here on is data."""
        self._buf.clear()
        self._opened_at = t_host
        self._tally = _Tally()
        self._last_good = None

    def connection_lost(self) -> int:
        """The connection dropped; a partly received line is discarded. Returns 1 if one was."""
        cut = 1 if self._buf.strip() or self._partial else 0
        self._buf.clear()
        self._partial = []
        self._opened_at = None
        if self.layout is None:
            self._pending_malformed += cut
            return 0
        return cut

    # -- data --------------------------------------------------------------------------
    def feed(self, data: bytes, t_host: float) -> Parsed:
        """Add bytes that arrived at `t_host`; return the complete samples they finished."""
        out = Parsed()
        data = bytes(data)
        self._count_bytes(data, t_host)
        self._buf += data
        lines = LINE_END.split(bytes(self._buf))
        self._buf = bytearray(lines.pop())
        if len(self._buf) > MAX_LINE:       # no line end for too long: garbage, not a sample
            self._reject(bytes(self._buf[:QUOTE_CHARS * 2]), "no line end", out, count_line=True)
            self._buf.clear()
        for raw in lines:
            self._line(raw, t_host, out)
        if self._detection_due(t_host):
            self._fix_layout(out)
        return out

    def poll(self, now: float) -> Parsed:
        """Fix the layout once detection is due (see _detection_due), even if no bytes came
        since (a device that sent a short burst); returns the samples held back."""
        out = Parsed()
        if self._detection_due(now):
            self._fix_layout(out)
        return out

    def _detection_due(self, now: float) -> bool:
        """True when the layout is to be fixed at host time `now` (s): `detect_seconds` after the
        first line once MIN_DETECT_LINES lines came (a slow board, or one printing a sample over
        several lines, needs longer than a second), at the latest after 4 x `detect_seconds`."""
        if self.layout is not None or self._detect_start is None:
            return False
        waited = now - self._detect_start
        return waited >= self._detect_seconds and \
            (len(self._pending) >= MIN_DETECT_LINES or waited >= 4 * self._detect_seconds)

    def _count_bytes(self, data: bytes, t_host: float) -> None:
        self.bytes_received += len(data)
        tally = self._tally
        if tally.t_first is None:
            tally.t_first = t_host
        tally.bytes += len(data)
        tally.recent = (tally.recent + data)[-512:]

    def _line(self, raw: bytes, t_host: float, out: Parsed) -> None:
        if not raw.strip():
            return
        self.lines_received += 1
        self._tally.lines += 1
        if len(self.raw_lines) < 20:
            self.raw_lines.append(raw)
        text = decode_line(raw)
        if text is None:
            self._reject(raw, "not text", out)
            return
        if text[:3].upper() == "ERR":
            message = f"{self.source}: {text}"
            out.device_errors.append(message)
            self._tally.device_error = text
            return
        line = parse_line(text)
        if line is None:
            words = [m.group(0) for m in MISSING.finditer(text)]
            self._reject(raw, f"only missing values ({', '.join(sorted(set(words))[:3])}) where numbers belong"
                         if words else "no numbers", out)
            return
        if self.layout is None:
            if self._detect_start is None:
                self._detect_start = t_host
            self._pending.append((t_host, line))
            self._good(t_host)
            return
        self._accept(line, t_host, out, raw)

    def _good(self, t_host: float) -> None:
        self._last_good = t_host
        self._tally = _Tally()

    def _reject(self, raw: bytes, reason: str, out: Parsed, count_line: bool = False) -> None:
        if count_line:
            self.lines_received += 1
            self._tally.lines += 1
        self.lines_rejected += 1
        log.debug("%s: line rejected (%s): %r", self.source, reason, raw[:120])
        tally = self._tally
        tally.rejected += 1
        tally.last_line, tally.reason = raw, reason
        if self.layout is None:
            self._pending_malformed += 1
        else:
            out.malformed += 1

    def _accept(self, line: Line, t_host: float, out: Parsed, raw: bytes | None = None) -> bool:
        layout = self.layout
        if layout.record is not None:
            line = self._record_line(line, raw, out)
            if line is None:
                return False
            if not line.numbers:          # the sample goes on on the next line
                if raw is not None:
                    self._good(t_host)
                return True
        numbers = line.numbers
        if len(numbers) != layout.fields:
            return self._refuse(raw, f"{len(numbers)} numbers where the format has {layout.fields}", out)
        if layout.leading != "none" and not math.isfinite(numbers[0]):
            return self._refuse(raw, f"its leading {layout.leading} column is not a number ({line.missing[0]!r})", out)
        if layout.shape is not None and line.shape != layout.shape:
            return self._refuse(raw, "its labels/keys differ from the lines before", out)
        if layout.names is None and line.keys is not None and layout.shape is None:
            layout.names = self._channel_names(line.keys, layout.leading)
        if raw is not None:
            self._good(t_host)
            if self.unit_plan is None:    # a layout given in full: units from the first line
                self._plan_units([line.shape], [numbers[layout.fields - layout.channels:]])
        out.t_host.append(t_host)
        row = numbers if layout.leading == "none" else numbers[1:]
        if layout.leading != "none":
            out.lead.append(numbers[0])
        out.rows.append(row if self.unit_plan is None else [v * s for v, s in zip(row, self.unit_plan.scale)])
        if line.missing:
            self._count_missing(row, line.missing, out)
        return True

    def _count_missing(self, values: list[float], words: tuple, out: Parsed) -> None:
        holes = [i for i, v in enumerate(values) if math.isnan(v)]
        out.missing += len(holes)
        self.missing_values += len(holes)
        self.missing_by_channel.update(holes)
        self.missing_words.update(words)

    def missing_note(self) -> str | None:
        """What the device sent in place of numbers, or None if every value was a number: how
        many values, in which channels, as what text ("nan", "ovf", ...). Such values are missing
        values (nan) in their channels; the other channels are read and the layout keeps its width."""
        if not self.missing_values:
            return None
        names = self.layout.names if self.layout is not None and self.layout.names else None
        chans = ", ".join(names[i] if names and i < len(names) else f"ch{i}" for i in sorted(self.missing_by_channel))
        words = ", ".join(repr(w) for w, _ in self.missing_words.most_common(3))
        return (f"{self.source}: {self.missing_values} values were not numbers ({words}) in channel(s) {chans}; they "
                "are kept as missing values (nan) and the other channels are read. A sensor that prints nan or "
                "ovf has failed or is not initialised: check its wiring and the sketch's begin() result")

    def _plan_units(self, shapes: list, rows: list) -> None:
        """Decide the channels' units (core/streams/units.py) from the unit text in the lines' `shapes`,
        the spec's units= and `rows` as sent (for the magnitude at rest)."""
        layout = self.layout
        shapes = [s for s in shapes if s]
        texts = unit_texts(shapes)[layout.fields - layout.channels:] if shapes else None
        samples = np.array(rows, dtype=np.float64).reshape(-1, layout.channels) if rows else None
        self.unit_plan = plan_units(layout.channels, layout.names, self._units, texts, samples, self.source)

    def _record_line(self, line: Line, raw: bytes | None, out: Parsed) -> Line | None:
        """One line of a sample printed over several lines (layout.record: their shapes). Returns
        the whole sample once its last line came (numbers of all its lines, record's shape), an
        empty Line while it is incomplete, None for a line out of place (rejected; a sample it
        cut short is counted as malformed too)."""
        record = self.layout.record
        if self._partial and (line.shape == record[0] or line.shape != record[len(self._partial)]):
            out.malformed += 1                    # the sample begun never got its last lines
            self._partial = []
        if line.shape != record[len(self._partial)]:
            self._refuse(raw, f"not the next line of a sample printed over {len(record)} lines", out)
            return None
        self._partial.append(line)
        if len(self._partial) < len(record):
            return Line([], (), None)
        whole = Line([v for part in self._partial for v in part.numbers], record[0], None)
        self._partial = []
        return whole

    def _refuse(self, raw: bytes | None, reason: str, out: Parsed) -> bool:
        if raw is not None:
            self._reject(raw, reason, out)
        else:   # held back while detecting: counted in the totals then
            self.lines_rejected += 1
            out.malformed += 1
        return False

    # -- detection ---------------------------------------------------------------------
    def finish_detection(self) -> Parsed:
        """Fix the layout now from what was seen (e.g. the device sent less than a second)."""
        out = Parsed()
        if self.layout is None and self._pending:
            self._fix_layout(out)
        return out

    def _fix_layout(self, out: Parsed) -> None:
        want = self._want
        record = self._record_cycle() if want["channels"] is None and want["leading"] in ("auto", "none") else None
        self.layout = self._record_layout(record) if record else self._line_layout(out)
        out.malformed += self._pending_malformed
        for t, line in self._pending:
            self._accept(line, t, out)
        self._pending.clear()
        self._pending_malformed = 0
        layout = self.layout
        self._plan_units(list(layout.record) if layout.record else [layout.shape], out.rows)
        if out.rows:                      # the rows held back while detecting, in c3t's units
            out.rows = self.unit_plan.apply(out.rows).tolist()
        out.layout_fixed = self.layout

    def _record_cycle(self) -> tuple | None:
        """The shapes of the lines of one sample, in order, when the lines seen while detecting
        repeat a cycle of 2 to MAX_RECORD_LINES differently shaped lines (90 % of them in place,
        3 cycles at least; e.g. Adafruit's "Acceleration X: ..", "Rotation X: ..",
        "Temperature: .." lines); else None. The sample's first line is the one that follows the
        longest pause (a board prints a sample's lines together, then waits)."""
        shapes = [line.shape for _, line in self._pending]
        gaps = np.diff([t for t, _ in self._pending])      # gaps[i - 1]: the pause before line i
        for period in range(2, MAX_RECORD_LINES + 1):
            if len(shapes) < 3 * period:
                return None
            in_place = sum(shapes[i] == shapes[i + period] for i in range(len(shapes) - period))
            if in_place < 0.9 * (len(shapes) - period):
                continue
            cycle = [Counter(shapes[k::period]).most_common(1)[0][0] for k in range(period)]
            if len(set(cycle)) < period:
                return None       # one shape repeating (one sample per line), or ambiguous lines
            pause = [np.median(gaps[(k - 1) % period::period]) for k in range(period)]
            start = int(np.argmax(pause))
            return tuple(cycle[start:] + cycle[:start])
        return None

    def _record_layout(self, record: tuple) -> LineLayout:
        """The layout of samples printed over several lines with the shapes `record`: their
        numbers together are the channels, the rate is that of the sample's first line."""
        want = self._want
        times = np.array([t for t, line in self._pending if line.shape == record[0]])
        host_hz = self._host_rate(times)
        rate = want["rate_hz"] or (snap_rate(host_hz) if host_hz > 0 else 0.0)
        return LineLayout(sum(len(shape) - 1 for shape in record), float(rate), "none", 1.0, record=record)

    def _line_layout(self, out: Parsed) -> LineLayout:
        """The layout of one sample per line, from the lines seen while detecting (a device error
        goes to `out` when `channels` was given but the lines have one field more)."""
        want = self._want
        counts = Counter(len(line.numbers) for _, line in self._pending)
        leading = want["leading"]
        if want["channels"] is None:
            n_fields = counts.most_common(1)[0][0]
        elif leading == "auto":   # one field more than the channels means a leading column
            c = want["channels"]
            n_fields = c + 1 if counts[c + 1] > counts[c] else c
        else:
            n_fields = want["channels"] + (leading != "none")
        shapes = Counter(line.shape for _, line in self._pending if len(line.numbers) == n_fields)
        shape = shapes.most_common(1)[0][0] if shapes else None
        kept = [(t, line) for t, line in self._pending if len(line.numbers) == n_fields and line.shape == shape]
        self._note_decimal_commas([line for _, line in self._pending], out)
        times = np.array([t for t, line in kept if math.isfinite(line.numbers[0])])
        first = np.array([line.numbers[0] for _, line in kept if math.isfinite(line.numbers[0])])
        host_hz = self._host_rate(times)
        if leading == "auto":
            if want["channels"] is not None and n_fields == want["channels"]:
                leading = "none"
            else:
                keys = kept[0][1].keys if kept else None
                named = keys is not None and not LEADING_KEY.fullmatch(keys[0])   # "ax:..." is no clock
                leading = "none" if named else self._guess_leading(first, host_hz, n_fields)
                if leading == "none" and want["channels"] is not None:
                    out.device_errors.append(
                        f"{self.source}: lines have {n_fields} fields but channels={want['channels']} "
                        "and the first is neither a sequence number nor a timestamp; such lines are "
                        "skipped (set leading=timestamp or seq, or fix channels)")
                    n_fields = want["channels"]
        scale = want["time_scale"]
        if leading == "timestamp" and scale is None:
            scale = self._guess_scale(first, host_hz) or self._measured_scale(first, host_hz, out)
        rate = want["rate_hz"]
        if rate is None:
            step = _typical_step(first)
            if leading == "timestamp" and step:
                rate = snap_rate(1.0 / (step * scale))
            else:
                rate = snap_rate(host_hz) if host_hz > 0 else 0.0
        keys = kept[0][1].keys if kept else None
        return LineLayout(n_fields - (leading != "none"), float(rate), leading, scale or 1.0,
                          shape=shape, names=self._channel_names(keys, leading))

    def _note_decimal_commas(self, lines: list[Line], out: Parsed) -> None:
        """Say so once when most lines separate their values by commas only and some fields look
        like halves of decimal-comma numbers ("0,01,-0,98"): such lines cannot be read for sure."""
        if lines and sum(line.comma_suspect for line in lines) >= 0.5 * len(lines):
            note = (f"{self.source}: the lines may use a decimal comma (fields such as '01' or '-0' in "
                    f"{', '.join(f'{v:g}' for v in lines[0].numbers[:4])}, ...) while commas also separate the "
                    "values; that cannot be read unambiguously. Print a decimal point (e.g. set the PC's or "
                    "sketch's locale), or separate the values with ';' or tabs, which c3t reads with decimal commas")
            self.notes.append(note)
            out.device_errors.append(note)

    @staticmethod
    def _channel_names(keys: tuple | None, leading: str) -> tuple | None:
        if keys is None:
            return None
        return tuple(channel_name(k) for k in (keys if leading == "none" else keys[1:]))

    @staticmethod
    def _host_rate(times: np.ndarray) -> float:
        """Lines per second from their host arrival times (s).

        A line arrives after it left the board, never before: arrival(i) >= i / rate + c for
        every line i, late by a delay that varies (USB and the OS deliver lines in chunks; a
        busy CPU wakes the reader late, or the board itself sends late now and then). So the
        rate comes from the *lower envelope* of (line index, arrival time): the line below every
        point that stays closest to them, a linear program (the clock-skew estimate of Moon,
        Skelly and Towsley, INFOCOM 1999). Late chunks lie above it and do not move it; a
        least-squares fit through them read 52 Hz for a 50 Hz board. Only the last line of each
        chunk is used (the others arrived later than they could have)."""
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        chunk_times, starts = np.unique(times, return_index=True)
        if len(chunk_times) >= 3:
            x = np.append(starts[1:], len(times)) - 1.0          # the last line index of each chunk
            y = chunk_times - chunk_times[0]
            # variables (seconds per line, offset): maximise sum(s x_i + c) subject to s x_i + c <= y_i
            fit = linprog(c=[-x.sum(), -len(x)], A_ub=np.column_stack([x, np.ones_like(x)]), b_ub=y,
                          bounds=[(0, None), (None, None)], method="highs")
            if fit.status == 0 and fit.x[0] > 0:
                return float(1.0 / fit.x[0])
        first_chunk = int(np.sum(times == times[0]))
        return (len(times) - first_chunk) / (times[-1] - times[0])

    @staticmethod
    def _guess_leading(first: np.ndarray, host_hz: float, n_fields: int) -> str:
        if n_fields < 2 or len(first) < 5:
            return "none"
        d = np.diff(first)
        if np.mean(d > 0) < 0.9:   # a counter may wrap or reset now and then, but it counts up
            return "none"
        if np.all(first == np.round(first)) and np.median(d) == 1:
            return "seq"
        if LineStream._guess_scale(first, host_hz, TIMESTAMP_TOLERANCE):
            return "timestamp"
        # a clock of another unit: every line a step up, from a number no sensor value reaches
        # (a uptime in ticks, 1e6 and more), is a clock, never a channel (its unit is measured)
        return "timestamp" if np.all(d > 0) and np.min(np.abs(first)) >= CLOCK_MAGNITUDE else "none"

    @staticmethod
    def _guess_scale(first: np.ndarray, host_hz: float, within: float = 3.0) -> float | None:
        """Seconds per unit of a timestamp column (one of TIME_SCALES): the one that makes the
        column's typical step match the line period 1 / `host_hz` (Hz) within a factor of
        `within`; None if none does."""
        units_per_sample = _typical_step(first)
        if not units_per_sample or host_hz <= 0:
            return None
        best = min(TIME_SCALES.values(), key=lambda s: abs(math.log(units_per_sample * s * host_hz)))
        return best if abs(math.log(units_per_sample * best * host_hz)) < math.log(within) else None

    def _measured_scale(self, first: np.ndarray, host_hz: float, out: Parsed) -> float:
        """Seconds per unit of a timestamp column whose unit is none of TIME_SCALES: its typical
        step over the line period 1 / `host_hz`, said once; 1.0 when it cannot be measured."""
        step = _typical_step(first)
        if not step or host_hz <= 0:
            note = (f"{self.source}: the leading timestamp does not rise (or too few lines came) to tell its unit; "
                    "taken as seconds: set time_scale= (seconds per unit) in the spec")
            scale = 1.0
        else:
            scale = 1.0 / (step * host_hz)
            note = (f"{self.source}: the leading timestamp's unit is none of {', '.join(TIME_SCALES)}; measured "
                    f"from the line rate as {scale:.4g} s per unit (set time_scale= in the spec if you know it)")
        self.notes.append(note)
        out.device_errors.append(note)
        return scale

    # -- never silent --------------------------------------------------------------------
    def diagnose(self, now: float) -> str | None:
        """Why no samples come, or None while they do (or before a second of data has arrived).

        The text starts with "no samples:" and gives the bytes, lines and rejected lines since
        the last usable line, the last raw line (quoted, truncated), and a hint."""
        tally = self._tally
        if tally.t_first is None:
            if self.bytes_received == 0 and self._opened_at is not None and now - self._opened_at >= NO_BYTES_AFTER_S:
                return (f"{self.source}: no data: not a byte in {now - self._opened_at:.0f} s since the connection "
                        "opened. Is the device running and sending (a sketch printing lines: Serial.println)?")
            return None
        if now - tally.t_first < SILENT_AFTER_S:
            return None
        seconds = now - tally.t_first
        counts = (f"{tally.bytes} bytes, {tally.lines} lines ({tally.rejected} rejected) in {seconds:.1f} s"
                  + (" since the last sample" if self._last_good is not None else ""))
        return f"{self.source}: no samples: {counts}; " + self._explain(tally)

    def _explain(self, tally: _Tally) -> str:
        baud = (f"this port is opened at {self.baud} baud: set ?baud= to the rate of the sketch's "
                "Serial.begin(...)" if self.baud else "check the baud rate")
        kind = classify_bytes(tally.recent)
        if kind == "witmotion":
            return (f"binary data, not the line format: 0x55-framed packets (WitMotion-style) such as "
                    f"{quote(tally.recent[tally.recent.find(0x55):][:11])}. This source reads text lines, "
                    "one sample per line: switch the sensor to text output, or put a sketch between that prints lines")
        if kind == "binary":
            return (f"bytes arrive but are not text (last bytes {quote(tally.recent[-24:])}): {baud}; "
                    "or the device sends a binary protocol, not the line format")
        if tally.device_error and not tally.rejected:
            return f"the device reports {tally.device_error!r}"
        if tally.lines == 0:
            return (f"bytes arrive but no line ends (no LF or CR; last bytes {quote(tally.recent[-QUOTE_CHARS:])}): "
                    "end each sample with a newline (Serial.println)")
        hint = {
            "not text": baud,
            "no numbers": "the lines carry no numbers: print the values, one sample per line",
            "no line end": f"{baud}, and end each sample with a newline",
        }.get(tally.reason or "", "print one sample per line, the same values in the same order each time "
                                  "(set channels= / leading= in the spec if detection guessed wrong)")
        return f"last line {quote(tally.last_line or b'')} ({tally.reason}): {hint}"


def _typical_step(first: np.ndarray) -> float | None:
    """The median rise of a column over its rising steps (wraps and resets left out)."""
    if len(first) < 3:
        return None
    d = np.diff(first)
    d = d[d > 0]
    return float(np.median(d)) if len(d) else None


def time_unit(scale: float) -> str:
    """A timestamp column's unit in words: 'ns' for 1e-9, '1/32768 s' for 1/32768, else
    '<scale> s'."""
    for name, s in TIME_SCALES.items():
        if math.isclose(scale, s, rel_tol=1e-9):
            return name
    return f"{scale:.4g} s"


def line_health(h: Health, lines: LineStream, now: float) -> Health:
    """A Health snapshot completed from a LineStream: channels and their names, byte and line
    counts, and the diagnosis if bytes came but no samples (it stays readable after stop())."""
    layout = lines.layout
    if layout is not None:
        h.channels = layout.channels
        h.channel_names = list(layout.names) if layout.names else None
    h.bytes_received, h.lines_received = lines.bytes_received, lines.lines_received
    h.missing = lines.missing_values
    h.warn(lines.missing_note())
    if lines.unit_plan is not None:
        h.units, h.units_note = list(lines.unit_plan.units), lines.unit_plan.note
    return h.diagnosed(lines.diagnose(now))
