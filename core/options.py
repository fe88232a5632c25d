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
ENCODERS = ("conv", "attention")   # the temporal part of f1 and f2 (core/model/networks.TemporalEncoder)
# how supervised-fusion joins the two modalities (core/model/networks.UmaModel): "feature" the mean of the
# pooled latents into one shared h; "early" the inputs step by step into one encoder; "late" the mean of a
# camera and an IMU classifier's probabilities; "attention" a transformer over both modalities' t_rec latents
FUSIONS = ("feature", "early", "late", "attention")
NOISES = ("none", "crop", "misalign", "dilate", "all", "misalign-imu")   # training/augment.apply_noise
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
# how the virtual IMU finds the sensor's body site per D_HAR clip (training/virtual_imu.py): "pairs" from the
# unlabelled D_Align pairs (label-free); "label" from the camera label (privileged: a marked upper reference)
VIRTUAL_SITES = ("pairs", "label")


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
    virtual_site: str = "pairs"  # the virtual IMU's body site per clip: "pairs" (label-free) or "label" (upper reference; VIRTUAL_SITES)
    patience: int = 0           # early stopping (label-free): anneal and stop a phase that aligns once its D_Align loss
                                # has not improved for this many epochs (methods module docstring; 0: never)
    epoch_steps: int = 0        # an epoch is at most this many batches of its shuffled pass (0: the whole pass)

    def to_dict(self) -> dict:
        """The fields as a plain dict (how the model folder's config stores them under "training")."""
        return asdict(self)


# Model selection on D_Val needs D_Val to resolve one epoch from another. Its top-1 over n
# independent clips (a recorded session's windows of one labelled segment count once) is a
# binomial share: one clip moves it by 100/n points and its standard error is up to
# 50/sqrt(n) points (at 50%). Below MIN_VAL_CLIPS (one clip 4 points, standard error up to 10
# points) the best-of-E-epochs D_Val score is mostly noise: an epoch that guessed a few clips
# right wins (#29: 9 windows of 3 segments chose epoch 4, IMU 37% against 90.7% at the last).
# Then "val" falls back to the label-free VAL_FALLBACK in every phase (methods.selection_rule).
MIN_VAL_CLIPS = 25
VAL_FALLBACK = "last"
# After training, the saved state and each label-free rule's state predict D_Align's IMU clips
# (no labels); a share of differing predictions above this is reported as a warning
# (pipeline.selection_check): the selection rules disagree about which model is good.
SELECTION_DISAGREEMENT = 0.2

# Live windows and the models trained as they are served (#28). The live predictor cuts a
# window of STREAM_WINDOW_S seconds every STREAM_HOP_S; `c3t train` cuts clip datasets the
# same way (training/stream_windows.py) unless told --clips (TRAIN_ON_WINDOWS); `c3t bench
# paper` keeps whole clips for the paper's tables. A window's label is the true action at
# its end ("end", the rule `c3t bench stream` scores a hop by) or the window's majority.
STREAM_WINDOW_S = 2.5
STREAM_HOP_S = 0.25
TRAIN_ON_WINDOWS = True
WINDOW_TRAIN_HOP_S = 0.5   # D_HAR / D_Align windows of clip streams: every 0.5 s (D_Val / D_Test: every hop)
WINDOW_LABEL_RULES = ("end", "majority")

# Pseudo-label refinement (methods.refine) learns from this share of each pseudo-class's D_Align
# pairs, the most confident first; chosen on held-out training people (docs/results.md).
REFINE_KEEP = 0.7
# The camera input of models trained on colour video: recorded sessions (the app's retraining, the
# demo, `c3t train` on a sessions folder) and clip datasets with RGB/ but no Depth/ (`c3t synth`
# output). Chosen on held-out people (docs/results.md, "camera input").
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


# What `c3t train` and the app's retraining add to TrainConfig's field defaults (the paper's recipe,
# which `c3t bench paper` keeps by naming these fields) when no tuning flag is given: the best
# label-free configuration measured on held-out *training* people (docs/results.md, "Defaults").
REFINE_SHARE = 0.5           # pseudo-label refinement after CA / C3T (REFINABLE): this share of the schedule's
                             # epochs (80 -> 40, the measured configuration)
DEFAULT_PATIENCE = 10        # early stopping on the D_Align loss's plateau (methods module docstring)
DEFAULT_EPOCH_STEPS = 10     # batches per epoch at most: the recipe's (80 epochs of <= 10 batches on UTD-MHAD's
                             # random split, 324 D_HAR clips); longer recordings' overlapping windows (2.5 s every
                             # 0.25 s) make a pass many more batches of much the same seconds (7 simulated sessions,
                             # 4.3 min: 9 batches, so the cap does not bind there)


def defaults_for(method: str, visual: str, **chosen) -> TrainConfig:
    """The TrainConfig for `method` on camera modality `visual` when only `chosen` is given:
    TrainConfig's defaults, refinement for REFINABLE methods (REFINE_SHARE of the epochs: 40
    after 80), early stopping (DEFAULT_PATIENCE), epochs of at most DEFAULT_EPOCH_STEPS batches,
    then `chosen` (fields of TrainConfig; None means "the default", so 0 turns refinement, early
    stopping or the epoch cap off).

    Raises:
        TypeError: a name in `chosen` is not a TrainConfig field.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(chosen) - names)
    if unknown:
        raise TypeError(f"TrainConfig has no field(s) {unknown}")
    epochs = chosen.get("epochs") or TrainConfig.epochs
    best = {"refine_epochs": max(1, round(REFINE_SHARE * epochs)) if method in REFINABLE else 0, "patience": DEFAULT_PATIENCE,
            "epoch_steps": DEFAULT_EPOCH_STEPS}
    return TrainConfig(method=method, **{**best, **{k: v for k, v in chosen.items() if v is not None}})
