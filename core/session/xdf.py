"""XDF files (the Lab Streaming Layer's recording format, LabRecorder's output) to and from c3t
sessions: `export_xdf(session, file)` and `import_xdf(file, session)`.

The writer follows the XDF 1.0 specification (github.com/sccn/xdf/wiki/Specifications):
the magic "XDF:" then chunks, each

    [NumLengthBytes: 1 byte, 1|4|8] [Length: that many bytes, little endian = 2 + content]
    [Tag: uint16] [Content]

with tags 1 FileHeader (XML <info><version>1.0</version></info>), 2 StreamHeader (uint32
stream id + XML: name, type, channel_count, nominal_srate, channel_format, desc/channels),
3 Samples (stream id, a variable-length sample count, then per sample a TimeStampBytes byte 8
and a float64 time stamp, and the values little endian; a string value is a variable-length
byte count and UTF-8 bytes), 4 ClockOffset (stream id, collection time, offset: float64) and
6 StreamFooter (stream id + XML: first/last timestamp, sample count). A variable-length number
is 1 byte giving its width (1, 4 or 8) followed by the number. Reading uses pyxdf (the `lsl`
extra).

Export: each IMU stream of the session becomes a float32 stream (type "IMU", its channel names
and units in desc), time stamps host_t0 + t (the recording's host clock, which is LSL's
local_clock on Linux); each camera's frame table a 1-channel int32 stream of frame numbers
(type "VideoFrames": the video stays in the session's segments); the labels a 3-channel string
marker stream "c3t-labels" (class, use, "start" | "end"). One ClockOffset of 0 per stream
(they are all on the recorder's clock). pyxdf.load_xdf(file, dejitter_timestamps=False) gives
the time stamps back exactly; its default dejitter replaces a regular stream's stamps by a
line fitted through them, as for any LabRecorder file.

Import: pyxdf's clock synchronisation and dejitter (its defaults, what LabRecorder files are
made for); the IMU stream is the one named by `stream`, else the first numeric stream of type
IMU / Accelerometer / Motion, else the first numeric stream of 3 to 12 channels. Its units
(desc/channels/channel/unit, else the magnitude test) are converted to g and deg/s
(core/streams/units.py). c3t-labels become labels; other marker streams go to markers.csv
(t, stream, text). A raw video stream (type VideoRaw, LSL's meta-data convention: one frame per
sample, desc/encoding giving width, height, color_channels and color_format) becomes the session's
camera stream at its time stamps; a video stream without that shape (compressed, or c3t's own
VideoFrames frame numbers, whose pictures stay in the exported session's segments) and other
numeric streams are named in the returned report, not imported.
"""
from __future__ import annotations

import csv
import logging
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.session.format import Session
from c3t.core.session.writer import Recorder, StreamSpec
from c3t.core.streams.contract import Batch, Health
from c3t.core.streams.units import plan_units, unit_of

log = logging.getLogger(__name__)

MAGIC = b"XDF:"
FILE_HEADER, STREAM_HEADER, SAMPLES, CLOCK_OFFSET, BOUNDARY, STREAM_FOOTER = 1, 2, 3, 4, 5, 6
FORMATS = {"float32": "<f4", "double64": "<f8", "int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8"}
CHUNK_SAMPLES = 1000          # samples per Samples chunk
LABEL_STREAM = "c3t-labels"
HOST_T0 = "c3t_host_t0"       # file header entry: the session's time 0 on the streams' clock
IMU_TYPES = ("imu", "accelerometer", "acc", "motion", "mocap")
VIDEO_TYPES = ("videoraw",)   # LSL's meta-data convention: one uncompressed frame per sample, desc/encoding gives its shape
INSTALL = "pip install 'c3t[lsl]' (or pip install pyxdf)"


@dataclass
class XdfStream:
    """One stream to write: `values` (n, C) numbers or a list of n lists of C strings, `timestamps`
    (n,) seconds; `labels`/`units` name the channels (desc/channels)."""

    name: str
    type: str
    channel_format: str                  # a key of FORMATS or "string"
    nominal_srate: float                 # Hz; 0 = irregular
    timestamps: np.ndarray
    values: object
    labels: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    encoding: dict = field(default_factory=dict)   # desc/encoding (a VideoRaw stream: width, height, color_channels, color_format)

    @property
    def channel_count(self) -> int:
        """C, from the labels or the first sample."""
        if self.labels:
            return len(self.labels)
        return int(np.asarray(self.values).shape[1]) if self.channel_format != "string" else len(self.values[0])


