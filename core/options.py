"""Every option name and default c3t offers, in one place, importable without numpy or torch.

Names the CLI, the GUI and the trainers share (methods, schedules, heads, camera inputs, ...),
the training options (protocols, epoch selection, whose IMU labels, ...) and the configuration
`c3t train` uses when no tuning flag is given (TrainConfig's defaults; `defaults_for` fills in
what a user chose). How each default was chosen is in docs/results.md.

Training options:
    PROTOCOLS   how clips are split (training/splits.py)
    SELECTIONS  how the epoch is chosen (training/methods.py)
    IMU_LABELS  whose IMU labels the supervised upper bounds learn from (training/pipeline.py);
                "virtual": none, a virtual IMU from D_HAR's skeleton (training/virtual_imu.py)
    REFINABLE   methods pseudo-label refinement can follow (--refine-epochs)
    SOFT_LABELS methods whose teacher can give soft pseudo-labels (--soft-threshold)
    VIRTUAL_REGULARISED  methods whose IMU side can also learn D_HAR's virtual IMU (--virtual-weight;
                the combined schedule)
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

METHODS = ("c3t", "ca", "st", "supervised-imu", "supervised-visual", "supervised-fusion", "fusion-pl")
SCHEDULES = ("align-first", "har-first", "interspersed", "combined")
HEADS = ("attention", "concat-attention", "add-mlp", "concat-mlp")  # C3T's h variants
NOISES = ("none", "crop", "misalign", "dilate", "all")
FROZEN_BACKBONES = ("efficientnet-lite0", "resnet18")
BACKBONES = FROZEN_BACKBONES + ("small-cnn",)
# camera inputs: recorded modalities, and motion (person-centred optical flow of the rgb video;
# depth-motion: the same of the depth video)
CAMERA_INPUTS = ("rgb", "depth", "skeleton", "motion", "depth-motion")
FLOW_SOURCES = {"motion": "rgb", "depth-motion": "depth"}   # optical flow inputs (core/model/motion.py) -> the video they are computed from
FLOW_INPUTS = tuple(FLOW_SOURCES)
COLOUR_INPUTS = ("rgb", "motion")   # the camera inputs a colour camera (a webcam, a recorded session) feeds
NO_ACTION = "no action"  # the live decision at rest or below the confidence threshold; also a trainable class

PROTOCOLS = ("random", "cross-subject", "new-user")
SELECTIONS = ("val", "last", "align-loss")
IMU_LABELS = ("training", "new-users", "virtual")
REFINABLE = ("c3t", "ca")
SOFT_LABELS = ("st", "fusion-pl")
VIRTUAL_REGULARISED = ("c3t", "ca")


def option_problems(method: str, schedule: str | None, refine_epochs: int | None, soft_threshold: float | None,
                    virtual_weight: float | None) -> list[tuple[str, str]]:
    """The options given that `method` (and its `schedule`; None: the default, combined) cannot
    take: [(TrainConfig field, why)], empty when all fit. The CLI names the flag before reading
    any data; methods.train names the field."""
    problems = []
    if refine_epochs and (refine_epochs < 0 or method not in REFINABLE):
        problems.append(("refine_epochs", "pseudo-label refinement follows a CA or C3T schedule (c3t or ca), "
                                          "with 0 or more epochs"))
    if soft_threshold is not None and (method not in SOFT_LABELS or not 0 <= soft_threshold < 1):
        problems.append(("soft_threshold", "soft pseudo-labels are for st and fusion-pl, with a confidence threshold "
                                           "from 0 up to (not including) 1"))
    if virtual_weight and (method not in VIRTUAL_REGULARISED or virtual_weight < 0 or (schedule or "combined") != "combined"):
        problems.append(("virtual_weight", "the virtual IMU regularises c3t and ca with the combined schedule, "
                                           "with a weight of 0 or more"))
    return problems


@dataclass
class TrainConfig:
    """How one model is trained (stored in the model folder's config as "training"). Its field
    defaults are the configuration `c3t train` uses when no tuning flag is given."""

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


# Pseudo-label refinement (methods.refine) learns from this share of each pseudo-class's D_Align
# pairs, the most confident first; chosen on held-out training people (docs/results.md).
REFINE_KEEP = 0.7
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
    """The TrainConfig for `method` on camera modality `visual`: TrainConfig's defaults, then
    `chosen` (fields of TrainConfig; None means "the default").

    Raises:
        TypeError: a name in `chosen` is not a TrainConfig field.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(chosen) - names)
    if unknown:
        raise TypeError(f"TrainConfig has no field(s) {unknown}")
    return TrainConfig(method=method, **{k: v for k, v in chosen.items() if v is not None})
