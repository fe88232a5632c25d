"""`c3t export`, `c3t live` and `c3t bench latency`: a trained model folder on live data."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from c3t.app.cli import check_dataset, parse_size
from c3t.core.errors import C3tError
from c3t.core.model.folder import CONFIG_FILE, read_model_config


def register(sub, bench) -> None:
    """Add `c3t export` and `c3t live` to the subcommands and `c3t bench latency` to the benchmarks."""
    p = sub.add_parser("export", help="write ONNX files for a model folder (checked against torch first)")
    p.add_argument("--model", required=True, help="model folder (from `c3t train`)")
    p.add_argument("--dataset", help="dataset for the parity check's real windows (default: the model's own)")
    p.add_argument("--clips", type=int, default=4, help="clips in the parity check (default 4)")
    p.set_defaults(func=export_command)

    p = sub.add_parser("live", help="recognise actions live from an IMU and/or a camera")
    p.add_argument("--model", required=True, help="model folder (exported with `c3t export` for onnxruntime)")
    p.add_argument("--imu", metavar="SPEC", help="IMU source, e.g. sim, serial:/dev/ttyACM0, ble:ADDRESS "
                   "(default: none; give --imu, --camera or both, as the model takes them)")
    p.add_argument("--camera", metavar="SPEC", help="camera source, e.g. camera:0 or sim (default: none)")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl+C)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per prediction")
    p.add_argument("--hop", type=float, default=0.25, help="seconds between predictions (default 0.25)")
    p.add_argument("--window", type=float, help="window length in seconds (default: the model's, else 2.5)")
    p.add_argument("--smoothing", choices=("mean", "majority"), default="mean",
                   help="how recent windows are combined into a decision (default mean of probabilities)")
    p.add_argument("--history", type=int, default=4, help="windows the smoothed decision looks back over (default 4)")
    p.add_argument("--threshold", type=float, default=0.5, help="below this smoothed confidence the decision is 'no action' (default 0.5)")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "torch"), default="auto",
                   help="auto: onnxruntime when the model was exported, else torch (default auto)")
    p.set_defaults(func=live_command)

    p = bench.add_parser("latency", help="per-window latency of a model: onnxruntime vs torch")
    p.add_argument("--model", required=True, help="model folder to time")
    p.add_argument("--path", choices=("imu", "camera", "fusion"), help="inference path (default: imu if the model has it)")
    p.add_argument("--windows", type=int, default=500, help="timed windows per backend (default 500)")
    p.add_argument("--threads", type=int, default=1, help="threads for both backends (default 1)")
    p.add_argument("--size", help="camera frame WIDTHxHEIGHT a motion model's input is timed on (default 640x480; "
                   "give your camera's; other camera inputs do not use it)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=latency_command)


# ----------------------------------------------------------------------------- export

def export_command(args) -> int:
    """`c3t export`: write the model folder's ONNX files, checked against torch on --clips clips; returns 0.
    Raises C3tError for --clips below 1 or a model that cannot be exported."""
    if args.clips < 1:
        raise C3tError("--clips must be at least 1")
    members = _members(read_model_config(args.model, "--model"))
    if not os.access(args.model, os.W_OK | os.X_OK):
        raise C3tError(f"--model {args.model} cannot be written (read-only or not yours): the ONNX files go into "
                       "the model folder; copy it somewhere writable and export the copy")
    if args.dataset:
        check_dataset(args.dataset)

    from c3t.training.export import export_model

    print(f"exporting {args.model}" + (f" (an ensemble of {members}: each graph averages its members)" if members > 1 else ""))
    record = export_model(args.model, args.dataset, args.clips)
    files = [p["file"] for p in record["paths"].values()] + ([record["backbone"]["file"]] if record["backbone"] else [])
    print(f"wrote {', '.join(files)} and export.json to {args.model} (opset {record['opset']})")
    return 0


# ----------------------------------------------------------------------------- live

def live_command(args) -> int:
    """`c3t live`: load the model, connect --imu and/or --camera and print one line per prediction until
    --seconds pass or Ctrl+C; returns 0. Raises C3tError for a model that cannot take these devices,
    a device that cannot be opened, or no data within 10 s."""
    read_model_config(args.model, "--model")
    check_specs(args.imu, args.camera)
    if not args.imu and not args.camera:
        raise C3tError("give an IMU source, a camera source or both (e.g. --imu sim)")

    from c3t.app.runtime.live import LivePipeline
    from c3t.core.model.predictor import PredictorSettings

    settings = PredictorSettings(hop_s=args.hop, window_s=args.window, smoothing=args.smoothing,
                                 history=args.history, threshold=args.threshold)
    live = LivePipeline(settings, backend=args.backend)
    live.set_model(args.model)
    engine = live.engine
    if engine.note:
        print(f"note: {engine.note}", file=sys.stderr)
    check_model_inputs(engine, args.imu, args.camera)
    return run_live(live, args.imu, args.camera, args.seconds, args.jsonl)


def check_specs(imu: str | None, camera: str | None) -> None:
    """Raise C3tError, with the forms a spec takes, for an --imu or --camera spec that cannot be
    parsed (before the model is loaded or a device opened)."""
    from c3t.devices.spec import parse_spec

    for spec in (imu, camera):
        if spec:
            parse_spec(spec)


def check_model_inputs(engine, imu: str | None, camera: str | None) -> None:
    """Raise C3tError, saying what to leave out, when the model has no path for a device asked for or
    cannot use this camera."""
    from c3t.core.model.predictor import LiveInputs

    if camera and "camera" not in engine.paths:
        raise C3tError(f"a {engine.method} model has no camera path; leave out --camera")
    problem = LiveInputs(engine.config, engine).camera_problem if camera else None
    if problem:
        raise C3tError(problem)
    if imu and "imu" not in engine.paths:
        raise C3tError(f"a {engine.method} model has no IMU path; leave out --imu")


def run_live(live, imu: str | None, camera: str | None, seconds: float | None, jsonl: bool,
             data_seconds: bool = False) -> int:
    """Connect, print one line per prediction until `seconds` pass (or Ctrl+C), then a summary.
    `data_seconds`: count `seconds` in the data's time, from the first prediction (a simulator
    on paced simulated time, which a busy CPU slows down: the same stretch of data idle or
    loaded), with the wall clock stopping it at 4 x `seconds` + 60 s at the latest."""
    import numpy as np

    from c3t.app.runtime.live import below_threshold, decision_rule, explain_decision

    latencies = []
    span = {"first": None, "last": None}   # data times of the first and last prediction

    def printed(pred, truth) -> None:
        """Print one prediction (seconds since the start, truth and accuracy when known) and keep its latency."""
        latencies.append(pred.latency_ms)
        span["first"] = pred.t if span["first"] is None else span["first"]
        span["last"] = pred.t
        row = pred.to_json()
        row["t"] = round(pred.t - (span["first"] if data_seconds else t0), 3)
        if below_threshold(pred, live.engine.classes):   # "no action" with the top class that missed the threshold
            row["below_threshold"] = explain_decision(pred, live.engine.classes, live.settings.threshold)
        if truth is not None:
            row.update(truth=truth, accuracy=live.score.accuracy if live.score.scored else None)
        _print_prediction(row, jsonl, width)

    width = max(len(c) for c in [*live.engine.classes, "no action"])   # class names are never cut
    if not jsonl:
        print(f"decision: {decision_rule(live.settings)}; the score beside it is the smoothed one", flush=True)
    live.on_prediction = printed
    live.connect(imu=imu, camera=camera)
    t0 = time.monotonic()
    live.start()
    warned: dict[str, float] = {}
    shown: dict = {}
    try:
        def more() -> bool:
            """Whether to go on: `seconds` not yet covered (in data or wall time)."""
            if seconds is None:
                return True
            if data_seconds:
                covered = span["last"] is not None and span["last"] - span["first"] >= seconds
                return not covered and time.monotonic() < t0 + 4 * seconds + 60
            return time.monotonic() < t0 + seconds

        while more():
            time.sleep(0.05)
            view = live.view()
            for role, d in view.devices.items():   # a device that sends what gives no samples says why
                if (d.state == "no samples") != shown.get(role, False):
                    shown[role] = d.state == "no samples"
                    print(f"{role}: {d.last_error if shown[role] else 'samples arrive'}", file=sys.stderr)
                if shown.get(role) and not view.predictions and time.monotonic() - t0 > 10:
                    raise C3tError(d.last_error)
            for role, d in view.devices.items():   # a device short of its rate: say so, every 10 s at most
                if d.warning and time.monotonic() - warned.get(role, -1e9) >= 10.0:
                    print(f"warning: {d.warning}", file=sys.stderr, flush=True)
                    warned[role] = time.monotonic()
            if not view.predictions and time.monotonic() - t0 > 10 and len(view.devices) < (bool(imu) + bool(camera)):
                raise C3tError("no data from the sources after 10 s: check the device (c3t devices) "
                               "or give its rate in the spec (?rate_hz=...)")
            if view.errors and not view.predictions and time.monotonic() - t0 > 1:
                raise C3tError(view.errors[-1])
    finally:
        live.stop()
    out = sys.stderr if jsonl else sys.stdout
    score = live.score
    if latencies:
        lat = np.array(latencies)
        line = (f"{len(lat)} predictions ({live.engine.backend}), latency p50 {np.percentile(lat, 50):.2f} ms "
                f"p95 {np.percentile(lat, 95):.2f} ms")
        if score.scored:
            line += (f"; smoothed accuracy {score.accuracy:.1%} over {score.scored} windows "
                     f"({score.skipped} left out: the first after each action change)")
        print(line, file=out)
    else:
        print("no predictions: the sources delivered less than one window of data", file=out)
    return 0


def _print_prediction(row: dict, jsonl: bool, width: int = 24) -> None:
    """Print one prediction row: as JSON, or as a line with class names `width` wide and one score, the
    decision's smoothed one ("–" and the top class at the end for a "no action" the threshold decided)."""
    if jsonl:
        print(json.dumps(row), flush=True)
        return
    below = row.get("below_threshold")
    score = "   –" if below else f"{100 * row['confidence']:3.0f}%"
    line = f"{row['t']:8.2f} s  {row['action']:{width}s} {score}  {row['latency_ms']:6.2f} ms"
    if "truth" in row:
        acc = "  -  " if row["accuracy"] is None else f"{row['accuracy']:.1%}"
        line += f"   truth {row['truth']:{width}s} accuracy {acc}"
    print(line + (f"   ({below})" if below else ""), flush=True)


