"""ONNX export: files per inference path, parity with torch on real windows, refusal, records."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.core.model.folder import load_model, save_model
from c3t.core.model.inference import OnnxEngine, TorchEngine, open_engine, read_export
from c3t.core.model.networks import Ensemble, ModelConfig, UmaModel, build_model, pool_matrix
from c3t.core.streams.window import InputSpec
from c3t.training import export as E
from c3t.training.utd_mhad import UTD_CLASSES
from tests.conftest import link_subset


def untrained_folder(folder, data, cfg: ModelConfig, spec: InputSpec, seed: int = 0):
    """A model folder with freshly initialised weights (export does not care about training)."""
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    save_model(folder, model, inputs=spec.to_dict(), classes=list(UTD_CLASSES), training={}, dataset=str(data))
    return folder


@pytest.fixture(scope="module")
def skeleton_c3t(utd_root, tmp_path_factory):
    """A full-size C3T skeleton model folder over real clips of 3 actions (freshly initialised:
    training is tested elsewhere, export only needs the architecture, weights and dataset)."""
    tmp = tmp_path_factory.mktemp("skeleton")
    data = link_subset(utd_root, tmp / "d", actions=[1, 9, 22], subjects=range(1, 5), trials=range(1, 4),
                       modalities=("Inertial", "Skeleton"))
    cfg = ModelConfig(method="c3t", num_classes=27, visual_input="sequence", visual_channels=63)
    return untrained_folder(tmp / "model", data, cfg, InputSpec(visual="skeleton"))


def onnx_files(folder):
    return sorted(p.name for p in folder.glob("*.onnx"))


def test_c3t_skeleton_export_matches_torch_and_outputs_attention(skeleton_c3t, capsys):
    assert main(["export", "--model", str(skeleton_c3t)]) == 0
    assert "wrote imu.onnx, camera.onnx, fusion.onnx" in capsys.readouterr().out
    assert onnx_files(skeleton_c3t) == ["camera.onnx", "fusion.onnx", "imu.onnx"]
    record = read_export(skeleton_c3t)
    assert record["opset"] >= 17 and record["backbone"] is None and len(record["parity"]["clips"]) == 4
    dataset = skeleton_c3t.parent / "d"
    assert all((dataset / "Inertial" / f"{key}_inertial.mat").exists() for key in record["parity"]["clips"])
    for path, info in record["paths"].items():
        assert info["outputs"] == ["probs", "attention"]
        assert info["max_prob_diff"] < 1e-4 and info["max_attention_diff"] < 1e-4
        graph = onnx.load(str(skeleton_c3t / info["file"]))
        assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
        dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
        assert dims == info["inputs"] and all(shape[0] == 1 for shape in dims.values())
    # fresh windows the parity check did not use: onnxruntime and torch agree, attention sums to 1
    model, config = load_model(skeleton_c3t)
    windows = E.real_windows(skeleton_c3t.parent, config, clips=6)  # no split.json there: clips across the dataset
    assert set(windows.keys) - set(read_export(skeleton_c3t)["parity"]["clips"])
    engine, eager = OnnxEngine(skeleton_c3t), TorchEngine(skeleton_c3t)
    for i in range(len(windows.keys)):
        feeds = {"imu": windows.imu[i : i + 1], "visual": windows.visual[i : i + 1]}
        for path, inputs in (("imu", ["imu"]), ("camera", ["visual"]), ("fusion", ["imu", "visual"])):
            p, a = engine.run(path, **{k: feeds[k] for k in inputs})
            q, b = eager.run(path, **{k: feeds[k] for k in inputs})
            assert p.shape == (27,) and a.shape == (model.cfg.t_rec,)
            assert np.abs(p - q).max() < 1e-4 and np.abs(a - b).max() < 1e-4
            assert abs(a.sum() - 1) < 1e-5


def test_an_ensemble_exports_as_one_graph_per_path_that_matches_torch(utd_root, tmp_path, capsys):
    """A 2-member C3T ensemble (models.Ensemble) loads from its folder as an Ensemble and exports
    one ONNX file per path, whose probabilities and attention are the members' mean in torch."""
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 9, 22], subjects=range(1, 3), trials=range(1, 3),
                       modalities=("Inertial", "Skeleton"))
    cfg = ModelConfig(method="c3t", num_classes=27, visual_input="sequence", visual_channels=63, members=2)
    folder = untrained_folder(tmp_path / "model", data, cfg, InputSpec(visual="skeleton"))
    model, _ = load_model(folder)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert main(["export", "--model", str(folder)]) == 0
    assert "an ensemble of 2" in capsys.readouterr().out
    assert onnx_files(folder) == ["camera.onnx", "fusion.onnx", "imu.onnx"]
    for info in read_export(folder)["paths"].values():
        assert info["max_prob_diff"] < 1e-4 and info["max_attention_diff"] < 1e-4
    assert main(["bench", "latency", "--model", str(folder), "--windows", "10"]) == 0
    assert "c3t (ensemble of 2), imu path" in capsys.readouterr().out
    windows = E.real_windows(data, json.loads((folder / "config.json").read_text()), clips=2)
    p, a = OnnxEngine(folder).run("imu", imu=windows.imu[:1])
    with torch.no_grad():
        parts = [m(imu=torch.from_numpy(windows.imu[:1])) for m in model.members]
    assert np.abs(p - (parts[0][0] + parts[1][0]).numpy()[0] / 2).max() < 1e-4
    assert np.abs(a - (parts[0][1] + parts[1][1]).numpy()[0] / 2).max() < 1e-4