def _varlen(n: int) -> bytes:
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2 ** 32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def _chunk(tag: int, content: bytes) -> bytes:
    length = len(content) + 2
    head = _varlen(length)             # NumLengthBytes + Length: the same encoding as a varlen number
    return head + struct.pack("<H", tag) + content


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0"?>' + ET.tostring(root, encoding="utf-8")


def _info(pairs: dict) -> ET.Element:
    root = ET.Element("info")
    for k, v in pairs.items():
        ET.SubElement(root, k).text = str(v)
    return root


def _header(sid: int, s: XdfStream) -> bytes:
    root = _info({"name": s.name, "type": s.type, "channel_count": s.channel_count,
                  "nominal_srate": f"{s.nominal_srate:.10g}", "channel_format": s.channel_format,
                  "source_id": f"c3t-{s.name}", "created_at": f"{float(s.timestamps[0]) if len(s.timestamps) else 0:.6f}"})
    channels = ET.SubElement(ET.SubElement(root, "desc"), "channels")
    for i, label in enumerate(s.labels):
        ch = ET.SubElement(channels, "channel")
        ET.SubElement(ch, "label").text = label
        if i < len(s.units) and s.units[i]:
            ET.SubElement(ch, "unit").text = s.units[i]
    if s.encoding:
        encoding = ET.SubElement(root.find("desc"), "encoding")
        for k, v in s.encoding.items():
            ET.SubElement(encoding, k).text = str(v)
    return _chunk(STREAM_HEADER, struct.pack("<I", sid) + _xml(root))


def _samples(sid: int, s: XdfStream, a: int, b: int) -> bytes:
    out = [struct.pack("<I", sid), _varlen(b - a)]
    ts = np.asarray(s.timestamps, dtype="<f8")
    if s.channel_format == "string":
        for i in range(a, b):
            out.append(b"\x08" + ts[i].tobytes())
            for v in s.values[i]:
                raw = str(v).encode("utf-8")
                out.append(_varlen(len(raw)) + raw)
    else:
        vals = np.ascontiguousarray(np.asarray(s.values)[a:b], dtype=FORMATS[s.channel_format])
        for i in range(b - a):
            out.append(b"\x08" + ts[a + i].tobytes() + vals[i].tobytes())
    return _chunk(SAMPLES, b"".join(out))


def write_xdf(path, streams: list[XdfStream], header: dict | None = None) -> None:
    """Write `streams` to the XDF file `path` (see the module docstring for the layout), with
    `header`'s entries added to the file header's XML.

    Raises:
        C3tError: an unknown channel format, or values and time stamps of different lengths.
    """
    path = Path(path)
    with open(path, "wb") as f:
        f.write(MAGIC + _chunk(FILE_HEADER, _xml(_info({"version": "1.0", **(header or {})}))))
        for sid, s in enumerate(streams, start=1):
            if s.channel_format not in FORMATS and s.channel_format != "string":
                raise C3tError(f"XDF stream {s.name!r}: channel format {s.channel_format!r} is not one of "
                               f"{', '.join(FORMATS)}, string")
            n = len(s.timestamps)
            if len(s.values) != n:
                raise C3tError(f"XDF stream {s.name!r}: {len(s.values)} samples for {n} time stamps")
            f.write(_header(sid, s))
            f.writelines(_samples(sid, s, a, min(n, a + CHUNK_SAMPLES)) for a in range(0, n, CHUNK_SAMPLES))
            t_ref = float(s.timestamps[-1]) if n else 0.0
            f.write(_chunk(CLOCK_OFFSET, struct.pack("<Idd", sid, t_ref, 0.0)))
            footer = _info({"first_timestamp": f"{float(s.timestamps[0]) if n else 0:.9f}",
                            "last_timestamp": f"{t_ref:.9f}", "sample_count": n})
            offsets = ET.SubElement(footer, "clock_offsets")
            off = ET.SubElement(offsets, "offset")
            ET.SubElement(off, "time").text = f"{t_ref:.9f}"
            ET.SubElement(off, "value").text = "0"
            f.write(_chunk(STREAM_FOOTER, struct.pack("<I", sid) + _xml(footer)))


