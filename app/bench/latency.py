"""`c3t bench latency`: per-window latency of a model folder, onnxruntime against torch, the full
predictor step, the frame backbone and the motion input, in milliseconds (p50, p95)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from c3t.core.errors import C3tError
from c3t.core.model.folder import CONFIG_FILE, ensemble_members

log = logging.getLogger(__name__)

HOP_MS = 250.0   # the live predictor's default hop: one camera-path run per 0.25 s


def timings(fn, n: int, warmup: int = 20):
    """Milliseconds of `n` calls of `fn()` after `warmup` untimed ones; an array of shape (n,)."""
    import numpy as np

    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1000
    return out


def stats(ms) -> dict:
    """p50, p95 and mean of an array of milliseconds."""
    import numpy as np

    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean())}


def _predictor_steps(engine, config: dict, n: int):
    """Full predictor steps (SyncBuffer window + preprocessing + model + smoothing) on a
    buffer filled with synthetic 100 Hz IMU data; milliseconds, shape (n,)."""
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
    return timings(lambda: predictor.step(float(t[-1])), n)


def measure_latency(folder, path: str | None, windows: int, threads: int, size: tuple[int, int],
                    size_given: str | None = None) -> dict:
    """Time the model in `folder` on one path ("imu", "camera" or "fusion"; None: imu if it has one)
    over `windows` windows per backend with `threads` threads each, printing each figure; a motion
    model's input is timed on camera frames of `size` (width, height). `size_given`: the --size text,
    named when it is not used. Returns the figures (milliseconds, windows per second, ratios).

    Raises:
        C3tError: for a path the model does not have, or a model folder the engines cannot open.
    """
    import numpy as np
    import torch

    from c3t.core.model.backbones import IMAGE_SIZE
    from c3t.core.model.folder import read_json
    from c3t.core.model.inference import OnnxEngine, TorchEngine, path_inputs
    from c3t.training.export import input_shapes

    folder = Path(folder)
    onnx = OnnxEngine(folder, threads=threads, backbone_threads=threads)
    torch.set_num_threads(threads)
    eager = TorchEngine(folder)
    log.debug("%s: onnxruntime and torch engines open, %d thread(s) each", folder, threads)
    path = path or ("imu" if "imu" in onnx.paths else onnx.paths[0])
    if path not in onnx.paths:
        raise C3tError(f"a {onnx.method} model has no {path} path (it has {', '.join(onnx.paths)})")
    config = read_json(folder / CONFIG_FILE)
    shapes = input_shapes(config)
    rng = np.random.default_rng(0)
    feeds = {"imu": rng.normal(size=shapes["imu"]).astype(np.float32),
             "visual": rng.normal(size=shapes["visual"]).astype(np.float32)}
    kwargs = {k: feeds[k] for k in path_inputs(path)}
    shape_text = ", ".join(f"{k} {list(v.shape)}" for k, v in kwargs.items())
    n_members = ensemble_members(config)
    print(f"{folder}: {onnx.method}" + (f" (ensemble of {n_members})" if n_members > 1 else "")
          + f", {path} path ({shape_text}), {windows} windows per backend, {threads} thread(s) each")
    result = {"model": str(folder), "method": onnx.method, "path": path, "threads": threads, "windows": windows}
    o = stats(timings(lambda: onnx.run(path, **kwargs), windows))
    t = stats(timings(lambda: eager.run(path, **kwargs), windows))
    result.update(onnx_p50_ms=o["p50_ms"], onnx_p95_ms=o["p95_ms"], torch_p50_ms=t["p50_ms"], torch_p95_ms=t["p95_ms"],
                  ratio=t["p50_ms"] / o["p50_ms"], ratio_p95=t["p95_ms"] / o["p95_ms"],
                  windows_per_s=1000.0 / o["mean_ms"], torch_windows_per_s=1000.0 / t["mean_ms"])
    print(f"  onnxruntime  p50 {o['p50_ms']:7.3f} ms  p95 {o['p95_ms']:7.3f} ms  {result['windows_per_s']:8.0f} windows/s")
    print(f"  torch        p50 {t['p50_ms']:7.3f} ms  p95 {t['p95_ms']:7.3f} ms  {result['torch_windows_per_s']:8.0f} windows/s")
    print(f"  torch / onnxruntime: {result['ratio']:.1f}x at p50, {result['ratio_p95']:.1f}x at p95")
    if path == "imu":
        s = stats(_predictor_steps(onnx, config, windows))
        result.update(step_p50_ms=s["p50_ms"], step_p95_ms=s["p95_ms"])
        print(f"  predictor step (window from the SyncBuffer + preprocessing + onnxruntime + smoothing): "
              f"p50 {s['p50_ms']:.3f} ms  p95 {s['p95_ms']:.3f} ms")
    if "visual" in kwargs and onnx.backbone_name:
        frame = rng.uniform(size=(1, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)   # (1, 3, H, W)
        bo = stats(timings(lambda: onnx.features(frame), max(windows // 5, 10), warmup=5))
        bt = stats(timings(lambda: eager.features(frame), max(windows // 5, 10), warmup=5))
        hops_per_s = 1000.0 / HOP_MS
        max_fps = (1000.0 - hops_per_s * o["p95_ms"]) / bo["p95_ms"]
        result.update(backbone_onnx_p50_ms=bo["p50_ms"], backbone_onnx_p95_ms=bo["p95_ms"],
                      backbone_torch_p50_ms=bt["p50_ms"], backbone_torch_p95_ms=bt["p95_ms"], camera_max_fps=max_fps)
        print(f"  backbone {onnx.backbone_name} per frame: onnxruntime p50 {bo['p50_ms']:.2f} ms p95 {bo['p95_ms']:.2f} ms, "
              f"torch p50 {bt['p50_ms']:.2f} ms p95 {bt['p95_ms']:.2f} ms")
        print(f"  camera path keeps up with {max_fps:.0f} frames/s (backbone per new frame at p95 + the {path} "
              f"graph {hops_per_s:.0f}x a second) {'>= 15 fps: ok' if max_fps >= 15 else '< 15 fps'}")
    if "visual" in kwargs and config["inputs"].get("visual") == "motion":
        _time_motion(config, o, windows, result, size)
    elif size_given:
        print(f"  --size {size_given} not used: it sets the camera frames of a motion model's input, and this "
              f"{path} path takes {config['inputs'].get('visual') if 'visual' in kwargs else 'no camera input'}")
    return result


def _time_motion(config: dict, graph: dict, windows: int, result: dict, size: tuple[int, int]) -> None:
    """Time the motion input (core/model/motion.py) on a 2.5 s window of simulated camera frames of
    `size` (width, height) at 30 fps, per hop of the live predictor (it is computed once per window, from
    17 of its frames, whatever the camera's rate), and print whether a hop's camera work fits in the hop."""
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
    video = np.stack(frames[:75])   # (75, H, W, 3)
    m = stats(timings(lambda: frames_input(video, spec, spec.frame_size), max(windows // 25, 10), warmup=2))
    per_hop = m["p95_ms"] + graph["p95_ms"]
    result.update(camera_size=f"{size[0]}x{size[1]}", motion_p50_ms=m["p50_ms"], motion_p95_ms=m["p95_ms"], camera_hop_p95_ms=per_hop)
    print(f"  motion input per window (75 frames of {size[0]}x{size[1]} -> {spec.frames} flow fields): p50 {m['p50_ms']:.1f} ms "
          f"p95 {m['p95_ms']:.1f} ms; with the graph {per_hop:.1f} ms of each {HOP_MS:.0f} ms hop: "
          f"{'keeps up (at 30 fps or any rate: the window is resampled)' if per_hop < HOP_MS else 'does not keep up'}")
