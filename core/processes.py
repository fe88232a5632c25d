"""Whether child processes have ended, asked so that it holds whoever reaps them.

`multiprocessing.Process.is_alive()` and `join()` reap the child with waitpid; when two threads
(a pool's own thread and ours, a GUI timer and a cancel) reap one process at once, the loser's
waitpid fails with ECHILD and the process reads as alive for good. A process's `sentinel` is
ready once it has exited, whoever reaps it, so waiting on sentinels never races.
"""
from __future__ import annotations

import time
from multiprocessing.connection import wait


def living_after(processes, timeout: float | None) -> list:
    """The processes (multiprocessing.Process-like, with `sentinel`) that have not exited after
    waiting up to `timeout` seconds for all of them (None: until every one has); [] when all ended."""
    living = list(processes)
    deadline = None if timeout is None else time.monotonic() + timeout
    while living:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = wait([p.sentinel for p in living], left)
        living = [p for p in living if p.sentinel not in ready]
        if left == 0.0:   # asked once more at the deadline (timeout 0: only asked)
            break
    return living