# ----------------------------------------------------------------------------- bench latency

def _timings(fn, n: int, warmup: int = 20):
    import numpy as np

    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1000
    return out


def _stats(ms) -> dict:
    import numpy as np

    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean())}


def _predictor_steps(engine, config: dict, n: int):
    """Full predictor steps (SyncBuffer window + preprocessing + model + smoothing) on a
    buffer filled with synthetic 100 Hz IMU data."""
    import numpy as np

    from c3t.core.model.predictor import StreamingPredictor
    from c3t.core.streams.contract import Batch
    from c3t.core.streams.syncbuffer import SyncBuffer

    rate = 100.0
    buffer = SyncBuffer(seconds=10)
    buffer.add_stream("imu", "imu", rate, channels=int(config["model"]["imu_channels"]))
    t = np.arange(int(8 * rate)) / rate
    values = np.random.default_rng(0).normal(size=(len(t), int(config["model"]["imu_channels"]))).astype(np.float32)
    buffer.ingest(Batch("imu", t, values))
    predictor = StreamingPredictor(engine, buffer)
    return _timings(lambda: predictor.step(float(t[-1])), n)


def _members(config: dict) -> int:
    """The number of ensemble members of a model folder's config.json (1: a single model)."""
    return config.get("model", {}).get("members", 1)


