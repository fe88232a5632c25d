"""The configuration `c3t train` uses when no tuning flag is given: the best found on D_Val,
settled here and nowhere else. The CLI, the GUI's retraining and the experiments only fill in
what their user chose (`defaults_for(method, visual, epochs=..., ...)`).

How each value was chosen (D_Val only, seed 0, UTD-MHAD) is in docs/results.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

@dataclass
class TrainConfig:
    """How one model is trained (stored in the model folder's config as "training"); the
    defaults c3t uses are settled in training/defaults.py (defaults_for)."""

    method: str = "c3t"
    schedule: str = "combined"
    epochs: int = 80
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1  # InfoNCE temperature; 0 = learnable (starts at 0.07)
    seed: int = 0
    augment: bool = True
    noise_augment: float = 0.0  # share of training clips given test-style crop / dilate (augment.augment_pair)
    select: str = "val"         # model selection: "val", "last" or "align-loss" (module docstring)
    protocol: str = "random"    # the split protocol the model was trained under (splits.PROTOCOLS), for the record
    imu_labels: str = "training"  # supervised-imu / -fusion: whose IMU labels ("training", "new-users", "virtual")
    imu_labels_per_class: int | None = None   # supervised-imu / -fusion: only K labelled clips per class
    refine_epochs: int = 0      # c3t / ca: epochs of pseudo-label refinement on D_Align's IMU after the schedule (0: none)
    soft_threshold: float | None = None   # st / fusion-pl: soft pseudo-labels for clips the teacher is this sure of (None: hard, all)
    virtual_weight: float = 0.0  # c3t / ca, combined schedule: weight of L_CE on D_HAR's virtual IMU through f2 + h (0: none)

    def to_dict(self) -> dict:
        """The fields as a plain dict (how the model folder's config stores them under "training")."""
        return asdict(self)


BASE = {"epochs": 80, "schedule": "combined", "temperature": 0.1}
# Pseudo-label refinement (methods.refine) learns from this share of each pseudo-class's D_Align
# pairs, the most confident first; chosen on held-out training people (docs/results.md).
REFINE_KEEP = 0.7
OVERRIDES: dict[tuple[str, str], dict] = {}
# The camera input of models trained on recorded (colour) sessions: the app's retraining, the
# demo, `c3t train` on a sessions folder. Chosen on held-out people (docs/results.md, "camera input").
SESSION_VISUAL = "motion"
VISUAL_BACKBONE = {"rgb": "efficientnet-lite0", "depth": "small-cnn", "skeleton": "small-cnn", "motion": "small-cnn"}
# The small CNN's spatial grid per camera input (models.FrameCNN; others: 1, the global average).
# The flow inputs keep their 4 x 4 map: chosen for `motion` on held-out training people of
# simulated data (docs/results.md, "camera input"); `depth-motion` is the same function of depth
# video and takes the same design (on UTD-MHAD cross-subject, measured after the choice: camera
# 66.8 -> 75.0). Depth frames were not measured with it and keep the global average their
# tables were made with.
FRAME_GRID = {"motion": 4, "depth-motion": 4}


def frame_grid(visual: str) -> int:
    """The small CNN's pooling grid (ModelConfig.frame_grid) for camera modality `visual`."""
    return FRAME_GRID.get(visual, 1)


def default_backbone(visual: str) -> str:
    """The frame backbone for camera modality `visual` (an InputSpec setting, not a training one)."""
    return VISUAL_BACKBONE.get(visual, "small-cnn")


def defaults_for(method: str, visual: str, **chosen) -> TrainConfig:
    """The TrainConfig for `method` on `visual`: the chosen defaults, then `chosen` (fields of
    TrainConfig; None means "the default"). Raises TypeError for a field TrainConfig lacks."""
    settled = dict(BASE)
    settled.update(OVERRIDES.get((method, visual), {}))
    settled.update(OVERRIDES.get((method, "*"), {}))
    settled.update({k: v for k, v in chosen.items() if v is not None})
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(settled) - names)
    if unknown:
        raise TypeError(f"TrainConfig has no field(s) {unknown}")
    return TrainConfig(method=method, **settled)
