"""Turn one clip of raw sensor data into a model input of fixed shape.

The same functions serve datasets (UTD-MHAD, synthetic, recorded sessions) and live windows,
so a model sees identical inputs in training and in the app.

- IMU (N, 6) [g, deg/s]        -> (imu_steps, 6); gyroscope divided by 100 to the accel's range
- skeleton (T, 20, 3) [m]      -> (steps, 63): joints relative to hip_center over the torso
                                  length, plus the hip's own trajectory
- depth (T, H, W) [mm]         -> (frames, 1, size, size): square crop around the person
                                  (non-zero pixels), depth relative to the clip's median
- colour (T, H, W, 3) BGR      -> (frames, 3, size, size) in 0..1, RGB order
- motion (colour video)        -> (frames, 2, size, size): person-centred optical flow
                                  (core/motion.py)
- depth-motion (depth video)   -> the same flow of the depth frames rendered grey (depth_grey)

`frames_input` is the one entry for camera frames: datasets, sessions and live windows call it.
"""
from __future__ import annotations

import numpy as np

from c3t.core.model import motion
from c3t.core.options import FLOW_INPUTS
from c3t.core.streams.window import frame_indices, resample

GYRO_SCALE = 100.0  # deg/s -> roughly the accelerometer's range in g
HIP, SHOULDER_CENTER = 3, 1  # Kinect v1 / UTD-MHAD joint indices


def imu_input(imu: np.ndarray, steps: int = 128) -> np.ndarray:
    """IMU samples (N, 6): accelerometer in g, gyroscope in deg/s -> (steps, 6) float32,
    linearly resampled, with the gyroscope divided by GYRO_SCALE. Raises ValueError for N = 0."""
    x = resample(np.asarray(imu, dtype=np.float32), steps)
    x = x.copy()
    x[:, 3:6] /= GYRO_SCALE
    return x


def skeleton_input(joints: np.ndarray, steps: int = 32) -> np.ndarray:
    """Kinect joints (T, 20, 3) in metres (UTD-MHAD's joint order) -> (steps, 63) float32:
    the 20 joints relative to the hip centre, then the hip's path from its first position, all
    divided by the clip's mean torso length (hip to shoulder centre), resampled to `steps`."""
    joints = np.asarray(joints, dtype=np.float32)
    hip = joints[:, HIP : HIP + 1, :]
    torso = np.linalg.norm(joints[:, SHOULDER_CENTER] - joints[:, HIP], axis=-1).mean()
    torso = max(float(torso), 1e-3)
    relative = (joints - hip) / torso  # (T, 20, 3)
    trajectory = (hip[:, 0] - hip[0, 0]) / torso  # (T, 3)
    features = np.concatenate([relative.reshape(len(joints), -1), trajectory], axis=1)
    return resample(features, steps)


def depth_input(depth: np.ndarray, frames: int = 16, size: int = 32) -> np.ndarray:
    """Depth frames (T, H, W) in mm (0: no reading) -> (frames, 1, size, size) float32.
    Takes `frames` evenly spaced frames, crops one square around all non-zero pixels of the
    clip, and maps depth to 1 + (clip median - depth) / 500 mm clipped to 0..2 (closer is
    larger), background 0. An all-zero clip gives zeros."""
    import cv2

    depth = np.asarray(depth)[frame_indices(len(depth), frames)].astype(np.float32)
    mask = depth > 0
    if not mask.any():
        return np.zeros((frames, 1, size, size), np.float32)
    ys, xs = np.nonzero(mask.any(axis=0))
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) / 2 + 4
    h, w = depth.shape[1:]
    pad = int(np.ceil(half)) + 1
    padded = np.pad(depth, ((0, 0), (pad, pad), (pad, pad)))
    y0, x0 = int(round(cy - half)) + pad, int(round(cx - half)) + pad
    side = int(round(2 * half))
    crop = padded[:, y0 : y0 + side, x0 : x0 + side]
    median = float(np.median(depth[mask]))
    # foreground around 1 (closer = larger), background exactly 0
    rel = np.where(crop > 0, 1.0 + (median - crop) / 500.0, 0.0).clip(0.0, 2.0).astype(np.float32)
    out = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in rel])
    return out[:, None]


def colour_input(video: np.ndarray, frames: int = 16, size: int = 64) -> np.ndarray:
    """Colour frames (T, H, W, 3) uint8 BGR -> (frames, 3, size, size) float32 RGB in 0..1:
    `frames` evenly spaced frames, each resized whole to size x size (no crop)."""
    import cv2

    video = np.asarray(video)[frame_indices(len(video), frames)]
    out = np.stack(
        [cv2.cvtColor(cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB) for f in video]
    )
    return (out.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)


def depth_grey(depth: np.ndarray) -> np.ndarray:
    """Depth frames (T, H, W) in mm (0: no reading) -> (T, H, W) uint8 grey images of the same
    depth scale as depth_input: 127.5 x (1 + (clip median - depth) / 500 mm), clipped to
    1..255 (closer is brighter), 0 where there is no reading. An all-zero clip gives zeros."""
    depth = np.asarray(depth).astype(np.float32)
    mask = depth > 0
    if not mask.any():
        return np.zeros(depth.shape, np.uint8)
    median = float(np.median(depth[mask]))
    grey = (127.5 * (1.0 + (median - depth) / 500.0)).clip(1.0, 255.0)
    return np.where(mask, grey, 0.0).round().astype(np.uint8)


def frames_input(raw: np.ndarray, spec, size: int) -> np.ndarray:
    """Raw camera frames of one clip or window as the model's frame input, per `spec.visual`
    (an InputSpec): depth (T, H, W) mm -> depth_input; rgb (T, H, W, 3) uint8 BGR ->
    colour_input; motion (the same colour video) -> core.motion.motion_input; depth-motion
    (the depth video) -> motion_input of depth_grey. `size` is the square side in pixels.

    Raises:
        C3tError: for a modality with no frames (skeleton) or an unknown one
    """
    from c3t.core.errors import C3tError

    if spec.visual == "depth":
        return depth_input(raw, spec.frames, size)
    if spec.visual == "rgb":
        return colour_input(raw, spec.frames, size)
    if spec.visual in FLOW_INPUTS:
        return motion.motion_input(depth_grey(raw) if spec.source == "depth" else raw, spec.frames, size)
    raise C3tError(f"camera modality {spec.visual!r} has no frame input (expected depth, rgb, motion or depth-motion)")


def input_version(spec) -> dict:
    """What, beyond the InputSpec, decides `frames_input`'s output, for cache keys: the motion
    function's VERSION for the flow inputs, nothing for the others (their keys stay as they were)."""
    if spec.visual in FLOW_INPUTS:
        return {"motion_version": motion.VERSION}
    return {}


def frame_channels(visual: str) -> int:
    """Channels of `frames_input`'s output for a camera modality: depth 1, rgb 3, motion and
    depth-motion 2."""
    return motion.CHANNELS if visual in FLOW_INPUTS else {"depth": 1, "rgb": 3}[visual]


def as_backbone_images(frames: np.ndarray) -> np.ndarray:
    """Frames (T, C, H, W) as a frozen backbone's images: depth (1 channel, 0..2) becomes
    3-channel images in 0..1; colour (already 0..1) passes through."""
    if frames.shape[1] == 1:
        return np.repeat(np.clip(frames / 2.0, 0, 1), 3, axis=1)
    return frames
