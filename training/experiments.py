"""`c3t bench paper`: the paper's tables on a dataset, mean and std over seeds, resumable.

A cell is one trained model (method, variant, seed). Its scores on D_Test (IMU, camera and
fusion, clean and under each test-time noise) are stored as OUT/VISUAL/cells/ID.json and the
model as OUT/VISUAL/models/ID; a rerun skips cells whose JSON holds the same configuration.
Several tables read the same cells (main, modality and noise share the main methods).
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from c3t.core.vocabulary import NOISES
from c3t.training.defaults import defaults_for

UMA = [("ST", "st", {}), ("CA", "ca", {}), ("C3T", "c3t", {})]
NOISE_AUGMENT = 0.5   # share of training clips perturbed in the noise table's augmented rows
MAIN = [
    ("random", "random", {}),
    ("supervised IMU † (upper bound: sees IMU labels)", "supervised-imu", {}),
    ("supervised camera (camera top-1)", "supervised-visual", {}),
] + UMA
BASELINES = MAIN[:3] + [
    ("supervised fusion † (upper bound: sees IMU labels)", "supervised-fusion", {}),
    ("sensor-fusion pseudo-labels (appendix)", "fusion-pl", {}),
    ("C3T", "c3t", {}),
]


def _top(modality, k="top1", noise="none"):
    def get(metrics):
        return metrics["noise"].get(noise, {}).get(modality, {}).get(k)
    return get


# table -> (rows of (label, method, variant), columns of (header, getter))
TABLES = {
    "main": (MAIN, [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")),
                    ("camera top-1", _top("visual")), ("fusion top-1", _top("fusion"))]),
    "baselines": (BASELINES, [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")),
                              ("camera top-1", _top("visual")), ("fusion top-1", _top("fusion"))]),
    "modality": (UMA, [("IMU", _top("imu")), ("camera", _top("visual")), ("both", _top("fusion"))]),
    "noise": (UMA + [("C3T + noise augmentation in training", "c3t", {"noise_augment": NOISE_AUGMENT}),
                     ("CA + noise augmentation in training", "ca", {"noise_augment": NOISE_AUGMENT})],
              [(n, _top("imu", noise=n)) for n in ("crop", "misalign", "dilate", "all", "none")]
              + [(f"fusion {n}", _top("fusion", noise=n)) for n in ("misalign", "none")]),
    "schedule": ([(f"{name} {s}", m, {"schedule": s}) for s in ("align-first", "har-first", "interspersed", "combined")
                  for name, m in (("C3T", "c3t"), ("CA", "ca"))],
                 [("IMU top-1", _top("imu")), ("IMU top-3", _top("imu", "top3")), ("camera top-1", _top("visual"))]),
    "head": ([(h, "c3t", {"head": h}) for h in ("attention", "concat-attention", "add-mlp", "concat-mlp")],
             [("clean", _top("imu")), ("noisy (all)", _top("imu", noise="all"))]),
}
MODEL_KEYS = ("head", "t_rec", "latent", "noise_augment")   # cell keys passed on to fit()


def register(sub) -> None:
    from c3t.app.cli import bench_parser

    p = bench_parser(sub, "paper", "the paper's experiment tables on a dataset (resumable)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--visual", choices=("depth", "skeleton", "rgb"), required=True)
    p.add_argument("--table", choices=tuple(TABLES) + ("all",), default="main")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default="runs/paper")
    p.add_argument("--epochs", type=int, help="override every cell's epochs (for quick checks; default: the chosen defaults)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.set_defaults(func=paper_command)


def cell_config(visual: str, backbone: str, method: str, variant: dict, seed: int, epochs: int | None = None) -> dict:
    cfg = {"visual": visual, "backbone": backbone, "method": method, "seed": seed}
    if method == "random":
        return cfg
    d = defaults_for(method, visual)
    cfg["schedule"] = variant.get("schedule", d["schedule"]) if method in ("c3t", "ca") else None
    cfg["epochs"] = epochs or variant.get("epochs", d["epochs"])
    if method == "c3t":
        cfg["head"] = variant.get("head", "attention")
    if variant.get("noise_augment"):
        cfg["noise_augment"] = variant["noise_augment"]
    return cfg


def cell_id(cfg: dict) -> str:
    parts = [cfg["method"]] + [str(cfg[k]) for k in ("schedule", "head") if cfg.get(k)]
    parts += [f"naug{cfg['noise_augment']:g}"] if cfg.get("noise_augment") else []
    return "-".join(parts + [f"e{cfg['epochs']}" if "epochs" in cfg else "", f"s{cfg['seed']}"]).replace("--", "-")


def _random_metrics(data, seed: int) -> dict:
    from c3t.training.evaluate import topk
    from c3t.training.splits import uma_split

    test = uma_split(data.labels, seed)["test"]
    probs = np.random.default_rng(seed).random((len(test), len(data.classes)))
    s = {"top1": topk(probs, data.labels[test], 1), "top3": topk(probs, data.labels[test], 3), "n": len(test)}
    return {"noise": {"none": {"imu": s}}}


def run_cell(data, cfg: dict, model_dir: Path) -> dict:
    from c3t.core.model_folder import save_model
    from c3t.training import splits as S
    from c3t.training.evaluate import MODALITIES, evaluate, supports
    from c3t.training.pipeline import fit

    if cfg["method"] == "random":
        return _random_metrics(data, cfg["seed"])
    model, metrics, train_cfg, split = fit(data, cfg["method"], cfg["seed"], cfg.get("schedule"), cfg["epochs"],
                                           **{k: cfg[k] for k in MODEL_KEYS if k in cfg})
    save_model(model_dir, model, inputs=data.spec.to_dict(), classes=data.classes, training=train_cfg.to_dict(),
               dataset=data.root, split=S.to_json(data, split, cfg["seed"]), metrics=metrics)
    test = S.views(data, split)[3]
    noise = {n: {m: {k: v for k, v in evaluate(model, test.imu, test.visual, test.labels, m, n, cfg["seed"]).items() if k != "confusion"}
                 for m in MODALITIES if supports(cfg["method"], m)} for n in NOISES}
    return {"noise": noise, "val": {m: s["top1"] for m, s in metrics["val"].items()}, "train_info": metrics["train_info"],
            "confusion_imu": metrics["test"].get("imu", {}).get("confusion")}


def paper_command(args) -> int:
    from tqdm import tqdm

    from c3t.training.prepare import prepare

    out = Path(args.out) / args.visual
    (out / "cells").mkdir(parents=True, exist_ok=True)
    backbone = defaults_for("c3t", args.visual)["backbone"]
    data = prepare(args.dataset, args.visual, backbone, args.cache)
    tables = list(TABLES) if args.table == "all" else [args.table]
    todo = {}
    for t in tables:
        for label, m, v in TABLES[t][0]:
            for s in range(args.seeds):
                cfg = cell_config(args.visual, backbone, m, v, s, args.epochs)
                todo[cell_id(cfg)] = (label, cfg)
    results: dict[str, dict] = {}
    for cid, (label, cfg) in tqdm(todo.items(), desc="cells", unit="cell"):
        path = out / "cells" / f"{cid}.json"
        if path.exists():
            stored = json.loads(path.read_text())
            if stored.get("config") == cfg:
                results[cid] = stored
                continue
        started = time.time()
        metrics = run_cell(data, cfg, out / "models" / cid)
        record = {"config": cfg, "metrics": metrics, "wall_seconds": round(time.time() - started, 1)}
        path.write_text(json.dumps(record, indent=1))
        results[cid] = record
        imu = metrics["noise"]["none"].get("imu", {}).get("top1")
        tqdm.write(f"{cid}: IMU top-1 {'-' if imu is None else f'{imu:.3f}'} ({record['wall_seconds']:.0f} s)")
    for table in tables:
        write_table(out, table, args, results, backbone)
    return 0


def _summary(values: list) -> str:
    values = [v for v in values if v is not None]
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}" if values else "–"


def write_table(out: Path, table: str, args, results: dict, backbone: str) -> None:
    rows_spec, columns = TABLES[table]
    rows = []
    for label, method, variant in rows_spec:
        cells = [results[cell_id(cell_config(args.visual, backbone, method, variant, s, args.epochs))] for s in range(args.seeds)]
        row = {"method": label}
        for header, get in columns:
            row[header] = _summary([get(c["metrics"]) for c in cells])
        row["wall s per seed"] = f"{np.mean([c['wall_seconds'] for c in cells]):.0f}"
        rows.append(row)
    cols = list(rows[0])
    with open(out / f"{table}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    lines = [f"| {' | '.join(cols)} |", "|" + "---|" * len(cols)] + [f"| {' | '.join(str(r[c]) for c in cols)} |" for r in rows]
    cmd = f"c3t bench paper --dataset {args.dataset} --visual {args.visual} --table {table} --seeds {args.seeds} --out {args.out}"
    cmd += f" --epochs {args.epochs}" if args.epochs else ""
    text = (f"### {table}: {args.visual} -> IMU, D_Test top-1 (%), mean ± std over {args.seeds} seeds\n\n"
            f"`{cmd}`\n\n" + "\n".join(lines) + "\n")
    (out / f"{table}.md").write_text(text)
    configs = [results[cell_id(cell_config(args.visual, backbone, m, v, s, args.epochs))]["config"] for _, m, v in rows_spec for s in range(args.seeds)]
    (out / f"{table}-config.json").write_text(json.dumps({"command": cmd, "cells": configs}, indent=1))
    print(text)
