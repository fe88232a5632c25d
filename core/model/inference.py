"""Run a model folder on single windows: onnxruntime on the exported files, or eager torch.

An engine answers three questions for one window (batch of 1):

    engine.run(path, imu=..., visual=...) -> (probs (K,), attention (t_rec,) or None)
    engine.features(images (N, 3, 112, 112) in 0..1) -> (N, D)     "features" models only
    engine.paths                          -> the inference paths the model has

Paths: "imu" (f2 + h), "camera" (f1 + h; for "features" models fed with backbone features)
and "fusion" (both). Inputs are preprocessed windows exactly as training saw them (the
normalisation is inside the networks). `open_engine(folder)` picks onnxruntime when the
folder has an up-to-date export, torch otherwise, and says why in `engine.note`.

The export's file names and its record, export.json, are defined here so that the writer
(c3t.training.export) and every reader agree.
"""
from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model.folder import EXPORT_FILE, WEIGHTS_FILE
from c3t.core.streams.window import InputSpec

log = logging.getLogger(__name__)

EXPORT_FORMAT = "c3t-onnx"
PATH_FILES = {"imu": "imu.onnx", "camera": "camera.onnx", "fusion": "fusion.onnx"}
BACKBONE_FILE = "backbone.onnx"
BACKENDS = ("auto", "onnxruntime", "torch")


def model_paths(model: dict) -> tuple[str, ...]:
    """Inference paths ("imu", "camera", "fusion") a model supports, from its config.json "model"
    (ModelConfig) fields: the supervised single-modality baselines have their one, early and
    attention fusion only "fusion", every other model all three."""
    method = model["method"]
    if method in ("supervised-imu", "supervised-visual"):
        return ("imu",) if method == "supervised-imu" else ("camera",)
    if method == "supervised-fusion" and model.get("fusion", "feature") in ("early", "attention"):
        return ("fusion",)
    return ("imu", "camera", "fusion")


def path_inputs(path: str) -> tuple[str, ...]:
    """The inputs an inference path takes: "imu" -> ("imu",), "camera" -> ("visual",),
    "fusion" -> both. Raises KeyError for another path."""
    return {"imu": ("imu",), "camera": ("visual",), "fusion": ("imu", "visual")}[path]


def weights_digest(folder) -> str:
    """SHA-1 of weights.pt: an export records it, so a retrained folder's stale ONNX is caught."""
    h = hashlib.sha1()
    with open(Path(folder) / WEIGHTS_FILE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_export(folder) -> dict:
    """The folder's export.json, checked against its files and weights; C3tError says what to run.

    Raises:
        C3tError: when export.json is missing, not valid JSON or not a c3t export record, a file it
            lists is missing, or the ONNX files were exported from other weights (each message says to
            run `c3t export` again)
    """
    folder = Path(folder)
    record = folder / EXPORT_FILE
    if not record.exists():
        raise C3tError(f"{folder} has no ONNX export ({EXPORT_FILE} is missing): run `c3t export --model {folder}`")
    try:
        export = json.loads(record.read_text())
    except json.JSONDecodeError as exc:
        raise C3tError(f"{record} is not valid JSON ({exc}): run `c3t export --model {folder}` again") from exc
    if export.get("format") != EXPORT_FORMAT:
        raise C3tError(f"{record} is not a c3t ONNX export record: run `c3t export --model {folder}` again")
    files = [p["file"] for p in export["paths"].values()] + ([export["backbone"]["file"]] if export.get("backbone") else [])
    missing = [f for f in files if not (folder / f).exists()]
    if missing:
        raise C3tError(f"{folder / missing[0]} is missing although {EXPORT_FILE} lists it: run `c3t export --model {folder}` again")
    if export.get("weights_sha1") != weights_digest(folder):
        raise C3tError(f"the ONNX files in {folder} were exported from other weights (the model was retrained since): "
                       f"run `c3t export --model {folder}` again")
    return export


class Engine(ABC):
    """Common interface; see the module docstring."""

    backend: str = ""
    note: str = ""  # why this backend was chosen, when it was not the one asked for

    def __init__(self, config: dict):
        self.config = config
        self.classes: list[str] = list(config["classes"])
        self.method: str = config["model"]["method"]
        self.visual_input: str = config["model"]["visual_input"]
        self.backbone_name: str | None = InputSpec.from_dict(config["inputs"]).backbone \
            if self.visual_input == "features" else None

    @property
    def paths(self) -> tuple[str, ...]:
        """The inference paths this model's method supports (see `model_paths`)."""
        return model_paths(self.config["model"])

    def _check_path(self, path: str) -> None:
        if path not in self.paths:
            raise C3tError(f"a {self.method} model has no {path} path (it has {', '.join(self.paths)})")

    @abstractmethod
    def run(self, path: str, imu: np.ndarray | None = None, visual: np.ndarray | None = None):
        """(probs (K,), attention (t_rec,) or None) for one window; inputs have batch 1."""

    @abstractmethod
    def features(self, images: np.ndarray) -> np.ndarray:
        """Frozen-backbone features (N, D) of images (N, 3, 112, 112) in 0..1."""


class TorchEngine(Engine):
    """Runs the model folder's weights.pt in eager torch (CPU, inference mode); the frozen
    backbone is loaded on the first `features` call."""

    backend = "torch"

    def __init__(self, folder):
        from c3t.core.model.folder import load_model

        self.model, config = load_model(folder)
        super().__init__(config)
        self._backbone = None

    def run(self, path, imu=None, visual=None):
        """Run the torch model on one window; see `Engine.run`. Raises C3tError for a path the
        model does not have."""
        import torch

        self._check_path(path)
        with torch.inference_mode():
            probs, att = self.model(
                imu=torch.from_numpy(imu) if "imu" in path_inputs(path) else None,
                visual=torch.from_numpy(visual) if "visual" in path_inputs(path) else None,
            )
        return probs[0].numpy(), (None if att is None else att[0].numpy())

    def features(self, images):
        """Frozen-backbone features (N, D) float32 of images (N, 3, 112, 112) in 0..1, in torch.

        Raises:
            C3tError: when the model does not take backbone features
        """
        import torch

        if self.backbone_name is None:
            raise C3tError(f"this model takes {self.visual_input} camera input, not frozen-backbone features")
        if self._backbone is None:
            from c3t.core.model.backbones import load_backbone

            self._backbone = load_backbone(self.backbone_name)
        with torch.inference_mode():
            return self._backbone(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))).numpy()


