"""The recorded session: a folder on disk, and reading it back (c3t.core.session.writer writes it).

    SESSION_DIR/
      manifest.json         what was recorded (see below); replaced atomically, never edited in place
      imu.csv               one IMU stream: t,t_device,seq,ch0..chN-1 (one sample per line)
      camera.csv            the camera's frame table: frame,segment,t,t_device,seq (one frame per line)
      camera/seg_000000.avi video as short finalised MJPG segments; seg_000007.part.avi while written
      labels.csv            start,end,class,use (one time segment per line; edit it freely)

Files are named after the stream ("imu", "camera"; a second IMU would be e.g. "imu2.csv").

Time. `t` is session seconds: (host monotonic arrival - host_t0) x time_scale, where host_t0 is
the recording's start and time_scale is 1 for real devices (a simulation or replay running N
times faster than real time records time_scale = N, so the session reads as if recorded in real
time). `t_device` is the device's own clock in seconds (nan if it sends none), `seq` its sample
counter (-1 if none). Labels use session seconds too.

Labels. `start,end,class,use`: `end` may be empty (the label lasts to the end of the recording,
as `c3t record --label` writes it); `use` is `har` (a camera label: the segment trains the action
head, D_HAR) or `check` (an IMU label: the segment is held out for D_Val / D_Test and never
trained on). Lines starting with # are comments.

Crash safety. Every file is append-only and flushed (and fsynced) at least every second; a video
segment is renamed from .part.avi to .avi only once it is complete and on disk, and its rows in
the frame table are on disk before that. After a crash the reader keeps every complete line and
every finalised segment, and says what was lost (a torn last line, the frames of an unfinished
segment). `manifest.json` says `"closed": true` only after a clean stop.

The manifest: format, version, app_version, created (local time), created_unix, person (who
wore the IMU, or null; older sessions may say "subject"), host_t0, time_scale, devices (spec,
type, config), streams (kind, files, nominal_hz, channels or frame
size, segment_s), recorder settings, closed; after a clean stop also ended, stop_reason,
duration_s, counts, measured_hz, source_dropped, clock_fits and writer statistics, stopped_at_s
(session seconds at the stop), source_outages ({stream: [[start, end], ...]} the sources'
outages, one still going on at the stop ending there), source_problems ({stream: [sentences]}:
missing values, duplicates, frozen frames, the last message) and each camera stream's `segments`
({file: bytes}). `Session` compares the files with these (`problems`): a file cut short, a
segment missing or smaller than recorded.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from c3t.core.atomic_file import atomic_write
from c3t.core.errors import C3tError
from c3t.core.streams.delivery import delivery_warning

log = logging.getLogger(__name__)

FORMAT = "c3t-session"
VERSION = 1
MANIFEST = "manifest.json"
LABELS = "labels.csv"
LABEL_COLUMNS = ("start", "end", "class", "use")
USES = ("har", "check")
IMU_FIXED = ("t", "t_device", "seq")
FRAME_COLUMNS = ("frame", "segment", "t", "t_device", "seq")
SEGMENT = "seg_{:06d}.avi"
PERSON_CHARS = 64   # the longest name for who wore the IMU
PART = "seg_{:06d}.part.avi"


# -- small shared helpers -------------------------------------------------------------------
def imu_columns(channels: int) -> list[str]:
    """The header of an IMU stream's CSV: t, t_device, seq, then ch0..ch{channels-1}."""
    return list(IMU_FIXED) + [f"ch{i}" for i in range(channels)]