# -- sessions <-> XDF ---------------------------------------------------------------------------
def export_xdf(session_dir, path) -> list[str]:
    """Write the session at `session_dir` as the XDF file `path`; returns one line per stream
    written.

    Raises:
        C3tError: the session cannot be read or holds no stream.
    """
    session = Session(session_dir)
    t0 = float(session.manifest.get("host_t0") or 0.0)
    meta = session.manifest.get("streams", {})
    streams: list[XdfStream] = []
    for name, track in session.imu.items():
        m = meta.get(name, {})
        channels = track.values.shape[1]
        labels = list(track.channel_names or [f"ch{i}" for i in range(channels)])
        streams.append(XdfStream(name, "IMU", "float32", float(track.nominal_hz or 0.0), t0 + track.t,
                                 track.values, labels, list(m.get("units") or [])))
    for name, frames in session.cameras.items():
        streams.append(XdfStream(name, "VideoFrames", "int32", float(frames.nominal_hz or 0.0), t0 + frames.t,
                                 frames.frame.reshape(-1, 1).astype(np.int32), ["frame"]))
    if session.labels:
        t_last = max((float(tr.t[-1]) for tr in session.imu.values() if len(tr)), default=0.0)
        events = []
        for label in session.labels:
            start, end = label.span(t_last)
            events += [(start, [label.cls, label.use, "start"]), (end, [label.cls, label.use, "end"])]
        events.sort(key=lambda e: e[0])
        streams.append(XdfStream(LABEL_STREAM, "Markers", "string", 0.0, t0 + np.array([e[0] for e in events]),
                                 [e[1] for e in events], ["class", "use", "edge"]))
    if not streams:
        raise C3tError(f"{session_dir}: the session holds no stream to export")
    write_xdf(path, streams, {HOST_T0: f"{t0!r}"})
    return [f"{s.name}: {len(s.timestamps)} samples ({s.type}, {s.channel_count} channels)" for s in streams]


def load_xdf(path) -> tuple[list[dict], dict]:
    """pyxdf.load_xdf's (streams, file header) of the file `path` (clock sync and dejitter on,
    pyxdf's defaults).

    Raises:
        C3tError: pyxdf is missing, the file does not exist or is not XDF.
    """
    try:
        import pyxdf
    except ImportError as exc:
        raise C3tError(f"reading XDF needs pyxdf: {INSTALL}") from exc
    if not Path(path).is_file():
        raise C3tError(f"{path}: no such XDF file")
    try:
        streams, header = pyxdf.load_xdf(str(path))
    except Exception as exc:   # pyxdf raises many kinds on a damaged file
        raise C3tError(f"{path} could not be read as XDF ({exc!s:.160})") from exc
    return streams, header


def _field(info: dict, key: str, default=""):
    value = info.get(key, [default])
    return value[0] if isinstance(value, list) and value else default


