"""The `c3t` command: one entry point; the command-line wiring of every module lives here in app/cli.

Each module in COMMAND_MODULES has `register(subparsers)`: it adds its subcommands (bench.py:
`c3t bench` and its benchmarks) and sets `func` on each parser. A command parses, checks its
options, calls one runtime or library object and prints; no Qt is imported here (app/gui starts
the window). Heavy imports (torch, Qt) happen inside the handlers, after the arguments and the
paths they name are checked, so that `c3t --help`, an argument error or a missing folder answer
at once.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from c3t.core.errors import C3tError

COMMAND_MODULES = [
    "c3t.app.cli.bench",
    "c3t.app.cli.train",
    "c3t.app.cli.devices",
    "c3t.app.cli.probe",
    "c3t.app.cli.xdf",
    "c3t.app.cli.record",
    "c3t.app.cli.synth",
    "c3t.app.cli.live",
    "c3t.app.cli.gui",
]


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """'640x480' -> (640, 480).

    Raises:
        C3tError: naming `flag` and the expected form, for text that is not WIDTHxHEIGHT or a size not
            above 0
    """
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise C3tError(f"{flag} {text!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    if width <= 0 or height <= 0:
        raise C3tError(f"{flag} {text!r}: width and height must be above 0")
    return width, height


def check_dataset(path, flag: str = "--dataset") -> None:
    """Check that the dataset folder `path` exists (before any heavy import or work; what is inside
    is checked when it is read).

    Raises:
        C3tError: naming `flag`, when `path` does not exist or is a file
    """
    if not Path(path).expanduser().is_dir():
        what = "is a file, not a folder" if Path(path).expanduser().exists() else "does not exist"
        raise C3tError(f"{flag} {path} {what}; give a UTD-MHAD folder, `c3t synth` output or "
                       "a folder of recorded sessions")


def build_parser() -> argparse.ArgumentParser:
    """The `c3t` argument parser, with every module's subcommands and `c3t bench` benchmarks
    registered."""
    parser = argparse.ArgumentParser(
        prog="c3t",
        description="Unsupervised modality adaptation: teach an IMU actions labelled only on camera.",
    )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


VERBOSE_HELP = ("log what c3t does (connects, reconnects, rejected data, files written) on stderr; "
                "before or after the command")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _take_verbose(argv: list[str] | None) -> tuple[list[str], bool]:
    """(`argv` without --verbose, whether it was there): the flag is global, so it may come before
    or after the command (`c3t --verbose live ...`, `c3t live ... --verbose`); after a "--" it is
    left alone."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    verbose = "--verbose" in argv[:cut]
    return [a for i, a in enumerate(argv) if i >= cut or a != "--verbose"], verbose


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted (a test may replace it)."""

    @property
    def stream(self):
        """sys.stderr, looked up at each record."""
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(verbose: bool) -> None:
    """c3t's loggers (`c3t.*`) at DEBUG with --verbose, else WARNING, written to stderr as
    "time LEVEL logger: message" (one handler on the root logger, added once); other libraries'
    loggers keep their levels."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    logging.getLogger("c3t").setLevel(logging.DEBUG if verbose else logging.WARNING)


def quiet_opencv(verbose: bool) -> None:
    """Keep OpenCV's own log lines ("[ WARN:0@0.067] global cap_v4l.cpp:915 open VIDEOIO(V4L2:/dev/video7):
    can't open camera by index") off the terminal: c3t says what went wrong with a camera in its own
    words (devices/camera.py). With --verbose they are kept, for a closer look."""
    if verbose:
        return
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")   # read when cv2 is first imported
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:                                     # already imported: set it directly
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def main(argv: list[str] | None = None) -> int:
    """Run the `c3t` command line (`argv` None: sys.argv); returns the exit code: the handler's, 2 for
    no command, a C3tError (its message printed as "error: ...") or a file system error (the file
    and its cause), 130 for Ctrl+C."""
    parser = build_parser()
    argv, verbose = _take_verbose(argv)
    args = parser.parse_args(argv)
    setup_logging(verbose or args.verbose)   # args.verbose: never set (taken out above), it is for --help
    quiet_opencv(verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)   # on a line of its own, not after a progress bar
        return 130
    except C3tError as exc:  # a message for the user, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # a disk full or read-only that no check foresaw: the file and the cause, in words
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot write or read{where}: {exc.strerror or exc}; check the folder's space and "
              "permissions, or choose another", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
