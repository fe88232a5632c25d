"""Sharing the CPU with other programs: how many cores they keep busy, and thread counts to match.

The app trains and computes camera inputs on a user's machine, which is often busy with
something else. Thread pools sized for an idle machine then slow down sharply (a thread that
is not scheduled holds up the others at every parallel step), so long jobs take
`threads_for_load()` around their work.
"""
from __future__ import annotations

import contextlib
import os
import time


def busy_cores_elsewhere(interval_s: float = 0.3) -> float | None:
    """How many cores other processes keep busy: over `interval_s` seconds, the machine's busy
    CPU time (/proc/stat) less this process's (os.times), per second of wall time. None where
    /proc/stat cannot be read (not Linux)."""
    def busy() -> float:
        """The machine's busy CPU seconds since boot (every field of /proc/stat's cpu line but idle and iowait)."""
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    try:
        b0, s0, t0 = busy(), sum(os.times()[:2]), time.monotonic()
        time.sleep(interval_s)
        b1, s1, t1 = busy(), sum(os.times()[:2]), time.monotonic()
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, ((b1 - b0) - (s1 - s0)) / max(t1 - t0, 1e-3))


def idle_cores() -> int:
    """The cores other processes leave idle now (busy_cores_elsewhere over 0.3 s), at least 1."""
    others = busy_cores_elsewhere()
    return max(1, (os.cpu_count() or 1) - round(others or 0.0))


_depth = 0   # threads_for_load blocks open (the outermost one measures the load and sets the threads)


@contextlib.contextmanager
def threads_for_load():
    """Run the block with as many torch and OpenCV threads as there are idle cores (at least 1,
    at most torch's setting), then restore the settings. Torch's threads wait for each other at every operation:
    when other processes keep cores busy (a laptop that is also compiling), a thread that is not
    scheduled holds up the others; beside two busy processes on 2 cores, the demo's training
    with 2 threads had not finished after 12 minutes (65 s idle). Nested blocks keep the
    outermost one's thread counts (the load is measured once)."""
    import cv2
    import torch

    global _depth
    if _depth:            # inside another such block (the demo build around fit): its choice stands
        yield
        return
    before = torch.get_num_threads(), cv2.getNumThreads()
    n = min(before[0], idle_cores())
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
