"""One-click retraining: selected recorded sessions -> a new model version, in a worker process.

    store = ModelStore("models/")
    job = RetrainJob(RetrainRequest(sessions=[...], method="c3t"), store)
    events = job.poll()      # from a GUI timer, until one event is done / cancelled / error; job.cancel() stops it
    store.activate(store.versions()[0])           # the app runs the active version

`retrain(request, store)` does the same in the calling process (`c3t demo`, scripts).

A retrain prepares the sessions' windows (training/session_dataset.py: camera labels -> D_HAR, unlabelled
time -> D_Align, check labels -> D_Val / D_Test), fits CA or C3T, scores the IMU on the checking
windows, saves a model folder and exports ONNX with its parity check. The version is written
under a hidden staging name and renamed only at the end: a cancelled or failed job leaves no
version behind. A version keeps links to the sessions it was trained on in `sessions/`, its
dataset, so `c3t eval` and `c3t export` work on it as on any model folder.

Events (dicts from RetrainJob.poll, or passed to `report`):
    {"kind": "phase", "phase": "prepare" | "combined" | "align" | "har" | ... | "evaluate" | "export",
     "fraction": 0..1 within the phase, "seconds_left" (cutting: this phase's; training: every
     training phase's), and in training phases "epoch", "epochs", "loss", "val_top1" (None
     without D_Val) and "align_loss" (D_Align's alignment loss, no labels; in phases that align)}
    {"kind": "log", "text"}                      a line of the export's report
    {"kind": "done", "version": path, "metrics": {...}}             see `checking_metrics`
    {"kind": "cancelled"}                        nothing was written
    {"kind": "error", "message", "detail"?}      C3tError text verbatim; else a short line + traceback
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import re
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from c3t.core.atomic_file import write_json_atomic
from c3t.core.errors import C3tError
from c3t.core.model.folder import CONFIG_FILE, EXPORT_FILE, METRICS_FILE, WEIGHTS_FILE
from c3t.core.model.folder import FORMAT as MODEL_FORMAT
from c3t.core.options import COLOUR_INPUTS, SCHEDULES, SESSION_VISUAL, default_backbone, defaults_for
from c3t.core.processes import living_after
from c3t.core.session.format import find_sessions

if TYPE_CHECKING:
    from c3t.training.session_dataset import Windowing

log = logging.getLogger(__name__)

RETRAIN_METHODS = ("c3t", "ca")
ACTIVE_FILE = "active.json"
STAGING = ".staging-"          # prefix of a version being written
SESSION_LINKS = "sessions"     # inside a version: links to the sessions it was trained on
VERSION_NAME = re.compile(r"^v(\d{3,})-([a-z0-9-]+)-(\d{8}-\d{6})$")
PHASE_WORDS = {"prepare": "cutting windows", "evaluate": "evaluating", "export": "exporting"}


def phase_words(phase: str) -> str:
    """A retraining phase as the user reads it: "cutting windows", "training: combined", "exporting"."""
    return PHASE_WORDS.get(phase, f"training: {phase}")


NO_CHECKING = "no checking (IMU-labelled) sessions selected: the IMU could not be scored; record a session with --check"


@dataclass
class RetrainRequest:
    """What to retrain on and how; checked on construction (C3tError names what is wrong)."""

    sessions: list[Path]
    method: str = "c3t"
    schedule: str | None = None      # default: the method's (core/options.py)
    base: Path | None = None         # a folder of sessions added to the training data
    epochs: int | None = None        # default: the method's
    seed: int = 0
    visual: str | None = None        # camera input, "rgb" or "motion" (default: defaults.SESSION_VISUAL)
    backbone: str | None = None      # default: the camera input's (defaults.default_backbone)
    cache: Path | None = None        # window / feature cache (default ~/.cache/c3t)
    windowing: Windowing | None = None   # how sessions are cut (default: Windowing's defaults)

    def __post_init__(self):
        if self.method not in RETRAIN_METHODS:
            raise C3tError(f"retraining supports the methods {RETRAIN_METHODS}, not {self.method!r}")
        self.visual = self.visual or SESSION_VISUAL
        if self.visual not in COLOUR_INPUTS:
            raise C3tError(f"recorded sessions hold colour video: the camera input is rgb or motion, not {self.visual!r}")
        self.schedule = defaults_for(self.method, self.visual, schedule=self.schedule).schedule
        self.backbone = self.backbone or default_backbone(self.visual)
        if self.schedule not in SCHEDULES:
            raise C3tError(f"unknown schedule {self.schedule!r}; expected one of {SCHEDULES}")
        if self.epochs is not None and self.epochs < 1:
            raise C3tError(f"epochs must be at least 1, not {self.epochs}")
        self.sessions = [Path(p) for p in self.sessions]
        self.base = None if self.base is None else Path(self.base)
        if not self.sessions:
            raise C3tError("no sessions selected: select recorded sessions to retrain on")
        self.session_folders()   # fails early on a folder that is not a session

    def session_folders(self) -> list[Path]:
        """Every session to train on: the selected ones (a folder of sessions counts as its
        sessions), then the base folder's, without duplicates.

        Raises:
            C3tError: for a selected folder that holds no recorded session, a base folder that is a
                UTD-MHAD dataset (no colour video) or holds no sessions
        """
        found = []
        for p in self.sessions:
            if not find_sessions(p):
                raise C3tError(f"{p} is not a recorded session (no c3t manifest.json in it or below it): "
                               "select session folders written by `c3t record` or the app")
            found += find_sessions(p)
        if self.base is not None:
            if (self.base / "Inertial").is_dir():   # UTD-MHAD's layout
                raise C3tError(f"{self.base} is a UTD-MHAD folder: it has no RGB video (only depth, skeleton and "
                               "inertial data), and a retrained model's camera side reads colour frames, so it cannot "
                               "be added to recorded sessions. Choose a folder of recorded sessions as the base, or "
                               f"train on UTD-MHAD alone with `c3t train --dataset {self.base}`")
            if not find_sessions(self.base):
                raise C3tError(f"base dataset {self.base} holds no recorded sessions: choose a folder of sessions")
            found += find_sessions(self.base)
        unique = {p.resolve(): p for p in found}
        return list(unique.values())


# ----------------------------------------------------------------------------- the store

@dataclass
class ModelVersion:
    """One model folder in a ModelStore: its name, when and how it was trained, its classes, its IMU
    top-1 on the checking sessions, whether it is active or has an ONNX export, and why it is broken if so."""
    path: Path
    name: str
    created: str | None = None
    method: str | None = None
    schedule: str | None = None
    classes: list[str] = field(default_factory=list)
    imu_top1: float | None = None    # on the checking sessions; None when none were selected
    active: bool = False
    onnx: bool = False               # has an ONNX export (the live predictor's fast path)
    broken: str | None = None        # why the folder is not a usable model; None when it is


class ModelStore:
    """A folder of model versions, root/vNNN-METHOD-YYYYmmdd-HHMMSS/, and root/active.json."""

    def __init__(self, root):
        self.root = Path(root)

    def versions(self) -> list[ModelVersion]:
        """Every version, newest first; folders that are not usable models come back `broken`."""
        if not self.root.is_dir():
            return []
        active = self.active()
        found = [self._read(p, active) for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]

        def newest(v: ModelVersion):
            """Sort key: the version number, then the creation time and the name."""
            m = VERSION_NAME.match(v.name)
            return (int(m.group(1)) if m else -1, v.created or "", v.name)
        return sorted(found, key=newest, reverse=True)

    def _read(self, path: Path, active: Path | None) -> ModelVersion:
        v = ModelVersion(path=path, name=path.name, active=active == path)
        try:
            config = json.loads((path / CONFIG_FILE).read_text())
            if config.get("format") != MODEL_FORMAT:
                raise ValueError(f"format {config.get('format')!r}, not {MODEL_FORMAT!r}")
            v.created, v.classes = config.get("created"), list(config["classes"])
            v.method, v.schedule = config["model"]["method"], config.get("training", {}).get("schedule")
        except FileNotFoundError:
            v.broken = "no config.json: not a model folder (or an incomplete one)"
            return v
        except (OSError, ValueError, KeyError, TypeError) as exc:
            v.broken = f"config.json is damaged ({type(exc).__name__}: {exc})"
            return v
        if not (path / WEIGHTS_FILE).is_file():
            v.broken = "weights.pt is missing"
        v.onnx = (path / EXPORT_FILE).is_file()
        try:
            metrics = json.loads((path / METRICS_FILE).read_text())
            checking = metrics.get("checking")
            v.imu_top1 = checking["imu_top1"] if checking else metrics["test"]["imu"]["top1"]
        except (OSError, ValueError, KeyError, TypeError):
            pass   # no score to show
        return v

    def active(self) -> Path | None:
        """The active version's folder, or None (none chosen, or it is gone)."""
        try:
            name = json.loads((self.root / ACTIVE_FILE).read_text())["version"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        path = self.root / str(name)
        return path if path.is_dir() and path.parent == self.root else None

    def activate(self, version) -> Path:
        """Make a version (a ModelVersion, its folder or its name) the active one.

        Raises:
            C3tError: for a folder that is not a version of this store, or a broken version
        """
        path = version.path if isinstance(version, ModelVersion) else Path(version)
        path = path if path.is_absolute() or path.parent != Path(".") else self.root / path
        if path.resolve().parent != self.root.resolve():
            raise C3tError(f"{path} is not a version in the model store {self.root}")
        v = self._read(path, None)
        if v.broken:
            raise C3tError(f"cannot activate {path.name}: {v.broken}; retrain or choose another version")
        write_json_atomic(self.root / ACTIVE_FILE, {"version": path.name, "activated": time.strftime("%Y-%m-%dT%H:%M:%S")})
        log.info("model store %s: %s is active", self.root, path.name)
        return path

    def new_version_path(self, method: str) -> Path:
        """The next version's folder (not created): numbers count staging folders too."""
        names = [p.name.removeprefix(STAGING) for p in self.root.iterdir()] if self.root.is_dir() else []
        numbers = [int(m.group(1)) for m in map(VERSION_NAME.match, names) if m]
        return self.root / f"v{max(numbers, default=0) + 1:03d}-{method}-{time.strftime('%Y%m%d-%H%M%S')}"

    def reserve(self, method: str) -> tuple[Path, Path]:
        """(staging folder, created now; final version folder) for a new version.

        Raises:
            C3tError: when the models folder cannot be written (before any training)
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            while True:
                target = self.new_version_path(method)
                try:
                    (self.root / (STAGING + target.name)).mkdir()
                    return self.root / (STAGING + target.name), target
                except FileExistsError:   # another job took this number a moment ago
                    time.sleep(0.01)
        except OSError as exc:
            raise C3tError(f"the models folder {self.root} cannot be written ({exc.strerror or exc}); "
                           "choose another models folder") from None


# ----------------------------------------------------------------------------- the work

def _link_sessions(folders: list[Path], into: Path) -> None:
    """The sessions, wherever they are, as one sessions folder of symbolic links (names made unique)."""
    into.mkdir()
    for folder in folders:
        name, k = folder.name, 1
        while (into / name).exists():
            k += 1
            name = f"{folder.name}-{k}"
        try:
            (into / name).symlink_to(folder.resolve(), target_is_directory=True)
        except OSError as exc:
            raise C3tError(f"cannot link session {folder} into {into} ({exc}): the model store's file system "
                           "must allow symbolic links (on Windows, enable Developer Mode)") from exc


def checking_metrics(model, data, split, fit_metrics: dict) -> dict:
    """The "done" event's metrics: IMU (and camera) top-1 and the IMU confusion matrix over every
    checking window (D_Val + D_Test), with class names, train seconds, split sizes, the selection
    rule used (and why, when it is not the one asked for), the selection check's warning ("" when
    the rules agree) and the epochs early stopping ended phases at."""
    import numpy as np

    from c3t.training.evaluate import evaluate

    idx = np.concatenate([split["val"], split["test"]])
    info = fit_metrics["train_info"]
    out = {"classes": list(data.classes), "checking_windows": int(len(idx)), "train_seconds": fit_metrics["train_seconds"],
           "sizes": fit_metrics["sizes"], "imu_top1": None, "imu_confusion": None, "camera_top1": None,
           "fusion_top1": None, "selection": info.get("selection"),
           "selection_warning": (fit_metrics.get("selection_check") or {}).get("warning", ""),
           "early_stopped_at_epoch": info.get("early_stopped_at_epoch")}
    if len(idx) == 0:
        return {**out, "note": NO_CHECKING}
    imu = evaluate(model, data.imu[idx], data.visual[idx], data.labels[idx], "imu")
    camera = evaluate(model, data.imu[idx], data.visual[idx], data.labels[idx], "visual")
    fusion = evaluate(model, data.imu[idx], data.visual[idx], data.labels[idx], "fusion")
    return {**out, "imu_top1": imu["top1"], "imu_confusion": imu["confusion"], "camera_top1": camera["top1"],
            "fusion_top1": fusion["top1"]}


def build_version(request: RetrainRequest, staging: Path, target: Path, report, cancel) -> dict:
    """Prepare -> fit -> evaluate -> save -> export into `staging`, then rename it to `target`.
    The caller removes `staging` on failure.

    Raises:
        Cancelled: (training/methods.py) when `cancel` is set
        C3tError: as preparing, training or saving does
    """
    from c3t.training.export import export_model
    from c3t.training.methods import Cancelled
    from c3t.core.options import STREAM_HOP_S
    from c3t.training.decision_rule import choose_and_store
    from c3t.training.pipeline import fit_and_save
    from c3t.training.session_dataset import prepare_sessions

    def phase(name: str, fraction: float, **more) -> None:
        """Report a phase and its fraction done (0..1) as an event; raises Cancelled once `cancel` is set."""
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        report({"kind": "phase", "phase": name, "fraction": float(fraction), **more})

    phase("prepare", 0.0)
    links = staging / SESSION_LINKS
    _link_sessions(request.session_folders(), links)
    cutting = time.monotonic()

    def cut(done: int, total: int, name: str) -> None:
        """Report one more session cut, with the cutting's time left at the pace so far."""
        spent = time.monotonic() - cutting
        phase("prepare", done / total, session=name, seconds_left=spent / done * (total - done))

    try:
        data = prepare_sessions(links, request.visual, request.backbone, request.cache, progress=False,
                                windowing=request.windowing, on_session=cut)
    except C3tError as exc:   # name what the user selected, not the staging folder
        message = str(exc).replace(f"the sessions in {links}", "the selected sessions")
        raise C3tError(message.replace(f" in {links}", " in the selected sessions")) from exc

    def on_epoch(info: dict) -> None:
        """Report one training epoch (loss, validation top-1, alignment loss, time left) as a phase event."""
        phase(info["phase"], info["epoch"] / info["epochs"], epoch=info["epoch"], epochs=info["epochs"],
              loss=info["loss"], val_top1=info["val_top1"], align_loss=info.get("align_loss"),
              seconds_left=info.get("seconds_left"))

    def checking(model, split, fit_metrics) -> dict:
        """Score the trained model on the checking sessions, after reporting the evaluate phase."""
        phase("evaluate", 0.0)
        return checking_metrics(model, data, split, fit_metrics)

    cfg = defaults_for(request.method, request.visual, schedule=request.schedule, epochs=request.epochs, seed=request.seed)
    model, fit_metrics, _, split = fit_and_save(data, cfg, staging, target / SESSION_LINKS, checking=checking,
                                                progress=on_epoch, cancel=cancel, require_checking=False)
    metrics = fit_metrics["checking"]
    chosen = choose_and_store(staging, model, data, split, STREAM_HOP_S)   # the live decision rule, on D_Val streams
    if chosen:
        fit_metrics["decision"] = metrics["decision"] = chosen
    phase("export", 0.0)
    try:
        export_model(staging, dataset=links, log=lambda line: report({"kind": "log", "text": line.strip()}))
        metrics["onnx"] = {"used": True}
    except Exception as exc:   # the trained weights are kept: the version runs on torch instead
        if isinstance(exc, Cancelled):
            raise
        reason = str(exc) if isinstance(exc, C3tError) else f"{type(exc).__name__}: {exc}"
        metrics["onnx"] = {"used": False, "reason": reason}
        report({"kind": "log", "text": f"ONNX export failed, so this version runs with the torch backend: {reason}"})
    write_json_atomic(staging / METRICS_FILE, fit_metrics)   # with checking.onnx
    phase("export", 1.0)
    os.replace(staging, target)
    log.info("model version %s written", target)
    return metrics


