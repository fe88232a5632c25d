"""`c3t devices`: what is plugged in, with the spec to open it."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    """Add `c3t devices` to the subcommands."""
    p = sub.add_parser("devices", help="list serial ports, cameras, LSL streams and (with --ble) BLE devices")
    p.add_argument("--ble", action="store_true", help="also scan for BLE devices")
    p.add_argument("--ble-timeout", type=float, default=5.0, help="seconds to scan (default 5)")
    p.add_argument("--max-cameras", type=int, default=8, help="camera indices to try (default 8)")
    p.add_argument("--lsl-wait", type=float, default=1.0, help="seconds to look for LSL streams (default 1)")
    p.set_defaults(func=devices_command)


# -- c3t devices ----------------------------------------------------------------------------
def devices_command(args: argparse.Namespace) -> int:
    """`c3t devices`: print the serial ports, cameras and Lab Streaming Layer streams found, each with the
    spec that opens it, the network sources' forms, and with --ble the BLE devices in range; returns 0, or
    1 when the BLE scan fails (its message printed)."""
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
    print_lsl_streams(args.lsl_wait)
    print("Network (phones, boards over WiFi; README, Use your phone as the IMU):")
    print("  tcp:PORT / udp:PORT / tcp:HOST:PORT  lines  ·  http:PORT  Sensor Logger  ·  phyphox:HOST:8080")
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


def print_lsl_streams(wait_s: float) -> None:
    """Print the LSL streams visible within `wait_s` seconds, each with its lsl: spec, or why none can
    be listed (pylsl missing or without liblsl)."""
    from c3t.core.errors import C3tError
    from c3t.devices.lsl import list_streams

    print(f"LSL streams (looking {wait_s:g} s):")
    try:
        found = list_streams(wait_s)
    except C3tError as exc:
        print(f"  not listed: {exc}")
        return
    for s in found:
        rate = f"{s.rate_hz:g} Hz" if s.rate_hz else "irregular"
        print(f"  {s.spec:<40} {s.type or '(no type)':<14} {s.channels:>3} ch  {rate:<10} from {s.hostname}")
    if not found:
        print("  none on this network")
