"""`c3t synth`: write a synthetic camera + IMU dataset in UTD-MHAD's layout (training/synth.py)."""
from __future__ import annotations

from c3t.app.cli import parse_size


def register(sub) -> None:
    """Add `c3t synth` to the subcommands."""
    p = sub.add_parser("synth", help="write a synthetic camera + IMU dataset (UTD-MHAD layout)")
    p.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier `c3t synth` output)")
    p.add_argument("--subjects", type=int, default=10, help="simulated people (default 10)")
    p.add_argument("--reps", type=int, default=4, help="repetitions of each action per subject (default 4)")
    p.add_argument("--seed", type=int, default=0, help="the world's seed: same seed, same dataset (default 0)")
    p.add_argument("--imu-hz", type=float, default=50.0, help="IMU rate, 50..200 Hz (default 50, as UTD-MHAD)")
    p.add_argument("--fps", type=float, default=30.0, help="camera frame rate (default 30)")
    p.add_argument("--size", default="160x120", help="frame size WxH (default 160x120)")
    p.add_argument("--actions", default="", help="comma-separated action keys (default: all ten)")
    p.add_argument("--rooms", choices=("one", "per-person"), default="one",
                   help="one room for everyone (default, a lab as in UTD-MHAD) or per-person: each person in their "
                        "own room, light and camera placement")
    p.add_argument("--workers", type=int, default=1, help="processes to use (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=synth_command)


def synth_command(args) -> int:
    """`c3t synth`: write the synthetic dataset to --out and print what was written and how to train on it;
    returns 0.

    Raises:
        C3tError: for a --size that is not WIDTHxHEIGHT or an --out that cannot be written
    """
    from c3t.core.atomic_file import check_output_folder
    from c3t.core.errors import C3tError
    from c3t.training.synth import SynthConfig, write_dataset

    w, h = parse_size(args.size)
    check_output_folder(args.out, "--out", replace=True)   # synth refuses foreign content itself
    config = SynthConfig(subjects=args.subjects, reps=args.reps, seed=args.seed, imu_hz=args.imu_hz,
                         fps=args.fps, width=w, height=h, workers=max(1, args.workers), rooms=args.rooms,
                         actions=[a.strip() for a in args.actions.split(",") if a.strip()])
    try:
        m = write_dataset(args.out, config, progress=not args.quiet)
    except OSError as exc:
        raise C3tError(f"writing the dataset to {args.out} failed: {exc.strerror or exc}; "
                       "check the folder's space and permissions") from None
    print(f"wrote {m['clips']} clips ({len(m['classes'])} classes x {m['subjects']} subjects x {m['reps']} reps, "
          f"{m['seconds'] / 60:.1f} min of data) to {args.out} in {m['generation_seconds']:.1f} s")
    print(f"train on it with: c3t train --dataset {args.out} --visual motion --protocol cross-subject --method c3t "
          "--out MODEL_DIR   (odd people train, even people test)")
    return 0
