"""The Train tab while a retrain runs (#29): the time left, the validation curve (D_Val's IMU
top-1, or without D_Val the label-free alignment loss) and the model selection's warning."""
from __future__ import annotations

from c3t.app.gui.train import TrainPanel


def _epoch(epoch, **more):
    return {"kind": "phase", "phase": "combined", "fraction": epoch / 40, "epoch": epoch, "epochs": 40, "loss": 1.0, **more}


def test_the_time_left_and_a_label_free_curve_without_d_val(qtbot):
    panel = TrainPanel(lambda: [])
    qtbot.addWidget(panel)
    panel.handle({"kind": "phase", "phase": "prepare", "fraction": 0.5, "seconds_left": 30})
    assert panel.phase.text() == "cutting windows; about 30 s left"
    for e, loss in ((1, 3.0), (2, 2.5)):
        panel.handle(_epoch(e, val_top1=None, align_loss=loss, seconds_left=130))
    assert panel.phase.text() == "training: combined: epoch 2/40, loss 1.000; about 2 min 10 s left in training"
    assert panel.checks == [3.0, 2.5] and "alignment loss on D_Align" in panel.check_plot.plotItem.titleLabel.text
    x, y = panel.check_curve.getData()
    assert list(y) == [3.0, 2.5]


def test_a_validation_curve_in_percent_when_d_val_scores(qtbot):
    panel = TrainPanel(lambda: [])
    qtbot.addWidget(panel)
    panel.handle(_epoch(1, val_top1=0.5, align_loss=3.0))
    panel.handle(_epoch(2, val_top1=0.75, align_loss=2.0))
    assert panel.checks == [50.0, 75.0] and "IMU top-1 on D_Val" in panel.check_plot.plotItem.titleLabel.text


def test_a_disagreeing_selection_is_a_warning_in_the_metrics(qtbot, tmp_path):
    panel = TrainPanel(lambda: [])
    qtbot.addWidget(panel)
    panel.models.setText(str(tmp_path / "models"))
    warning = "the saved model (selection val) and the last rule's model predict different classes for 63% of ..."
    why = "D_Val holds 3 independent clips (fewer than 25): ..."
    panel.handle({"kind": "done", "version": str(tmp_path / "models" / "v001-c3t-20260101-000000"),
                  "metrics": {"imu_top1": 0.9, "selection_warning": warning,
                              "selection": {"asked": "val", "used": "last", "why": why},
                              "early_stopped_at_epoch": {"combined": 31}}})
    text = panel.metrics.text()
    assert f"warning: {warning}" in text and f"epoch chosen by last instead of val: {why}" in text
    assert "combined at epoch 31" in text
