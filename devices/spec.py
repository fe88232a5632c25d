"""One string names a source everywhere (CLI, config files, GUI): `open_source(spec)`.

    serial:/dev/ttyACM0?baud=115200        serial:COM3?channels=6&rate_hz=100
    ble:AA:BB:CC:DD:EE:FF?profile=nus      ble:ADDRESS?profile=struct&characteristic=UUID&struct_format=<6h
    camera:0   camera:/dev/video2   camera:/dev/v4l/by-id/usb-...-video-index0 (device nodes: live)
    camera:clip.mp4   camera:rtsp://host/stream?width=640&height=480&fps=30
    sim   sim?seed=3                       the simulated person (devices/simulated.py)
    replay:SESSION_DIR?speed=4             a recorded session played back (devices/replay.py)
    tcp:5555  tcp:192.168.1.7:5555  udp:5555   IMU lines over the network (devices/network.py)
    http:8000?token=SECRET                 Sensor Logger's HTTP pushes (devices/phone.py)
    phyphox:192.168.1.20:8080              a phone running phyphox, polled (devices/phone.py)
    lsl:NAME   lsl:type=IMU                a Lab Streaming Layer stream (devices/lsl.py)

Query parameters are the fields of the source's config dataclass (SerialImuConfig,
BleImuConfig, OpenCvCameraConfig, ReplayConfig, NetLinesConfig, PhonePushConfig, PhyphoxConfig,
LslInletConfig; for `sim`, SimulatedSource's keyword arguments), converted to the field's type.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from urllib.parse import parse_qsl

from c3t.core.errors import C3tError
from c3t.core.streams.contract import Source

log = logging.getLogger(__name__)

FORMS = """a source spec is one of:
  serial:PORT[?baud=115200&channels=6&rate_hz=200]   e.g. serial:/dev/ttyACM0?baud=115200, serial:COM3
  ble:ADDRESS[?profile=nus|arduino|struct]           e.g. ble:AA:BB:CC:DD:EE:FF?profile=nus
  camera:INDEX|DEVICE|FILE|URL[?width=640&height=480&fps=30] e.g. camera:0, camera:/dev/video2, camera:clip.mp4
  sim[?KEY=VALUE&...]                                the simulated person (IMU and camera)
  replay:SESSION_DIR[?speed=1&start_s=0&streams=imu] a recorded session played back, e.g. replay:sessions/s1?speed=4
  tcp:PORT | tcp:HOST:PORT | udp:PORT[?units=si|g]   IMU text lines: listen (a phone connects), connect to a board, datagrams
  http:PORT[?token=SECRET]                           a phone running Sensor Logger pushes to http://THIS-PC:PORT/
  phyphox:HOST[:PORT]                                a phone running phyphox with remote access on (port 8080)
  lsl:NAME | lsl:type=IMU                            a Lab Streaming Layer stream (pip install c3t[lsl])
