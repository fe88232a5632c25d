"""Is a stream delivering what its device promised? One rule, used live and on recordings.

A real webcam on a busy laptop delivers 12-20 frames/s where it promised 30 and stalls for
seconds; an IMU link drops notifications. Nothing breaks, but the windows that training and
live inference cut then hold less data than their spec says. `delivery_warning` turns a
stream's nominal rate, measured rate and gap time into one sentence, or None when the stream
is fine; the device table, `c3t live`, `c3t record`, `c3t info` and training on sessions all
print that sentence.
"""
from __future__ import annotations

RATE_SHORT = 0.9     # measured below 90% of the nominal rate is worth a warning
GAP_SHARE = 0.02     # gaps covering more than 2% of the time are worth a warning
MIN_GAP_S = 0.5      # ... and at least half a second in all


def delivery_warning(stream: str, nominal_hz: float | None, measured_hz: float | None,
                     gap_s: float = 0.0, span_s: float | None = None) -> str | None:
    """A sentence saying how `stream` falls short, or None when it delivers as promised.

    nominal_hz:  the rate the device was configured for (None: unknown, no rate check).
    measured_hz: the rate that arrived (samples or frames per second).
    gap_s:       seconds without data inside `span_s` seconds of recording or watching.
    """
    problems = []
    if nominal_hz and measured_hz is not None and measured_hz < RATE_SHORT * nominal_hz:
        problems.append(f"{measured_hz:.1f} Hz of {nominal_hz:.4g} Hz nominal "
                        f"({100 * (1 - measured_hz / nominal_hz):.0f}% short)")
    if gap_s >= MIN_GAP_S and (not span_s or gap_s > GAP_SHARE * span_s):
        problems.append(f"{gap_s:.1f} s of gaps" + (f" in {span_s:.0f} s" if span_s else ""))
    if not problems:
        return None
    return (f"{stream} delivers {', '.join(problems)}: the device, its link or a busy CPU cannot keep up; "
            "windows there hold less data (close other programs, lower the camera's size or rate)")
