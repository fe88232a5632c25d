"""A model is a folder: config.json, weights.pt, split.json, metrics.json (and ONNX after export).

config.json holds everything needed to rebuild and feed the network: the architecture
(ModelConfig), how raw clips become inputs (resampling, crop, backbone), class names, the
training configuration and dataset, and the input normalisation (also inside the weights).
torch is imported by the functions that need it, so that `read_model_config` checks a folder
at once (a command's --model before any heavy import).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from c3t.core.atomic_file import write_json_atomic
from c3t.core.errors import C3tError

if TYPE_CHECKING:
    from c3t.core.model.networks import UmaModel

log = logging.getLogger(__name__)

FORMAT = "c3t-model"
# The files of a model folder, named here and nowhere else.
CONFIG_FILE = "config.json"     # architecture, inputs, classes, training, normalisation
WEIGHTS_FILE = "weights.pt"     # the state dict
SPLIT_FILE = "split.json"       # which clips were D_HAR / D_Align / D_Val / D_Test
METRICS_FILE = "metrics.json"   # evaluation at training time
EXPORT_FILE = "export.json"     # the ONNX export record (core/model/inference.py)


def save_model(folder, model: UmaModel, *, inputs: dict, classes: list[str], training: dict,
               dataset: str, split: dict | None = None, metrics: dict | None = None) -> Path:
    """Write `model` as a model folder (created if needed): weights.pt, config.json (format,
    creation time, ModelConfig, `inputs`, `classes`, `training`, `dataset` and the input
    normalisation), and split.json / metrics.json when given. The JSON files are replaced
    atomically. Returns the folder."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model": model.cfg.to_dict(),
        "inputs": inputs,
        "classes": classes,
        "training": training,
        "dataset": dataset,
        "normalisation": {k: v.flatten().tolist() for k, v in model.state_dict().items() if k.endswith(("_mean", "_std"))},
    }
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    write_json_atomic(folder / CONFIG_FILE, config)
    if split is not None:
        write_json_atomic(folder / SPLIT_FILE, split)
    if metrics is not None:
        write_json_atomic(folder / METRICS_FILE, metrics)
    log.info("model folder %s written (%s, %s%s%s)", folder, WEIGHTS_FILE, CONFIG_FILE,
             f", {SPLIT_FILE}" if split is not None else "", f", {METRICS_FILE}" if metrics is not None else "")
    return folder


def read_json(path: Path) -> dict:
    """One JSON file of a model folder.

    Raises:
        C3tError: when the file is missing or not valid JSON
    """
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise C3tError(f"{path} is missing") from None
    except json.JSONDecodeError as exc:
        raise C3tError(f"{path} is not valid JSON ({exc}); the model folder is damaged, retrain it") from exc


def read_model_config(folder, flag: str | None = None) -> dict:
    """The config.json of the model folder `folder` as a dict, without importing torch.

    Raises:
        C3tError: naming `flag` (e.g. "--model") when given, when the folder or its config.json is
            missing or the config is not a c3t model config
    """
    folder = Path(folder)
    named = f"{flag} {folder}" if flag else f"model folder {folder}"
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise C3tError(f"{named} {what}: give a model folder from `c3t train` or the Train tab")
    if not (folder / CONFIG_FILE).exists():
        raise C3tError(f"{named} is not a c3t model folder: it has no config.json (a model folder is what "
                       "`c3t train ... --out NEW_FOLDER` writes)")
    config = read_json(folder / CONFIG_FILE)
    if config.get("format") != FORMAT:
        raise C3tError(f"{folder / CONFIG_FILE} is not a c3t model config (format {config.get('format')!r})")
    return config


def ensemble_members(config: dict) -> int:
    """The number of ensemble members a model folder's config.json describes (1: a single model)."""
    return config.get("model", {}).get("members", 1)


def load_model(folder) -> tuple[UmaModel, dict]:
    """(the UmaModel, or Ensemble of them, in eval mode on the CPU, its config.json as a dict)
    from a model folder.

    Raises:
        C3tError: when the folder, config.json or weights.pt is missing, the config is not a c3t model
            config, or the weights do not fit the config
    """
    import torch

    from c3t.core.model.networks import ModelConfig, build_model

    folder = Path(folder)
    config = read_model_config(folder)
    model = build_model(ModelConfig.from_dict(config["model"]))
    weights = folder / WEIGHTS_FILE
    if not weights.exists():
        raise C3tError(f"{weights} is missing: the model folder is incomplete, retrain it")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise C3tError(f"{weights} does not match {folder / CONFIG_FILE} or is damaged ({exc})") from exc
    return model.eval(), config
