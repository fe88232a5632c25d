"""`c3t bench paper`: the paper's tables on a dataset, mean and std over seeds, resumable.

A cell is one trained model (method, variant, seed). Its scores on D_Test (IMU, camera and
fusion, clean and under each test-time noise, and the IMU score under each selection rule)
are stored as OUT/RUN/cells/ID.json and the model as OUT/RUN/models/ID, where RUN is the
camera modality, plus "-PROTOCOL" for the people-wise protocols (`--protocol`); a rerun skips
cells whose JSON holds the same configuration. Several tables read the same cells (main,
modality and noise share the main methods).

Each table is written as TABLE.md / TABLE.csv (mean ± sample std (ddof=1) over seeds, and the
95% t interval of the mean) and TABLE-seeds.csv (one row per method and seed: what the
summaries are computed from; `render_table` turns such a file back into the markdown table).
"""
from __future__ import annotations

import csv
import json
import logging
import os
import signal
import time
from pathlib import Path

import numpy as np

from c3t.core.model.folder import WEIGHTS_FILE
from c3t.core.options import NOISES, REFINE_KEEP, TrainConfig, defaults_for, frame_grid
from c3t.core.processes import living_after

log = logging.getLogger(__name__)

UMA = [("ST", "st", {}), ("CA", "ca", {}), ("C3T", "c3t", {})]
NOISE_AUGMENT = 0.5   # share of training clips perturbed in the noise table's augmented rows
MAIN = [
    ("random", "random", {}),
    ("supervised IMU † (upper bound: sees IMU labels)", "supervised-imu", {}),
    ("supervised camera (camera top-1)", "supervised-visual", {}),
] + UMA
OWN_LABELS = ("supervised IMU, the new users' own labels † (their trials 1-2: the ceiling)", "supervised-imu",
              {"imu_labels": "new-users"})
OTHERS_LABEL = "supervised IMU, other people's labels † (subjects 1, 3, 5, 7)"
VIRTUAL = ("virtual IMU from the skeleton (no IMU labels)", "supervised-imu", {"imu_labels": "virtual"})
REFINE_EPOCHS = 40    # chosen on held-out training people (docs/results.md, "pseudo-label refinement")
REFINED = ("C3T + pseudo-label refinement (no IMU labels)", "c3t", {"refine_epochs": REFINE_EPOCHS})
SOFT_THRESHOLD = 0.5  # ST with soft pseudo-labels: clips the teacher gives at least this probability
ST_SOFT = (f"ST, soft pseudo-labels (teacher >= {SOFT_THRESHOLD:g} sure)", "st", {"soft_threshold": SOFT_THRESHOLD})
VIRTUAL_WEIGHT = 0.5  # C3T regularised with the virtual IMU: weight of its L_CE beside the camera's
VIRTUAL_REG = [(f"C3T regularised with virtual IMU from the skeleton (weight {VIRTUAL_WEIGHT:g}; no IMU labels)", "c3t",
                {"virtual_weight": VIRTUAL_WEIGHT}),
               ("C3T regularised with virtual IMU from the skeleton + refinement (no IMU labels)", "c3t",
                {"virtual_weight": VIRTUAL_WEIGHT, "refine_epochs": REFINE_EPOCHS})]
MEMBERS = 3   # an ensemble's members: set before any D_Test score of an ensemble was seen, not tuned
ENSEMBLE = [(f"C3T regularised with virtual IMU from the skeleton, ensemble of {MEMBERS} (no IMU labels)", "c3t",
             {"virtual_weight": VIRTUAL_WEIGHT, "members": MEMBERS}),
            (f"C3T regularised with virtual IMU from the skeleton + refinement, ensemble of {MEMBERS} (no IMU labels)", "c3t",
             {"virtual_weight": VIRTUAL_WEIGHT, "refine_epochs": REFINE_EPOCHS, "members": MEMBERS})]
