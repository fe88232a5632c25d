"""SIGTERM and SIGINT as Ctrl-C for the commands that run until stopped (`c3t record`, `c3t
live`): they end cleanly, with their summary, when the GUI terminates them, and also where
SIGINT was inherited as ignored (a job started in the background by a non-interactive shell:
Python then installs no Ctrl-C handler of its own, and SIGINT would do nothing)."""
from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


def stop_signals_as_ctrl_c() -> dict:
    """Make SIGTERM and SIGINT raise KeyboardInterrupt in the main thread (a no-op elsewhere).
    Returns the previous handlers, for restore_signals."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, frame):
        """Turn the signal into KeyboardInterrupt, so the run stops as on Ctrl-C."""
        log.info("signal %s: stopping", signum)
        raise KeyboardInterrupt

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def restore_signals(previous: dict) -> None:
    """Put back the handlers stop_signals_as_ctrl_c replaced."""
    for sig, old in previous.items():
        signal.signal(sig, old)