def is_session(path) -> bool:
    """True when `path` holds a manifest.json of format c3t-session; an unreadable or
    invalid manifest gives False, not an error."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        return False
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


# -- labels ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Label:
    """One line of labels.csv: class `cls` from `start` to `end` (session seconds; end None
    runs to the end of the recording), used for training ("har") or held out ("check")."""

    start: float
    end: float | None      # None: to the end of the recording
    cls: str
    use: str = "har"       # "har" (camera label, trains) or "check" (IMU label, D_Val / D_Test)

    def span(self, t_last: float) -> tuple[float, float]:
        """(start, end) in session seconds, an open end taken as `t_last`."""
        return self.start, (t_last if self.end is None else self.end)


def label_line(label: Label) -> str:
    """The label as one labels.csv line with its newline (times to milliseconds; an open end
    left empty), CSV-quoted where the class name needs it."""
    out = io.StringIO()
    end = "" if label.end is None else f"{label.end:.3f}"
    csv.writer(out, lineterminator="\n").writerow([f"{label.start:.3f}", end, label.cls, label.use])
    return out.getvalue()


def read_labels(path: Path) -> tuple[list[Label], list[str]]:
    """Labels of a labels.csv, and problems with a torn last line (a crash while writing it).

    A malformed complete line is an error naming the line: the file is meant to be edited.

    Raises:
        C3tError: for a complete line that is not start,end,class,use: wrong field count, empty class,
            unknown use, times that are not seconds, or an end before its start (the message names the
            line)
    """
    path = Path(path)
    if not path.exists():
        return [], []
    text, problems = _label_text(path)
    complete, tail = _split_complete(text.encode("utf-8"))
    if tail.strip(b"\x00 \t\r"):
        problems.append(f"{path.name}: the last line was cut off (not closed cleanly); ignored: {tail[:60]!r}")
    complete = complete.decode("utf-8")
    delimiter = ";" if _semicolon_separated(complete) else ","
    rows = list(csv.reader(io.StringIO(complete), delimiter=delimiter))
    if delimiter == ";":   # a spreadsheet in a comma-decimal locale: 12,5;15,0;wave;har
        rows = [[c.replace(",", ".") if i < 2 else c for i, c in enumerate(row)] for row in rows]
    labels = []
    for n, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if n == 1 and [c.strip().strip('"').lower() for c in row] in (list(LABEL_COLUMNS), list(LABEL_COLUMNS[:3])):
            continue
        where = f"{path}, line {n}"
        if len(row) not in (3, 4):
            raise C3tError(f"{where}: expected start,end,class,use (e.g. 12.5,15.0,wave,har), got {row!r}")
        try:
            start = float(row[0])
            end = float(row[1]) if row[1].strip() else None
        except ValueError:
            raise C3tError(f"{where}: start and end must be seconds (end may be empty), got {row[:2]!r}") from None
        cls = row[2].strip()
        use = (row[3].strip().lower() if len(row) == 4 else "") or "har"
        if not cls:
            raise C3tError(f"{where}: the class name is empty")
        if use not in USES:
            raise C3tError(f"{where}: use {use!r} must be 'har' (camera label) or 'check' (IMU label for D_Val/D_Test)")
        if not math.isfinite(start) or (end is not None and not end > start):
            raise C3tError(f"{where}: the segment must end after it starts (start {start}, end {end})")
        labels.append(Label(start, end, cls, use))
    return labels, problems


BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _label_text(path: Path) -> tuple[str, list[str]]:
    """labels.csv as text with LF line ends, and what was odd about it. A spreadsheet or editor
    may have saved it with a byte order mark (UTF-8 from Excel, UTF-16 from Notepad), CRLF or CR
    line ends, or in Latin-1 / Windows-1252: all are read (bytes that are not UTF-8 are said)."""
    raw = path.read_bytes()
    problems = []
    encoding = "utf-8"
    for bom, name in BOMS:
        if raw.startswith(bom):
            raw, encoding = raw[len(bom):], name
            break
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        problems.append(f"{path.name} is not UTF-8 text; read as Windows-1252 (save it as UTF-8 to be sure of "
                        "non-ASCII class names)")
    return text.replace("\r\n", "\n").replace("\r", "\n"), problems


def _semicolon_separated(text: str) -> bool:
    """True when the first non-comment line splits into 3 or 4 fields at ';' but not at ','."""
    for line in text.split("\n"):
        if line.strip() and not line.lstrip().startswith("#"):
            return line.count(";") in (2, 3) and len(line.split(",")) not in (3, 4)
    return False


def write_labels(path: Path, labels: list[Label]) -> None:
    """Replace a labels.csv (for editing tools; the recorder only appends)."""
    with atomic_write(path, "w") as f:
        f.write(",".join(LABEL_COLUMNS) + "\n" + "".join(label_line(lb) for lb in labels))


# -- numeric tables (imu.csv, camera.csv) ---------------------------------------------------------
def _split_complete(raw: bytes) -> tuple[bytes, bytes]:
    end = raw.rfind(b"\n")
    return raw[: end + 1], raw[end + 1:]


def read_table(path: Path, columns: list[str], closed: bool = False) -> tuple[np.ndarray, list[str]]:
    """(rows, problems) of a numeric CSV written by the recorder; rows (n, len(columns)) float64.

    Only complete lines count. A last line without its newline is a torn write (a crash) and is
    dropped; so are unparseable lines at the very end (a power loss can leave zeros there).
    Unparseable lines anywhere else are reported as corrupt and skipped. `closed`: the session
    was closed cleanly, so a torn last line is a file cut short afterwards (a copy), not a crash.

    Raises:
        C3tError: when the header is not `columns` (not a file written by `c3t record`)
    """
    path = Path(path)
    raw = path.read_bytes()
    complete, tail = _split_complete(raw)
    problems = []
    lines = complete.split(b"\n")[:-1]
    if not lines:
        return np.empty((0, len(columns))), [f"{path.name} is empty (no header)"] if not tail else \
            [f"{path.name}: the header line was cut off"]
    header = lines[0].decode("ascii", errors="replace").strip().split(",")
    if header != list(columns):
        raise C3tError(f"{path}: header {','.join(header)!r} is not the expected {','.join(columns)!r}; "
                       "is this a file written by `c3t record`?")
    body = lines[1:]
    if tail.strip(b"\x00"):
        problems.append(f"{path.name}: the file ends in the middle of a line ({len(tail)} bytes ignored): it was cut "
                        "short after the recording closed (an interrupted copy or sync?)" if closed else
                        f"{path.name}: the last line was cut off at the crash ({len(tail)} bytes ignored)")
    if not body:
        return np.empty((0, len(columns))), problems
    try:
        rows = np.loadtxt(io.BytesIO(b"\n".join(body)), delimiter=",", ndmin=2, dtype=np.float64)
        if rows.shape[1] != len(columns):
            raise ValueError
        return rows, problems
    except ValueError:
        pass
    good, bad = [], []
    for i, line in enumerate(body):
        parts = line.split(b",")
        try:
            if len(parts) != len(columns):
                raise ValueError
            good.append([float(p) for p in parts])
        except ValueError:
            bad.append(i)
    trailing = 0
    while bad and bad[-1] == len(body) - 1 - trailing:   # garbage at the end: the crash's torn tail
        bad.pop()
        trailing += 1
    if trailing:
        problems.append(f"{path.name}: {trailing} unreadable line(s) at the end, written during the crash; ignored")
    if bad:
        problems.append(f"{path.name}: {len(bad)} corrupt line(s) inside the file (first at line {bad[0] + 2}); skipped")
    return np.asarray(good, dtype=np.float64).reshape(-1, len(columns)), problems


# -- what a session holds -------------------------------------------------------------------------
@dataclass
class ImuTrack:
    """One IMU stream read back from its CSV: times, device times, sequence numbers and the
    values (n, C) float32 (usually accelerometer in g, gyroscope in deg/s), with its nominal
    rate in Hz and, where the board named its channels (key:value lines), their names in column
    order (the manifest's `channel_names`; the CSV header stays ch0..ch{C-1}). `len()` is the
    sample count."""

    name: str
    t: np.ndarray           # (n,) session seconds
    t_device: np.ndarray    # (n,) device seconds, nan where none
    seq: np.ndarray         # (n,) int64, -1 where none
    values: np.ndarray      # (n, C) float32
    nominal_hz: float | None
    channel_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class FrameTrack:
    """The frames that can be read back (their segment is finalised); `lost` counts the rest."""

    name: str
    folder: Path
    t: np.ndarray
    t_device: np.ndarray
    seq: np.ndarray
    segment: np.ndarray     # (n,) segment number of each frame
    frame: np.ndarray       # (n,) frame number in the recording
    nominal_hz: float | None
    size: tuple[int, int] | None   # (width, height)
    lost: int = 0           # frames in the table whose segment was never finalised (a crash)

    def __len__(self) -> int:
        return len(self.t)

    def segment_path(self, k: int) -> Path:
        """The finalised video file of segment `k` (seg_00000k.avi in the stream's folder)."""
        return self.folder / SEGMENT.format(int(k))


@dataclass
class Recorded:
    """Samples of one stream read back from a session; looks like devices.base.Batch (what the
    SyncBuffer ingests), with `t_host` in session seconds."""

    stream: str
    t_host: np.ndarray
    values: np.ndarray
    t_device: np.ndarray | None = None
    seq: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.t_host)


@dataclass
class Gap:
    """A stretch from `start` to `end` (session seconds) in which `stream` sent no sample."""

    stream: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        """The gap's length in seconds."""
        return self.end - self.start


def check_person(name) -> str | None:
    """Who wore the IMU, as the manifest's "person" field stores it: the name stripped of surrounding
    spaces, None for no name (None or ""). The per-person protocols (cross-subject, new-user) group
    sessions by it, and `--test-people` lists names with commas.

    Raises:
        C3tError: for a name longer than PERSON_CHARS characters, with a comma, or with a control
            character (a line break, a tab)
    """
    if name is None or not str(name).strip():
        return None
    name = str(name).strip()
    bad = next((c for c in name if c == "," or not c.isprintable()), None)
    if bad is not None:
        raise C3tError(f"person {name!r}: no {'commas' if bad == ',' else 'control characters'} in a person's name "
                       "(names are listed with commas in --test-people); e.g. alice or p01")
    if len(name) > PERSON_CHARS:
        raise C3tError(f"person {name[:20]!r}...: at most {PERSON_CHARS} characters; use a short name or code such as p01")
    return name


class Session:
    """A session folder read back: manifest, IMU tracks, frame tables, labels, problems found.

    Video frames are decoded only when asked for (`frames`, `chunks`).

    Raises:
        C3tError: when the folder does not exist, has no manifest.json, or its manifest is not valid
            JSON, not a c3t session manifest, or written by a newer c3t
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise C3tError(f"session folder {self.path} does not exist")
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise C3tError(f"{self.path} is not a recorded session: it has no {MANIFEST} "
                           "(record one with `c3t record --imu SPEC --out DIR`)")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except ValueError as exc:
            raise C3tError(f"{manifest_path} is not valid JSON ({exc}); the session cannot be read") from None
        if self.manifest.get("format") != FORMAT:
            raise C3tError(f"{manifest_path} is not a c3t session manifest (format {self.manifest.get('format')!r})")
        if int(self.manifest.get("version", 0)) > VERSION:
            raise C3tError(f"{self.path} was written by a newer c3t (session version {self.manifest['version']}); update c3t")
        self.problems: list[str] = []
        self.imu: dict[str, ImuTrack] = {}
        self.cameras: dict[str, FrameTrack] = {}
        for name, meta in self.manifest.get("streams", {}).items():
            if meta.get("kind") == "imu":
                self.imu[name] = self._read_imu(name, meta)
            elif meta.get("kind") == "camera":
                self.cameras[name] = self._read_frames(name, meta)
        self.labels, label_problems = read_labels(self.path / self.manifest.get("labels", LABELS))
        self.problems += label_problems
        self.problems += self._compare_with_manifest()
        for name, said in (self.manifest.get("source_problems") or {}).items():
            self.problems += [f"stream {name!r} while recording: {text}" for text in said]
        if not self.closed_cleanly:
            self.problems.insert(0, "the recording was not closed cleanly (killed, crashed or lost power); "
                                    "it is readable up to the last data flushed to disk")

    # -- reading the files ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The session folder's name."""
        return self.path.name

    @property
    def person(self) -> str:
        """Who wore the IMU: the manifest's "person" field, else its "subject" field, as a string; ""
        when it has neither (people-wise protocols then refuse the session)."""
        for key in ("person", "subject"):
            value = self.manifest.get(key)
            if value not in (None, ""):
                return str(value)
        return ""

    @property
    def closed_cleanly(self) -> bool:
        """True when the manifest says the recording was stopped cleanly ("closed": true)."""
        return bool(self.manifest.get("closed"))

    def _read_imu(self, name: str, meta: dict) -> ImuTrack:
        path = self.path / meta.get("file", f"{name}.csv")
        channels = meta.get("channels")
        empty = ImuTrack(name, np.empty(0), np.empty(0), np.empty(0, np.int64), np.empty((0, channels or 0), np.float32),
                         meta.get("nominal_hz"))
        if not path.exists():
            self.problems.append(f"{path.name} is missing: no samples were written for stream {name!r}")
            return empty
        if channels is None:   # the recorder writes the channel count with the first batch; trust the header
            first = path.open("rb").readline()
            if not first.endswith(b"\n"):
                self.problems.append(f"{path.name}: its header line is not complete (a recording writing it now, "
                                     f"or cut off by a crash): no samples of stream {name!r} yet")
                return empty
            channels = max(0, len(first.decode("ascii", errors="replace").strip().split(",")) - len(IMU_FIXED))
        rows, problems = read_table(path, imu_columns(channels), self.closed_cleanly)
        self.problems += problems
        names = meta.get("channel_names")
        names = tuple(map(str, names)) if isinstance(names, list) and len(names) == channels else None
        return ImuTrack(name, rows[:, 0], rows[:, 1], rows[:, 2].astype(np.int64),
                        rows[:, 3:].astype(np.float32), meta.get("nominal_hz"), names)

    def _read_frames(self, name: str, meta: dict) -> FrameTrack:
        folder = self.path / meta.get("folder", name)
        table = self.path / meta.get("table", f"{name}.csv")
        size = tuple(meta["size"]) if meta.get("size") else None
        if not table.exists():
            self.problems.append(f"{table.name} is missing: no frames were written for stream {name!r}")
            rows = np.empty((0, len(FRAME_COLUMNS)))
        else:
            rows, problems = read_table(table, list(FRAME_COLUMNS), self.closed_cleanly)
            self.problems += problems
        segment = rows[:, 1].astype(np.int64)
        final = {k for k in np.unique(segment) if (folder / SEGMENT.format(int(k))).exists()}
        keep = np.isin(segment, sorted(final))
        lost = int((~keep).sum())
        if lost:
            unfinished = sorted(set(np.unique(segment[~keep]).tolist()))
            files = ", ".join(SEGMENT.format(k) for k in unfinished[:3]) + (" ..." if len(unfinished) > 3 else "")
            self.problems.append(
                f"stream {name!r}: video segment(s) {files} are missing from {folder.name}/ although the recording "
                f"closed cleanly: their {lost} frame(s) are lost (deleted, or not copied?)" if self.closed_cleanly else
                f"stream {name!r}: {lost} frame(s) in unfinished video segment(s) {files} were lost at the crash")
        rows = rows[keep]
        return FrameTrack(name, folder, rows[:, 2], rows[:, 3], rows[:, 4].astype(np.int64), rows[:, 1].astype(np.int64),
                          rows[:, 0].astype(np.int64), meta.get("nominal_hz"), size, lost)

    def _compare_with_manifest(self) -> list[str]:
        """What on disk differs from what the manifest of a cleanly closed session says: samples
        and frames per stream (`counts`), and each video segment's size in bytes (`segments`)."""
        if not self.closed_cleanly:
            return []
        out = []
        counts = self.manifest.get("counts") or {}
        for name, tr in (*self.imu.items(), *self.cameras.items()):
            want = counts.get(name)
            meta = self.manifest["streams"][name]
            file = meta.get("file") or meta.get("table") or f"{name}.csv"
            path = self.path / file
            # complete lines, corrupt ones included (those are reported by read_table as such)
            have = max(0, path.read_bytes().count(b"\n") - 1) if path.exists() else 0
            if want is None or have == want:
                continue
            unit = "samples" if name in self.imu else "frames"
            if not path.exists():
                out.append(f"{file} is missing but the manifest counts {want} {unit}: deleted, or not copied?")
                continue
            out.append(f"{file} holds {have} {unit} but the manifest counts {want} (written when the recording closed): "
                       + (f"{want - have} are missing, the file was cut short after the recording (an interrupted copy "
                          "or sync?); copy it again from the original" if have < want else
                          f"{have - want} more than recorded: the file was edited or appended to"))
        for name, tr in self.cameras.items():
            sizes = self.manifest["streams"][name].get("segments") or {}
            for file, size in sizes.items():
                path = tr.folder / file
                got = path.stat().st_size if path.exists() else None
                if got is None:
                    if not any(p.startswith(f"stream {name!r}: video segment(s)") for p in self.problems):
                        out.append(f"{tr.folder.name}/{file} is missing (the manifest lists it, {size} bytes)")
                elif got != size:
                    out.append(f"{tr.folder.name}/{file} is {got} bytes, the manifest says {size}: "
                               + ("cut short (an interrupted copy?); the frames past the cut are lost" if got < size
                                  else "changed after the recording"))
        return out

    # -- times ----------------------------------------------------------------------------------
    def span(self) -> tuple[float, float]:
        """(first, last) sample time over every stream, session seconds; (0, 0) if empty."""
        ts = [tr.t for tr in (*self.imu.values(), *self.cameras.values()) if len(tr)]
        if not ts:
            return 0.0, 0.0
        return float(min(t[0] for t in ts)), float(max(t[-1] for t in ts))

    @property
    def duration_s(self) -> float:
        """The last sample time over every stream, in session seconds (0 if empty)."""
        return self.span()[1]

    def label_spans(self) -> list[tuple[float, float, Label]]:
        """(start, end, label) with open ends resolved to the last sample time."""
        last = self.span()[1]
        return [(*lb.span(last), lb) for lb in self.labels]

    def label_at(self, t: float) -> Label | None:
        """The first label whose span holds session time `t` (start inclusive, end
        exclusive), or None."""
        for a, b, lb in self.label_spans():
            if a <= t < b:
                return lb
        return None

    def gaps(self, min_gap_s: float = 0.2, periods: float = 5.0) -> list[Gap]:
        """Stretches with no sample for longer than max(`periods` sample periods, `min_gap_s`),
        the SyncBuffer's rule. A stream that fell silent before the recording stopped has a gap
        to the end: to the last sample of any stream, or, where its source was still in an outage
        when the recording stopped (the manifest's `source_outages`), to `stopped_at_s`."""
        out = []
        outages = self.manifest.get("source_outages") or {}
        for name, tr in (*self.imu.items(), *self.cameras.items()):
            open_outage = any(b is not None and b >= float(self.manifest.get("stopped_at_s") or math.inf)
                              for _, b in outages.get(name, []))
            end = max(self.span()[1], float(self.manifest["stopped_at_s"]) if open_outage else 0.0)
            if len(tr) < 2:
                continue
            rate = tr.nominal_hz or self.measured_hz(name) or 1.0
            limit = max(periods / rate, min_gap_s)
            dt = np.diff(tr.t)
            for i in np.flatnonzero(dt > limit):
                out.append(Gap(name, float(tr.t[i]), float(tr.t[i + 1])))
            if end - tr.t[-1] > limit:   # it stopped before the recording did (a camera unplugged)
                out.append(Gap(name, float(tr.t[-1]), end))
        return sorted(out, key=lambda g: g.start)

    def delivery_warnings(self) -> list[str]:
        """One sentence per stream that delivered below its nominal rate or with gaps
        (core.delivery's rule); [] when every stream delivered as promised."""
        gap_s: dict[str, float] = {}
        for g in self.gaps():
            gap_s[g.stream] = gap_s.get(g.stream, 0.0) + g.seconds
        out = []
        for name, tr in (*self.imu.items(), *self.cameras.items()):
            if len(tr) < 2:
                continue
            warning = delivery_warning(name, tr.nominal_hz, self.measured_hz(name), gap_s.get(name, 0.0),
                                       float(tr.t[-1] - tr.t[0]))
            if warning:
                out.append(warning)
        return out

    def measured_hz(self, name: str) -> float | None:
        """The stream's mean sample rate in Hz over its recorded span (session seconds), or None
        for an unknown stream or fewer than two samples."""
        tr = self.imu.get(name) or self.cameras.get(name)
        if tr is None or len(tr) < 2 or tr.t[-1] <= tr.t[0]:
            return None
        return (len(tr) - 1) / float(tr.t[-1] - tr.t[0])

    def sequence_missing(self, name: str) -> int:
        """Samples the device numbered but that never arrived (sequence jumps, not counting device restarts)."""
        tr = self.imu.get(name) or self.cameras.get(name)
        if tr is None:
            return 0
        seq = tr.seq[tr.seq >= 0]
        if len(seq) < 2:
            return 0
        d = np.diff(seq)
        jumps = d[(d > 1) & (d < 10_000)]
        return int((jumps - 1).sum())

    # -- video ---------------------------------------------------------------------------------
    def segment_frames(self, name: str = "camera") -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row indices into the FrameTrack, decoded frames) per finalised segment, in order.

        A segment that decodes to a different number of frames than its table rows is skipped
        (and reported in `problems`): its frames cannot be matched to their times."""

        tr = self.cameras[name]
        for k in np.unique(tr.segment):
            rows = np.flatnonzero(tr.segment == k)
            path = tr.segment_path(k)
            frames = decode_video(path, limit=len(rows) + 1)
            if 0 < len(frames) < len(rows):   # cut short: its first frames are the table's first rows
                self._problem(f"{path}: only {len(frames)} of its {len(rows)} frames decode (the file was cut short); "
                              f"the first {len(frames)} are used, {len(rows) - len(frames)} skipped")
                rows = rows[:len(frames)]
            elif len(frames) != len(rows):
                self._problem(f"{path}: decodes to {len(frames)} frames but the table lists {len(rows)}; segment skipped")
                continue
            yield rows, np.stack(frames)

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def frames(self, name: str = "camera") -> Iterator[tuple[int, float, np.ndarray]]:
        """(row, t, frame) for every readable frame, in order."""
        tr = self.cameras[name]
        for rows, images in self.segment_frames(name):
            for r, image in zip(rows, images):
                yield int(r), float(tr.t[r]), image

    def check_segments(self, name: str = "camera") -> list[str]:
        """Compare each finalised segment's frame count (from its header, without decoding) with
        the frame table; returns the mismatches (also added to `problems`)."""
        import cv2

        tr = self.cameras[name]
        found = []
        ks, counts = np.unique(tr.segment, return_counts=True)
        for k, n in zip(ks, counts):
            cap = cv2.VideoCapture(str(tr.segment_path(k)))
            try:
                got = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
            finally:
                cap.release()
            if got != n:
                found.append(f"{tr.segment_path(k)}: holds {got} frames, the table lists {n}")
        self.problems += [p for p in found if p not in self.problems]
        return found

    # -- everything in time order ------------------------------------------------------------
    def chunks(self, imu_chunk_s: float = 0.02, streams: list[str] | None = None) -> Iterator[Recorded]:
        """Every stream's data in arrival order: IMU samples in chunks of `imu_chunk_s` session
        seconds, frames one per chunk; a chunk comes when its last sample's time has come.

        Raises:
            C3tError: for a stream name in `streams` the session does not have
        """
        streams = streams or [*self.imu, *self.cameras]
        unknown = [s for s in streams if s not in self.imu and s not in self.cameras]
        if unknown:
            raise C3tError(f"{self.path}: no stream {unknown[0]!r} (it has {[*self.imu, *self.cameras]})")
        iters = []
        for name in streams:
            iters.append(self._imu_chunks(name, imu_chunk_s) if name in self.imu else self._frame_chunks(name))
        heads = [next(it, None) for it in iters]
        while True:
            live = [(float(h.t_host[-1]), i) for i, h in enumerate(heads) if h is not None]
            if not live:
                return
            _, i = min(live)
            yield heads[i]
            heads[i] = next(iters[i], None)

    def _imu_chunks(self, name: str, chunk_s: float) -> Iterator[Recorded]:
        tr = self.imu[name]
        if not len(tr):
            return
        bins = np.floor((tr.t - tr.t[0]) / chunk_s).astype(np.int64)
        cuts = np.flatnonzero(np.diff(bins)) + 1
        for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(tr)]])):
            yield Recorded(name, tr.t[a:b], tr.values[a:b], _or_none(tr.t_device[a:b], np.isnan),
                           _or_none(tr.seq[a:b], lambda s: s < 0))

    def _frame_chunks(self, name: str) -> Iterator[Recorded]:
        tr = self.cameras[name]
        for rows, images in self.segment_frames(name):
            for r, image in zip(rows, images):
                yield Recorded(name, tr.t[r:r + 1], image[None], _or_none(tr.t_device[r:r + 1], np.isnan),
                               _or_none(tr.seq[r:r + 1], lambda s: s < 0))

    # -- summary -------------------------------------------------------------------------------
    def info(self, check_video: bool = True) -> dict:
        """What `c3t info --json` prints."""
        if check_video:
            for name in self.cameras:
                self.check_segments(name)
        m = self.manifest
        imu_n = sum(len(t) for t in self.imu.values())
        frames_n = sum(len(t) for t in self.cameras.values())
        streams = {}
        for name, tr in (*self.imu.items(), *self.cameras.items()):
            streams[name] = {
                "kind": m["streams"][name]["kind"], "samples": len(tr), "nominal_hz": tr.nominal_hz,
                "measured_hz": _round(self.measured_hz(name), 3), "sequence_missing": self.sequence_missing(name),
                "source_dropped": (m.get("source_dropped") or {}).get(name),
            }
            if name in self.imu:
                streams[name]["channels"] = int(tr.values.shape[1])
                streams[name]["channel_names"] = list(tr.channel_names) if tr.channel_names else None
            if name in self.cameras:
                streams[name]["lost_at_crash"] = tr.lost
                streams[name]["size"] = list(tr.size) if tr.size else None
        return {
            "session": str(self.path), "closed_cleanly": self.closed_cleanly,
            "stop_reason": m.get("stop_reason"), "created": m.get("created"),
            "duration_s": round(self.duration_s, 3), "imu_samples": imu_n, "frames": frames_n,
            "time_scale": m.get("time_scale", 1.0),
            "streams": streams,
            "gaps": [{"stream": g.stream, "start": round(g.start, 3), "end": round(g.end, 3),
                      "seconds": round(g.seconds, 3)} for g in self.gaps()],
            "labels": [{"start": lb.start, "end": lb.end, "class": lb.cls, "use": lb.use} for lb in self.labels],
            "devices": [d.get("spec") for d in m.get("devices", [])],
            "problems": list(self.problems),
            "warnings": self.delivery_warnings(),
        }


def _or_none(arr: np.ndarray, missing) -> np.ndarray | None:
    return None if missing(arr).all() else arr


def _round(x, digits):
    return None if x is None else round(float(x), digits)


def decode_video(path, limit: int | None = None) -> list[np.ndarray]:
    """The frames of a video file (BGR uint8), at most `limit` of them; [] if it cannot be read.
    Undecodable frames are skipped with a warning (core/video.py), not taken for the end."""
    from c3t.core.session.video import read_video

    return read_video(path, limit)[0]


def find_sessions(root) -> list[Path]:
    """Session folders at `root` itself or directly below it (one level), sorted by name."""
    root = Path(root)
    if is_session(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and is_session(p))


def relabel_session(path: Path, old: str, new: str) -> int:
    """Rename class `old` to `new` in the labels of the session at `path` (labels.csv rewritten
    atomically); returns how many labels changed.

    Raises:
        C3tError: for an empty new name or a folder that is not a readable session
    """
    if not new.strip():
        raise C3tError("the new class name is empty")
    s = Session(path)
    changed = [replace(lb, cls=new.strip()) if lb.cls == old else lb for lb in s.labels]
    count = sum(lb.cls == old for lb in s.labels)
    if count:
        write_labels(path / s.manifest.get("labels", LABELS), changed)
        log.info("%s: %d label(s) renamed %r -> %r", path, count, old, new.strip())
    return count