def onnx_session(file, threads: int = 1):
    """An onnxruntime CPU session; single-threaded by default (small graphs run fastest so,
    and it leaves the other cores to the camera and the GUI).

    Raises:
        C3tError: when onnxruntime cannot load `file` (damaged or from another opset: run `c3t export`
            again)
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise C3tError(f"onnxruntime cannot load {file} ({exc}): run `c3t export` again") from exc


class OnnxEngine(Engine):
    """Runs the folder's ONNX export with onnxruntime on the CPU: one session per inference
    path, plus the backbone's when the model takes features. Raises C3tError when the folder has
    no c3t config.json or its export is missing or stale (see `read_export`)."""

    backend = "onnxruntime"

    def __init__(self, folder, threads: int = 1, backbone_threads: int = 1):
        from c3t.core.model.folder import read_model_config

        folder = Path(folder)
        super().__init__(read_model_config(folder))
        self.export = read_export(folder)
        self._sessions = {p: onnx_session(folder / info["file"], threads) for p, info in self.export["paths"].items()}
        self._outputs = {p: info["outputs"] for p, info in self.export["paths"].items()}
        backbone = self.export.get("backbone")
        self._backbone = onnx_session(folder / backbone["file"], backbone_threads) if backbone else None

    @property
    def paths(self):
        """The method's inference paths that the export actually has files for."""
        return tuple(p for p in model_paths(self.config["model"]) if p in self._sessions)

    def run(self, path, imu=None, visual=None):
        """Run the path's ONNX graph on one window; see `Engine.run`. Raises C3tError for a
        path the model or its export does not have."""
        self._check_path(path)
        feeds = {"imu": imu, "visual": visual}
        out = self._sessions[path].run(None, {name: feeds[name] for name in path_inputs(path)})
        named = dict(zip(self._outputs[path], out))
        att = named.get("attention")
        return named["probs"][0], (None if att is None else att[0])

    def features(self, images):
        """Frozen-backbone features (N, D) float32 of images (N, 3, 112, 112) in 0..1, from the
        exported backbone.onnx.

        Raises:
            C3tError: when the model does not take backbone features
        """
        if self._backbone is None:
            raise C3tError(f"this model takes {self.visual_input} camera input, not frozen-backbone features")
        return self._backbone.run(None, {"images": np.ascontiguousarray(images, dtype=np.float32)})[0]


def open_engine(folder, backend: str = "auto", threads: int = 1) -> Engine:
    """onnxruntime on the folder's export, or torch. "auto" prefers onnxruntime and falls back
    to torch when there is no usable export or onnxruntime is missing (engine.note says why).

    Raises:
        C3tError: for a backend not in BACKENDS, "onnxruntime" asked for where it is not installed or
            the folder has no usable export, and a folder that is not a loadable model.
    """
    if backend not in BACKENDS:
        raise C3tError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if backend == "torch":
        return TorchEngine(folder)
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        if backend == "onnxruntime":
            raise C3tError("onnxruntime is not installed: pip install onnxruntime, or use --backend torch") from exc
        engine = TorchEngine(folder)
        engine.note = "onnxruntime is not installed; running torch"
        return engine
    try:
        return OnnxEngine(folder, threads)
    except C3tError as exc:
        if backend == "onnxruntime":
            raise
        engine = TorchEngine(folder)
        engine.note = f"running torch: {exc}"
        log.info("%s: %s", folder, engine.note)
        return engine