(`c3t devices` lists the serial ports, cameras and, with --ble, BLE devices it finds;
`c3t probe SPEC` shows what one sends)"""

KINDS = ("serial", "ble", "camera", "sim", "replay", "tcp", "udp", "http", "phyphox", "lsl")
NOT_SETTABLE = {"clock", "client_factory"}  # code, not text


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """'kind:target?k=v&...' -> (kind, target, {k: v}).

    Raises:
        C3tError: listing the forms a spec takes, for an empty spec, an unknown kind, a spec that names
            no port or device, or 'sim' with more than parameters
    """
    if not isinstance(spec, str) or not spec.strip():
        raise C3tError(f"empty source spec; {FORMS}")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if not sep:  # "sim" or "sim?seed=3"
        kind, _, query = spec.partition("?")
        rest = "?" + query if query else ""
    kind = kind.lower()
    if kind not in KINDS:
        raise C3tError(f"unknown source spec {spec!r}; {FORMS}")
    target, params = _split_query(kind, rest)
    if kind not in ("sim",) and not target:
        raise C3tError(f"source spec {spec!r} names no {'port' if kind == 'serial' else 'device'}; {FORMS}")
    if kind == "sim" and target:
        raise C3tError(f"source spec {spec!r}: 'sim' takes only ?KEY=VALUE parameters; {FORMS}")
    return kind, target, params


def _split_query(kind: str, rest: str) -> tuple[str, dict[str, str]]:
    target, sep, query = rest.rpartition("?") if "?" in rest else (rest, "", "")
    if not sep:
        return rest, {}
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True))
    except ValueError as exc:
        if kind == "camera" and "://" in rest:  # the URL's own query string
            return rest, {}
        raise C3tError(f"source spec query {query!r} is not KEY=VALUE&...: {exc}; {FORMS}") from None
    if kind == "camera" and "://" in target:
        from c3t.devices.camera import OpenCvCameraConfig

        if not set(params) <= {f.name for f in dataclasses.fields(OpenCvCameraConfig)}:
            return rest, {}  # the URL's own query string
    return target, params


def _coerce(value: str, type_text: str, where: str):
    types = {t.strip() for t in str(type_text).split("|")}
    if value.lower() in ("none", "") and "None" in types:
        return None
    if "bool" in types:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise C3tError(f"{where}={value!r}: expected true or false")
    if "int" in types:
        try:
            return int(value)
        except ValueError:
            if types <= {"int", "None"}:
                raise C3tError(f"{where}={value!r}: expected a whole number") from None
    if "float" in types:
        try:
            return float(value)
        except ValueError:
            if "str" not in types:
                raise C3tError(f"{where}={value!r}: expected a number") from None
    return value


def _guess(value: str):
    """For keyword arguments without a declared type: bool, int, float or text."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _config(cls, spec: str, positional: dict, params: dict[str, str]):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    settable = sorted(set(fields) - NOT_SETTABLE - set(positional))
    kwargs = dict(positional)
    for key, value in params.items():
        if key not in settable:
            raise C3tError(f"source spec {spec!r}: unknown parameter {key!r}; "
                           f"{cls.__name__} takes {', '.join(settable)}")
        kwargs[key] = _coerce(value, fields[key].type, f"{spec}: {key}")
    return cls(**kwargs)


def open_source(spec: str) -> Source:
    """Build (not connect) the Source a spec names.

    Raises:
        C3tError: for a spec that cannot be parsed, an unknown kind, or parameters the source does not
            take
    """
    kind, target, params = parse_spec(spec)
    if kind == "serial":
        from c3t.devices.serial_imu import SerialImu, SerialImuConfig

        source = SerialImu(_config(SerialImuConfig, spec, {"port": target}, params))
    elif kind == "ble":
        from c3t.devices.ble_imu import BleImu, BleImuConfig

        source = BleImu(_config(BleImuConfig, spec, {"address": target}, params))
    elif kind == "camera":
        from c3t.devices.camera import OpenCvCamera, OpenCvCameraConfig

        camera = int(target) if target.isdigit() else target
        source = OpenCvCamera(_config(OpenCvCameraConfig, spec, {"source": camera}, params))
    elif kind == "sim":
        from c3t.devices.simulated import SimulatedSource

        try:
            source = SimulatedSource(**{k: _guess(v) for k, v in params.items()})
        except TypeError as exc:
            raise C3tError(f"source spec {spec!r}: {exc}") from None
    elif kind == "replay":
        from c3t.devices.replay import ReplayConfig, ReplaySource

        source = ReplaySource(_config(ReplayConfig, spec, {"session": target}, params))
    else:
        source = _network_source(kind, target, spec, params)
    source.spec = without_secrets(spec)   # what logs, the device table and manifests show
    log.debug("%s: built %s", spec, type(source).__name__)
    return source


def _host_port(spec: str, target: str, default_port: int | None = None) -> tuple[str, int]:
    """'HOST:PORT', 'PORT' or (with a default port) 'HOST' -> (host, port); raises C3tError."""
    host, sep, port = target.rpartition(":")
    if not sep:
        host, port = ("", target) if target.isdigit() or default_port is None else (target, str(default_port))
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise C3tError(f"source spec {spec!r}: {port!r} is not a port number (0-65535); {FORMS}")
    return host, int(port)


