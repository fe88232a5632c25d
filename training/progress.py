"""Terminal progress for long work that runs in phases: one tqdm bar per phase.

    bars = PhaseBars()
    bars("training: combined", 0.25)    # opens the bar "training: combined", 25% done
    bars("evaluating", 0.0)             # closes the previous bar at 100%, opens the next
    bars.close()

A phase is identified by its exact name: the same name continues its bar (with tqdm's rate and
ETA), a new name closes the old bar at 100% and opens another. Fractions are 0..1 within the
phase; None leaves the bar where it is.
"""
from __future__ import annotations

import sys

from tqdm import tqdm

STEPS = 1000   # a bar's resolution


def time_left(seconds: float | None) -> str:
    """Seconds as a short time left: "45 s", "3 min 20 s", "1 h 05 min"; "" for None."""
    if seconds is None:
        return ""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def epoch_postfix(info: dict) -> dict:
    """A training epoch's report (training/methods.py progress: epoch, epochs, loss, val_top1,
    align_loss, seconds_left) as a bar's postfix: epoch "N/E", loss, val (D_Val top-1, "-" when
    there is none), align (D_Align's alignment loss, the label-free curve) and left (the whole
    training's time left, all phases)."""
    out = {"epoch": f"{info['epoch']}/{info['epochs']}", "loss": f"{info['loss']:.3f}",
           "val": "-" if info.get("val_top1") is None else f"{info['val_top1']:.3f}"}
    if info.get("align_loss") is not None:
        out["align"] = f"{info['align_loss']:.3f}"
    if info.get("seconds_left") is not None:
        out["left"] = time_left(info["seconds_left"])
    return out


class PhaseBars:
    """A callable `(phase: str, fraction: float | None) -> None` drawing one bar per phase on
    stderr. `disable=True` draws nothing (e.g. --json output)."""

    def __init__(self, disable: bool = False, file=None):
        self.disable = disable
        self.file = file or sys.stderr
        self.phase: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, phase: str, fraction: float | None = None, **postfix) -> None:
        """Show `phase` at `fraction` (0..1) done; `postfix` (e.g. loss=0.41) is shown after the bar."""
        if phase != self.phase:
            self._finish()
            self.phase = phase
            self.bar = tqdm(total=STEPS, desc=phase, unit="", file=self.file, disable=self.disable, leave=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]")
        if self.bar is None:
            return
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        if fraction is not None:
            target = int(round(STEPS * min(max(float(fraction), 0.0), 1.0)))
            if target > self.bar.n:
                self.bar.update(target - self.bar.n)

    def _finish(self) -> None:
        if self.bar is not None:
            if self.bar.n < STEPS:
                self.bar.update(STEPS - self.bar.n)
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        """Finish the open bar (at 100%)."""
        self._finish()
        self.phase = None
