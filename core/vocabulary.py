"""The names the CLI, the GUI and the trainers share, importable without torch."""

METHODS = ("c3t", "ca", "st", "supervised-imu", "supervised-visual", "supervised-fusion", "fusion-pl")
SCHEDULES = ("align-first", "har-first", "interspersed", "combined")
HEADS = ("attention", "concat-attention", "add-mlp", "concat-mlp")  # C3T's h variants
NOISES = ("none", "crop", "misalign", "dilate", "all")
FROZEN_BACKBONES = ("efficientnet-lite0", "resnet18")
BACKBONES = FROZEN_BACKBONES + ("small-cnn",)
# camera inputs: recorded modalities, and motion (person-centred optical flow of the rgb video;
# depth-motion: the same of the depth video)
CAMERA_INPUTS = ("rgb", "depth", "skeleton", "motion", "depth-motion")
FLOW_SOURCES = {"motion": "rgb", "depth-motion": "depth"}   # optical flow inputs (core/motion.py) -> the video they are computed from
FLOW_INPUTS = tuple(FLOW_SOURCES)
COLOUR_INPUTS = ("rgb", "motion")   # the camera inputs a colour camera (a webcam, a recorded session) feeds
NO_ACTION = "no action"  # the live decision at rest or below the confidence threshold; also a trainable class
