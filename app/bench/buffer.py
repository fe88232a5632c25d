"""`c3t bench buffer`: SyncBuffer ingest throughput and window extraction time on a simulated IMU
(drifting device clock, late arrivals) and camera."""
from __future__ import annotations

import os
import time


def measure_buffer(seconds: float, imu_hz: float, imu_batch: int, fps: float, size: tuple[int, int],
                   windows: int) -> dict:
    """Ingest `seconds` of a 6-channel `imu_hz` IMU (batches of `imu_batch` samples, a device clock 40 ms
    off and 100 ppm fast, arrivals 0-5 ms late) and an `fps` camera of `size` (width, height) into a
    SyncBuffer, then cut `windows` windows; prints the ingest rate (samples per second, times real time)
    and the window time in milliseconds, and returns them."""
    import numpy as np

    from c3t.core.streams.contract import Batch
    from c3t.core.streams.syncbuffer import SyncBuffer
    from c3t.core.streams.window import WindowSpec

    width, height = size
    rng = np.random.default_rng(0)
    n_imu = int(seconds * imu_hz)
    n_frames = int(seconds * fps)
    d = np.arange(n_imu) / imu_hz                                   # device time, s, (n_imu,)
    h = 0.040 + d * (1 + 100e-6) + rng.exponential(0.003, n_imu)    # host arrival time, s, (n_imu,)
    imu_values = rng.normal(size=(n_imu, 6)).astype(np.float32)
    batches = []
    for i in range(0, n_imu, imu_batch):
        sl = slice(i, i + imu_batch)
        t = np.full(len(d[sl]), h[sl].max())
        batches.append((t[0], Batch("imu", t, imu_values[sl], t_device=d[sl])))
    frames = rng.integers(0, 256, size=(8, height, width, 3), dtype=np.uint8)
    for i in range(n_frames):
        t = 0.060 + i / fps + rng.exponential(0.004)
        batches.append((t, Batch("camera", [t], frames[i % 8][None])))
    batches.sort(key=lambda tb: tb[0])

    buf = SyncBuffer(seconds=30.0, camera_seconds=5.0)
    buf.add_stream("imu", "imu", rate_hz=imu_hz, channels=6)
    buf.add_stream("camera", "camera", rate_hz=fps, frame_shape=(height, width, 3))
    start = time.perf_counter()
    for _, batch in batches:
        buf.ingest(batch)
    ingest_s = time.perf_counter() - start

    spec = WindowSpec()
    t_last = buf.latest_common_time()
    ends = rng.uniform(t_last - buf.camera_seconds + spec.seconds + 0.2, t_last, windows)
    times = []
    for t_end in ends:
        t0 = time.perf_counter()
        buf.window(t_end, spec)
        times.append(time.perf_counter() - t0)
    times = np.array(times) * 1e3

    samples = n_imu + n_frames
    realtime = seconds / ingest_s
    print(f"SyncBuffer bench: {seconds:g} s of a {imu_hz:g} Hz 6-channel IMU (batches of "
          f"{imu_batch}, device clock) + a {fps:g} fps {width}x{height} camera; {os.cpu_count()} CPUs")
    print(f"  ingest: {samples / ingest_s:,.0f} samples/s ({n_imu / ingest_s:,.0f} IMU samples/s, "
          f"{n_frames / ingest_s:,.0f} frames/s) = {realtime:,.0f}x real time "
          f"({'meets' if realtime >= 100 else 'BELOW'} the 100x target)")
    print(f"  window {spec.seconds:g} s -> IMU ({spec.imu_steps}, 6) + {spec.frames} frames: "
          f"median {np.median(times):.2f} ms, p95 {np.percentile(times, 95):.2f} ms, max {times.max():.2f} ms "
          f"over {len(times)} windows")
    return {"samples_per_s": samples / ingest_s, "realtime": realtime, "window_median_ms": float(np.median(times)),
            "window_p95_ms": float(np.percentile(times, 95)), "window_max_ms": float(times.max())}