def latency_command(args) -> int:
    """`c3t bench latency`: time one model path per window in milliseconds (p50, p95) with onnxruntime
    and torch, plus the full predictor step (IMU path) and the frame backbone (camera path); returns 0.
    Raises C3tError for --windows below 10, --threads below 1, a --size that is not WIDTHxHEIGHT
    or a path the model does not have."""
    if args.windows < 10:
        raise C3tError("--windows must be at least 10")
    if args.threads < 1:
        raise C3tError(f"--threads {args.threads}: give at least 1 thread")
    size = parse_size(args.size or "640x480")
    read_model_config(args.model, "--model")

    import numpy as np
    import torch

    from c3t.core.model.backbones import IMAGE_SIZE
    from c3t.core.model.folder import read_json
    from c3t.core.model.inference import OnnxEngine, TorchEngine, path_inputs
    from c3t.training.export import input_shapes

    folder = Path(args.model)
    onnx = OnnxEngine(folder, threads=args.threads, backbone_threads=args.threads)
    torch.set_num_threads(args.threads)
    eager = TorchEngine(folder)
    path = args.path or ("imu" if "imu" in onnx.paths else onnx.paths[0])
    if path not in onnx.paths:
        raise C3tError(f"a {onnx.method} model has no {path} path (it has {', '.join(onnx.paths)})")
    config = read_json(folder / CONFIG_FILE)
    shapes = input_shapes(config)
    rng = np.random.default_rng(0)
    feeds = {"imu": rng.normal(size=shapes["imu"]).astype(np.float32),
             "visual": rng.normal(size=shapes["visual"]).astype(np.float32)}
    kwargs = {k: feeds[k] for k in path_inputs(path)}
    shape_text = ", ".join(f"{k} {list(v.shape)}" for k, v in kwargs.items())
    members = _members(config)
    print(f"{folder}: {onnx.method}" + (f" (ensemble of {members})" if members > 1 else "")
          + f", {path} path ({shape_text}), {args.windows} windows per backend, {args.threads} thread(s) each")
    result = {"model": str(folder), "method": onnx.method, "path": path, "threads": args.threads, "windows": args.windows}
    o = _stats(_timings(lambda: onnx.run(path, **kwargs), args.windows))
    t = _stats(_timings(lambda: eager.run(path, **kwargs), args.windows))
    result.update(onnx_p50_ms=o["p50_ms"], onnx_p95_ms=o["p95_ms"], torch_p50_ms=t["p50_ms"], torch_p95_ms=t["p95_ms"],
                  ratio=t["p50_ms"] / o["p50_ms"], ratio_p95=t["p95_ms"] / o["p95_ms"],
                  windows_per_s=1000.0 / o["mean_ms"], torch_windows_per_s=1000.0 / t["mean_ms"])
    print(f"  onnxruntime  p50 {o['p50_ms']:7.3f} ms  p95 {o['p95_ms']:7.3f} ms  {result['windows_per_s']:8.0f} windows/s")
    print(f"  torch        p50 {t['p50_ms']:7.3f} ms  p95 {t['p95_ms']:7.3f} ms  {result['torch_windows_per_s']:8.0f} windows/s")
    print(f"  torch / onnxruntime: {result['ratio']:.1f}x at p50, {result['ratio_p95']:.1f}x at p95")
    if path == "imu":
        s = _stats(_predictor_steps(onnx, config, args.windows))
        result.update(step_p50_ms=s["p50_ms"], step_p95_ms=s["p95_ms"])
        print(f"  predictor step (window from the SyncBuffer + preprocessing + onnxruntime + smoothing): "
              f"p50 {s['p50_ms']:.3f} ms  p95 {s['p95_ms']:.3f} ms")
    if "visual" in kwargs and onnx.backbone_name:
        frame = rng.uniform(size=(1, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
        bo = _stats(_timings(lambda: onnx.features(frame), max(args.windows // 5, 10), warmup=5))
        bt = _stats(_timings(lambda: eager.features(frame), max(args.windows // 5, 10), warmup=5))
        hops_per_s = 4.0  # one camera-path run per 0.25 s hop
        max_fps = (1000.0 - hops_per_s * o["p95_ms"]) / bo["p95_ms"]
        result.update(backbone_onnx_p50_ms=bo["p50_ms"], backbone_onnx_p95_ms=bo["p95_ms"],
                      backbone_torch_p50_ms=bt["p50_ms"], backbone_torch_p95_ms=bt["p95_ms"], camera_max_fps=max_fps)
        print(f"  backbone {onnx.backbone_name} per frame: onnxruntime p50 {bo['p50_ms']:.2f} ms p95 {bo['p95_ms']:.2f} ms, "
              f"torch p50 {bt['p50_ms']:.2f} ms p95 {bt['p95_ms']:.2f} ms")
        print(f"  camera path keeps up with {max_fps:.0f} frames/s (backbone per new frame at p95 + the {path} "
              f"graph {hops_per_s:.0f}x a second) {'>= 15 fps: ok' if max_fps >= 15 else '< 15 fps'}")
    if "visual" in kwargs and config["inputs"].get("visual") == "motion":
        _time_motion(config, o, args.windows, result, size)
    elif args.size:
        print(f"  --size {args.size} not used: it sets the camera frames of a motion model's input, and this "
              f"{path} path takes {config['inputs'].get('visual') if 'visual' in kwargs else 'no camera input'}")
    if args.json:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}))
    return 0


def _time_motion(config: dict, graph: dict, windows: int, result: dict, size: tuple[int, int]) -> None:
    """Time the motion input (core/motion.py) on a 2.5 s window of simulated camera frames of
    `size` (width, height) at 30 fps, per hop of the live predictor (it is computed once per window, from 17 of its frames,
    whatever the camera's rate), and print whether a hop's camera work fits in the hop."""
    import numpy as np

    from c3t.core.model.preprocess import frames_input
    from c3t.core.streams.window import InputSpec
    from c3t.devices.simulated import SimulatedSource

    spec = InputSpec.from_dict(config["inputs"])
    source = SimulatedSource(seed=0, realtime=False, width=size[0], height=size[1], fps=30, batch_s=0.1)
    source.start()
    frames = []
    while len(frames) < 75:
        frames += [b.values[0] for b in source.read() if b.stream == "camera"]
    source.stop()
    video = np.stack(frames[:75])
    m = _stats(_timings(lambda: frames_input(video, spec, spec.frame_size), max(windows // 25, 10), warmup=2))
    hop_ms = 250.0
    per_hop = m["p95_ms"] + graph["p95_ms"]
    result.update(camera_size=f"{size[0]}x{size[1]}", motion_p50_ms=m["p50_ms"], motion_p95_ms=m["p95_ms"], camera_hop_p95_ms=per_hop)
    print(f"  motion input per window (75 frames of {size[0]}x{size[1]} -> {spec.frames} flow fields): p50 {m['p50_ms']:.1f} ms "
          f"p95 {m['p95_ms']:.1f} ms; with the graph {per_hop:.1f} ms of each {hop_ms:.0f} ms hop: "
          f"{'keeps up (at 30 fps or any rate: the window is resampled)' if per_hop < hop_ms else 'does not keep up'}")

