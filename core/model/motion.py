"""The person's motion as a camera input: optical flow in a crop that follows the moving body.

A globally pooled ImageNet feature of a small figure in a cluttered room mostly describes the
room, the clothes and the light, none of which says what the person does, and none of which
carries over to a person the model never saw. The flow of the moving body does: a static
background has none, clothing colour changes its contrast but not its direction, and a crop
scaled to the moving region removes the camera's distance.

`motion_input(video, frames, size)`, for colour frames (T, H, W, 3) uint8 BGR of one window, or
grey frames (T, H, W) uint8 of a depth camera (preprocess.depth_grey):

1. `frames + 1` evenly spaced frames, grey, resized to WORK_WIDTH pixels wide; colour frames
   each divided by their mean brightness (flicker, auto exposure; a depth image has neither).
2. Colour frames stabilised onto the middle frame (the camera's own shake): corners tracked from it
   (cv2.goodFeaturesToTrack, pyramidal Lucas-Kanade) and a similarity transform fitted to
   them with RANSAC (cv2.estimateAffinePartial2D), so the background's motion wins over the
   person's. Phase correlation was tried first: it locks partly onto the moving person.
   Depth frames are not: a depth camera stands still, and in a background-free depth image
   the corners are on the person, whose motion the fit would take away.
3. The person box (`person_box`): absolute differences of consecutive blurred frames above the
   sensor's noise (NOISE_FACTOR x their median), summed over the window; of the regions above
   MOTION_SHARE of its 99.5th percentile (cv2.connectedComponentsWithStats) the one holding the
   most motion, grown by BOX_MARGIN to a square of at least MIN_BOX of the frame height.
   No motion at all gives the centred square of the full height.
4. The frames cropped to the box at FLOW_SIZE x FLOW_SIZE pixels, dense optical flow between
   consecutive crops (OpenCV's DIS, Kroeger et al., ECCV 2016, "medium" preset), minus its
   median, faded to 0 under FLOW_FLOOR_PX (DIS's guesses in flat still regions), resized to size x size and divided by FLOW_SIZE: displacement as a share of the
   box per step, x FLOW_GAIN, so a person 2 m away and one 4 m away moving alike give alike
   numbers.

Output (frames, 2, size, size) float32: channel 0 the horizontal, 1 the vertical displacement
(image axes: right, down). The same function serves clip datasets, recorded sessions and live
windows (core/preprocess.frames_input: "motion" from colour video, "depth-motion" from depth
video); it is deterministic for the same frames.

Chosen on D_Val among candidates measured side by side (docs/results.md, "camera input").
"""
from __future__ import annotations

import numpy as np

from c3t.core.streams.window import frame_indices

VERSION = 2           # changes whenever the function's output does (it keys cached inputs)
CHANNELS = 2          # horizontal and vertical displacement
WORK_WIDTH = 128      # pixels: frames are stabilised and the person found at this width
TRACKED_CORNERS = 200 # corners tracked to stabilise; at least MIN_TRACKED must follow
MIN_TRACKED = 8
NOISE_FACTOR = 3.0    # frame differences under this many times their median are noise
MOTION_SHARE = 0.2    # a region moves when its summed difference exceeds this share of the 99.5th percentile
MIN_BOX = 0.3         # the crop is at least this share of the frame height
BOX_MARGIN = 1.3      # the crop's side over the moving region's larger side
FLOW_SIZE = 96        # pixels: flow is computed on crops this size
FLOW_FLOOR_PX = 0.25  # flow under this (DIS's guesses in flat, still regions) fades to 0 by twice it
FLOW_GAIN = 10.0


def _grey_frames(video: np.ndarray, count: int) -> np.ndarray:
    """`count` evenly spaced frames of (T, H, W, 3) BGR or (T, H, W) grey as grey (count, h,
    WORK_WIDTH) float32; colour frames each scaled to a mean of 128, grey ones as they are."""
    import cv2

    h, w = video.shape[1:3]
    size = (WORK_WIDTH, max(8, int(round(h * WORK_WIDTH / w))))
    colour = video.ndim == 4
    grey = np.stack([cv2.resize(cv2.cvtColor(video[i], cv2.COLOR_BGR2GRAY) if colour else video[i], size,
                                interpolation=cv2.INTER_AREA)
                     for i in frame_indices(len(video), count)]).astype(np.float32)
    if not colour:
        return grey
    return grey * (128.0 / np.maximum(grey.reshape(len(grey), -1).mean(axis=1), 1.0))[:, None, None]


