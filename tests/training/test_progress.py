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


def test_an_epoch_report_shows_the_label_free_curve_and_the_time_left():
    from c3t.training.progress import epoch_postfix, time_left

    assert [time_left(s) for s in (None, 4.4, 200, 3 * 3600 + 300)] == ["", "4 s", "3 min 20 s", "3 h 05 min"]
    info = {"epoch": 3, "epochs": 40, "loss": 1.23456, "val_top1": None, "align_loss": 2.5, "seconds_left": 95}
    assert epoch_postfix(info) == {"epoch": "3/40", "loss": "1.235", "val": "-", "align": "2.500", "left": "1 min 35 s"}
    out = io.StringIO()
    bars = PhaseBars(file=out)
    bars("combined", 3 / 40, **epoch_postfix({**info, "val_top1": 0.5}))
    bars.close()
    assert "val=0.500" in out.getvalue() and "left=1 min 35 s" in out.getvalue()
