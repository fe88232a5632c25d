"""ONNX export of a model folder, checked against torch on real windows before anything is written.

    export_model(folder) -> the export record (also written to folder/export.json)

One ONNX file per inference path the model has (c3t.core.model.inference.model_paths):

    imu.onnx      imu (1, imu_steps, 6)                         -> probs (1, K) [, attention (1, t_rec)]
    camera.onnx   visual (1, steps, 63) skeleton | (1, T, C, s, s) frames | (1, T, D) backbone features
    fusion.onnx   imu and visual                                -> probs [, attention]
    backbone.onnx images (N, 3, 112, 112) in 0..1 -> features (N, D)   ("features" models only)

C3T models also output the class token's attention over the t_rec steps. Inputs are the
preprocessed windows (normalisation is inside the graphs), batch fixed at 1; only the
backbone has a dynamic batch (frames) so a window's new frames go through in one call.

Parity: a few real clips of the model's dataset (its D_Test when split.json is there; for
recorded sessions, windows cut as training cut them) go
through onnxruntime and torch; for "features" models the ONNX side runs backbone.onnx then
camera.onnx on the clips' frames, end to end. Every path's maximum absolute difference of
probabilities (and of attention) must stay under TOLERANCE, or nothing is written.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from c3t.core.atomic_file import write_json_atomic
from c3t.core.errors import C3tError
from c3t.core.model import preprocess
from c3t.core.model.backbones import IMAGE_SIZE, load_backbone
from c3t.core.model.folder import EXPORT_FILE, SPLIT_FILE, load_model, read_json
from c3t.core.model.inference import (
    BACKBONE_FILE,
    EXPORT_FORMAT,
    PATH_FILES,
    model_paths,
    onnx_session,
    path_inputs,
    weights_digest,
)
from c3t.core.model.preprocess import as_backbone_images
from c3t.core.streams.window import InputSpec
from c3t.training import utd_mhad
from c3t.training.session_dataset import is_sessions_folder, raw_windows

log = logging.getLogger(__name__)

OPSET = 17
EPS32 = float(np.finfo(np.float32).eps)   # 1.19e-7: float32's relative rounding step
MARGIN = 10.0


def parity_tolerance(modules: list[nn.Module]) -> float:
    """The largest |probability difference| between onnxruntime and torch that float32
    arithmetic explains, for a chain of `modules` (a path's network, and the frame backbone
    before it when there is one).

    Why this size: onnxruntime fuses and reorders the same float32 sums torch does. Each sum of
    n products then differs by rounding steps of EPS32 that add up like a random walk, about
    EPS32 * sqrt(n) relative, and the chain's depth adds these up; sqrt(P) over the P weights
    the chain uses bounds that total from above for the layer sizes here. Probabilities are at
    most 1, so relative and absolute agree. MARGIN covers softmax's and layer norm's
    amplification. A 4-M-weight backbone chain gets ~2.4e-3, a 100 k-weight IMU path ~3.8e-4;
    a wrong graph differs by 1e-2 and more."""
    weights = sum(p.numel() for m in modules for p in m.parameters())
    return MARGIN * EPS32 * float(np.sqrt(max(weights, 1)))


class PathNet(nn.Module):
    """One inference path of a UmaModel as a module with positional tensor inputs."""

    def __init__(self, model, path: str):
        super().__init__()
        self.model, self.path = model, path

    def forward(self, *inputs):
        """Run the path on positional inputs (in the order path_inputs(path) names them): probs
        (B, num_classes), or (probs, attention) for a head with attention."""
        probs, att = self.model(**dict(zip(path_inputs(self.path), inputs)))
        return probs if att is None else (probs, att)


def output_names(net: PathNet, example: tuple) -> list[str]:
    """probs, plus attention where the head has one (C3T's class-token head)."""
    with torch.inference_mode():
        out = net.eval()(*example)
    return ["probs", "attention"] if isinstance(out, tuple) else ["probs"]


def input_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Window shapes (batch 1) of the model's inputs, from config.json."""
    m, spec = config["model"], InputSpec(**config["inputs"])
    kind = m["visual_input"]
    if kind == "sequence":
        visual = (1, spec.skeleton_steps, m["visual_channels"])
    elif kind == "features":
        visual = (1, spec.frames, m["visual_channels"])
    else:
        visual = (1, spec.frames, m["visual_channels"], spec.frame_size, spec.frame_size)
    return {"imu": (1, spec.imu_steps, m["imu_channels"]), "visual": visual}


# ----------------------------------------------------------------------------- ONNX writing

def _write_onnx(net: nn.Module, example: tuple, file: Path, inputs: list[str], outputs: list[str],
                dynamic_axes: dict | None = None) -> None:
    net = net.eval()  # the exporter restores the wrapper's mode afterwards: keep it eval
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; parity is the real check
        torch.onnx.export(net, example, str(file), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes=dynamic_axes, do_constant_folding=True)


# ----------------------------------------------------------------------------- real windows

@dataclass
class RealWindows:
    """Real windows to check an export with, one per key: `imu` (n, imu_steps, 6) float32,
    `visual` the model's camera input (None for IMU-only models) and, for "features" models,
    `images` (n, frames, 3, 112, 112) the backbone's input images."""

    keys: list[str]
    imu: np.ndarray                     # (n, imu_steps, 6)
    visual: np.ndarray | None           # (n, ...) model camera input (None for IMU-only models)
    images: np.ndarray | None = None    # (n, frames, 3, 112, 112) backbone images ("features" models)


def _spread(items: list, n: int) -> list:
    idx = np.unique(np.linspace(0, len(items) - 1, min(n, len(items))).round().astype(int)) if items else []
    return [items[i] for i in idx]


def _pick(items: list, preferred: list[str], n: int, key=lambda s: s.key) -> list:
    """n items: spread over the preferred keys (the test split) first, topped up from the rest."""
    wanted = set(preferred)
    first = _spread([s for s in items if key(s) in wanted], n)
    return first + _spread([s for s in items if key(s) not in wanted], n - len(first))


def _raw_clips(root: Path, spec: InputSpec, preferred: list[str], n: int, camera: bool) -> list[tuple]:
    """[(key, raw IMU, raw camera clip or None)]: UTD-MHAD clips, or windows of recorded sessions."""
    if is_sessions_folder(root):
        return raw_windows(root, spec, lambda keys: _pick(keys, preferred, n, key=str))
    _, sequences = utd_mhad.scan(root, ("inertial", spec.source))
    return [(seq.key, utd_mhad.load(seq, "inertial"), utd_mhad.load(seq, spec.source) if camera else None)
            for seq in _pick(sequences, preferred, n)]


def real_windows(folder, config: dict, dataset=None, clips: int = 4, camera: bool = True, backbone=None) -> RealWindows:
    """Clips of the model's dataset (UTD-MHAD clips or recorded sessions' windows), preprocessed
    exactly as training/prepare.py does (camera inputs only with `camera`; "features" models
    need the frozen `backbone` for them).

    Raises:
        C3tError: when the model's dataset folder is not there (pass --dataset), or gives no complete
            window
    """
    root = Path(dataset or config.get("dataset") or "")
    if not root.is_dir():
        raise C3tError(f"the parity check needs real windows but the model's dataset {str(root)!r} is not there: "
                       "pass --dataset DIR (a folder in the layout the model was trained on)")
    spec = InputSpec(**config["inputs"])
    kind = config["model"]["visual_input"]
    split = Path(folder) / SPLIT_FILE
    preferred = read_json(split).get("test", []) if split.exists() else []
    chosen = _raw_clips(root, spec, preferred, clips, camera)
    imu, visual, images = [], [], []
    for _, raw_imu, raw in chosen:
        imu.append(preprocess.imu_input(raw_imu, spec.imu_steps))
        if not camera:
            continue
        if kind == "sequence":
            visual.append(preprocess.skeleton_input(raw, spec.skeleton_steps))
        elif kind == "frames":
            visual.append(preprocess.frames_input(raw, spec, spec.frame_size))
        else:
            img = as_backbone_images(preprocess.frames_input(raw, spec, IMAGE_SIZE)).astype(np.float32)
            images.append(img)
            with torch.inference_mode():
                visual.append(backbone(torch.from_numpy(img)).numpy())
    return RealWindows([key for key, _, _ in chosen], np.stack(imu).astype(np.float32),
                       np.stack(visual).astype(np.float32) if visual else None, np.stack(images) if images else None)


# ----------------------------------------------------------------------------- parity

def run_onnx(session, feeds: dict) -> list[np.ndarray]:
    """One onnxruntime call (a function of its own so tests can corrupt its output)."""
    return session.run(None, feeds)


def check_parity(model, files: dict[str, Path], windows: RealWindows, outputs: dict[str, list[str]]) -> dict:
    """{path: {"max_prob_diff", "max_attention_diff"}} over the windows, ONNX vs torch.

    With a backbone the ONNX side starts from the images (backbone.onnx, then the path's
    graph); the torch side starts from the torch backbone's features in `windows.visual`."""
    sessions = {p: onnx_session(f, threads=1) for p, f in files.items()}
    onnx_visual = windows.visual
    result = {}
    if "backbone" in sessions:
        onnx_visual = np.stack([run_onnx(sessions["backbone"], {"images": im})[0] for im in windows.images])
        result["backbone"] = {"max_feature_diff": float(np.abs(onnx_visual - windows.visual).max())}
    for path in (p for p in files if p != "backbone"):
        prob_diffs, att_diffs = [0.0], [0.0]
        for i in range(len(windows.keys)):
            feeds = {"imu": windows.imu[i : i + 1], "visual": None if onnx_visual is None else onnx_visual[i : i + 1]}
            out = dict(zip(outputs[path], run_onnx(sessions[path], {k: feeds[k] for k in path_inputs(path)})))
            ref = {"imu": windows.imu, "visual": windows.visual}
            with torch.inference_mode():
                probs, att = model(**{k: torch.from_numpy(ref[k][i : i + 1]) for k in path_inputs(path)})
            prob_diffs.append(np.abs(out["probs"] - probs.numpy()).max())
            if att is not None:
                att_diffs.append(np.abs(out["attention"] - att.numpy()).max())
        # np.max, not max(): a NaN anywhere must make the result NaN (and fail the check)
        result[path] = {"max_prob_diff": float(np.max(prob_diffs)), "max_attention_diff": float(np.max(att_diffs))}
    return result


# ----------------------------------------------------------------------------- export

def export_model(folder, dataset=None, clips: int = 4, log=print) -> dict:
    """Write the ONNX files and export.json into `folder`.

    Raises:
        C3tError: when the model cannot be exported or the ONNX graphs differ from torch beyond the
            tolerance (nothing is written then), or the parity check's windows cannot be read
    """
    folder = Path(folder)
    model, config = load_model(folder)
    model.requires_grad_(False)
    shapes = input_shapes(config)
    paths = model_paths(model.cfg.to_dict())
    kind = model.cfg.visual_input
    spec = InputSpec(**config["inputs"])
    backbone = load_backbone(spec.backbone).eval() if kind == "features" and "camera" in paths else None
    windows = real_windows(folder, config, dataset, clips, camera="camera" in paths, backbone=backbone)
    outputs = {}
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=folder))
    try:
        files = {}
        for path in paths:
            names = list(path_inputs(path))
            example = tuple(torch.from_numpy(getattr(windows, n)[:1].copy()) for n in names)
            files[path] = tmp / PATH_FILES[path]
            net = PathNet(model, path)
            outputs[path] = output_names(net, example)
            _write_onnx(net, example, files[path], names, outputs[path])
            log(f"  {PATH_FILES[path]}: {', '.join(f'{n} {list(shapes[n])}' for n in names)} -> {', '.join(outputs[path])}")
        if backbone is not None:
            files["backbone"] = tmp / BACKBONE_FILE
            _write_onnx(backbone, (torch.from_numpy(windows.images[0]),), files["backbone"], ["images"], ["features"],
                        dynamic_axes={"images": {0: "frames"}, "features": {0: "frames"}})
            log(f"  {BACKBONE_FILE}: {spec.backbone}, images [frames, 3, {IMAGE_SIZE}, {IMAGE_SIZE}] -> features")
        parity = check_parity(model, files, windows, outputs)
        worst = {p: max(d.values()) for p, d in parity.items() if p != "backbone"}
        tolerance = {p: parity_tolerance([PathNet(model, p)] + ([backbone] if backbone is not None and p != "imu" else []))
                     for p in worst}
        failed = {p: w for p, w in worst.items() if not w < tolerance[p]}  # NaN fails too
        if "backbone" in parity:
            log(f"  parity backbone max |d feature| {parity['backbone']['max_feature_diff']:.2e} (informative; probabilities decide)")
        for p, d in ((p, d) for p, d in parity.items() if p != "backbone"):
            log(f"  parity {p:6s} max |dp| {d['max_prob_diff']:.2e}  max |d attention| {d['max_attention_diff']:.2e}"
                f" over {len(windows.keys)} clips (tolerance {tolerance[p]:.1e})")
        if failed:
            p, w = next(iter(failed.items()))
            raise C3tError(f"ONNX parity check failed for the {p} path of {folder}: onnxruntime and torch differ by "
                           f"{w:.3g} (tolerance {tolerance[p]:.2g}) on clips {', '.join(windows.keys)}; nothing was written. "
                           "Check the onnxruntime and torch versions, or run the model with --backend torch")
        record = {
            "format": EXPORT_FORMAT,
            "version": 1,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "opset": OPSET,
            "torch": torch.__version__,
            "onnxruntime": _ort_version(),
            "weights_sha1": weights_digest(folder),
            "paths": {p: {"file": PATH_FILES[p], "inputs": {n: list(shapes[n]) for n in path_inputs(p)},
                          "outputs": outputs[p], **parity[p]} for p in paths},
            "backbone": None if backbone is None else {
                "file": BACKBONE_FILE, "name": spec.backbone,
                "inputs": {"images": ["frames", 3, IMAGE_SIZE, IMAGE_SIZE]}, "outputs": ["features"], **parity["backbone"]},
            "parity": {"tolerance": tolerance, "clips": windows.keys},
        }
        for f in files.values():
            os.replace(f, folder / f.name)
        write_json_atomic(folder / EXPORT_FILE, record)
        logging.getLogger(__name__).info("%s: exported %s and %s", folder, ", ".join(f.name for f in files.values()),
                                         EXPORT_FILE)   # `log` here is the progress printer parameter
        for name in set(PATH_FILES.values()) | {BACKBONE_FILE}:  # left by an export of an earlier model here
            if (folder / name).exists() and not any(f.name == name for f in files.values()):
                (folder / name).unlink()
        return record
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