def _channels(info: dict) -> tuple[list, list]:
    try:
        entries = info["desc"][0]["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        return [], []
    return [_field(c, "label", None) for c in entries], [_field(c, "unit", None) for c in entries]


def _pick_imu(streams: list[dict], want: str | None) -> dict:
    numeric = [s for s in streams if _field(s["info"], "channel_format") != "string"
               and len(s.get("time_stamps", [])) > 0]
    if want:
        named = [s for s in streams if _field(s["info"], "name") == want]
        if not named:
            raise C3tError(f"no stream named {want!r} in the file (it has "
                           f"{', '.join(_field(s['info'], 'name') for s in streams)})")
        return named[0]
    for s in numeric:
        if _field(s["info"], "type").lower() in IMU_TYPES:
            return s
    for s in numeric:
        if 3 <= int(_field(s["info"], "channel_count", 0)) <= 12:
            return s
    raise C3tError("no IMU stream in the file: no numeric stream of type IMU/Accelerometer/Motion or of 3-12 "
                   f"channels (it has {', '.join(_field(s['info'], 'name') + ' (' + _field(s['info'], 'type') + ')' for s in streams)}); "
                   "name one with --stream")


def _video_shape(info: dict) -> tuple[int, int, int, str] | None:
    """(height, width, color channels, color format) of a VideoRaw stream from desc/encoding, or
    None where it is missing or does not match the channel count."""
    try:
        encoding = info["desc"][0]["encoding"][0]
        width, height = int(_field(encoding, "width", 0)), int(_field(encoding, "height", 0))
        channels = int(_field(encoding, "color_channels", 3) or 3)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    fmt = str(_field(encoding, "color_format", "RGB") or "RGB").upper()
    if width <= 0 or height <= 0 or channels not in (1, 3) or width * height * channels != int(_field(info, "channel_count", 0)):
        return None
    return height, width, channels, fmt


def _video_frames(s: dict, shape: tuple[int, int, int, str]) -> np.ndarray:
    """The stream's samples as (n, H, W, 3) uint8 BGR frames (c3t's camera batches)."""
    height, width, channels, fmt = shape
    frames = np.clip(np.asarray(s["time_series"]), 0, 255).astype(np.uint8).reshape(-1, height, width, channels)
    if channels == 1:
        return np.repeat(frames, 3, axis=3)
    return frames[..., ::-1].copy() if fmt.startswith("RGB") else frames


def import_xdf(path, out_dir, stream: str | None = None, units: str = "auto") -> list[str]:
    """Turn the XDF file `path` into a new session at `out_dir`; returns report lines (what was
    imported, converted, left out). `stream` names the IMU stream; `units` as core/streams/units.py.
    Raises:
        C3tError: pyxdf is missing, the file has no IMU stream (or not the one named) or `out_dir`
            is not empty.
    """
    streams, header = load_xdf(path)
    imu = _pick_imu(streams, stream)
    info = imu["info"]
    ts = np.asarray(imu["time_stamps"], dtype=np.float64)
    values = np.asarray(imu["time_series"], dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    labels, unit_text = _channels(info)
    name = _field(info, "name", "imu")
    plan = plan_units(values.shape[1], [str(x).lower() for x in labels] if labels and all(labels) else None,
                      units, [unit_of(u) for u in unit_text] if unit_text else None, values, f"{path}:{name}")
    rate = float(_field(info, "nominal_srate", 0) or 0) or None
    t0 = float(_field(header.get("info", {}), HOST_T0, None) or     # a file c3t exported: its session's time 0
               min(float(s["time_stamps"][0]) for s in streams if len(s.get("time_stamps", []))))
    video = next((s for s in streams if s is not imu and _field(s["info"], "type").lower() in VIDEO_TYPES
                  and _video_shape(s["info"]) and len(s.get("time_stamps", []))), None)
    video_rate = float(_field(video["info"], "nominal_srate", 0) or 0) or None if video else None
    specs = [StreamSpec("imu", "imu", rate)] + ([StreamSpec("camera", "camera", video_rate)] if video else [])
    rec = Recorder(out_dir, specs,
                   devices=[{"spec": f"xdf:{Path(path).name}", "type": "xdf", "stream": name,
                             "config": {"file": str(path), "stream": name, "units": units}}],
                   clock=lambda: t0, t0=t0)
    report = [f"imu <- {name!r} ({_field(info, 'type')}): {len(ts)} samples, {values.shape[1]} channels, "
              f"{rate or 'irregular'} Hz; units {', '.join(plan.units)}" + (f" ({plan.note})" if plan.note else "")]
    rec.write(Batch("imu", ts, plan.apply(values)))
    if video:
        vts = np.asarray(video["time_stamps"], dtype=np.float64)
        order = np.argsort(vts, kind="stable")
        vts, frames = vts[order], _video_frames(video, _video_shape(video["info"]))[order]
        for a in range(0, len(vts), 64):   # a few frames per batch, as a camera delivers them
            rec.write(Batch("camera", vts[a:a + 64], frames[a:a + 64]))
        report.append(f"camera <- {_field(video['info'], 'name')!r} (VideoRaw): {len(vts)} frames of "
                      f"{frames.shape[2]}x{frames.shape[1]}, {video_rate or 'irregular'} Hz")
    markers = []
    for s in streams:
        if s is imu or s is video:
            continue
        sname, stype = _field(s["info"], "name"), _field(s["info"], "type")
        if _field(s["info"], "channel_format") != "string":
            why = "c3t imports one IMU stream (--stream picks it)"
            if stype.lower() in VIDEO_TYPES:
                why = ("a VideoRaw stream needs desc/encoding width, height and color_channels matching its channel "
                       "count (c3t imports one camera stream)")
            elif stype == "VideoFrames":
                why = "frame numbers only: the pictures stay in the session the file was exported from"
            report.append(f"not imported: {sname!r} ({stype}, numeric): {why}")
            continue
        rows = list(zip(np.asarray(s["time_stamps"], dtype=np.float64) - t0, s["time_series"]))
        if sname == LABEL_STREAM:
            report.append(_labels(rec, rows))
        else:
            markers += [(t, sname, "|".join(map(str, v))) for t, v in rows]
    health = Health(nominal_hz=rate, channels=values.shape[1], units=plan.units, units_note=plan.note,
                    channel_names=[str(x) for x in labels] if labels and all(labels) else None)
    rec.close("imported", {"imu": health, **({"camera": Health(nominal_hz=video_rate)} if video else {})})
    if markers:
        with open(Path(out_dir) / "markers.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["t", "stream", "text"])
            w.writerows(sorted(markers))
        report.append(f"markers.csv <- {len(markers)} markers of other marker streams")
    return report


def _labels(rec: Recorder, rows: list) -> str:
    """Labels from c3t-labels markers (class, use, start|end), each start paired with its end."""
    open_at: dict[tuple, float] = {}
    n = 0
    for t, (cls, use, edge) in rows:
        if edge == "start":
            open_at[(cls, use)] = float(t)
        elif (cls, use) in open_at:
            rec.add_label(open_at.pop((cls, use)), float(t), cls, use)
            n += 1
    return f"labels <- {n} label(s) from {LABEL_STREAM}"