def retrain(request: RetrainRequest, store: ModelStore, report=None, cancel=None) -> tuple[Path, dict]:
    """Retrain in this process; returns (the new version's folder, its metrics)."""
    staging, target = store.reserve(request.method)
    try:
        return target, build_version(request, staging, target, report or (lambda event: None), cancel)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _worker(request: RetrainRequest, staging: str, target: str, events, cancel) -> None:
    """The child process: runs build_version and always ends with one done / cancelled / error event."""
    import torch

    from c3t.training.methods import Cancelled

    # as many threads as the cores other processes leave idle when training starts (fit's
    # threads_for_load): the GUI's live view, when it runs, keeps a core busy and is left it; an
    # idle GUI waiting on this job is not
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        metrics = build_version(request, Path(staging), Path(target), events.put, cancel)
        events.put({"kind": "done", "version": target, "metrics": metrics})
    except Cancelled:
        events.put({"kind": "cancelled"})
    except C3tError as exc:
        events.put({"kind": "error", "message": str(exc)})
    except Exception as exc:
        events.put({"kind": "error", "message": f"retraining failed: {type(exc).__name__}: {exc}",
                    "detail": traceback.format_exc()})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class RetrainJob:
    """A retrain in a spawned worker process (the GUI's thread, Qt state and GIL stay untouched)."""

    TERMINAL = ("done", "cancelled", "error")

    def __init__(self, request: RetrainRequest, store: ModelStore, grace_s: float = 3.0, start: bool = True):
        self.request, self.store, self.grace_s = request, store, grace_s
        self.staging = self.target = self._process = None
        self._ended = False   # a terminal event was returned by poll
        self._closed = False  # close() released the process and its queue
        self._lock = threading.Lock()
        self._reap_lock = threading.Lock()   # see _ended_within
        if start:
            self.start()

    def start(self) -> None:
        """Reserve the version and start the worker (once; the constructor does it unless start=False).

        Raises:
            C3tError: when the job was closed
        """
        if self._process is not None:
            return
        if self._closed:
            raise C3tError("this retraining job was closed; start a new one")
        self.staging, self.target = self.store.reserve(self.request.method)
        ctx = mp.get_context("spawn")
        self._events, self._cancel = ctx.Queue(), ctx.Event()
        self._process = ctx.Process(target=_worker, name=f"c3t-retrain-{self.target.name}", daemon=True,
                                    args=(self.request, str(self.staging), str(self.target), self._events, self._cancel))
        try:
            self._process.start()
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise

    def _ended_within(self, process, timeout: float | None) -> bool:
        """Whether `process` has ended, waiting up to `timeout` s. Waits on its sentinel and reaps
        it under a lock: two threads joining one process at once race (one reaps it, the other's
        waitpid fails and reads it as alive), and the GUI timer, join() and cancel()'s thread
        all ask."""
        if living_after([process], timeout):
            return False
        with self._reap_lock:
            process.join()      # it has exited: this only collects the exit code
        return True

    @property
    def running(self) -> bool:
        """Whether the retraining process is still alive."""
        return self._process is not None and not self._ended_within(self._process, 0)

    def poll(self) -> list[dict]:
        """The events that arrived since the last call (never blocks). After the process ends,
        exactly one terminal event (done / cancelled / error) has been returned."""
        if self._process is None:
            return []
        with self._lock:
            alive = not self._ended_within(self._process, 0)
            out = self._drain()
            if not alive and not self._ended:
                out += self._drain()   # anything flushed just before the exit
                if not any(e["kind"] in self.TERMINAL for e in out):
                    shutil.rmtree(self.staging, ignore_errors=True)   # killed mid-write: leave nothing
                    out.append({"kind": "cancelled"} if self._cancel.is_set() else
                               {"kind": "error", "message": "the retraining process ended unexpectedly "
                                                            f"(exit code {self._process.exitcode}); nothing was written"})
            self._ended = self._ended or any(e["kind"] in self.TERMINAL for e in out)
            return out

    def _drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return out

    def cancel(self) -> None:
        """Ask the worker to stop (it checks between batches); terminate it after `grace_s`."""
        if self._process is None:
            return
        self._cancel.set()
        log.info("retraining into %s cancelled", self.staging)
        process = self._process

        def stop() -> None:
            """Wait `grace_s` seconds for the worker, terminate it if still alive, and remove the staging folder."""
            if not self._ended_within(process, self.grace_s):
                process.terminate()
                self._ended_within(process, 2.0)
            shutil.rmtree(self.staging, ignore_errors=True)
        threading.Thread(target=stop, name="c3t-retrain-cancel", daemon=True).start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the process to end; True when it has (or never started)."""
        if self._process is None:
            return True
        return self._ended_within(self._process, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Release the queue and the cancel event once the worker has ended (cancelling it first
        if it still runs). Their semaphores are named system objects: dropped only at interpreter
        exit, the resource tracker reports them as "leaked semaphore objects" when the app quits."""
        if self._process is None:
            return
        if self.running:
            self._cancel.set()
            if not self.join(timeout):
                self._process.terminate()
                self._ended_within(self._process, 2.0)
        with self._lock:
            self._drain()
            self._events.close()
            self._events.join_thread()
            self._events = self._cancel = None   # the last references: the semaphores are unlinked now
            self._process, self._ended, self._closed = None, True, True
