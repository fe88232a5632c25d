"""The measurements behind `c3t bench NAME` (app/cli/bench.py parses and dispatches): each module
runs one benchmark, prints its figures as it goes and returns them as a dict (for --json)."""
