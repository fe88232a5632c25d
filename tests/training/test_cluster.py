"""`c3t bench paper --cluster`: the grid's cells as Ray tasks on a local Ray instance (2 CPUs),
the same per-seed file as `--jobs 2`, a stopped run keeps its finished cells; a clear message
where Ray is missing."""
import csv
import json
import sys

import pytest

from c3t.app.cli import main
from c3t.core.errors import C3tError
from tests.conftest import link_subset


def _per_seed(path):
    """A TABLE-seeds.csv without its wall-clock column (the one thing two runs differ in)."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(f)]


def test_ray_missing_names_the_extra_to_install(monkeypatch):
    from c3t.training.cluster import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)   # what `import ray` meets where it is not installed
    with pytest.raises(C3tError, match=r'pip install "c3t\[cluster\]"'):
        import_ray()


def test_bench_paper_refuses_an_address_ray_cannot_use(utd_root, tmp_path, capsys):
    data = link_subset(utd_root, tmp_path / "d", actions=[1], modalities=("Inertial", "Skeleton"))
    assert main(["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--out", str(tmp_path / "p"),
                 "--cluster", "my-cluster"]) == 2
    assert "--cluster my-cluster: give local" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_grid_on_a_local_ray_cluster_writes_what_jobs_2_writes(utd_root, tmp_path, capsys):
    """ST and soft-label ST (which continues from the stored ST cell, its teacher sent to the
    task), 2 seeds: the cells on a local Ray instance with 2 CPUs score exactly as with --jobs 2
    (both one thread per cell), the per-seed file is the same but for wall-clock seconds, and a
    rerun resumes from the stored cells as --jobs does."""
    pytest.importorskip("ray")
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton"))
    runs = {}
    for how, flags in (("jobs", []), ("ray", ["--cluster", "local"])):
        out = tmp_path / how
        assert main(["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--seeds", "2", "--epochs", "2",
                     "--out", str(out), "--protocol", "cross-subject", "--only", "ST", "--jobs", "2"] + flags) == 0
        runs[how] = out / "skeleton-cross-subject"
    cells = {how: {p.stem: json.loads(p.read_text()) for p in (run / "cells").glob("*.json")} for how, run in runs.items()}
    assert sorted(cells["ray"]) == sorted(cells["jobs"]) and len(cells["ray"]) == 4   # ST, soft ST; seeds 0, 1
    for cid, record in cells["ray"].items():
        assert record["config"] == cells["jobs"][cid]["config"], cid
        assert record["metrics"]["noise"] == cells["jobs"][cid]["metrics"]["noise"], cid
        assert (runs["ray"] / "models" / cid / "weights.pt").is_file(), cid
        if "soft" in cid:   # trained from the ST cell's stored teacher, not a second teacher
            assert record["metrics"]["train_info"].get("teacher_from_start"), cid
    assert _per_seed(runs["ray"] / "main-seeds.csv") == _per_seed(runs["jobs"] / "main-seeds.csv")
    assert len(_per_seed(runs["ray"] / "main-seeds.csv")) == 4
    stamps = {p: p.stat().st_mtime_ns for p in (runs["ray"] / "cells").glob("*.json")}
    capsys.readouterr()
    assert main(["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--seeds", "2", "--epochs", "2",
                 "--out", str(tmp_path / "ray"), "--protocol", "cross-subject", "--only", "ST", "--cluster", "local"]) == 0
    assert "all 4 cells asked for are already in" in capsys.readouterr().out   # resumed: nothing trained, no Ray started
    assert {p: p.stat().st_mtime_ns for p in (runs["ray"] / "cells").glob("*.json")} == stamps


def test_stopping_cells_on_ray_cancels_their_tasks_and_keeps_finished_cells(utd_root, tmp_path):
    """A bench stopped while Ray tasks train (Ctrl-C or an error closes train_cells' generator)
    cancels them instead of waiting, lets go of the local Ray instance and keeps the stored cells."""
    ray = pytest.importorskip("ray")
    from c3t.training.cluster import RayCells
    from c3t.training.experiments import cell_config, cell_id, train_cells
    from c3t.training.prepare import prepare

    data = prepare(link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton")),
                   "skeleton", "small-cnn", None)
    configs = [cell_config("skeleton", "small-cnn", "random", {}, 0, 1, "cross-subject")]
    configs += [cell_config("skeleton", "small-cnn", "c3t", {}, s, 2000, "cross-subject") for s in (0, 1)]
    cells = [(cell_id(c), c) for c in configs]
    runner = RayCells(data, "local", cpus=2)
    assert runner.slots == 2 and runner.describe() == "Ray (2 CPUs)"
    run = train_cells(data, cells, tmp_path / "run", cluster=runner)
    first, _ = next(run)            # the random cell: at once; the 2000-epoch C3T cells go on
    assert first.startswith("random")
    run.close()                     # what Ctrl-C does to the bench's loop
    assert not ray.is_initialized()
    assert (tmp_path / "run" / "cells" / f"{first}.json").is_file()
    assert not any((tmp_path / "run" / "cells").glob("c3t-*.json"))
    assert not (tmp_path / "run" / "models").exists() or not any((tmp_path / "run" / "models").iterdir())
