"""`c3t bench paper`: the paper's tables on a dataset, mean and std over seeds, resumable.

Each cell (one method, one variant, one seed) is trained once and its scores stored as JSON
under OUT/VISUAL/cells/; a rerun skips cells whose JSON exists with the same configuration.
Tables are written as Markdown and CSV next to them, with each cell's wall time.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from c3t.training.defaults import defaults_for

# table -> rows of (label, method, variant overrides)
TABLES = {
    "main": [
        ("random", "random", {}),
        ("supervised IMU (upper bound: sees IMU labels)", "supervised-imu", {}),
        ("supervised camera", "supervised-visual", {}),
        ("ST", "st", {}),
        ("CA", "ca", {}),
        ("C3T", "c3t", {}),
    ],
}


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


def _cell_config(visual: str, backbone: str, method: str, variant: dict, seed: int, epochs: int | None = None) -> dict:
    d = defaults_for(method, visual) if method != "random" else {}
    if epochs and method != "random":
        variant = {**variant, "epochs": epochs}
    return {"visual": visual, "backbone": backbone, "method": method, "seed": seed,
            "schedule": variant.get("schedule", d.get("schedule")), "epochs": variant.get("epochs", d.get("epochs")),
            **{k: v for k, v in variant.items() if k not in ("schedule", "epochs")}}


def _cell_id(cfg: dict) -> str:
    extra = "-".join(f"{k}={v}" for k, v in sorted(cfg.items()) if k not in ("visual", "backbone", "method", "seed"))
    return f"{cfg['method']}-{extra}-s{cfg['seed']}".replace("/", "_")


def _random_scores(data, seed: int) -> dict:
    from c3t.training.evaluate import topk
    from c3t.training.splits import uma_split

    test = uma_split(data.labels, seed)["test"]
    probs = np.random.default_rng(seed).random((len(test), len(data.classes)))
    s = {"top1": topk(probs, data.labels[test], 1), "top3": topk(probs, data.labels[test], 3), "n": len(test)}
    return {"test": {"imu": s}, "train_seconds": 0.0}


def run_cell(data, cfg: dict) -> dict:
    from c3t.training.pipeline import fit

    if cfg["method"] == "random":
        return _random_scores(data, cfg["seed"])
    model_keys = {"t_rec", "latent", "head_layers"}
    _, metrics, _, _ = fit(data, cfg["method"], cfg["seed"], cfg["schedule"], cfg["epochs"],
                           **{k: v for k, v in cfg.items() if k in model_keys})
    for part in ("val", "test"):
        for scores in metrics[part].values():
            scores.pop("confusion", None)
    return metrics


def paper_command(args) -> int:
    from tqdm import tqdm

    from c3t.training.prepare import prepare

    out = Path(args.out) / args.visual
    (out / "cells").mkdir(parents=True, exist_ok=True)
    backbone = defaults_for("c3t", args.visual)["backbone"]
    data = prepare(args.dataset, args.visual, backbone, args.cache)
    tables = list(TABLES) if args.table == "all" else [args.table]
    todo = [(t, label, _cell_config(args.visual, backbone, m, v, s, args.epochs)) for t in tables for label, m, v in TABLES[t] for s in range(args.seeds)]
    results: dict[str, dict] = {}
    for table, label, cfg in tqdm(todo, desc="cells", unit="cell"):
        path = out / "cells" / f"{_cell_id(cfg)}.json"
        if path.exists():
            stored = json.loads(path.read_text())
            if stored.get("config") == cfg:
                results[path.stem] = stored
                continue
        started = time.time()
        metrics = run_cell(data, cfg)
        record = {"config": cfg, "metrics": metrics, "wall_seconds": round(time.time() - started, 1)}
        path.write_text(json.dumps(record, indent=1))
        results[path.stem] = record
        tqdm.write(f"{table} {label} seed {cfg['seed']}: IMU top1 {metrics['test'].get('imu', {}).get('top1', float('nan')):.3f} ({record['wall_seconds']:.0f} s)")
    for table in tables:
        write_table(out, table, args, results, backbone)
    return 0


def _summary(values: list[float]) -> str:
    if not values:
        return ""
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"


def write_table(out: Path, table: str, args, results: dict, backbone: str) -> None:
    rows = []
    for label, method, variant in TABLES[table]:
        cells = [results[_cell_id(_cell_config(args.visual, backbone, method, variant, s, args.epochs))] for s in range(args.seeds)]
        row = {"method": label}
        for modality in ("imu", "visual", "fusion"):
            for k in ("top1", "top3"):
                vals = [c["metrics"]["test"][modality][k] for c in cells if modality in c["metrics"]["test"]]
                row[f"{modality} {k}"] = _summary(vals)
        row["wall s / seed"] = f"{np.mean([c['wall_seconds'] for c in cells]):.0f}"
        row["seeds"] = len(cells)
        rows.append(row)
    cols = list(rows[0])
    with open(out / f"{table}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    lines = [f"| {' | '.join(cols)} |", "|" + "---|" * len(cols)]
    lines += [f"| {' | '.join(str(r[c]) for c in cols)} |" for r in rows]
    cmd = f"c3t bench paper --dataset {args.dataset} --visual {args.visual} --table {table} --seeds {args.seeds} --out {args.out}"
    cmd += f" --epochs {args.epochs}" if args.epochs else ""
    text = f"# {table}: {args.visual} -> IMU, D_Test, mean ± std over {args.seeds} seeds (%)\n\n`{cmd}`\n\n" + "\n".join(lines) + "\n"
    (out / f"{table}.md").write_text(text)
    (out / f"{table}-config.json").write_text(json.dumps({"command": cmd, "backbone": backbone,
        "cells": [results[_cell_id(_cell_config(args.visual, backbone, m, v, s, args.epochs))]["config"] for _, m, v in TABLES[table] for s in range(args.seeds)]}, indent=1))
    print(text)
