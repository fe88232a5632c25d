"""Reading video files frame by frame without stopping at an undecodable frame.

OpenCV's `VideoCapture.read()` returns (False, None) both at the end of a file and for a frame
it cannot decode (a damaged MJPG frame, a lost packet); the frames after a damaged one are
still there. `FrameReader` tells the two apart: a failed read followed by a good one was a
damaged frame (skipped and counted), a failed read at the container's frame count, or a run of
`max_bad_run` failed reads, is the end.

    reader = FrameReader(cv2.VideoCapture(path))
    while (frame := reader.next()) is not None: ...
    reader.skipped          # frames that could not be decoded, reader.skipped_at their indices

`read_video(path)` reads a whole file this way and warns (UserWarning) about skipped frames.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)

MAX_BAD_RUN = 25   # this many failed reads in a row, with no frame count to go by, is the end


class FrameReader:
    """Frames of an opened cv2.VideoCapture (BGR uint8), skipping undecodable ones."""

    def __init__(self, cap, max_bad_run: int = MAX_BAD_RUN):
        import cv2

        self.cap = cap
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if count and np.isfinite(count) and count > 0 else None
        self.max_bad_run = max_bad_run
        self.position = 0               # frames consumed: delivered + skipped
        self.skipped = 0
        self.skipped_at: list[int] = []

    def next(self) -> np.ndarray | None:
        """The next decodable frame, or None at the end of the file."""
        bad = 0
        while True:
            if self.frame_count is not None and self.position + bad >= self.frame_count and bad:
                return None          # the container says there are no more frames
            ok, frame = self.cap.read()
            if ok and frame is not None:
                if bad:
                    self.skipped_at += list(range(self.position, self.position + bad))
                    self.skipped += bad
                    self.position += bad
                self.position += 1
                return frame
            if self.frame_count is not None and self.position + bad >= self.frame_count:
                return None
            bad += 1
            if bad > self.max_bad_run:
                return None

    def rewind(self) -> None:
        """Back to the first frame (a looping file); the skipped counts keep adding up."""
        import cv2

        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self.position = 0


def read_video(path, limit: int | None = None) -> tuple[list[np.ndarray], list[int]]:
    """(frames, indices of undecodable frames skipped) of a video file, at most `limit` frames;
    ([], []) if it cannot be opened. Skipped frames are also reported as a UserWarning."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        if not cap.isOpened():
            log.info("%s: the video cannot be opened", path)
            return [], []
        reader = FrameReader(cap)
        while limit is None or len(frames) < limit:
            frame = reader.next()
            if frame is None:
                break
            frames.append(frame)
    finally:
        cap.release()
    if reader.skipped:
        shown = ", ".join(map(str, reader.skipped_at[:10])) + (" ..." if reader.skipped > 10 else "")
        warnings.warn(f"{path}: {reader.skipped} undecodable frame(s) skipped (frame {shown}); "
                      f"read {len(frames)} frames", stacklevel=2)
    return frames, reader.skipped_at
