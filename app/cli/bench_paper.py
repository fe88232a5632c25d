"""`c3t bench paper` (the paper's tables on a dataset, resumable), `c3t bench table` and
`c3t bench figures`: the commands; the experiments themselves are in training/experiments.py
and training/figures.py."""
from __future__ import annotations

import json
import time
from pathlib import Path

from c3t.app.cli import check_dataset
from c3t.core.atomic_file import check_output_folder
from c3t.core.errors import C3tError
from c3t.core.options import CAMERA_INPUTS, PROTOCOLS

TABLE_NAMES = ("main", "schedule", "modality", "noise", "head", "baselines", "labels")   # training/experiments.TABLES


def register(sub, bench) -> None:
    """Add `c3t bench paper`, `c3t bench table` and `c3t bench figures` to the `bench` subparsers."""
    p = bench.add_parser("paper", help="the paper's experiment tables on a dataset (resumable)")
    p.add_argument("--dataset", required=True, help="UTD-MHAD layout folder, `c3t synth` output, or a folder of "
                   "`c3t record` sessions")
    p.add_argument("--visual", choices=CAMERA_INPUTS, required=True, help="camera input the camera -> IMU rows use")
    p.add_argument("--table", choices=TABLE_NAMES + ("all",), default="main",
                   help="which of the paper's tables to run (default main: ST, CA, C3T and the baselines)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per cell, 0..N-1 (default 3)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="random",
                   help="split protocol (c3t train --help; default random); people-wise runs go to OUT/VISUAL-PROTOCOL")
    p.add_argument("--out", default="runs/paper", help="results folder; a stopped run resumes there (default runs/paper)")
    p.add_argument("--epochs", type=int, help="override every cell's epochs per training phase (for quick checks; "
                   "a refinement keeps its 40 epochs; default: the chosen defaults)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.add_argument("--only", metavar="TEXT,...", help="train only the rows whose label contains one of these "
                   "(e.g. C3T,virtual); other cells are read if they are there (default: train every row)")
    p.add_argument("--jobs", type=int, help="cells trained side by side, one thread each (default: the cores "
                   "other programs leave idle; 1 trains one cell at a time with every thread)")
    p.add_argument("--tables-only", action="store_true",
                   help="train nothing: write the tables from the cells already there (missing seeds left out)")
    p.set_defaults(func=paper_command)

    p = bench.add_parser("table", help="print the markdown table of a per-seed results file (TABLE-seeds.csv, docs/results/)")
    p.add_argument("seeds", nargs="+", help="per-seed CSV file(s) written by `c3t bench paper`")
    p.set_defaults(func=table_command)

    p = bench.add_parser("figures", help="t-SNE, attention and confusion figures from a `bench paper` run")
    p.add_argument("--run", required=True, help="a `c3t bench paper` output folder for one modality, e.g. runs/paper/depth")
    p.add_argument("--seed", type=int, default=0, help="which seed's models to draw (default 0)")
    p.add_argument("--out", help="folder for the PNGs (default: RUN/figures)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.set_defaults(func=figures_command)


def figures_command(args) -> int:
    """`c3t bench figures`: draw the t-SNE, attention and confusion PNGs of one `bench paper` run;
    returns the exit code of training/figures.make_figures. Raises C3tError for a --run that is not a
    `bench paper` output or an --out that cannot be written (before any heavy import)."""
    if not (Path(args.run) / "models").is_dir():
        raise C3tError(f"--run {args.run} holds no models/ folder: give a `c3t bench paper` output folder for "
                       "one camera input, e.g. runs/paper/depth")
    check_output_folder(args.out or Path(args.run) / "figures", "--out", replace=True)   # figures are redrawn

    from c3t.training.figures import make_figures

    return make_figures(args)


def table_command(args) -> int:
    """Print each per-seed file's table: mean ± sample std [95% interval] per method."""
    from c3t.training.experiments import render_table

    for path in args.seeds:
        if not Path(path).is_file():
            raise C3tError(f"{path} does not exist; `c3t bench paper` writes OUT/RUN/TABLE-seeds.csv")
        print(render_table(path, f"### {Path(path).stem}"))
    return 0


def paper_command(args) -> int:
    """`c3t bench paper`: train (or read back) every cell of the chosen tables and seeds under
    OUT/VISUAL[-PROTOCOL]/cells, then write the tables; returns 0. A cell already stored with the same
    config is not trained again, so a stopped run resumes. Raises C3tError for `--table labels` without
    `--protocol new-user`, --seeds, --epochs or --jobs below 1, an --only that names no row of the
    tables, and --tables-only where no cell is stored yet."""
    protocol = getattr(args, "protocol", "random")
    out = Path(args.out) / (args.visual if protocol == "random" else f"{args.visual}-{protocol}")
    check_output_folder(out, "--out", replace=True)   # resumable: its own earlier cells are kept
    check_dataset(args.dataset)
    if args.jobs is not None and args.jobs < 1:
        raise C3tError(f"--jobs {args.jobs}: at least 1 cell must train at a time")
    if args.seeds < 1:
        raise C3tError(f"--seeds {args.seeds}: give at least 1 seed per cell (seeds 0..N-1)")
    if args.epochs is not None and args.epochs < 1:
        raise C3tError(f"--epochs {args.epochs}: train at least 1 epoch per phase (leave it out for the chosen defaults)")

    from tqdm import tqdm

    from c3t.core.cpu import idle_cores
    from c3t.core.options import default_backbone
    from c3t.training.experiments import RUN_ORDER, TABLES, cell_config, cell_id, table_rows, train_cells, write_table
    from c3t.training.methods import device_name, training_device
    from c3t.training.prepare import prepare

    tables = list(TABLES) if args.table == "all" else [args.table]
    if protocol != "new-user" and "labels" in tables:
        if args.table == "labels":
            raise C3tError("--table labels needs --protocol new-user (k labelled clips of the new users)")
        tables.remove("labels")
    labels = list(dict.fromkeys(label for t in tables for label, _, _ in table_rows(t, protocol)))
    wanted = [t.strip() for t in args.only.split(",") if t.strip()] if args.only else []
    picked = {label for label in labels if any(w in label for w in wanted)}   # the rows --only trains
    if args.only and not picked:
        raise C3tError(f"--only {args.only}: no row of the {' and '.join(tables)} table{'s' if len(tables) > 1 else ''} "
                       f"({protocol}) contains it; the rows are: " + "; ".join(labels))
    backbone = default_backbone(args.visual)
    data = prepare(args.dataset, args.visual, backbone, args.cache)
    todo = {}
    for t in tables:
        for label, m, v in table_rows(t, protocol):
            for s in range(args.seeds):
                cfg = cell_config(args.visual, backbone, m, v, s, args.epochs, protocol)
                todo[cell_id(cfg)] = (label, cfg)
    results: dict[str, dict] = {}
    ordered = sorted(todo.items(), key=lambda kv: (RUN_ORDER.get(kv[1][1]["method"], 9), kv[1][1]["seed"]))
    to_train = []
    for cid, (label, cfg) in ordered:
        path = out / "cells" / f"{cid}.json"
        if path.exists():
            stored = json.loads(path.read_text())
            if stored.get("config") == cfg:
                results[cid] = stored
                continue
        if not (args.tables_only or (args.only and label not in picked)):
            to_train.append((cid, cfg))
    if args.tables_only and not results:
        raise C3tError(f"--tables-only: {out} holds no cell of these tables yet; run without --tables-only to train them")
    jobs = max(1, min(len(to_train), args.jobs if args.jobs is not None else idle_cores()))
    device = device_name(training_device())
    if to_train:
        print(f"{len(to_train)} cells to train ({len(results)} already in {out}), {jobs} at a time, on {device}")
    elif args.tables_only:
        print(f"--tables-only: {len(results)} of the {len(todo)} cells are in {out}; the tables show those")
    else:
        print(f"all {len(results)} cells asked for are already in {out}: nothing to train")
    started = time.time()
    bar = tqdm(total=len(to_train), desc=f"cells ({jobs} at a time)" if jobs > 1 else "cells", unit="cell",
               disable=not to_train)
    for cid, record in train_cells(data, to_train, out, jobs):
        results[cid] = record
        imu = record["metrics"]["noise"]["none"].get("imu", {}).get("top1")
        bar.write(f"{cid}: IMU top-1 {'-' if imu is None else f'{imu:.3f}'} ({record['wall_seconds']:.0f} s)")
        bar.update()
    bar.close()
    if to_train:
        print(f"{len(to_train)} cells trained in {time.time() - started:.0f} s, {jobs} at a time, on {device}")
    for table in tables:
        write_table(out, table, args, results, backbone)
    print(f"tables written to {out}: " + ", ".join(f"{t}.md, {t}.csv, {t}-seeds.csv" for t in tables
                                                    if (out / f"{t}-seeds.csv").exists()))
    return 0
