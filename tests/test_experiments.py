import json
import os

from c3t.app.cli import main
from tests.conftest import link_subset


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
    assert set(record["metrics"]["noise"]) == {"none", "crop", "misalign", "dilate", "all"}
    assert (out / "skeleton" / "main.csv").read_text().startswith("method,")
    stamps = {p: p.stat().st_mtime_ns for p in cells}
    assert main(args) == 0  # resumed: nothing retrained
    assert {p: p.stat().st_mtime_ns for p in cells} == stamps
    os.remove(cells[0])
    assert main(args) == 0
    assert cells[0].exists()
    # figures from the stored models
    assert main(["bench", "figures", "--run", str(out / "skeleton")]) == 0
    for name in ("tsne-latents.png", "tsne-head.png", "attention.png", "confusion.png"):
        png = out / "skeleton" / "figures" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_bench_paper_new_user_rows_per_seed_file_and_label_table(utd_root, tmp_path, capsys):
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton"))
    out = tmp_path / "paper"
    base = ["bench", "paper", "--dataset", str(data), "--visual", "skeleton", "--seeds", "1", "--epochs", "1", "--out", str(out)]
    assert main(base + ["--protocol", "new-user", "--only", "C3T,own,virtual"]) == 0
    run = out / "skeleton-new-user"
    cells = sorted(p.stem for p in (run / "cells").glob("*.json"))
    assert cells == sorted(f"{c}-e1-s{s}" for c in ("c3t-combined-attention", "c3t-combined-attention-refine40",
                                                      "supervised-imu-labels-new-users", "supervised-imu-labels-virtual")
                           for s in (0,))
    record = json.loads((run / "cells" / "c3t-combined-attention-e1-s0.json").read_text())
    assert record["config"]["protocol"] == "new-user" and set(record["metrics"]["selection"]) == {"val", "last", "align-loss"}
    seeds = (run / "main-seeds.csv").read_text().splitlines()
    assert seeds[0].startswith("method,seed,wall_seconds,IMU top-1,IMU macro-F1") and len(seeds) == 1 + 4
    refined = json.loads((run / "cells" / "c3t-combined-attention-refine40-e1-s0.json").read_text())
    assert refined["config"]["refine_epochs"] == 40 and "pseudo-label refinement" in (run / "main.md").read_text()
    assert refined["metrics"]["train_info"].get("refined_from_start")   # continued from the C3T cell, not retrained
    table = (run / "main.md").read_text()
    assert "new users' own labels" in table and "--protocol new-user" in table and "sample std" in table
    assert main(base + ["--protocol", "cross-subject", "--table", "labels"]) == 2
    assert "needs --protocol new-user" in capsys.readouterr().err
