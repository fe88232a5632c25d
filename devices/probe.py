"""`c3t probe SPEC`: connect to a source for a few seconds and say what it sends.

The first thing to run with a new board or camera. It opens the source as `open_source(spec)`
would for recording, reads for `seconds`, and reports the bytes and lines that arrived (with a
few raw lines), the format it detected (channels and their names, a leading timestamp or
sequence column, the rate), the samples and their measured rate, and, when something is wrong,
the same diagnosis `health()` and the device table give.

    report = probe("serial:/dev/ttyACM0", seconds=3)
    print(report.text())
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from c3t.core.streams.contract import Health

log = logging.getLogger(__name__)

RAW_LINES_SHOWN = 5


@dataclass
class ProbeReport:
    """What `probe` saw of one source (its first stream)."""

    spec: str
    seconds: float                       # how long it read
    stream: str
    health: Health
    samples: int = 0
    measured_hz: float | None = None     # from the arrival (or device) times of the samples
    first: list = field(default_factory=list)       # first samples (IMU) as lists of floats
    frame_size: tuple | None = None      # (width, height) of camera frames
    raw_lines: list[bytes] = field(default_factory=list)
    lines_rejected: int | None = None    # line formats: lines rejected (also while detecting)
    layout: object | None = None         # lineformat.LineLayout, for line formats
    notes: list[str] = field(default_factory=list)  # what detection found doubtful (decimal commas, clock units)

    @property
    def ok(self) -> bool:
        """True if samples arrived and nothing is diagnosed."""
        return self.samples > 0 and not self.health.diagnosis

    def text(self) -> str:
        """The report as the terminal shows it."""
        from c3t.devices.lineformat import quote

        h = self.health
        out = [f"probe {self.spec} ({self.stream}) for {self.seconds:.1f} s"]
        if h.bytes_received or h.lines_received:
            rejected = h.malformed if self.lines_rejected is None else self.lines_rejected
            out.append(f"  received: {h.bytes_received} bytes, {h.lines_received} lines, {rejected} rejected")
        if self.raw_lines:
            out.append("  first lines:")
            out += [f"    {quote(raw)}" for raw in self.raw_lines[:RAW_LINES_SHOWN]]
        if self.layout is not None:
            lay = self.layout
            lead = {"none": "no leading column", "seq": "a leading sequence number",
                    "timestamp": f"a leading timestamp ({lay.time_scale:g} s per unit{_unit_words(lay.time_scale)})"}[lay.leading]
            names = f" ({', '.join(lay.names)})" if lay.names else ""
            lines = f", one sample over {len(lay.record)} lines" if lay.record else ""
            out.append(f"  format: {lay.channels} channels{names}, {lead}{lines}, {lay.rate_hz:g} Hz")
        if h.units:
            out.append(f"  units: recorded in {', '.join(h.units)}" + (f" ({h.units_note})" if h.units_note else ""))
        if self.frame_size is not None:
            out.append(f"  frame size: {self.frame_size[0]}x{self.frame_size[1]}"
                       + (f", nominal {h.nominal_hz:g} fps" if h.nominal_hz else ", rate not reported"))
        unit = "frames" if self.frame_size is not None else "samples"
        rate = f" at {self.measured_hz:.1f} Hz measured" if self.measured_hz else ""
        extra = [f"{n} {what}" for n, what in ((h.dropped, "dropped"), (h.missing, "values missing (not numbers)"),
                                                (h.duplicates, "duplicates dropped"),
                                                (h.repeated, "repeated frames (no new picture)")) if n]
        out.append(f"  {unit}: {self.samples}{rate}" + "".join(f", {e}" for e in extra))
        for row in self.first[:3]:
            out.append("    " + ", ".join(f"{v:g}" for v in row))
        for note in self.notes:
            out.append(f"  note: {note}")
        if h.warning and not h.diagnosis:
            out.append(f"  warning: {h.warning}")
        if h.diagnosis:
            out.append(f"  diagnosis: {h.diagnosis}")
        elif self.samples == 0:
            out.append(f"  diagnosis: no samples in {self.seconds:.1f} s"
                       + (f" ({h.last_error})" if h.last_error else "") + "; probe longer (--seconds) or check the device")
        else:
            message = h.last_error if h.last_error not in (h.warning, *self.notes) else None
            out.append("  diagnosis: ok" + (f" (last message: {message})" if message else ""))
        return "\n".join(out)


def _unit_words(scale: float) -> str:
    """', ns' for a clock unit the plain number does not make obvious (ns, 1/32768 s...), else ''."""
    from c3t.devices.lineformat import time_unit

    unit = time_unit(scale)
    return "" if unit in ("s", "ms", "us") or unit.endswith(" s") and unit[0].isdigit() else f": {unit}"


def probe(spec: str, seconds: float = 3.0, source=None) -> ProbeReport:
    """Open the source `spec` names (or the given, unconnected `source`), read for `seconds`,
    and report. Raises C3tError if it cannot be opened (the message says what to do)."""
    from c3t.devices.spec import open_source

    source = source if source is not None else open_source(spec)
    stream = source.streams[0]
    log.info("probing %s (stream %s) for %g s", spec, stream, seconds)
    batches = []
    source.connect()
    try:
        source.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            batches += [b for b in source.read(timeout=min(0.1, max(0.0, end - time.monotonic()))) if b.stream == stream]
        health = source.health()[stream]     # while connected: the diagnosis applies
        source.stop()
        batches += [b for b in source.read(timeout=0) if b.stream == stream]
    finally:
        source.disconnect()
    report = ProbeReport(spec, seconds, stream, health, samples=sum(len(b) for b in batches))
    if batches:
        t = np.concatenate([b.t_host for b in batches])
        if len(t) > 2 and t[-1] > t[0]:
            report.measured_hz = float((len(t) - 1) / (t[-1] - t[0]))
        values = batches[0].values
        if values.ndim == 2:
            report.first = np.concatenate([b.values for b in batches[:3]])[:3].tolist()
        else:
            report.frame_size = (values.shape[2], values.shape[1])
    lines = getattr(source, "lines", None) or getattr(getattr(source, "decoder", None), "lines", None)
    if lines is not None:
        report.raw_lines = list(lines.raw_lines)
        report.lines_rejected = lines.lines_rejected
        report.layout = lines.layout
        report.notes = list(lines.notes)
    if getattr(source, "address_text", ""):      # a listening source: where the phone sends to
        report.notes.insert(0, source.address_text)
    return report