def test_ca_features_model_exports_backbone_and_runs_end_to_end(utd_root, tmp_path):
    data = link_subset(utd_root, tmp_path / "d", actions=[5], subjects=[2], trials=[1], modalities=("Inertial", "Depth"))
    cfg = ModelConfig(method="ca", num_classes=27, visual_input="features", visual_channels=1280, width=32, latent=32)
    folder = untrained_folder(tmp_path / "m", data, cfg, InputSpec(visual="depth", backbone="efficientnet-lite0"))
    record = E.export_model(folder, clips=1, log=lambda *a: None)
    assert onnx_files(folder) == ["backbone.onnx", "camera.onnx", "fusion.onnx", "imu.onnx"]
    assert record["backbone"]["name"] == "efficientnet-lite0"
    assert record["paths"]["camera"]["inputs"] == {"visual": [1, 16, 1280]}
    assert all(info["outputs"] == ["probs"] for info in record["paths"].values())  # CA has no attention
    assert all(info["max_prob_diff"] < 1e-4 for info in record["paths"].values())
    # the backbone takes any number of frames (one new frame per camera frame live)
    engine = OnnxEngine(folder)
    images = np.random.default_rng(0).uniform(size=(3, 3, 112, 112)).astype(np.float32)
    feats = engine.features(images)
    assert feats.shape == (3, 1280)
    assert np.abs(feats[:1] - engine.features(images[:1])).max() < 1e-4
    probs, att = engine.run("camera", visual=np.repeat(feats[:1], 16, axis=0)[None])
    assert att is None and abs(probs.sum() - 1) < 1e-5


def test_frames_model_exports_despite_non_divisible_pooling(utd_root, tmp_path):
    """16 frames -> 4 steps -> t_rec 8 is an adaptive pool the TorchScript exporter refuses by itself."""
    data = link_subset(utd_root, tmp_path / "d", actions=[3], subjects=[1], trials=[1], modalities=("Inertial", "Depth"))
    cfg = ModelConfig(method="c3t", num_classes=27, visual_input="frames", visual_channels=1, width=32, latent=32)
    folder = untrained_folder(tmp_path / "m", data, cfg, InputSpec(visual="depth", backbone="small-cnn"))
    record = E.export_model(folder, clips=1, log=lambda *a: None)
    assert record["paths"]["camera"]["inputs"] == {"visual": [1, 16, 1, 32, 32]}
    assert record["paths"]["camera"]["max_prob_diff"] < 1e-4


def test_motion_model_on_synth_exports_from_the_rgb_video(tmp_path, capsys):
    """A motion input is computed from the rgb video: the parity check must read the clip's
    recorded source (rgb), not a modality named "motion" that no dataset has."""
    data = tmp_path / "ds"
    assert main(["synth", "--out", str(data), "--subjects", "1", "--reps", "1", "--actions", "wave",
                 "--size", "64x48", "--quiet"]) == 0
    cfg = ModelConfig(method="c3t", num_classes=1, visual_input="frames", visual_channels=2, width=32, latent=32, frame_grid=4)
    spec = InputSpec(visual="motion", backbone="small-cnn")
    torch.manual_seed(0)
    save_model(tmp_path / "m", UmaModel(cfg).eval(), inputs=spec.to_dict(), classes=["wave"], training={}, dataset=str(data))
    record = E.export_model(tmp_path / "m", clips=1, log=lambda *a: None)
    frames, size = spec.frames, spec.frame_size
    assert record["paths"]["camera"]["inputs"] == {"visual": [1, frames, 2, size, size]}
    # its live camera work is timed on frames of the size asked for (a webcam's 640x480 by default)
    assert main(["bench", "latency", "--model", str(tmp_path / "m"), "--path", "camera", "--windows", "10",
                 "--size", "320x240", "--json"]) == 0
    out = capsys.readouterr().out
    assert "75 frames of 320x240" in out and json.loads(out.splitlines()[-1])["camera_size"] == "320x240"
    assert main(["bench", "latency", "--model", str(tmp_path / "m"), "--size", "320"]) == 2
    assert "--size '320': expected WIDTHxHEIGHT" in capsys.readouterr().err


