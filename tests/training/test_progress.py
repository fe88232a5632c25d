"""PhaseBars: one terminal bar per training phase, driven like `c3t train` drives it."""
import io

from c3t.training.progress import STEPS, PhaseBars


def test_a_bar_per_phase_reaches_its_end():
    out = io.StringIO()
    bars = PhaseBars(file=out)
    seen = []
    for phase, epochs in (("align", 3), ("combined", 40)):
        for epoch in range(1, epochs + 1):
            bars(phase, epoch / epochs, epoch=f"{epoch}/{epochs}", loss="0.500")
            seen.append((bars.phase, bars.bar.n))
    assert seen[2] == ("align", STEPS)                         # the align bar is full after its 3 epochs
    assert seen[3] == ("combined", round(STEPS / 40))          # a new bar, not a reset of the old one every epoch
    assert seen[-1] == ("combined", STEPS)
    bars.close()
    text = out.getvalue()
    assert "align: 100%" in text and "combined: 100%" in text and "epoch=40/40" in text
