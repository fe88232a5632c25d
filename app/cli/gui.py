"""`c3t gui` and `c3t demo [--headless]`: the window (app/gui/start.py) or the terminal
(app/runtime/headless.py). The options are checked here before torch or Qt is imported."""
from __future__ import annotations

import os

from c3t.app.cli.live import check_specs
from c3t.core.errors import C3tError
from c3t.core.model.folder import read_model_config


def register(sub) -> None:
    """Add `c3t gui` and `c3t demo` to the subcommands."""
    p = sub.add_parser("gui", help="open the desktop app: devices, live recognition, recording, retraining")
    p.add_argument("--imu", metavar="SPEC", help="connect this IMU at start, e.g. sim, serial:/dev/ttyACM0 "
                   "(default: the Settings tab's, when it says to connect at start)")
    p.add_argument("--camera", metavar="SPEC", help="connect this camera at start, e.g. camera:0, sim (default: as --imu)")
    p.add_argument("--model", help="model folder to load at start (default: the last one used)")
    _window_options(p)
    p.set_defaults(func=gui_command)

    p = sub.add_parser("demo", help="the live demo: a simulated person and camera, a model trained on the "
                                    "synthetic world (built on first run)")
    p.add_argument("--headless", action="store_true", help="no window: print the predictions in the terminal")
    p.add_argument("--seconds", type=float, help="headless: stop after this long (default: until Ctrl+C)")
    p.add_argument("--jsonl", action="store_true", help="headless: one JSON object per prediction")
    p.add_argument("--seed", type=int, default=0, help="the demo's seed: simulated world and training (default 0); "
                                                      "each seed's model is built once and kept")
    _window_options(p)
    p.set_defaults(func=demo_command)


def _window_options(p) -> None:
    p.add_argument("--screenshot", metavar="FILE", help="save a PNG of the window after --after seconds, then exit "
                   "(default: no screenshot, the window stays open)")
    p.add_argument("--after", type=float, default=5.0, help="seconds before the screenshot (default 5)")
    p.add_argument("--tab", choices=("live", "record", "train", "settings"), default="live", help="tab shown at start (default live)")


def check_window_args(args) -> None:
    """The window options checked before anything heavy is imported (torch, Qt).

    Raises:
        C3tError: for a negative --after, --seconds not above 0, a screenshot folder that is not
            writable, a --model that is not a model folder, or an --imu / --camera spec that cannot
            be parsed.
    """
    if getattr(args, "after", 0) < 0:
        raise C3tError(f"--after must be 0 or more seconds, not {args.after}")
    if getattr(args, "seconds", None) is not None and args.seconds <= 0:
        raise C3tError(f"--seconds must be more than 0, not {args.seconds}")
    if getattr(args, "screenshot", None):
        folder = os.path.dirname(os.path.abspath(args.screenshot))
        if os.path.isdir(folder) and not os.access(folder, os.W_OK):
            raise C3tError(f"cannot write the screenshot into {folder}: the folder is not writable")
    if getattr(args, "model", None):
        read_model_config(os.path.expanduser(args.model), "--model")
    check_specs(getattr(args, "imu", None), getattr(args, "camera", None))


def gui_command(args) -> int:
    """`c3t gui`: open the desktop app with the devices and model asked for (or the last ones used);
    returns 0 when the window is closed.

    Raises:
        C3tError: for wrong options (check_window_args) or when Qt cannot start here.
    """
    check_window_args(args)
    from c3t.app.gui.start import run_gui

    return run_gui(args.tab, args.imu, args.camera, args.model, args.screenshot, args.after)


def demo_command(args) -> int:
    """`c3t demo`: the simulated person and camera with the demo model (trained on first run), in the
    window or, with --headless, as printed predictions; returns 0.

    Raises:
        C3tError: for wrong options, a cancelled first build, or when Qt cannot start here.
    """
    check_window_args(args)
    if args.headless:
        from c3t.app.runtime.headless import run_demo_headless

        return run_demo_headless(args.seed, args.seconds, args.jsonl)
    from c3t.app.gui.start import run_demo_window

    return run_demo_window(args.seed, args.tab, args.screenshot, args.after)
