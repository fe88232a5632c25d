"""`c3t probe SPEC`: what a device sends, for a few seconds (devices/probe.py does the work)."""
from __future__ import annotations


def register(sub) -> None:
    """Add `c3t probe SPEC` to the subcommands."""
    p = sub.add_parser("probe", help="connect to a device for a few seconds and show what it sends "
                                     "(bytes, lines, detected format, rate, diagnosis)")
    p.add_argument("spec", metavar="SPEC", help="source spec, e.g. serial:/dev/ttyACM0, ble:ADDRESS, camera:0")
    p.add_argument("--seconds", type=float, default=3.0, help="how long to listen (default 3)")
    p.set_defaults(func=probe_command)


def probe_command(args) -> int:
    """`c3t probe`: listen to the device for --seconds seconds and print what it sends and the diagnosis;
    returns 0 when the device delivered usable data, else 1."""
    from c3t.devices.probe import probe

    report = probe(args.spec, args.seconds)
    print(report.text())
    return 0 if report.ok else 1
