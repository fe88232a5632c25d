"""What is plugged in: serial ports and cameras (BLE scanning is in devices/ble_imu.py)."""
from __future__ import annotations

import glob
import logging
import sys

log = logging.getLogger(__name__)


def list_serial_ports() -> list[tuple[str, str]]:
    """(port, description [VID:PID]) of every serial port pyserial finds, sorted by port."""
    from serial.tools import list_ports

    out = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        what = port.description if port.description and port.description != "n/a" else ""
        if port.vid is not None:
            what += f" [{port.vid:04x}:{port.pid:04x}]"
        out.append((port.device, what.strip()))
    log.debug("serial ports: %s", out or "none")
    return out


def list_cameras(max_index: int = 8) -> list[tuple[int, str]]:
    """Camera indices that open and deliver a frame, with size and rate."""
    import cv2

    from c3t.devices.camera import first_frame

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:
        pass
    if sys.platform.startswith("linux"):
        indices = sorted(int(p[len("/dev/video"):]) for p in glob.glob("/dev/video*") if p[len("/dev/video"):].isdigit())
        indices = [i for i in indices if i < max_index]
    else:
        indices = list(range(max_index))
    found = []
    for i in indices:
        cap = cv2.VideoCapture(i)
        try:
            if not cap.isOpened():
                continue
            frame = first_frame(cap, warmup_s=2.0)   # a webcam's first reads may come back empty
            if frame is None:
                continue
            fps = cap.get(cv2.CAP_PROP_FPS) or 0
            found.append((i, f"{frame.shape[1]}x{frame.shape[0]}" + (f" @ {fps:g} fps" if fps else "")))
        finally:
            cap.release()
    log.debug("cameras tried %s, delivering: %s", indices, found or "none")
    return found
