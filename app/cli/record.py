"""`c3t record` and `c3t info`: the collector (app/runtime/recording.py records and describes).

    c3t record --imu sim --out sessions/align-1 --duration 120 --person ann     unlabelled (D_Align)
    c3t record --imu serial:/dev/ttyACM0 --camera camera:0 --out s/wave-1 --label wave      D_HAR
    c3t record --imu ... --camera ... --out s/wave-9 --label wave --check       D_Val / D_Test
    c3t info s/wave-1 [--json]
    c3t train --dataset s/ --method c3t --out model/
"""
from __future__ import annotations

import json

from c3t.core.atomic_file import check_output_folder
from c3t.core.errors import C3tError
from c3t.core.session.format import check_person


def register(sub) -> None:
    """Add `c3t record` and `c3t info` to the subcommands."""
    p = sub.add_parser("record", help="record a session (IMU + camera) for training: unlabelled or labelled")
    p.add_argument("--imu", required=True, metavar="SPEC", help="IMU source: serial:PORT, ble:ADDRESS, sim, replay:DIR")
    p.add_argument("--camera", metavar="SPEC", help="camera source, e.g. camera:0 (default: the IMU source's own "
                                                   "camera stream, as sim and replay have)")
    p.add_argument("--out", required=True, help="new session folder to write")
    p.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--label", metavar="NAME", help="the action performed in the whole session (default: unlabelled, for D_Align)")
    p.add_argument("--truth", action="store_true", help="label with the source's ground truth as it goes (sim, replay)")
    p.add_argument("--person", metavar="NAME", help="who wears the IMU (e.g. alice or p01), kept in the session: "
                                                   "`c3t train --protocol cross-subject` and new-user split by person "
                                                   "(default: not said; those protocols then refuse the session)")
    p.add_argument("--check", action="store_true", help="the labels are IMU labels for checking (D_Val / D_Test), "
                                                        "never trained on; default: camera labels (D_HAR)")
    p.add_argument("--seed", type=int, help="the simulated world's seed for sim sources whose spec sets none "
                                            "(default 0); a seed gives the same data on any machine")
    p.add_argument("--segment-s", type=float, default=1.0, help="video segment length in seconds (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=record_command)

    p = sub.add_parser("info", help="what a recorded session holds: duration, samples, frames, rates, gaps, labels")
    p.add_argument("session", metavar="SESSION_DIR", help="a session folder written by `c3t record` or the Record tab")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=info_command)


def record_command(args) -> int:
    """`c3t record`: record the devices into the new session folder --out for --duration seconds (or
    until Ctrl-C or SIGTERM), then print what was written and any delivery warnings; returns 0, or 1
    when a stream received bytes but gave no samples.

    Raises:
        C3tError: for options that do not fit together, an --out that cannot be written, or a device
            that cannot be opened.
    """
    if args.label and args.truth:
        raise C3tError("give either --label NAME (one action for the whole session) or --truth, not both")
    if args.check and not (args.label or args.truth):
        raise C3tError("--check marks labels for checking: give --label NAME or --truth as well")
    if args.duration is not None and args.duration <= 0:
        raise C3tError(f"--duration {args.duration}: must be above 0 seconds")
    check_person(args.person)                 # before any device opens or anything is printed
    check_output_folder(args.out, "--out")    # (record never replaces a session: no --force to offer)
    from c3t.app.runtime.recording import HeadlessRecording

    return HeadlessRecording(args.out, args.imu, args.camera, args.duration, args.label, args.truth,
                             "check" if args.check else "har", args.seed, args.segment_s, args.quiet,
                             person=args.person).run()


def info_command(args) -> int:
    """`c3t info`: print a session's devices, duration, streams (samples, rates in Hz, drops), gaps,
    labels, problems and warnings (with --json also one JSON line); returns 0.

    Raises:
        C3tError: for a folder that is not a session.
    """
    from c3t.app.runtime.recording import describe_session
    from c3t.core.session.format import Session

    session = Session(args.session)
    info = session.info()
    for line in describe_session(info, session.manifest, args.session):
        print(line)
    if args.json:
        print(json.dumps(info))
    return 0
