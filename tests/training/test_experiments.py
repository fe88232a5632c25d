import json
import os

import pytest

from c3t.app.cli import main
from tests.conftest import link_subset

# The benches train many cells: 45-270 s each at load 5-12 on 2 cores, more beside more work. Their own
# pytest timeout only ends a hang (the suite's 300 s is for everything else).
LONG_S = 3600


@pytest.mark.timeout(LONG_S)
def test_bench_paper_writes_tables_and_resumes(utd_root, tmp_path, capsys):
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton"))
    out = tmp_path / "paper"
    args = ["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--seeds", "1", "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    cells = sorted((out / "skeleton" / "cells").glob("*.json"))
    assert len(cells) == 7  # random, two supervised, virtual IMU, ST, CA, C3T
    table = (out / "skeleton" / "main.md").read_text()
    assert "C3T" in table and "upper bound" in table and "--epochs 1" in table
    assert (out / "skeleton" / "models" / cells[0].stem / "config.json").exists() or cells[0].stem.startswith("random")
    record = json.loads((out / "skeleton" / "cells" / "c3t-combined-attention-e1-s0.json").read_text())
    assert set(record["metrics"]["noise"]) == {"none", "crop", "misalign", "dilate", "all", "misalign-imu"}
    assert record["metrics"]["parameters"]["total"] == sum(v for k, v in record["metrics"]["parameters"].items() if k != "total") > 0
    assert (out / "skeleton" / "main.csv").read_text().startswith("method,")
    first = capsys.readouterr().out
    assert "7 cells to train (0 already in" in first and f"tables written to {out / 'skeleton'}: main.md" in first
    stamps = {p: p.stat().st_mtime_ns for p in cells}
    assert main(args) == 0  # resumed: nothing retrained
    assert "all 7 cells asked for are already in" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in cells} == stamps
    os.remove(cells[0])
    assert main(args) == 0
    assert cells[0].exists()
    # figures from the stored models
    assert main(["bench", "figures", "--run", str(out / "skeleton"), "--alignment-epochs"]) == 0
    assert "tsne-alignment-epochs.png" in capsys.readouterr().out
    for name in ("tsne-latents.png", "tsne-head.png", "attention.png", "confusion.png", "tsne-alignment-epochs.png"):
        png = out / "skeleton" / "figures" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def short_refinement(monkeypatch, epochs: int = 2) -> None:
    """The tables' refinement rows refine for `epochs` (they hold the recipe's 40, the bulk of a
    bench test's time)."""
    from c3t.training import experiments

    for _, _, variant in [experiments.REFINED, *experiments.VIRTUAL_REG, *experiments.ENSEMBLE]:
        if "refine_epochs" in variant:
            monkeypatch.setitem(variant, "refine_epochs", epochs)


