"""Map a device's clock onto the host's: offset and drift, fitted online.

A sample stamped `d` by the device arrives at host time `h = offset + (1 + drift) * d + delay`,
where the delay (radio, USB polling, OS scheduling, batching) is never negative and only
sometimes near its minimum. So the points (d, h - d) lie on or above one straight line, and the
line is their *lower envelope*, not a least-squares fit through the cloud: a least-squares
line would sit at the mean delay and move with the load. Like LSL's offset estimates (which
keep the probes with the smallest round trip), the model keeps only the earliest arrival in each
short bin of device time, over a sliding history, and fits the line that lies below every kept
point and is as high as possible at their centre (the L1-optimal support line of the lower
convex hull). The fixed part of the delay cannot be observed and stays in the offset.

A device clock reset (reboot, counter wrap, a new sequence numbering) shows as a sample that
would have arrived before it was made, arrives implausibly late, or goes back in device time;
the model then starts afresh and increments `epoch`, so a buffer can tell which samples the
current fit applies to.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class ClockFit:
    """host = device + offset + drift * (device - device_ref)"""

    offset: float = 0.0
    drift: float = 0.0
    device_ref: float = 0.0

    def to_host(self, t_device):
        """Host times (seconds, float64) of device times `t_device` (a scalar or an array)."""
        t_device = np.asarray(t_device, dtype=np.float64)
        return t_device + self.offset + self.drift * (t_device - self.device_ref)


class ClockModel:
    """Online device->host clock fit for one device clock."""

    def __init__(self, history_s: float = 30.0, bin_s: float = 0.25, min_span_s: float = 2.0,
                 max_drift: float = 0.02, early_tolerance_s: float = 0.05, late_limit_s: float = 10.0):
        self.history_s = history_s
        self.bin_s = bin_s
        self.min_span_s = min_span_s
        self.max_drift = max_drift           # |drift| above this is not a clock, it is a wrong rate
        self.early_tolerance_s = early_tolerance_s
        self.late_limit_s = late_limit_s
        self.epoch = 0                       # incremented at each detected clock reset
        self.resets = 0
        self.fit: ClockFit | None = None
        self._bins: deque[list] = deque()    # [bin index, device time, host - device]
        self._last_device: float | None = None

    @property
    def ready(self) -> bool:
        """True once a fit exists, i.e. after the first update since the last reset."""
        return self.fit is not None

    def to_host(self, t_device) -> np.ndarray:
        """Host times (seconds, float64) of device times under the current fit.

        Raises:
            RuntimeError: before the first update (see `ready`)
        """
        if self.fit is None:
            raise RuntimeError("ClockModel.to_host before any update")
        return self.fit.to_host(t_device)

    def update(self, t_device: np.ndarray, t_host: np.ndarray) -> list[int]:
        """Add (device, host arrival) pairs in arrival order. Returns indices where resets happened."""
        d = np.asarray(t_device, dtype=np.float64).reshape(-1)
        h = np.asarray(t_host, dtype=np.float64).reshape(-1)
        resets = []
        start = 0
        while start < len(d):
            cut = self._first_inconsistent(d[start:], h[start:])
            stop = len(d) if cut is None else start + cut
            if stop > start:
                self._add(d[start:stop], h[start:stop])
            if cut is None:
                break
            self._reset()
            resets.append(stop)
            self._add(d[stop:stop + 1], h[stop:stop + 1])
            start = stop + 1
        return resets

    def _first_inconsistent(self, d: np.ndarray, h: np.ndarray) -> int | None:
        """Index of the first sample the current clock cannot explain (a reset), or None."""
        bad = np.zeros(len(d), dtype=bool)
        prev = np.concatenate([[self._last_device if self._last_device is not None else -np.inf], d[:-1]])
        bad |= d < prev - 1e-9
        if self.fit is not None:
            delay = h - self.fit.to_host(d)
            bad |= (delay < -self.early_tolerance_s) | (delay > self.late_limit_s)
        idx = np.flatnonzero(bad)
        return int(idx[0]) if len(idx) else None

    def _reset(self) -> None:
        self._bins.clear()
        self._last_device = None
        self.fit = None
        self.epoch += 1
        self.resets += 1

    def _add(self, d: np.ndarray, h: np.ndarray) -> None:
        r = h - d
        bins = np.floor(d / self.bin_s).astype(np.int64)
        new_bin = False
        # the earliest arrival (smallest h - d) per bin
        order = np.lexsort((r, bins))
        first = np.ones(len(order), dtype=bool)
        first[1:] = bins[order][1:] != bins[order][:-1]
        for i in order[first]:
            b, di, ri = int(bins[i]), float(d[i]), float(r[i])
            if self._bins and self._bins[-1][0] == b:
                if ri < self._bins[-1][2]:
                    self._bins[-1][1:] = [di, ri]
            elif not self._bins or b > self._bins[-1][0]:
                self._bins.append([b, di, ri])
                new_bin = True
        self._last_device = float(d[-1])
        while self._bins and self._bins[0][1] < self._last_device - self.history_s:
            self._bins.popleft()
        if new_bin or self.fit is None:
            self._refit()

    def _refit(self) -> None:
        x = np.array([b[1] for b in self._bins])
        y = np.array([b[2] for b in self._bins])
        xc = float(x.mean())
        if x[-1] - x[0] < self.min_span_s:
            self.fit = ClockFit(offset=float(y.min()), drift=0.0, device_ref=xc)
            return
        slope = float(np.clip(lower_support_slope(x, y, xc), -self.max_drift, self.max_drift))
        offset = float(np.min(y - slope * (x - xc)))  # highest line of that slope below every point
        self.fit = ClockFit(offset=offset, drift=slope, device_ref=xc)


def lower_support_slope(x: np.ndarray, y: np.ndarray, xc: float) -> float:
    """Slope of the lower-convex-hull edge over xc (x increasing): the line below all points
    that is highest at xc, i.e. the one minimising the summed vertical distance to them."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b if it lies on or above the segment a -> i
            if (y[b] - y[a]) * (x[i] - x[a]) >= (y[i] - y[a]) * (x[b] - x[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    for a, b in zip(hull[:-1], hull[1:]):
        if x[a] <= xc <= x[b] and x[b] > x[a]:
            return float((y[b] - y[a]) / (x[b] - x[a]))
    return 0.0