C3T_ROW = UMA[-1]   # ("C3T", "c3t", {}): every table's C3T is the same cell, the reference of its paired column
LATENTS = (64, 128, 256, 512, 1024)   # the paper's latent sizes (Figure 5); 128 is C3T's default
ENCODER_ROWS = UMA + [(f"{label}, attention encoders", m, {"encoder": "attention"}) for label, m, _ in UMA]
FUSION_ROWS = MAIN[1:3] + [
    ("early fusion † (both inputs, step by step, into one encoder)", "supervised-fusion", {"fusion": "early"}),
    ("feature fusion † (mean of the two latents, one shared head)", "supervised-fusion", {}),
    ("late fusion † (mean of a camera and an IMU classifier's probabilities)", "supervised-fusion", {"fusion": "late"}),
    ("attention fusion † (a transformer over both modalities' t_rec latents, after HAMLET)", "supervised-fusion",
     {"fusion": "attention"}),
    C3T_ROW,
]
DEFAULT_CHOICES = [C3T_ROW] + [   # C3T: TrainConfig's schedule (combined), temperature 0.1, 80 epochs
    *[(f"C3T, {s}", "c3t", {"schedule": s}) for s in ("align-first", "har-first", "interspersed")],
    *[(f"C3T, temperature {t:g}", "c3t", {"temperature": t}) for t in (0.05, 0.2)],
    *[(f"C3T, {e} epochs", "c3t", {"epochs": e}) for e in (40, 120)],
]
BASELINES = MAIN[:3] + [
    ("supervised fusion † (upper bound: sees IMU labels)", "supervised-fusion", {}),
    ("sensor-fusion pseudo-labels (appendix)", "fusion-pl", {}),
    ("C3T", "c3t", {}),
]


def _top(modality, k="top1", noise="none"):
    def get(metrics):
        """The score `k` of `modality` under `noise` in a cell's metrics (None where absent)."""
        return metrics["noise"].get(noise, {}).get(modality, {}).get(k)
    return get


def _parameters(metrics):
    """The cell model's trainable parameter count (all of f1, f2 and h), or None for a cell stored before it was counted."""
    return (metrics.get("parameters") or {}).get("total")


def _selected(rule):
    """D_Test IMU top-1 of the state a label-free selection rule would have kept (same cell)."""
    def get(metrics):
        """D_Test IMU top-1 of the state `rule` kept in the cell's final phase; None where absent,
        and None where earlier phases chose their epoch by another rule (a refinement or a
        two-phase schedule trained with D_Val selection starts its last phase from D_Val's pick,
        so its last epoch is not label-free; #32)."""
        info = metrics.get("train_info") or {}
        phases = {h["phase"] for h in info.get("history", [])}
        continued = info.get("refined_from_start") or info.get("teacher_from_start")   # from a stored cell's pick
        if (len(phases) > 1 or continued) and (info.get("selection") or {}).get("used", "val") != rule:
            return None
        return (metrics.get("selection") or {}).get(rule, {}).get("test_imu_top1")
    return get


