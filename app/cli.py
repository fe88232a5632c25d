"""The `c3t` command: one entry point, subcommands registered by the modules that own them.

Each module in COMMAND_MODULES has `register(subparsers)`, which adds its subcommands and
sets `func` on each parser. Benchmarks live under `c3t bench NAME`: a module adds one with
`bench_parser(subparsers, NAME, help)`. Heavy imports (torch, Qt) happen inside the handlers so that
`c3t --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from c3t.core.errors import C3tError

COMMAND_MODULES = [
    "c3t.training.commands",
    "c3t.training.experiments",
    "c3t.training.figures",
    "c3t.devices.commands",
    "c3t.app.probe_command",
    "c3t.app.record_commands",
    "c3t.training.synth",
    "c3t.app.inference_commands",
    "c3t.app.gui_commands",
]


def bench_parser(sub, name: str, help: str) -> argparse.ArgumentParser:
    """Add `c3t bench NAME`; the shared `bench` parser is created by the first caller."""
    if not hasattr(sub, "_c3t_bench"):
        bench = sub.add_parser("bench", help="benchmarks and experiments that print figures")
        sub._c3t_bench = bench.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    return sub._c3t_bench.add_parser(name, help=help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="c3t",
        description="Unsupervised modality adaptation: teach an IMU actions labelled only on camera.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except C3tError as exc:  # a message for the user, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
