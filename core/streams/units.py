"""Units of IMU channels: what a source sends, and the one conversion to what c3t records.

c3t records acceleration in g (standard gravity, 9.80665 m/s^2) and angular rate in deg/s,
gravity included: the models are trained on UTD-MHAD's inertial data, which is in g and deg/s
and holds gravity (a wrist at rest reads |a| = 1 g). Phones and SI libraries send m/s^2 and
rad/s (Sensor Logger's UNITS.md: accelerometer m/s^2 with g = 9.80665, gyroscope rad/s;
phyphox: m/s^2 and rad/s; HyperIMU: SI), so every source converts through `plan_units`:

1. unit text sent with the numbers wins, per channel ("9.59 m/s^2", "-0.06 rad/s", "12 mg",
   "3.1 dps"; `unit_texts` reads it from a line's shape);
2. else the units the spec declares (`?units=si`: m/s^2 and rad/s; `?units=g`: g and deg/s)
   or the source knows (Sensor Logger and phyphox are SI by their documentation);
3. else the acceleration magnitude over the first second decides: about 9.8 is m/s^2 (the
   gyroscope of such a device is taken as rad/s, the SI convention), about 1 is g; anything
   else (raw sensor counts, e.g. 16384 per g) is recorded as it is, and said.

Channels are read as (acc, gyro, mag) triples: by name where the device names them (acc_x,
gyro_x, mag_x: lineformat.channel_name), else by position (0-2 acceleration, 3-5 angular rate,
6-8 magnetic field, the order boards and phone apps print them in).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

STANDARD_GRAVITY = 9.80665       # m/s^2 per g (the value Sensor Logger and CODATA use)
RAD_TO_DEG = 180.0 / math.pi
UNIT_CHOICES = ("auto", "si", "g")   # ?units=: detect, m/s^2 + rad/s, g + deg/s
# unit text -> (quantity, factor to c3t's unit). Keys are lower case without spaces.
UNITS = {
    "g": ("acc", 1.0), "mg": ("acc", 1e-3),
    "m/s^2": ("acc", 1 / STANDARD_GRAVITY), "m/s²": ("acc", 1 / STANDARD_GRAVITY),
    "m/s2": ("acc", 1 / STANDARD_GRAVITY), "ms^-2": ("acc", 1 / STANDARD_GRAVITY),
    "ms-2": ("acc", 1 / STANDARD_GRAVITY), "m/s/s": ("acc", 1 / STANDARD_GRAVITY),
    "deg/s": ("gyro", 1.0), "dps": ("gyro", 1.0), "°/s": ("gyro", 1.0), "degrees/s": ("gyro", 1.0),
    "mdps": ("gyro", 1e-3), "rad/s": ("gyro", RAD_TO_DEG), "rads^-1": ("gyro", RAD_TO_DEG),
}
RECORDED = {"acc": "g", "gyro": "deg/s"}
# the start of a shape segment that may be a unit: letters, /, ^, digits, °, ² (up to a space)
UNIT_TOKEN = re.compile(r"^([A-Za-z°µ/\^\-²0-9]+)")
G_AT_REST = (0.7, 1.35)          # median |a| in g: the device sends g
SI_AT_REST = (7.0, 13.0)         # median |a| in m/s^2: the device sends m/s^2


def unit_of(text: str | None) -> str | None:
    """The canonical unit (a key of UNITS) a piece of text starts with, e.g. "m/s^2, Y:" ->
    "m/s^2", "dps" -> "dps", "Y:" -> None."""
    if not text:
        return None
    m = UNIT_TOKEN.match(text.strip())
    if not m:
        return None
    token = m.group(1).lower().rstrip(",;")
    return token if token in UNITS else None


def unit_texts(shapes: list[tuple]) -> list[str | None]:
    """The unit of each number of a sample from the shapes of its line(s) (lineformat.Line.shape:
    the text between the numbers). A unit written after a number applies to it and to the numbers
    before it on the same line back to the previous unit ("X: 0.39, Y: -0.21, Z: 9.59 m/s^2" gives
    m/s^2 to all three). Returns one entry per number (None: no unit written)."""
    out: list[str | None] = []
    for shape in shapes:
        units = [unit_of(seg) for seg in shape[1:]]      # segment i + 1 follows number i
        carry = None
        for i in range(len(units) - 1, -1, -1):
            carry = units[i] or carry
            units[i] = carry
            if i and unit_of(shape[i]):                  # a unit before number i ends its group
                carry = None
        out += units
    return out


def channel_kinds(channels: int, names: list[str] | tuple | None = None) -> list[str | None]:
    """"acc", "gyro", "mag" or None for each channel: from names (acc_x, gyro_y, mag_z) where
    given, else by position in (acc, gyro, mag) triples."""
    if names:
        kinds = []
        for n in names:
            n = str(n).lower()
            kinds.append("acc" if n.startswith("acc") else "gyro" if n.startswith("gyr") else
                         "mag" if n.startswith("mag") else None)
        return kinds
    order = ("acc", "gyro", "mag")
    return [order[i // 3] if i // 3 < 3 and channels - channels % 3 > i else None for i in range(channels)]


@dataclass
class UnitPlan:
    """How one stream's channels become c3t's units: `scale` (C,) multiplies each sample,
    `units` names each channel's recorded unit ("g", "deg/s", or what it is left in, e.g. "raw"),
    and `note` says what was decided and why when it was not written in the data (None when
    every unit was given), for health() and the log."""

    scale: np.ndarray
    units: list[str]
    note: str | None = None

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """Rows (n, C) in the device's units -> (n, C) float32 in c3t's units."""
        return (np.asarray(rows, dtype=np.float64) * self.scale).astype(np.float32)


def plan_units(channels: int, names=None, declared: str | None = "auto", texts=None,
               samples: np.ndarray | None = None, source: str = "device") -> UnitPlan:
    """Decide each channel's conversion to g and deg/s (see the module docstring for the order).

    channels: C; names: channel names or None; declared: "auto", "si" or "g" (None = "auto");
    texts: the unit text of each channel or None; samples: (n, C) values as sent, for the
    magnitude test; source: names the device in the note.

    Raises:
        ValueError: a `declared` that is not one of UNIT_CHOICES.
    """
    declared = declared or "auto"
    if declared not in UNIT_CHOICES:
        raise ValueError(f"units={declared!r}; use one of {', '.join(UNIT_CHOICES)}")
    kinds = channel_kinds(channels, names)
    texts = list(texts or [None] * channels)[:channels] + [None] * max(0, channels - len(texts or []))
    scale = np.ones(channels)
    units = ["" for _ in range(channels)]
    for i, text in enumerate(texts):
        if text:
            quantity, factor = UNITS[text]
            kinds[i] = quantity
            scale[i], units[i] = factor, RECORDED[quantity]
    acc = [i for i, k in enumerate(kinds) if k == "acc"]
    rest = _rest_magnitude(samples, acc[:3])
    guess, why = _system(declared, rest, texts, acc)
    notes = []
    for i, k in enumerate(kinds):
        if units[i] or k not in RECORDED:
            units[i] = units[i] or ("uT" if k == "mag" else "as sent")
            continue
        if guess == "si":
            scale[i] = 1 / STANDARD_GRAVITY if k == "acc" else RAD_TO_DEG
            units[i] = RECORDED[k]
        elif guess == "g":
            units[i] = RECORDED[k]
        else:
            units[i] = "raw"
    if why:
        notes.append(f"{source}: {why}")
    if declared != "auto" and rest is not None:
        looks = _looks(rest)
        if looks and looks != declared:
            notes.append(f"{source}: units={declared} was set, but the acceleration magnitude at rest is "
                         f"{rest:.2f}, which looks like {'m/s^2 (units=si)' if looks == 'si' else 'g (units=g)'}")
    return UnitPlan(scale, units, "; ".join(notes) or None)


def _rest_magnitude(samples, acc: list[int]) -> float | None:
    if samples is None or len(acc) != 3 or len(samples) == 0:
        return None
    a = np.asarray(samples, dtype=np.float64)[:, acc]
    a = a[np.all(np.isfinite(a), axis=1)]
    return float(np.median(np.linalg.norm(a, axis=1))) if len(a) else None


def _looks(rest: float) -> str | None:
    if G_AT_REST[0] <= rest <= G_AT_REST[1]:
        return "g"
    if SI_AT_REST[0] <= rest <= SI_AT_REST[1]:
        return "si"
    return None


def _system(declared: str, rest: float | None, texts: list, acc: list[int]) -> tuple[str | None, str | None]:
    """("si" | "g" | None, a sentence saying why, or None when the data or the spec said so)."""
    if declared != "auto":
        return declared, None
    written = [texts[i] for i in acc if texts[i]]
    if written:                             # acceleration's unit was written: the gyroscope follows its system
        return ("si" if written[0] not in ("g", "mg") else "g"), None
    if rest is None:
        return "g", None if not acc else "no acceleration samples to tell the units from; read as g and deg/s"
    looks = _looks(rest)
    if looks == "si":
        return "si", (f"acceleration magnitude at rest {rest:.2f}: read as m/s^2 and the angular rate as rad/s "
                      "(converted to g and deg/s; set ?units=g if the device sends g and deg/s)")
    if looks == "g":
        return "g", None
    return None, (f"acceleration magnitude at rest {rest:.4g} is neither about 1 (g) nor about 9.8 (m/s^2): "
                  "recorded as sent (raw sensor counts?); scale the values to g and deg/s on the device, or set "
                  "?units=si or ?units=g")
