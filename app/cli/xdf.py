"""`c3t import xdf FILE --out SESSION`: a Lab Streaming Layer recording (XDF, LabRecorder's format)
into a c3t session (core/session/xdf.py; `c3t export SESSION --xdf FILE` is in live.py with the
other export)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    """Add `c3t import` (with its `xdf` form) to the subcommands."""
    p = sub.add_parser("import", help="turn a recording from another program into a c3t session")
    forms = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    x = forms.add_parser("xdf", help="an XDF file (LabRecorder, Lab Streaming Layer); needs pip install 'c3t[lsl]'")
    x.add_argument("file", help="the .xdf file")
    x.add_argument("--out", required=True, help="the new session folder")
    x.add_argument("--stream", help="the IMU stream's name (default: the first of type IMU/Accelerometer/Motion)")
    x.add_argument("--units", choices=("auto", "si", "g"), default="auto",
                   help="the IMU's units when the file does not say: si = m/s^2 and rad/s, g = g and deg/s "
                        "(default: from the stream's channel units, else the magnitude at rest)")
    x.set_defaults(func=import_xdf_command)


def import_xdf_command(args: argparse.Namespace) -> int:
    """`c3t import xdf`: print what was imported, converted and left out; returns 0.

    Raises:
        C3tError: a missing or unreadable file, no IMU stream, pyxdf missing or a non-empty --out.
    """
    from c3t.core.session.xdf import import_xdf

    for line in import_xdf(args.file, args.out, stream=args.stream, units=args.units):
        print(line)
    print(f"session written to {args.out} (`c3t info {args.out}` shows it)")
    return 0