@pytest.mark.parametrize("t_in,t_out", [(32, 8), (4, 8), (5, 3), (7, 7), (9, 4)])
def test_pool_matrix_is_torchs_adaptive_average_pooling(t_in, t_out):
    x = torch.randn(2, 3, t_in)
    expected = F.adaptive_avg_pool1d(x, t_out)
    assert torch.allclose(x @ pool_matrix(t_in, t_out), expected, atol=1e-6)


def test_export_refuses_to_write_when_parity_fails(skeleton_c3t, tmp_path, monkeypatch):
    """A corrupted onnxruntime output must stop the export: no new files, the old export intact."""
    if not (skeleton_c3t / "export.json").exists():
        E.export_model(skeleton_c3t, log=lambda *a: None)
    before = {p.name: p.read_bytes() for p in skeleton_c3t.iterdir() if p.is_file()}
    real_run = E.run_onnx

    def corrupted(session, feeds):
        out = real_run(session, feeds)
        if "visual" in feeds and "imu" not in feeds:  # only the camera path goes wrong
            out[0] = out[0] + np.float32(2e-2)   # far above float32 rounding (parity_tolerance)
        return out

    monkeypatch.setattr(E, "run_onnx", corrupted)
    with pytest.raises(C3tError, match=r"parity check failed for the camera path.*nothing was written"):
        E.export_model(skeleton_c3t, clips=1, log=lambda *a: None)
    after = {p.name: p.read_bytes() for p in skeleton_c3t.iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in skeleton_c3t.iterdir() if p.name.startswith(".export-")]


def test_a_failed_first_export_leaves_no_files(utd_root, tmp_path, monkeypatch, capsys):
    data = link_subset(utd_root, tmp_path / "d", actions=[2], subjects=[1], trials=[1], modalities=("Inertial", "Skeleton"))
    cfg = ModelConfig(method="supervised-imu", num_classes=27, visual_input="sequence", visual_channels=63, width=32, latent=32)
    folder = untrained_folder(tmp_path / "m", data, cfg, InputSpec(visual="skeleton"))
    monkeypatch.setattr(E, "run_onnx", lambda session, feeds: [np.full((1, 27), np.nan, np.float32)])
    assert main(["export", "--model", str(folder), "--clips", "1"]) == 2
    assert "parity check failed for the imu path" in capsys.readouterr().err
    assert onnx_files(folder) == [] and not (folder / "export.json").exists()
    monkeypatch.undo()
    record = E.export_model(folder, clips=1, log=lambda *a: None)
    assert list(record["paths"]) == ["imu"] and onnx_files(folder) == ["imu.onnx"]  # IMU-only model: one path


def test_engines_explain_a_missing_or_stale_export(skeleton_c3t, tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("config.json", "weights.pt"):
        (folder / name).write_bytes((skeleton_c3t / name).read_bytes())
    with pytest.raises(C3tError, match="run `c3t export --model"):
        OnnxEngine(folder)
    engine = open_engine(folder)  # auto: torch, and says why
    assert engine.backend == "torch" and "c3t export" in engine.note
    E.export_model(folder, clips=1, log=lambda *a: None)
    assert open_engine(folder).backend == "onnxruntime"
    model, _ = load_model(folder)
    with torch.no_grad():
        model.h.out.bias += 1.0  # "retrained": the ONNX files no longer match weights.pt
    torch.save(model.state_dict(), folder / "weights.pt")
    with pytest.raises(C3tError, match="exported from other weights"):
        open_engine(folder, "onnxruntime")
    assert open_engine(folder).backend == "torch"
    (tmp_path / "empty").mkdir()
    with pytest.raises(C3tError, match="no config.json"):
        open_engine(tmp_path / "empty")


def test_export_without_the_dataset_asks_for_one(skeleton_c3t, tmp_path, capsys):
    assert main(["export", "--model", str(skeleton_c3t), "--dataset", str(tmp_path / "gone")]) == 2
    assert f"--dataset {tmp_path / 'gone'} does not exist; give a UTD-MHAD folder" in capsys.readouterr().err


def test_bench_latency_prints_both_backends(skeleton_c3t, capsys):
    if not (skeleton_c3t / "export.json").exists():
        E.export_model(skeleton_c3t, log=lambda *a: None)
    assert main(["bench", "latency", "--model", str(skeleton_c3t), "--windows", "30", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    for key in ("onnx_p50_ms", "onnx_p95_ms", "torch_p95_ms", "ratio", "windows_per_s", "step_p95_ms"):
        assert result[key] > 0, key
    assert result["onnx_p50_ms"] <= result["onnx_p95_ms"]
    assert abs(result["ratio"] - result["torch_p50_ms"] / result["onnx_p50_ms"]) < 0.05 * result["ratio"]
    assert any("onnxruntime" in line for line in out) and any("torch" in line for line in out)
    # --size sets a motion model's camera frames; here it is said to be unused, not silently ignored
    assert main(["bench", "latency", "--model", str(skeleton_c3t), "--windows", "10", "--size", "1280x720"]) == 0
    assert "--size 1280x720 not used: it sets the camera frames of a motion model's input" in capsys.readouterr().out