@pytest.mark.timeout(LONG_S)
def test_bench_paper_new_user_rows_per_seed_file_and_label_table(utd_root, tmp_path, capsys, monkeypatch):
    short_refinement(monkeypatch)
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton"))
    out = tmp_path / "paper"
    base = ["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--seeds", "1", "--epochs", "1", "--out", str(out)]
    assert main(base + ["--protocol", "new-user", "--only", "C3T,own,virtual"]) == 0
    run = out / "skeleton-new-user"
    cells = sorted(p.stem for p in (run / "cells").glob("*.json"))
    assert cells == sorted(f"{c}-e1-s{s}" for c in ("c3t-combined-attention", "c3t-combined-attention-refine2",
                                                      "c3t-combined-attention-virtual0.5-site-pairs",
                                                      "c3t-combined-attention-refine2-virtual0.5-site-pairs",
                                                      "c3t-combined-attention-virtual0.5-site-pairs-ensemble3",
                                                      "c3t-combined-attention-refine2-virtual0.5-site-pairs-ensemble3",
                                                      "supervised-imu-labels-new-users", "supervised-imu-labels-virtual-site-pairs")
                           for s in (0,))
    record = json.loads((run / "cells" / "c3t-combined-attention-e1-s0.json").read_text())
    assert record["config"]["protocol"] == "new-user" and set(record["metrics"]["selection"]) == {"val", "last", "align-loss"}
    seeds = (run / "main-seeds.csv").read_text().splitlines()
    assert seeds[0].startswith("method,seed,wall_seconds,IMU top-1,IMU top-3,IMU macro-F1") and len(seeds) == 1 + 8
    refined = json.loads((run / "cells" / "c3t-combined-attention-refine2-e1-s0.json").read_text())
    assert refined["config"]["refine_epochs"] == 2 and "pseudo-label refinement" in (run / "main.md").read_text()
    assert refined["metrics"]["train_info"].get("refined_from_start")   # continued from the C3T cell, not retrained
    regularised = json.loads((run / "cells" / "c3t-combined-attention-refine2-virtual0.5-site-pairs-e1-s0.json").read_text())
    assert regularised["metrics"]["train_info"].get("refined_from_start")   # from the regularised C3T cell
    assert "virtual_imu" in regularised["metrics"]["train_info"] and "regularised with virtual IMU from the skeleton" in (run / "main.md").read_text()
    ensemble = json.loads((run / "cells" / "c3t-combined-attention-refine2-virtual0.5-site-pairs-ensemble3-e1-s0.json").read_text())
    members = ensemble["metrics"]["train_info"]["members"]   # each member continued from the stored ensemble's
    assert len(members) == 3 and all(m.get("refined_from_start") for m in members) and "ensemble of 3" in (run / "main.md").read_text()
    table = (run / "main.md").read_text()
    assert "new users' own labels" in table and "--protocol new-user" in table and "sample std" in table
    assert main(base + ["--protocol", "cross-subject", "--table", "labels"]) == 2
    assert "needs --protocol new-user" in capsys.readouterr().err


@pytest.mark.timeout(LONG_S)
def test_bench_paper_cells_side_by_side_score_as_one_at_a_time(utd_root, tmp_path, monkeypatch):
    """--jobs 2 trains cells in two one-thread worker processes: the same scores as --jobs 1
    with one thread, and a refinement cell still waits for (and continues from) its C3T cell,
    soft-label ST for the teacher of its ST cell. Every worker trains on the device the
    bench would train on (train_info["device"])."""
    import torch

    from c3t.training.methods import device_name, training_device

    short_refinement(monkeypatch)
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton"))
    threads, runs = torch.get_num_threads(), {}
    torch.set_num_threads(1)   # the workers' thread count: the same float sums in the same order
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)   # kept through fit's threads_for_load
    try:
        for jobs in (1, 2):
            out = tmp_path / f"jobs{jobs}"
            assert main(["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--seeds", "1", "--epochs", "2",
                         "--out", str(out), "--protocol", "cross-subject", "--only", "C3T,ST", "--jobs", str(jobs)]) == 0
            runs[jobs] = {p.stem: json.loads(p.read_text()) for p in (out / "skeleton-cross-subject" / "cells").glob("*.json")}
    finally:
        monkeypatch.undo()
        torch.set_num_threads(threads)
    # C3T, virtual-IMU C3T, both as an ensemble too, their refinements, ST, soft ST
    assert sorted(runs[1]) == sorted(runs[2]) and len(runs[1]) == 8
    here = device_name(training_device())   # "cpu" here; "cuda (GPU name)" where torch sees a GPU
    for cid, record in runs[2].items():
        assert record["metrics"]["noise"] == runs[1][cid]["metrics"]["noise"], cid
        trained = record["metrics"]["train_info"].get("members", [record["metrics"]["train_info"]])   # one per member
        assert [i["device"] for i in trained] == [here] * len(trained), cid
        if "refine" in cid:
            assert all(i.get("refined_from_start") for i in trained), cid
        if "soft" in cid:
            assert record["metrics"]["train_info"].get("teacher_from_start"), cid