def stabilise(grey: np.ndarray) -> np.ndarray:
    """Grey frames (K, h, w) float32 warped onto the middle one (camera shake), same shape;
    step 2 of the module docstring. A frame whose corners cannot be followed stays as it is."""
    import cv2

    mid = len(grey) // 2
    as_bytes = np.clip(grey, 0, 255).astype(np.uint8)
    corners = cv2.goodFeaturesToTrack(as_bytes[mid], TRACKED_CORNERS, 0.01, 4)
    h, w = grey.shape[1:]
    out = grey.copy()
    if corners is None or len(corners) < MIN_TRACKED:
        return out
    for k in range(len(grey)):
        if k == mid:
            continue
        moved, found, _ = cv2.calcOpticalFlowPyrLK(as_bytes[mid], as_bytes[k], corners, None, winSize=(15, 15), maxLevel=2)
        found = found.ravel() == 1
        if found.sum() < MIN_TRACKED:
            continue
        warp, _ = cv2.estimateAffinePartial2D(moved[found], corners[found], method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if warp is not None:
            out[k] = cv2.warpAffine(grey[k], warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def person_box(grey: np.ndarray) -> tuple[float, float, float]:
    """The square holding the moving body in stabilised grey frames (K, h, w): (centre x,
    centre y, side) in their pixels; step 3 of the module docstring."""
    import cv2

    h, w = grey.shape[1:]
    blurred = np.stack([cv2.GaussianBlur(g, (3, 3), 0) for g in grey])
    diff = np.abs(np.diff(blurred, axis=0))
    diff = np.maximum(diff - (NOISE_FACTOR * float(np.median(diff)) + 1.0), 0.0)
    energy = cv2.GaussianBlur(diff.sum(axis=0), (7, 7), 0)
    top = float(np.quantile(energy, 0.995))
    if top <= 1e-3:
        return w / 2, h / 2, float(h)
    mask = cv2.dilate((energy > MOTION_SHARE * top).astype(np.uint8), np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    best = 1 + int(np.argmax([energy[labels == k].sum() for k in range(1, n)]))
    x, y, bw, bh = stats[best, :4]
    return x + bw / 2, y + bh / 2, float(max(MIN_BOX * h, BOX_MARGIN * max(bw, bh)))


def _crop(image: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    import cv2

    s = size / side
    warp = np.float32([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])
    return cv2.warpAffine(image, warp, (size, size), flags=cv2.INTER_AREA, borderValue=0)


def motion_input(video: np.ndarray, frames: int = 16, size: int = 32) -> np.ndarray:
    """Colour frames (T, H, W, 3) uint8 BGR, or depth rendered grey (T, H, W) uint8, of one
    window -> (frames, 2, size, size) float32: the person-centred optical flow described in the
    module docstring. A window of one frame gives zeros (no motion can be seen).

    Raises:
        ValueError: for an empty window, or frames that are neither (T, H, W, 3) nor (T, H, W)
    """
    import cv2

    video = np.asarray(video)
    if video.ndim not in (3, 4) or (video.ndim == 4 and video.shape[3] != 3):
        raise ValueError(f"motion_input takes (T, H, W, 3) colour or (T, H, W) grey frames, not {video.shape}")
    if len(video) == 0:
        raise ValueError("motion_input needs at least one frame")
    if len(video) == 1:
        return np.zeros((frames, CHANNELS, size, size), np.float32)
    grey = _grey_frames(video, frames + 1)
    if video.ndim == 4:
        grey = stabilise(grey)
    cx, cy, side = person_box(grey)
    crops = np.stack([np.clip(_crop(g, cx, cy, side, FLOW_SIZE), 0, 255) for g in grey]).astype(np.uint8)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    out = np.empty((frames, size, size, CHANNELS), np.float32)
    for k in range(frames):
        flow = dis.calc(crops[k], crops[k + 1], None)
        flow -= np.median(flow.reshape(-1, CHANNELS), axis=0)
        speed = np.linalg.norm(flow, axis=-1, keepdims=True)
        flow *= np.clip(speed / FLOW_FLOOR_PX - 1.0, 0.0, 1.0)
        out[k] = cv2.resize(flow, (size, size), interpolation=cv2.INTER_AREA)
    return (out * (FLOW_GAIN / FLOW_SIZE)).transpose(0, 3, 1, 2).copy()
