"""`c3t devices` (what is plugged in, with the spec to open it) and `c3t bench buffer`."""
from __future__ import annotations

import argparse
import os
import time


def register(sub, bench) -> None:
    """Add `c3t devices` to the subcommands and `c3t bench buffer` to the benchmarks."""
    p = sub.add_parser("devices", help="list serial ports, cameras and (with --ble) BLE devices")
    p.add_argument("--ble", action="store_true", help="also scan for BLE devices")
    p.add_argument("--ble-timeout", type=float, default=5.0, help="seconds to scan (default 5)")
    p.add_argument("--max-cameras", type=int, default=8, help="camera indices to try (default 8)")
    p.set_defaults(func=devices_command)

    b = bench.add_parser("buffer", help="SyncBuffer ingest throughput and window extraction time")
    b.add_argument("--seconds", type=float, default=120.0, help="seconds of data to ingest (default 120)")
    b.add_argument("--imu-hz", type=float, default=200.0, help="IMU rate in Hz (default 200)")
    b.add_argument("--imu-batch", type=int, default=4, help="IMU samples per batch (default 4)")
    b.add_argument("--fps", type=float, default=30.0, help="camera frames per second (default 30)")
    b.add_argument("--size", default="640x480", help="camera frame WIDTHxHEIGHT (default 640x480)")
    b.add_argument("--windows", type=int, default=300, help="windows to cut (default 300)")
    b.set_defaults(func=bench_buffer_command)


# -- c3t devices ----------------------------------------------------------------------------
def devices_command(args: argparse.Namespace) -> int:
    """`c3t devices`: print the serial ports and cameras found, each with the spec that opens it, and
    with --ble the BLE devices in range; returns 0, or 1 when the BLE scan fails (its message printed)."""
    from c3t.core.errors import C3tError

    print("Serial ports:")
    from c3t.devices.discovery import list_cameras, list_serial_ports

    ports = list_serial_ports()
    for device, what in ports:
        print(f"  serial:{device:<28} {what}")
    if not ports:
        print("  none found (is the board plugged in? on Linux, are you in the 'dialout' group?)")
    print("Cameras:")
    cams = list_cameras(args.max_cameras)
    for index, what in cams:
        print(f"  camera:{index:<28} {what}")
    if not cams:
        print("  none opened (a video file works too: camera:clip.mp4)")
    if not args.ble:
        print("BLE: not scanned (add --ble)")
        return 0
    from c3t.devices.ble_imu import scan

    print(f"BLE devices (scanning {args.ble_timeout:g} s):")
    try:
        found = scan(args.ble_timeout)
    except C3tError as exc:
        print(f"  {exc}")
        return 1
    for d in found:
        rssi = f"{d.rssi} dBm" if d.rssi is not None else ""
        print(f"  {d.spec:<40} {d.name or '(no name)':<24} {rssi:>8}  {d.profile or 'profile unknown'}")
    if not found:
        print("  none in range")
    return 0


# -- c3t bench buffer -------------------------------------------------------------------------
def bench_buffer_command(args: argparse.Namespace) -> int:
    """`c3t bench buffer`: ingest a simulated IMU (drifting device clock, late arrivals) and camera into
    a SyncBuffer, then cut windows; prints the ingest rate (samples per second, times real time) and
    the window time in milliseconds; returns 0. Raises C3tError for a --size that is not WIDTHxHEIGHT."""
    import numpy as np

    from c3t.core.errors import C3tError
    from c3t.core.streams.contract import Batch
    from c3t.core.streams.syncbuffer import SyncBuffer
    from c3t.core.streams.window import WindowSpec

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise C3tError(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    rng = np.random.default_rng(0)
    n_imu = int(args.seconds * args.imu_hz)
    n_frames = int(args.seconds * args.fps)
    # a device clock 40 ms off and 100 ppm fast, arrivals 0-5 ms late, packets of imu_batch samples
    d = np.arange(n_imu) / args.imu_hz
    h = 0.040 + d * (1 + 100e-6) + rng.exponential(0.003, n_imu)
    imu_values = rng.normal(size=(n_imu, 6)).astype(np.float32)
    batches = []
    for i in range(0, n_imu, args.imu_batch):
        sl = slice(i, i + args.imu_batch)
        t = np.full(len(d[sl]), h[sl].max())
        batches.append((t[0], Batch("imu", t, imu_values[sl], t_device=d[sl])))
    frames = rng.integers(0, 256, size=(8, height, width, 3), dtype=np.uint8)
    for i in range(n_frames):
        t = 0.060 + i / args.fps + rng.exponential(0.004)
        batches.append((t, Batch("camera", [t], frames[i % 8][None])))
    batches.sort(key=lambda tb: tb[0])

    buf = SyncBuffer(seconds=30.0, camera_seconds=5.0)
    buf.add_stream("imu", "imu", rate_hz=args.imu_hz, channels=6)
    buf.add_stream("camera", "camera", rate_hz=args.fps, frame_shape=(height, width, 3))
    start = time.perf_counter()
    for _, batch in batches:
        buf.ingest(batch)
    ingest_s = time.perf_counter() - start

    spec = WindowSpec()
    t_last = buf.latest_common_time()
    ends = rng.uniform(t_last - buf.camera_seconds + spec.seconds + 0.2, t_last, args.windows)
    times = []
    for t_end in ends:
        t0 = time.perf_counter()
        buf.window(t_end, spec)
        times.append(time.perf_counter() - t0)
    times = np.array(times) * 1e3

    samples = n_imu + n_frames
    realtime = args.seconds / ingest_s
    print(f"SyncBuffer bench: {args.seconds:g} s of a {args.imu_hz:g} Hz 6-channel IMU (batches of "
          f"{args.imu_batch}, device clock) + a {args.fps:g} fps {width}x{height} camera; {os.cpu_count()} CPUs")
    print(f"  ingest: {samples / ingest_s:,.0f} samples/s ({n_imu / ingest_s:,.0f} IMU samples/s, "
          f"{n_frames / ingest_s:,.0f} frames/s) = {realtime:,.0f}x real time "
          f"({'meets' if realtime >= 100 else 'BELOW'} the 100x target)")
    print(f"  window {spec.seconds:g} s -> IMU ({spec.imu_steps}, 6) + {spec.frames} frames: "
          f"median {np.median(times):.2f} ms, p95 {np.percentile(times, 95):.2f} ms, max {times.max():.2f} ms "
          f"over {len(times)} windows")
    return 0
