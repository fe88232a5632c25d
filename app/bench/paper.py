"""`c3t bench paper`: every cell of the paper's tables on a dataset, trained or read back, then the
tables (the experiments themselves are in training/experiments.py)."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from c3t.core.errors import C3tError

log = logging.getLogger(__name__)


def run_paper(args, out: Path) -> int:
    """Train (or read back) every cell of `args.table` ("all": every table) over seeds 0..`args.seeds`-1
    under `out`/cells, then write the tables into `out`; `args` holds `c3t bench paper`'s options
    (dataset, visual, table, seeds, protocol, held_out, out, epochs, cache, only, jobs, cluster, cell_gpus, tables_only), checked by
    the command. A cell already stored with the same config is not trained again, so a stopped run
    resumes. Returns 0.

    Raises:
        C3tError: for `--table labels` without `--protocol new-user`, an --only that names no row of
            the tables, and --tables-only where no cell is stored yet.
    """
    from tqdm import tqdm

    from c3t.core.cpu import idle_cores
    from c3t.core.options import default_backbone
    from c3t.training.experiments import RUN_ORDER, TABLES, cell_config, cell_id, table_rows, train_cells, write_table
    from c3t.training.methods import device_name, training_device
    from c3t.training.prepare import prepare

    protocol = getattr(args, "protocol", "random")
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
    held_out = getattr(args, "held_out", None)
    if held_out is not None:   # choosing on training people only: the test people's clips go before anything trains
        from c3t.training.splits import training_people_only

        data = training_people_only(data, held_out)
    todo = {}
    for t in tables:
        for label, m, v in table_rows(t, protocol):
            for s in range(args.seeds):
                cfg = cell_config(args.visual, backbone, m, v, s, args.epochs, protocol, held_out)
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
    log.info("%s: %d cells stored, %d to train, %d at a time", out, len(results), len(to_train), jobs)
    device, cluster = device_name(training_device()), None
    if args.cluster and to_train:   # the cells as Ray tasks (training/cluster.py): the cluster decides how many at a time
        from c3t.training.cluster import RayCells

        cluster = RayCells(data, args.cluster, cpus=jobs, gpus_per_cell=args.cell_gpus)
        jobs, device = cluster.slots, cluster.describe()
    if to_train:
        print(f"{len(to_train)} cells to train ({len(results)} already in {out}), {jobs} at a time, on {device}")
    elif args.tables_only:
        print(f"--tables-only: {len(results)} of the {len(todo)} cells are in {out}; the tables show those")
    else:
        print(f"all {len(results)} cells asked for are already in {out}: nothing to train")
    started = time.time()
    bar = tqdm(total=len(to_train), desc=f"cells ({jobs} at a time)" if jobs > 1 else "cells", unit="cell",
               disable=not to_train)
    for cid, record in train_cells(data, to_train, out, jobs, cluster):
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