def _network_source(kind: str, target: str, spec: str, params: dict[str, str]) -> Source:
    """The tcp:, udp:, http:, phyphox: and lsl: sources (devices/network.py, phone.py, lsl.py)."""
    if kind in ("tcp", "udp"):
        from c3t.devices.network import NetLines, NetLinesConfig

        host, port = _host_port(spec, target)
        mode = "udp" if kind == "udp" else "connect" if host else "listen"
        return NetLines(_config(NetLinesConfig, spec, {"port": port, "host": host, "mode": mode}, params))
    if kind == "http":
        from c3t.devices.phone import PhonePush, PhonePushConfig

        host, port = _host_port(spec, target)
        return PhonePush(_config(PhonePushConfig, spec, {"port": port, "host": host}, params))
    if kind == "phyphox":
        from c3t.devices.phone import Phyphox, PhyphoxConfig

        host, port = _host_port(spec, target, default_port=8080)
        if not host:
            raise C3tError(f"source spec {spec!r} names no phone address: phyphox:HOST[:PORT], e.g. "
                           "phyphox:192.168.1.20:8080 (the address phyphox shows under remote access)")
        return Phyphox(_config(PhyphoxConfig, spec, {"host": host, "port": port}, params))
    from c3t.devices.lsl import LslInlet, LslInletConfig

    return LslInlet(_config(LslInletConfig, spec, {"query": target}, params))


def without_secrets(spec: str) -> str:
    """`spec` with the value of a secret parameter (token=, password=) replaced by ***, for showing
    and recording: http:8000?token=s3cret -> http:8000?token=***."""
    return re.sub(r"([?&](?:token|password|secret)=)[^&]*", r"\1***", spec)


def on_simulated_time(spec: str, seed: int | None = None) -> str:
    """`spec` with realtime=false added when it names the simulator without choosing a clock
    (what recording and data building use: the seed, not the CPU's load, decides the data;
    batch_s=0.1 then computes the same samples in fewer steps), and with seed=`seed` when given
    and the spec sets none. Other specs are returned unchanged. Raises C3tError for a malformed spec."""
    kind, _, params = parse_spec(spec)
    if kind != "sim":
        return spec
    extra = [] if "realtime" in params else ["realtime=false"]
    if "batch_s" not in params and "realtime" not in params:
        from c3t.devices.simulated import DATA_BATCH_S

        extra.append(f"batch_s={DATA_BATCH_S:g}")
    if seed is not None and "seed" not in params:
        extra.append(f"seed={int(seed)}")
    return spec + ("&" if "?" in spec else "?") + "&".join(extra) if extra else spec


def stream_of(source: Source, role: str) -> str:
    """The source's stream that plays `role` ("imu" or "camera").

    Raises:
        C3tError: when no stream of the source plays `role`
    """
    names = source.streams
    matches = [n for n in names if n.startswith("camera")] if role == "camera" else \
        [n for n in names if n == "imu"] or [n for n in names if not n.startswith("camera")]
    if not matches:
        raise C3tError(f"source {source.name} has no {role} stream (it has {', '.join(names)})")
    return matches[0]


def open_roles(imu_spec: str | None, camera_spec: str | None, own_camera: bool = False,
               simulated_time: bool = False, seed: int | None = None) -> dict[str, tuple[Source, str]]:
    """{"imu": (source, stream), "camera": (source, stream)} for the specs given, built, not yet
    connected: the one mapping from device specs to sources that `c3t record`, `c3t live` and
    the GUI share. The same spec twice is one source.

    own_camera:     with no camera spec, the IMU source's own camera stream (sim, replay) plays
                    the camera; otherwise a simulator nobody watches does not render frames.
    simulated_time: sim specs run on simulated time (see on_simulated_time), with `seed`.

    Raises:
        C3tError: for no spec at all, a bad spec, or a source without the stream its role needs
    """
    if not imu_spec and not camera_spec:
        raise C3tError("give an IMU source, a camera source or both (e.g. --imu sim)")
    if simulated_time:
        imu_spec, camera_spec = (on_simulated_time(s, seed) if s else s for s in (imu_spec, camera_spec))
    if imu_spec and imu_spec != camera_spec and (camera_spec or not own_camera):
        kind, _, params = parse_spec(imu_spec)
        if kind == "sim" and "camera" not in params:  # nobody watches its camera: do not render it
            imu_spec += ("&" if "?" in imu_spec else "?") + "camera=false"
    opened: dict[str, Source] = {}
    roles = {}
    for role, spec in (("imu", imu_spec), ("camera", camera_spec)):
        if spec:
            if spec not in opened:
                opened[spec] = open_source(spec)
            roles[role] = (opened[spec], stream_of(opened[spec], role))
    if own_camera and imu_spec and not camera_spec:
        source = roles["imu"][0]
        if any(n.startswith("camera") for n in source.streams):
            roles["camera"] = (source, stream_of(source, "camera"))
    log.info("sources: %s", ", ".join(f"{role} = {src.spec} ({stream})" for role, (src, stream) in roles.items()))
    return roles