# table -> (rows of (label, method, variant), columns of (header, getter))
TABLES = {
    "main": (MAIN, [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")), ("IMU macro-F1", _top("imu", "macro_f1")),
                    ("IMU top-1, last epoch", _selected("last")), ("IMU top-1, align-loss", _selected("align-loss")),
                    ("camera top-1", _top("visual")), ("camera macro-F1", _top("visual", "macro_f1")),
                    ("fusion top-1", _top("fusion")), ("fusion macro-F1", _top("fusion", "macro_f1"))]),
    "baselines": (BASELINES, [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")),
                              ("camera top-1", _top("visual")), ("fusion top-1", _top("fusion"))]),
    "modality": (UMA, [("IMU", _top("imu")), ("camera", _top("visual")), ("both", _top("fusion"))]),
    "noise": (UMA + [("C3T + noise augmentation in training", "c3t", {"noise_augment": NOISE_AUGMENT}),
                     ("CA + noise augmentation in training", "ca", {"noise_augment": NOISE_AUGMENT})],
              [(n, _top("imu", noise=n)) for n in ("crop", "misalign", "misalign-imu", "dilate", "all", "none")]
              + [(f"fusion {n}", _top("fusion", noise=n)) for n in ("misalign", "none")]),
    "schedule": ([(f"{name} {s}", m, {"schedule": s}) for s in ("align-first", "har-first", "interspersed", "combined")
                  for name, m in (("C3T", "c3t"), ("CA", "ca"))],
                 [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")), ("camera top-1", _top("visual"))]),
    "head": ([(h, "c3t", {"head": h}) for h in ("attention", "concat-attention", "add-mlp", "concat-mlp")],
             [("clean", _top("imu")), ("noisy (crop)", _top("imu", noise="crop"))]),
    # new-user only: supervised IMU on k of the new users' own labelled clips per class, against C3T with none
    "labels": ([(f"supervised IMU, k = {k} own labelled clips per class †", "supervised-imu",
                 {"imu_labels": "new-users", "imu_labels_per_class": k}) for k in (1, 2, 4, 8)]
               + [OWN_LABELS, ("C3T (0 IMU labels)", "c3t", {}), REFINED],
               [("IMU top-1", _top("imu")), ("IMU macro-F1", _top("imu", "macro_f1"))]),
    # the paper's encoder comparison (Table 5): convolutional (the paper's) against self-attention f1 and f2
    "encoders": (ENCODER_ROWS, [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")), ("camera top-1", _top("visual")),
                                ("fusion top-1", _top("fusion")), ("parameters", _parameters)]),
    # the paper's fusion comparison (Table 8), supervised, with an attention-fusion baseline
    "fusion": (FUSION_ROWS, [("fusion top-1", _top("fusion")), ("fusion top-3", _top("fusion", "top3")),
                             ("IMU top-1", _top("imu")), ("camera top-1", _top("visual")), ("parameters", _parameters)]),
    # the training defaults against one change each, to choose them on training people only (--held-out; #32)
    "defaults": (DEFAULT_CHOICES, [("IMU top-1", _top("imu")), ("IMU top-1, last epoch", _selected("last")),
                                   ("camera top-1", _top("visual"))]),
    # the paper's latent sizes (Figure 5): C3T is latent 128
    "latent": ([(f"C3T, latent {n}", "c3t", {"latent": n}) if n != 128 else C3T_ROW for n in LATENTS],
               [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")), ("camera top-1", _top("visual")),
                ("parameters", _parameters)]),
}
TRAIN_KEYS = ("noise_augment", "protocol", "imu_labels", "imu_labels_per_class", "refine_epochs",
              "soft_threshold", "virtual_weight", "virtual_site", "temperature")   # TrainConfig fields a cell may set
MODEL_KEYS = ("head", "t_rec", "latent", "members", "encoder", "fusion")            # ModelConfig fields, passed to fit()


def table_rows(table: str, protocol: str = "random") -> list:
    """The rows (label, method, variant) of `table` under `protocol`: the main and baselines
    tables hold the virtual-IMU baseline, under new-user both supervised IMU references
    (other people's labels, and the new users' own †), and under the people-wise protocols the
    main table adds ST with soft pseudo-labels, C3T with pseudo-label refinement, C3T
    regularised with the virtual IMU (with and without refinement) and that as an ensemble of
    MEMBERS (deep ensemble, models.Ensemble)."""
    rows = list(TABLES[table][0])
    if table in ("main", "baselines"):
        rows.insert(next(k for k, r in enumerate(rows) if r[1] == "supervised-visual") + 1, VIRTUAL)
    if protocol == "new-user" and table in ("main", "baselines"):
        i = next(k for k, r in enumerate(rows) if r[1] == "supervised-imu")
        rows[i] = (OTHERS_LABEL, "supervised-imu", {})
        rows.insert(i + 1, OWN_LABELS)
    if protocol != "random" and table == "main":
        rows.insert(next(k for k, r in enumerate(rows) if r[1] == "st") + 1, ST_SOFT)
        rows += [REFINED] + VIRTUAL_REG + ENSEMBLE
    return rows


RUN_ORDER = {"c3t": 0, "random": 1, "supervised-imu": 1, "st": 2, "ca": 3}   # cells run first: the headline rows


def cell_config(visual: str, backbone: str, method: str, variant: dict, seed: int, epochs: int | None = None,
                protocol: str = "random", held_out: str | None = None) -> dict:
    """What one cell trains (and what a stored cell must match to be reused). `held_out`: the
    training person tested on when choosing on training people only (splits.training_people_only)."""
    cfg = {"visual": visual, "backbone": backbone, "method": method, "seed": seed}
    if protocol != "random":
        cfg["protocol"] = protocol
    if held_out is not None:
        cfg["test_people"] = str(held_out)
    if method == "random":
        return cfg
    d = defaults_for(method, visual, schedule=variant.get("schedule"), epochs=epochs or variant.get("epochs"))
    cfg["schedule"] = d.schedule if method in ("c3t", "ca") else None
    cfg["epochs"] = d.epochs
    if method == "c3t":
        cfg["head"] = variant.get("head", "attention")
    for key in TRAIN_KEYS:   # the variant's training settings (protocol is set above, never by a variant)
        if variant.get(key):
            cfg[key] = variant[key]
    if cfg.get("imu_labels") == "virtual" or cfg.get("virtual_weight"):
        # where the virtual IMU puts the sensor: cells made before the label-free rule (site from the
        # camera label) have no "virtual_site" and are not reused as label-free ones
        cfg["virtual_site"] = variant.get("virtual_site", TrainConfig.virtual_site)
    if cfg.get("refine_epochs"):
        cfg["refine_keep"] = REFINE_KEEP   # the recipe: cells refined with another share are not reused
    if variant.get("members", 1) > 1:
        cfg["members"] = variant["members"]
    for key in ("latent", "encoder", "fusion"):   # architecture a variant changes (cells before these keys: the defaults)
        if variant.get(key):
            cfg[key] = variant[key]
    if frame_grid(visual) > 1:
        cfg["frame_grid"] = frame_grid(visual)   # pipeline.fit sets it by camera input; cells stored before it do not match
    if method == "st" and cfg.get("soft_threshold"):
        from c3t.training.methods import STUDENT_SEED

        cfg["student_seed"] = STUDENT_SEED   # the student's own random streams (methods.train, `start`)
    return cfg


def cell_id(cfg: dict) -> str:
    """The cell's folder name under models/: method, schedule and head where set, the noise
    augmentation share, IMU-label variant and k, refinement epochs, soft pseudo-label threshold,
    virtual-IMU weight and site rule, ensemble members, the small CNN's grid where it is not 1, the
    latent size, encoders and fusion where a variant sets them, epochs and
    seed, joined by "-" (e.g.
    "c3t-combined-attention-e80-s0")."""
    parts = [cfg["method"]] + [str(cfg[k]) for k in ("schedule", "head") if cfg.get(k)]
    parts += [f"naug{cfg['noise_augment']:g}"] if cfg.get("noise_augment") else []
    parts += [f"labels-{cfg['imu_labels']}"] if cfg.get("imu_labels") else []
    parts += [f"k{cfg['imu_labels_per_class']}"] if cfg.get("imu_labels_per_class") else []
    parts += [f"refine{cfg['refine_epochs']}"] if cfg.get("refine_epochs") else []
    parts += [f"soft{cfg['soft_threshold']:g}"] if cfg.get("soft_threshold") else []
    parts += [f"temp{cfg['temperature']:g}"] if cfg.get("temperature") else []
    parts += [f"virtual{cfg['virtual_weight']:g}"] if cfg.get("virtual_weight") else []
    parts += [f"site-{cfg['virtual_site']}"] if cfg.get("virtual_site") else []
    parts += [f"ensemble{cfg['members']}"] if cfg.get("members") else []
    parts += [f"grid{cfg['frame_grid']}"] if cfg.get("frame_grid") else []
    parts += [f"latent{cfg['latent']}"] if cfg.get("latent") else []
    parts += [f"{cfg['encoder']}-encoders"] if cfg.get("encoder") else []
    parts += [f"{cfg['fusion']}-fusion"] if cfg.get("fusion") else []
    return "-".join(parts + [f"e{cfg['epochs']}" if "epochs" in cfg else "", f"s{cfg['seed']}"]).replace("--", "-")


def _random_metrics(data, seed: int, protocol: str = "random", test_people=None) -> dict:
    from c3t.training.evaluate import topk
    from c3t.training.splits import split_for

    test = split_for(data, seed, protocol=protocol, test_people=test_people)["test"]
    probs = np.random.default_rng(seed).random((len(test), len(data.classes)))
    s = {"top1": topk(probs, data.labels[test], 1), "top3": topk(probs, data.labels[test], 3), "n": len(test)}
    return {"noise": {"none": {"imu": s}}}


def run_cell(data, cfg: dict, model_dir: Path) -> dict:
    """Train and score one cell (cfg from cell_config) on prepared `data`, writing the model
    folder to `model_dir` (pipeline.fit_and_save). Returns {"noise": {noise: {modality:
    scores}}} on D_Test for every noise of the paper's robustness table and every modality the
    method supports, plus D_Val top-1, train_info, selection, split sizes and the IMU confusion
    matrix. The "random" method scores seeded random probabilities instead (chance level).
    Raises what fit_and_save raises."""
    from c3t.training import splits as S
    from c3t.training.evaluate import MODALITIES, evaluate, supports
    from c3t.training.pipeline import fit_and_save

    if cfg["method"] == "random":
        return _random_metrics(data, cfg["seed"], cfg.get("protocol", "random"), cfg.get("test_people"))
    pinned = {"refine_epochs": 0, "patience": 0, "epoch_steps": 0}   # the paper's recipe: refined where the row says so, full epochs
    train_cfg = defaults_for(cfg["method"], cfg["visual"], seed=cfg["seed"], schedule=cfg.get("schedule"),
                             epochs=cfg["epochs"], **{**pinned, **{k: cfg[k] for k in TRAIN_KEYS if k in cfg}})
    model, metrics, train_cfg, split = fit_and_save(data, train_cfg, model_dir, data.root, start=_start_state(cfg, model_dir),
                                                    test_people=[cfg["test_people"]] if "test_people" in cfg else None,
                                                    **{k: cfg[k] for k in MODEL_KEYS if k in cfg})
    test = S.views(data, split)[3]
    noise = {n: {m: {k: v for k, v in evaluate(model, test.imu, test.visual, test.labels, m, n, cfg["seed"]).items() if k != "confusion"}
                 for m in MODALITIES if supports(model.cfg, m)} for n in NOISES}
    parts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    return {"noise": noise, "val": {m: s["top1"] for m, s in metrics["val"].items()}, "train_info": metrics["train_info"],
            "parameters": {**parts, "total": sum(parts.values())},
            "selection": metrics.get("selection", {}), "sizes": metrics["sizes"],
            "confusion_imu": metrics["test"].get("imu", {}).get("confusion"), "test_clips": _test_clips(model, data, split)}


def _test_clips(model, data, split: dict) -> dict | None:
    """Per D_Test clip: the person it shows and whether the IMU prediction was right (0/1), for
    the people-and-clips bootstrap (stats.people_bootstrap); None for a model without an IMU path."""
    from c3t.training.evaluate import supports
    from c3t.training.methods import predict

    if not supports(model.cfg, "imu") or not len(split["test"]):
        return None
    test = split["test"]
    right = predict(model, imu=data.imu[test])[0].argmax(1) == data.labels[test]
    return {"people": data.subjects[test].astype(str).tolist(), "imu_correct": right.astype(int).tolist()}


def _base_config(cfg: dict) -> dict | None:
    """The configuration of the cell a cell continues from (methods.train's `start`): for a
    refinement cell the same cell without refinement, for soft-label ST the same ST with hard
    labels (its teacher); None for every other cell."""
    if cfg.get("refine_epochs"):
        return {k: v for k, v in cfg.items() if k not in ("refine_epochs", "refine_keep")}
    if cfg["method"] == "st" and cfg.get("soft_threshold"):
        return {k: v for k, v in cfg.items() if k not in ("soft_threshold", "student_seed")}
    return None


def depends_on(cfg: dict) -> str | None:
    """The id of the cell a cell continues from (_base_config), or None."""
    base = _base_config(cfg)
    return None if base is None else cell_id(base)


def _start_state(cfg: dict, model_dir: Path) -> dict | None:
    """The weights a cell continues from (_base_config) when this run already holds that cell
    (OUT/RUN/cells/ID.json with exactly its configuration, and its model folder): the schedule
    of a refinement, or the teacher of soft-label ST, is then not trained again (methods.train,
    `start`: the same model either way). None otherwise."""
    import torch

    base = _base_config(cfg)
    if base is None:
        return None
    base_id = depends_on(cfg)
    cell, weights = model_dir.parent.parent / "cells" / f"{base_id}.json", model_dir.parent / base_id / WEIGHTS_FILE
    try:
        if json.loads(cell.read_text()).get("config") != base or not weights.is_file():
            return None
        return torch.load(weights, map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError):
        return None


def timed_cell(data, cfg: dict, model_dir: Path) -> dict:
    """run_cell as a stored record: {"config", "metrics", "wall_seconds"}. The one cell function
    of every way train_cells runs cells (here, in its worker processes, as Ray tasks)."""
    started = time.time()
    metrics = run_cell(data, cfg, model_dir)
    return {"config": cfg, "metrics": metrics, "wall_seconds": round(time.time() - started, 1)}


def one_thread() -> None:
    """One torch and one OpenCV thread in this process: a process that trains cells beside others
    (a --jobs worker, a Ray task) shares the cores with them."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


_worker_data = None   # the prepared dataset of a train_cells worker process
WAKE_S = 0.5          # train_cells looks for Ctrl-C at least this often (seconds) while cells train


def _worker_start(data) -> None:
    """A train_cells worker: keep the dataset and use one thread (one_thread); on Linux, end with
    the bench (prctl PR_SET_PDEATHSIG), so a killed bench leaves no worker training on."""
    import ctypes

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    global _worker_data
    _worker_data = data
    one_thread()


def _worker_cell(cfg: dict, model_dir: str) -> dict:
    return timed_cell(_worker_data, cfg, Path(model_dir))


STOP_S = 10.0   # how long a stopped cell worker gets to end on SIGTERM before SIGKILL


def _signal(processes, signum: int) -> None:
    for process in processes:
        try:
            os.kill(process.pid, signum)
        except ProcessLookupError:   # ended and reaped already
            pass


class _Workers:
    """`--jobs N`: N spawned worker processes on this machine (each with the dataset and one
    thread) behind the interface train_cells drives (training/cluster.RayCells has the same):
    `slots`, submit(cfg, model_dir) -> Future of the record, stop() (an error or Ctrl-C: the
    workers are ended, their cells given up) and close()."""

    def __init__(self, data, jobs: int):
        import concurrent.futures as cf
        import multiprocessing

        self.slots = jobs
        self._others = set(multiprocessing.active_children())
        self._pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_start, initargs=(data,))

    def submit(self, cfg: dict, model_dir: Path):
        """Train the cell `cfg` in a worker, its model folder at `model_dir`."""
        return self._pool.submit(_worker_cell, cfg, str(model_dir))

    def stop(self) -> None:
        """Drop the cells not started and end the workers, not waiting for their cells. A worker
        has ended when its sentinel is ready; that is asked, never Process.is_alive(): the pool's
        own thread reaps its workers at the same time, and the loser of that waitpid race reads a
        dead worker as alive."""
        import multiprocessing

        workers = set(multiprocessing.active_children()) - self._others   # the pool's workers
        workers |= set((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        _signal(workers, signal.SIGTERM)
        living = living_after(workers, STOP_S)
        if living:   # one busy in a native call may outlive SIGTERM: then SIGKILL
            log.warning("cell workers %s did not end on SIGTERM within %g s: killed",
                        ", ".join(str(p.pid) for p in living), STOP_S)
            _signal(living, signal.SIGKILL)
            living_after(living, STOP_S)

    def close(self) -> None:
        """Wait for the workers to end (every cell is done)."""
        self._pool.shutdown(wait=True)


def train_cells(data, cells: list[tuple[str, dict]], run: Path, jobs: int = 1, cluster=None):
    """Train `cells` ([(cell id, cfg from cell_config)], in the order given) on prepared `data`:
    each cell's model goes to RUN/models/ID and its record {"config", "metrics", "wall_seconds"}
    to RUN/cells/ID.json (written atomically as the cell finishes, so a stopped run keeps it).
    Yields (cell id, record) as cells finish.

    jobs > 1: that many worker processes (spawned, each with the dataset and one torch thread)
    train cells side by side; on 2 cores two one-thread cells finish in about 0.6 of the time of
    one after the other with two threads (docs/results.md). `cluster`: a training/cluster.RayCells
    instead, which runs its `slots` cells at a time as Ray tasks (jobs is then ignored). Both run
    the same cell function (timed_cell), each cell with one thread. A cell that continues from another
    (depends_on) starts once that one is stored, so it is never trained twice. A worker's scores
    are those of the same cell trained alone with one thread (tests/training/test_experiments.py); with
    more threads torch sums some floats in another order, which can move a cell by a few clips
    (1 of the 45 cells of the skeleton cross-subject main table: 3 of 389 clips). Raises what run_cell raises; on an error or Ctrl-C the cells not
    started are dropped, those running are ended (Ray: cancelled), finished ones stay stored."""
    import concurrent.futures as cf

    from c3t.core.atomic_file import write_json_atomic

    (run / "cells").mkdir(parents=True, exist_ok=True)

    def store(cid: str, record: dict) -> None:
        write_json_atomic(run / "cells" / f"{cid}.json", record)
        log.info("cell %s written to %s", cid, run / "cells")

    if jobs <= 1 and cluster is None:
        for cid, cfg in cells:
            record = timed_cell(data, cfg, run / "models" / cid)
            store(cid, record)
            yield cid, record
        return
    waiting = list(cells)
    running: dict = {}   # future -> cell id
    runner = cluster if cluster is not None else _Workers(data, jobs)
    try:
        while waiting or running:
            busy = set(running.values()) | {c for c, _ in waiting}
            for cell in [c for c in waiting if depends_on(c[1]) not in busy][: runner.slots - len(running)]:
                waiting.remove(cell)
                running[runner.submit(cell[1], run / "models" / cell[0])] = cell[0]
            # a timeout, so that Ctrl-C reaches this thread even when the signal lands on another one (Ray's own)
            done, _ = cf.wait(running, timeout=WAKE_S, return_when=cf.FIRST_COMPLETED)
            for future in done:
                cid = running.pop(future)
                record = future.result()
                store(cid, record)
                yield cid, record
    except BaseException:   # an error or Ctrl-C: the cells running are given up, not waited for
        runner.stop()
        raise
    runner.close()


def summarize(values: list) -> dict | None:
    """Mean, sample std (ddof=1) and the 95% t interval of the mean of per-seed values (0..1),
    in percent, the interval clipped to 0..100 (a few seeds can stretch it past either end);
    None when no value is there. One seed: std and interval are NaN."""
    from scipy import stats

    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return None
    mean, std = 100 * v.mean(), 100 * v.std(ddof=1) if len(v) > 1 else float("nan")
    half = stats.t.ppf(0.975, len(v) - 1) * std / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return {"mean": mean, "std": std, "lo": max(mean - half, 0.0), "hi": min(mean + half, 100.0), "n": len(v)}


def _summary(values: list, column: str = "") -> str:
    if column == "parameters":   # a count, the same for every seed of a row: millions
        v = [x for x in values if x is not None]
        return f"{np.mean(v) / 1e6:.2f} M" if v else "–"
    s = summarize(values)
    if s is None:
        return "–"
    if s["n"] == 1:
        return f"{s['mean']:.1f}"
    return f"{s['mean']:.1f} ± {s['std']:.1f} [{s['lo']:.1f}, {s['hi']:.1f}]"


def reference_row(methods: list[str], m: str) -> str | None:
    """The row `m` is compared with, like with like: an ensemble with the table's first ensemble
    row, any other row with "C3T" (the paper's method); None for the reference itself or a table
    without it."""
    ensembles = [x for x in methods if "ensemble of" in x]
    ref = ensembles[0] if m in ensembles else ("C3T" if "C3T" in methods else None)
    return None if ref == m else ref


def _paired(records: list[dict], m: str, ref: str | None, score: str) -> str:
    """"+2.1 (p 0.03, 5/5 seeds higher)": row m minus row ref on `score`, paired by seed."""
    from c3t.training.stats import paired_difference

    if ref is None:
        return "reference" if any(r["method"] == m for r in records) else "–"
    mine = {r["seed"]: r[score] for r in records if r["method"] == m and r[score] not in ("", None)}
    theirs = {r["seed"]: r[score] for r in records if r["method"] == ref and r[score] not in ("", None)}
    seeds = sorted(set(mine) & set(theirs), key=int)
    if not seeds:
        return "–"
    d = paired_difference([float(mine[s]) for s in seeds], [float(theirs[s]) for s in seeds])
    p = "p –" if np.isnan(d["p"]) else f"p {d['p']:.2g}"
    return f"{d['mean_diff']:+.1f} vs {ref} ({p}, {d['wins']}/{d['n']} seeds higher)"


def _bootstrap(per_seed: dict | None) -> str:
    """"[lo, hi]" of stats.people_bootstrap over a row's per-seed D_Test clips."""
    from c3t.training.stats import people_bootstrap

    if not per_seed:
        return "–"
    b = people_bootstrap([np.array(v["imu_correct"]) for v in per_seed.values()],
                         [np.array(v["people"]) for v in per_seed.values()])
    return f"[{b['lo']:.1f}, {b['hi']:.1f}]"


def render_table(seeds_csv, title: str = "", command: str = "") -> str:
    """The markdown table of a TABLE-seeds.csv (columns: method, seed, wall_seconds, then one per
    score, values 0..1, empty where a method has no such score): per method, mean ± sample std
    [95% t interval over seeds] in percent; the first score paired by seed against the row's
    reference (reference_row: like with like); a "parameters" column as a count in millions; and,
    where TABLE-clips.json lies beside it (per
    D_Test clip: person and IMU right or wrong, per row and seed), a 95% interval that also
    resamples test people and clips (stats.people_bootstrap)."""
    with open(seeds_csv, newline="") as f:
        records = list(csv.DictReader(f))
    if not records:
        return ""
    scores = [c for c in records[0] if c not in ("method", "seed", "wall_seconds")]
    methods = list(dict.fromkeys(r["method"] for r in records))
    clips_file = Path(str(seeds_csv).replace("-seeds.csv", "-clips.json"))
    clips = json.loads(clips_file.read_text()) if clips_file.is_file() else {}
    cols = (["method"] + scores + [f"{scores[0]}: paired vs reference"]
            + (["IMU top-1, 95% over people + clips"] if clips else []) + ["wall s per seed"])
    lines = [f"| {' | '.join(cols)} |", "|" + "---|" * len(cols)]
    for m in methods:
        mine = [r for r in records if r["method"] == m]
        cells = [_summary([float(r[c]) if r[c] not in ("", None) else None for r in mine], c) for c in scores]
        cells.append(_paired(records, m, reference_row(methods, m), scores[0]))
        if clips:
            cells.append(_bootstrap(clips.get(m)))
        wall = np.mean([float(r["wall_seconds"]) for r in mine])
        lines.append(f"| {m} | {' | '.join(cells)} | {wall:.0f} |")
    head = (f"{title}\n\n" if title else "") + (f"`{command}`\n\n" if command else "")
    return head + "\n".join(lines) + "\n"


def write_table(out: Path, table: str, args, results: dict, backbone: str) -> None:
    """TABLE-seeds.csv, TABLE.csv, TABLE.md and TABLE-config.json under `out` (module docstring)."""
    protocol = getattr(args, "protocol", "random")
    _, columns = TABLES[table]
    rows_spec = table_rows(table, protocol)
    held_out = getattr(args, "held_out", None)
    cfg_of = lambda m, v, s: cell_config(args.visual, backbone, m, v, s, args.epochs, protocol, held_out)  # noqa: E731
    per_seed = []
    for label, method, variant in rows_spec:
        for s in range(args.seeds):
            c = results.get(cell_id(cfg_of(method, variant, s)))
            if c is None:   # not trained yet (--tables-only)
                continue
            values = {header: get(c["metrics"]) for header, get in columns}
            per_seed.append({"method": label, "seed": s, "wall_seconds": c["wall_seconds"],
                             **{h: "" if v is None else f"{v:.6f}" for h, v in values.items()}})
    if not per_seed:
        print(f"{table}: no cells yet")
        return
    with open(out / f"{table}-seeds.csv", "w", newline="") as f:
        w = csv.DictWriter(f, list(per_seed[0]))
        w.writeheader()
        w.writerows(per_seed)
    clips = {}
    for label, method, variant in rows_spec:
        for s in range(args.seeds):
            c = results.get(cell_id(cfg_of(method, variant, s)))
            if c is not None and c["metrics"].get("test_clips"):
                clips.setdefault(label, {})[str(s)] = c["metrics"]["test_clips"]
    if clips:
        (out / f"{table}-clips.json").write_text(json.dumps(clips))
    cmd = f"c3t bench paper --dataset {args.dataset} --visual {args.visual} --table {table} --seeds {args.seeds} --out {args.out}"
    cmd += f" --protocol {protocol}" if protocol != "random" else ""
    cmd += f" --held-out {held_out}" if held_out is not None else ""
    cmd += f" --epochs {args.epochs}" if args.epochs else ""
    counts = sorted({sum(r["method"] == label for r in per_seed) for label, _, _ in rows_spec} - {0})
    seeds = "/".join(map(str, counts)) if counts else "0"
    tested = "D_Test" if held_out is None else f"training person {held_out} held out (the test people never loaded)"
    title = (f"### {table}: {args.visual} -> IMU, {protocol} protocol, {tested} (%), mean ± sample std "
             f"[95% interval] over {seeds} seed{'' if seeds == '1' else 's'}")
    text = render_table(out / f"{table}-seeds.csv", title, cmd)
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| method"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    header = ["method"] + [h for h, _ in columns] + ["wall s per seed"]
    with open(out / f"{table}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    (out / f"{table}.md").write_text(text)
    configs = [results[cid]["config"] for _, m, v in rows_spec for s in range(args.seeds)
               if (cid := cell_id(cfg_of(m, v, s))) in results]
    (out / f"{table}-config.json").write_text(json.dumps({"command": cmd, "cells": configs}, indent=1))
    log.info("table %s written to %s (.md, .csv, -seeds.csv, -config.json)", table, out)
    print(text)