def test_bench_paper_refuses_what_would_train_nothing(utd_root, tmp_path, capsys):
    """--jobs 0, an --only that names no row (the rows are listed) and --tables-only on an empty
    folder are refused with exit 2, and leave no folder behind."""
    data = link_subset(utd_root, tmp_path / "d", actions=[1], modalities=("Inertial", "Skeleton"))
    base = ["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--out", str(tmp_path / "p"), "--protocol", "cross-subject"]
    assert main(base + ["--jobs", "0"]) == 2
    assert "--jobs 0" in capsys.readouterr().err
    assert main(base + ["--only", "C3t"]) == 2   # the labels are case-sensitive: "C3T"
    err = capsys.readouterr().err
    assert "--only C3t: no row of the main table (cross-subject) contains it; the rows are: random; " in err and "; C3T;" in err
    assert main(base + ["--tables-only"]) == 2
    assert "holds no cell of these tables yet; run without --tables-only" in capsys.readouterr().err
    assert main(base + ["--held-out", "2"]) == 2   # a test person cannot be held out of the training people
    assert "--held-out 2: hold out one of the training people (1, 3, 5, 7); the test people (2, 4, 6, 8)" in capsys.readouterr().err
    assert main(base[:-2] + ["--held-out", "1"]) == 2
    assert "give a people-wise --protocol" in capsys.readouterr().err
    assert not (tmp_path / "p" / "skeleton-cross-subject" / "cells").exists()


def test_stopping_side_by_side_cells_ends_their_workers_and_keeps_finished_cells(utd_root, tmp_path):
    """A bench stopped while cells train in worker processes (Ctrl-C, an error: the generator is
    closed) ends those workers instead of waiting for their cells, and keeps the cells stored."""
    import multiprocessing

    from c3t.core.processes import living_after
    from c3t.training.experiments import cell_config, cell_id, train_cells
    from c3t.training.prepare import prepare

    data = prepare(link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton")),
                   "skeleton", "small-cnn", None)
    configs = [cell_config("skeleton", "small-cnn", "random", {}, 0, 1, "cross-subject")]
    configs += [cell_config("skeleton", "small-cnn", "c3t", {}, s, 2000, "cross-subject") for s in (0, 1)]
    cells = [(cell_id(c), c) for c in configs]
    before = set(multiprocessing.active_children())
    run = train_cells(data, cells, tmp_path / "run", jobs=2)
    first, _ = next(run)                       # the random cell: seconds; the 2000-epoch C3T cell goes on
    assert first.startswith("random")
    workers = set(multiprocessing.active_children()) - before
    assert len(workers) == 2
    run.close()                                # what Ctrl-C does to the bench's loop
    # a worker has ended when its sentinel is ready (is_alive() can lose a reaping race with the pool's thread);
    # waited on without a budget: stop() has signalled them, and the test's own timeout ends a hang
    assert not living_after(workers, None)
    assert (tmp_path / "run" / "cells" / f"{first}.json").is_file()
    assert not any((tmp_path / "run" / "cells").glob("c3t-*.json"))


def test_cells_of_a_gridded_camera_input_name_their_grid_and_never_match_global_average_cells():
    """Bench cells stored before the small CNN kept its 4 x 4 map (flow inputs) must be trained
    again, into their own folder, never reused or overwritten under the same name."""
    from c3t.training.experiments import cell_config, cell_id

    for visual in ("motion", "depth-motion"):
        cfg = cell_config(visual, "small-cnn", "c3t", {}, 0, protocol="cross-subject")
        before = {k: v for k, v in cfg.items() if k != "frame_grid"}
        assert cfg["frame_grid"] == 4 and cfg != before
        assert cell_id(cfg) == "c3t-combined-attention-grid4-e80-s0" and cell_id(before) == "c3t-combined-attention-e80-s0"
    depth = cell_config("depth", "small-cnn", "c3t", {}, 0, protocol="cross-subject")
    assert "frame_grid" not in depth and "grid" not in cell_id(depth)


def test_latent_figure_reads_the_latent_tables_seeds(tmp_path):
    """latent.png (Figure 5) from a latent table's per-seed file: "C3T" is latent 128."""
    pytest.importorskip("matplotlib")
    from c3t.training.figures import latent_figure

    rows = ["method,seed,wall_seconds,IMU top-1,IMU top-3,camera top-1,parameters"]
    for label, params in (("C3T, latent 64", 660000), ("C3T", 870000), ("C3T, latent 256", 1700000)):
        rows += [f"{label},{s},40,0.{70 + s},0.9,0.78,{params}" for s in (0, 1)]
    (tmp_path / "latent-seeds.csv").write_text("\n".join(rows) + "\n")
    png = latent_figure(tmp_path / "latent-seeds.csv", tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
