"""End to end on real UTD-MHAD files: prepare (with the on-disk cache), train, eval."""
import json
import os
import re

import numpy as np
import pytest

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.training.prepare import prepare
from tests.conftest import link_subset


def test_tiny_train_and_eval(utd_root, tmp_path, cache_dir, capsys):
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 9, 22], modalities=("Inertial", "Skeleton"))
    out = tmp_path / "model"
    assert main(["train", "--dataset", str(data), "--visual", "skeleton", "--method", "c3t", "--epochs", "2",
                 "--seed", "3", "--out", str(out), "--cache", str(cache_dir)]) == 0
    # the progress callback drives one bar per phase (the schedule, then the default refinement
    # of half its epochs), each opened once and closed at 100% after its last epoch
    err = capsys.readouterr().err
    opened = re.findall(r"(?:^|\r|\n)(\w+):   0%\|", err)
    finished = [name for name, done, of in re.findall(r"(?:^|\r|\n)(\w+): 100%\|[^\r\n]*epoch=(\d+)/(\d+)", err) if done == of]
    assert opened == ["combined", "refine"] and sorted(opened) == sorted(set(finished)), err[-2000:]
    for name in ("config.json", "weights.pt", "split.json", "metrics.json"):
        assert (out / name).exists()
    split = json.loads((out / "split.json").read_text())
    assert split["seed"] == 3
    assert not set(split["har"]) & set(split["align"]) and not set(split["align"]) & set(split["test"])
    capsys.readouterr()
    assert main(["eval", "--model", str(out), "--json", "--cache", str(cache_dir)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == len(split["test"]) and 0 <= result["top1"] <= result["top3"] <= 1
    assert main(["eval", "--model", str(out), "--split", "all", "--modality", "fusion", "--json", "--cache", str(cache_dir)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == sum(len(split[k]) for k in ("har", "align", "val", "test"))

    # an existing model folder is refused before any work; --force replaces it whole
    (out / "camera.onnx").write_text("stale, from an earlier model")
    args = ["train", "--dataset", str(data), "--visual", "skeleton", "--method", "c3t", "--epochs", "1",
            "--out", str(out), "--quiet", "--cache", str(cache_dir)]
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    assert not (out / "camera.onnx").exists() and (out / "weights.pt").exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]   # no staging or old folder left


def test_an_ensemble_trains_evaluates_and_refuses_no_members(utd_root, tmp_path, cache_dir, capsys):
    """`c3t train --members 2` writes one model folder holding both members (one progress bar per
    member and phase); `c3t eval` scores it like any model; --members 0 is refused before any work."""
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 22], modalities=("Inertial", "Skeleton"))
    out = tmp_path / "ensemble"
    args = ["train", "--dataset", str(data), "--visual", "skeleton", "--method", "c3t", "--epochs", "1", "--cache", str(cache_dir)]
    assert main(args + ["--members", "0", "--out", str(out)]) == 2
    assert "--members 0" in capsys.readouterr().err and not out.exists()
    assert main(args + ["--members", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "ensemble of 2" in captured.out
    assert re.search(r"val [0-9.]+ \(epochs \d+/\d+\)", captured.out)   # each member's selected epoch
    assert "member 1/2 combined" in captured.err and "member 2/2 combined" in captured.err
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["members"] == 2
    assert main(["eval", "--model", str(out), "--json", "--cache", str(cache_dir)]) == 0
    assert 0 <= json.loads(capsys.readouterr().out.strip().splitlines()[-1])["top1"] <= 1


def test_train_checks_its_folders_before_any_work(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--method", "c3t", "--out", str(tmp_path / "m")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["train", "--dataset", str(tmp_path), "--method", "c3t", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_eval_rejects_a_folder_that_is_not_a_model(tmp_path, capsys):
    assert main(["eval", "--model", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_depth_cache_is_reused_and_corrupt_entries_recomputed(utd_root, tmp_path):
    data = link_subset(utd_root, tmp_path / "d", actions=[2], subjects=[1], modalities=("Inertial", "Depth"))
    cache = tmp_path / "cache"
    first = prepare(data, "depth", "small-cnn", cache, progress=False)
    assert first.visual.shape[1:] == (16, 1, 32, 32)
    entries = sorted(cache.rglob("*.npy"))
    assert len(entries) == len(first.keys)
    entries[0].write_bytes(b"not a numpy file")
    np.save(entries[1], np.zeros((3, 3), np.float32))  # wrong shape: stale
    again = prepare(data, "depth", "small-cnn", cache, progress=False)
    assert np.array_equal(first.visual, again.visual)
    assert np.load(entries[0]).shape == (16, 1, 32, 32)


def test_efficientnet_features_are_cached_per_backbone(utd_root, tmp_path):
    data = link_subset(utd_root, tmp_path / "d", actions=[3], subjects=[2], trials=[1, 2], modalities=("Inertial", "Depth"))
    prepared = prepare(data, "depth", "efficientnet-lite0", tmp_path / "cache", progress=False)
    assert prepared.spec.visual_input == "features"
    assert prepared.visual.shape[1:] == (16, 1280) and np.isfinite(prepared.visual).all()
    assert prepared.visual.std() > 0
    assert any(p.name.startswith("depth-efficientnet-lite0") for p in (tmp_path / "cache").iterdir())


def test_resnet18_without_torchvision_or_weights_is_explained(monkeypatch, tmp_path):
    from c3t.core.model.backbones import load_backbone

    monkeypatch.setenv("C3T_RESNET18_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(C3tError, match="torchvision|missing.pth"):
        load_backbone("resnet18")


def test_training_uses_the_cores_other_processes_leave_idle():
    """threads_for_load: a busy process beside us is seen, torch gets fewer threads, and the
    setting comes back afterwards."""
    import subprocess
    import sys

    import torch

    from c3t.core.cpu import busy_cores_elsewhere, threads_for_load

    before = torch.get_num_threads()
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        assert busy_cores_elsewhere(0.5) >= 0.3
        with threads_for_load():
            assert 1 <= torch.get_num_threads() <= before
            if (os.cpu_count() or 1) <= 2:
                assert torch.get_num_threads() == 1
    finally:
        burner.kill()
    assert torch.get_num_threads() == before


def test_train_refuses_outputs_and_options_that_would_lose_data_or_mislead(tmp_path, capsys):
    """Checked before any work: --force replaces only a c3t model folder (never a dataset or other
    files), --out is never the dataset, inside it or above it; --epochs 0 and --test-people under
    the random split are refused; a --dataset that is a file is called a file."""
    data = tmp_path / "syn"
    assert main(["synth", "--out", str(data), "--subjects", "2", "--reps", "1", "--actions", "wave",
                 "--size", "64x48", "--quiet"]) == 0
    capsys.readouterr()
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    base = ["train", "--dataset", str(data), "--visual", "motion", "--method", "c3t"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    for out, extra, said in [(other, ["--force"], "not a c3t model folder"),
                             (data, ["--force"], "is the dataset folder"),
                             (data / "model", [], "is the dataset folder"),
                             (tmp_path, ["--force"], "is the dataset folder"),
                             (tmp_path / "m", ["--epochs", "0"], "--epochs 0"),
                             (tmp_path / "m", ["--test-people", "2"], "--test-people needs a people-wise --protocol")]:
        assert main(base + ["--out", str(out)] + extra) == 2
        assert said in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "mine" and not (tmp_path / "m").exists()
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    assert main(["train", "--dataset", str(data / "dataset.json"), "--method", "c3t", "--out", str(tmp_path / "m")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_synth_output_errors_say_what_it_can_train(tmp_path, capsys):
    """c3t synth writes no depth video, and too few clips per person and class cannot be split
    cross-subject: each message names the way out."""
    data = tmp_path / "syn"
    assert main(["synth", "--out", str(data), "--subjects", "2", "--reps", "1", "--actions", "wave",
                 "--size", "64x48", "--quiet"]) == 0
    capsys.readouterr()
    base = ["train", "--dataset", str(data), "--method", "c3t", "--quiet", "--cache", str(tmp_path / "cache")]
    assert main(base + ["--visual", "depth-motion", "--out", str(tmp_path / "m")]) == 2
    assert "--visual motion, rgb or skeleton" in capsys.readouterr().err
    assert main(base + ["--visual", "motion", "--protocol", "cross-subject", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "D_har would be empty" in err and "more --subjects or --reps" in err


def test_eval_on_other_classes_says_what_differs():
    """The refusal of `c3t eval` on a dataset with other classes names the counts and the names on
    either side only, not two lists cut to the same first names."""
    from c3t.app.cli.train import class_difference

    utd = [f"action {i}" for i in range(1, 28)]
    synth = utd[:3] + ["jumping jacks", "squat"] + utd[3:8]
    said = class_difference(synth, utd)
    assert said.startswith("it has 10 classes, the model 27; only in the dataset: jumping jacks, squat; only in the model: "
                           "action 9, action 10, action 11 and 16 more")
    assert class_difference(utd[::-1], utd) == "it has 27 classes, the model 27; the same names in another order"


@pytest.mark.parametrize("flags", [["--method", "supervised-imu", "--imu-labels", "virtual"],
                                   ["--method", "c3t", "--virtual-weight", "0.5"]])
def test_the_virtual_imu_on_live_windows_is_refused_with_what_to_do(utd_root, tmp_path, capsys, flags):
    """The virtual IMU is computed per whole clip from its skeleton file: with the default live
    windows it is refused before any work, naming --clips."""
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 22], subjects=[1, 2], trials=[1, 2],
                       modalities=("Inertial", "Skeleton"))
    assert main(["train", "--dataset", str(data), "--visual", "skeleton", *flags, "--out", str(tmp_path / "m")]) == 2
    assert "computes a virtual IMU per whole clip: train it with --clips" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
