"""Splits, label isolation, the InfoNCE loss and models: the UMA learning core."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from c3t.core.errors import C3tError
from c3t.core.model.losses import info_nce
from c3t.core.model.networks import ModelConfig, UmaModel
from c3t.training import splits as S
from c3t.training.methods import TrainConfig, train


def test_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(27), 29)
    a, b, c = S.uma_split(labels, 0), S.uma_split(labels, 0), S.uma_split(labels, 1)
    all_idx = np.concatenate([a[n] for n in S.SPLITS])
    assert sorted(all_idx.tolist()) == list(range(len(labels)))  # a partition
    for n in S.SPLITS:
        assert np.array_equal(a[n], b[n])
        assert set(np.unique(labels[a[n]])) == set(range(27))  # every class in every split
    assert not np.array_equal(a["test"], c["test"])
    sizes = {n: len(a[n]) / len(labels) for n in S.SPLITS}
    assert abs(sizes["har"] - 0.4) < 0.03 and abs(sizes["align"] - 0.4) < 0.03
    assert abs(sizes["val"] - 0.1) < 0.03 and abs(sizes["test"] - 0.1) < 0.03


def test_align_view_has_no_labels():
    assert [f.name for f in dataclasses.fields(S.Pairs)] == ["visual", "imu"]
    # D_HAR carries no measured IMU: virtual_imu is computed from its skeleton (training/virtual_imu.py)
    assert [f.name for f in dataclasses.fields(S.CameraLabelled)] == ["visual", "labels", "virtual_imu"]


def _toy(n_per_class=12, classes=3, seed=0):
    """Camera sequences and IMU that share a class-dependent waveform."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    t = np.linspace(0, 1, 32)
    base = np.stack([np.sin(2 * np.pi * (c + 1) * t) for c in range(classes)])
    visual = (base[labels][:, :, None] * np.ones(8) + 0.1 * rng.normal(size=(len(labels), 32, 8))).astype(np.float32)
    imu_t = np.linspace(0, 1, 64)
    imu_base = np.stack([np.cos(2 * np.pi * (c + 1) * imu_t) for c in range(classes)])
    imu = (imu_base[labels][:, :, None] * np.ones(6) + 0.1 * rng.normal(size=(len(labels), 64, 6))).astype(np.float32)
    keys = [f"k{i}" for i in range(len(labels))]
    return type("Data", (), {"visual": visual, "imu": imu, "labels": labels, "keys": keys})


def _train_tiny(data, method="c3t", schedule="combined", epochs=2, split=None, refine_epochs=0, soft_threshold=None, **model_kw):
    split = split or S.uma_split(data.labels, 0)
    har, align, val, test = S.views(data, split)
    cfg = TrainConfig(method=method, schedule=schedule, epochs=epochs, batch=8, seed=0, refine_epochs=refine_epochs,
                      soft_threshold=soft_threshold)
    mcfg = ModelConfig(method=method, num_classes=3, visual_input="sequence", visual_channels=8, width=32, latent=32, t_rec=4, **model_kw)
    upper = S.upper_bound(data, split) if method in ("supervised-imu", "supervised-fusion") else None
    model, info = train(cfg, mcfg, har, align, val, upper)
    return model, info, test


@pytest.mark.parametrize("method,schedule,refine,soft", [
    ("c3t", "combined", 0, None), ("c3t", "align-first", 0, None), ("c3t", "har-first", 0, None),
    ("ca", "interspersed", 0, None), ("st", "combined", 0, None), ("fusion-pl", "combined", 0, None),
    ("c3t", "combined", 2, None), ("ca", "combined", 2, None), ("st", "combined", 0, 0.4)])
def test_training_never_depends_on_align_or_test_labels(method, schedule, refine, soft):
    """Scrambling the labels of D_Align and D_Test must not change a single weight (with
    pseudo-label refinement and soft pseudo-labels too: their labels are the model's own
    predictions)."""
    data = _toy()
    split = S.uma_split(data.labels, 0)
    model_a, info, _ = _train_tiny(data, method, schedule, split=split, refine_epochs=refine, soft_threshold=soft)
    assert ("refine_pseudo_label_classes" in info) == bool(refine)
    assert ("pseudo_labels_kept" in info) == (soft is not None)
    scrambled = data.labels.copy()
    rng = np.random.default_rng(5)
    for n in ("align", "test"):
        scrambled[split[n]] = rng.integers(0, 3, len(split[n]))
    assert not np.array_equal(scrambled, data.labels)
    data_b = type("Data", (), {"visual": data.visual, "imu": data.imu, "labels": scrambled, "keys": data.keys})
    model_b, _, _ = _train_tiny(data_b, method, schedule, split=split, refine_epochs=refine, soft_threshold=soft)
    for (k, va), vb in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_infonce_aligned_pairs_near_minimum_and_shuffled_worse():
    torch.manual_seed(0)
    n, d = 32, 64
    a = F.normalize(torch.randn(n, d) * 10, dim=1)
    aligned = info_nce(a, a.clone(), temperature=0.05)
    shuffled = info_nce(a, a[torch.randperm(n)], temperature=0.05)
    # well-separated random unit vectors in 64-d: positives at similarity 1, negatives near 0
    assert aligned < 0.05
    assert shuffled > aligned + 1.0
    assert info_nce(a, a, 0.1) >= 0


def test_c3t_returns_attention_over_t_rec_steps():
    cfg = ModelConfig(method="c3t", num_classes=5, visual_input="sequence", visual_channels=8, t_rec=8)
    model = UmaModel(cfg).eval()
    probs, att = model(imu=torch.randn(3, 128, 6))
    assert probs.shape == (3, 5) and att.shape == (3, 8)
    assert torch.allclose(att.sum(-1), torch.ones(3)) and (att >= 0).all()
    probs, att = model(imu=torch.randn(3, 128, 6), visual=torch.randn(3, 32, 8))
    assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)


def test_c3t_learns_the_toy_task_without_imu_labels():
    data = _toy(n_per_class=20)
    model, info, test = _train_tiny(data, "c3t", "combined", epochs=25)
    from c3t.training.evaluate import evaluate
    assert evaluate(model, test.imu, test.visual, test.labels, "imu")["top1"] >= 0.8


@pytest.mark.parametrize("head", ["concat-attention", "add-mlp", "concat-mlp"])
def test_c3t_head_variants_train(head):
    model, _, test = _train_tiny(_toy(n_per_class=8), "c3t", "combined", epochs=1, head=head)
    probs, att = model(imu=torch.from_numpy(test.imu))
    assert probs.shape == (len(test.labels), 3) and att is None


@pytest.mark.parametrize("method", ["c3t", "ca", "st"])
def test_attention_encoders_train_and_keep_the_latent_shapes(method):
    model, _, test = _train_tiny(_toy(n_per_class=8), method, "combined", epochs=1, encoder="attention")
    assert model.f2.temporal.kind == "attention" and model.f1.temporal.kind == "attention"
    z = model.encode_imu(torch.from_numpy(test.imu))
    assert z.shape == (len(test.labels), 4 if method == "c3t" else 1, 32)
    probs, _ = model(imu=torch.from_numpy(test.imu), visual=torch.from_numpy(test.visual))
    assert torch.allclose(probs.sum(-1), torch.ones(len(test.labels)), atol=1e-5)


@pytest.mark.parametrize("fusion,paths", [("early", ("fusion",)), ("late", ("imu", "visual", "fusion")),
                                          ("attention", ("fusion",))])
def test_supervised_fusion_variants_train_and_refuse_a_missing_input(fusion, paths):
    from c3t.core.errors import C3tError
    from c3t.training.evaluate import evaluate, evaluate_all

    model, _, test = _train_tiny(_toy(n_per_class=8), "supervised-fusion", epochs=2, fusion=fusion)
    assert model.cfg.paths == paths
    assert set(evaluate_all(model, test)) == set(paths)
    imu, vis = torch.from_numpy(test.imu), torch.from_numpy(test.visual)
    if fusion == "late":   # the mean of the two classifiers' probabilities
        both = model(imu=imu, visual=vis)[0]
        assert torch.allclose(both, (model(imu=imu)[0] + model(visual=vis)[0]) / 2, atol=1e-6)
    else:
        with pytest.raises(ValueError, match=f"{fusion} fusion predicts from both"):
            model(imu=imu)
        with pytest.raises(C3tError, match="no imu path; try --modality fusion"):
            evaluate(model, test.imu, test.visual, test.labels, "imu")


def test_upper_bounds_are_the_only_methods_given_imu_labels():
    from c3t.core.errors import C3tError

    data = _toy(n_per_class=8)
    split = S.uma_split(data.labels, 0)
    har, align, val, _ = S.views(data, split)
    mcfg = ModelConfig(method="c3t", num_classes=3, visual_input="sequence", visual_channels=8, width=16, latent=16, t_rec=4)
    with pytest.raises(C3tError, match="UpperBound"):
        train(TrainConfig(method="c3t", epochs=1), mcfg, har, align, val, S.upper_bound(data, split))
    model, _, test = _train_tiny(data, "supervised-fusion", epochs=1)
    probs, _ = model(imu=torch.from_numpy(test.imu), visual=torch.from_numpy(test.visual))
    assert probs.shape == (len(test.labels), 3)


def test_learnable_temperature_moves():
    data = _toy(n_per_class=8)
    split = S.uma_split(data.labels, 0)
    har, align, val, _ = S.views(data, split)
    mcfg = ModelConfig(method="ca", num_classes=3, visual_input="sequence", visual_channels=8, width=16, latent=16, t_rec=4)
    _, info = train(TrainConfig(method="ca", epochs=10, batch=4, lr=1e-2, temperature=0), mcfg, har, align, val)
    assert abs(info["learned_temperature"] - 0.07) > 2e-3


def _tiny_c3t():
    """((D_HAR, D_Align, D_Val, D_Test) of the toy data's seed-0 split, a tiny C3T ModelConfig,
    a 2-epoch TrainConfig)."""
    data = _toy()
    views = S.views(data, S.uma_split(data.labels, 0))
    mcfg = ModelConfig(method="c3t", num_classes=3, visual_input="sequence", visual_channels=8, width=32, latent=32, t_rec=4)
    return views, mcfg, TrainConfig(method="c3t", epochs=2, batch=8, seed=0)


def test_refinement_from_a_stored_schedule_gives_the_same_model():
    """methods.train(start=...): refinement continuing from the state the schedule left gives
    the weights of training schedule + refinement in one go (the bench reuses its C3T cell)."""
    (har, align, val, _), mcfg, cfg = _tiny_c3t()
    schedule_only, _ = train(cfg, mcfg, har, align, val)
    both, _ = train(dataclasses.replace(cfg, refine_epochs=2), mcfg, har, align, val)
    resumed, info = train(dataclasses.replace(cfg, refine_epochs=2), mcfg, har, align, val, start=schedule_only.state_dict())
    assert info["refined_from_start"] and "refine_pseudo_label_classes" in info
    for (k, va), vb, vs in zip(both.state_dict().items(), resumed.state_dict().values(), schedule_only.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vs) for va, vs in zip(both.state_dict().values(), schedule_only.state_dict().values()))
    with pytest.raises(C3tError, match="a start state skips the schedule"):
        train(cfg, mcfg, har, align, val, start=schedule_only.state_dict())


def test_soft_label_st_from_a_stored_hard_st_takes_its_teacher_and_gives_the_same_model():
    """methods.train(start=...) for ST with soft labels: the teacher (f1, h) of a hard-label ST
    model is taken, not trained again, and the student comes out as in one go (the bench reuses
    its ST cell)."""
    data = _toy()
    har, align, val, _ = S.views(data, S.uma_split(data.labels, 0))
    mcfg = ModelConfig(method="st", num_classes=3, visual_input="sequence", visual_channels=8, width=32, latent=32, t_rec=4)
    hard, _ = train(TrainConfig(method="st", epochs=2, batch=8, seed=0), mcfg, har, align, val)
    soft_cfg = TrainConfig(method="st", epochs=2, batch=8, seed=0, soft_threshold=0.3)
    in_one_go, info_one = train(soft_cfg, mcfg, har, align, val)
    resumed, info = train(soft_cfg, mcfg, har, align, val, start=hard.state_dict())
    assert info["teacher_from_start"] and "teacher_val_top1" in info_one and "teacher_val_top1" not in info
    for (k, va), vb in zip(in_one_go.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(va, vb), k
    changed = [k for k, v in hard.state_dict().items() if not torch.equal(v, resumed.state_dict()[k])]
    assert changed and all(k.startswith(("f2.", "h_imu.")) for k in changed)   # only the student differs
    with pytest.raises(C3tError, match="a start state skips"):
        train(TrainConfig(method="fusion-pl", epochs=2, batch=8, seed=0, soft_threshold=0.3),
              dataclasses.replace(mcfg, method="fusion-pl"), har, align, val, start=hard.state_dict())


def test_soft_pseudo_labels_keep_the_confident_clips_and_belong_to_teacher_methods():
    data = _toy()
    n_align = len(S.uma_split(data.labels, 0)["align"])
    _, all_kept, _ = _train_tiny(data, "st", soft_threshold=0.0)
    _, strict, _ = _train_tiny(data, "st", soft_threshold=0.99)
    assert all_kept["pseudo_labels_kept"] == n_align and 0 < strict["pseudo_labels_kept"] <= n_align
    for method, tau in (("c3t", 0.5), ("st", 1.0), ("st", -0.1)):
        with pytest.raises(C3tError, match="soft pseudo-labels are for st and fusion-pl"):
            _train_tiny(data, method, soft_threshold=tau)


def test_refinement_keeps_the_most_confident_share_of_each_pseudo_class():
    _, info, _ = _train_tiny(_toy(), "c3t", refine_epochs=1)
    n_align = len(S.uma_split(_toy().labels, 0)["align"])
    assert info["refine_pseudo_labels_kept"] < n_align and info["refine_pseudo_labels_kept"] >= 0.7 * n_align - 3


def test_refinement_follows_ca_or_c3t_only():
    with pytest.raises(C3tError, match="refinement follows a CA or C3T schedule"):
        _train_tiny(_toy(n_per_class=4), "st", "combined", refine_epochs=2)


def test_virtual_imu_regularisation_needs_the_virtual_clips_and_c3t_or_ca_combined():
    """TrainConfig.virtual_weight: L_CE of D_HAR's virtual IMU joins C3T's combined steps (the
    model changes, no IMU label involved); refused for other methods, schedules, or without the
    virtual clips."""
    data = _toy()
    har, align, val, _ = S.views(data, S.uma_split(data.labels, 0))
    rng = np.random.default_rng(0)
    virtual = rng.normal(size=(len(har.labels),) + align.imu.shape[1:]).astype(np.float32)
    mcfg = ModelConfig(method="c3t", num_classes=3, visual_input="sequence", visual_channels=8, width=32, latent=32, t_rec=4)
    cfg = TrainConfig(method="c3t", epochs=2, batch=8, seed=0)
    plain, _ = train(cfg, mcfg, har, align, val)
    with_virtual, _ = train(dataclasses.replace(cfg, virtual_weight=0.5), mcfg, dataclasses.replace(har, virtual_imu=virtual), align, val)
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), with_virtual.state_dict().values()))
    for bad_cfg, bad_har in ((dataclasses.replace(cfg, virtual_weight=0.5), har),
                             (dataclasses.replace(cfg, virtual_weight=0.5, schedule="har-first"), dataclasses.replace(har, virtual_imu=virtual)),
                             (dataclasses.replace(cfg, method="st", virtual_weight=0.5), dataclasses.replace(har, virtual_imu=virtual))):
        with pytest.raises(C3tError, match="the virtual IMU regularises c3t and ca"):
            train(bad_cfg, dataclasses.replace(mcfg, method=bad_cfg.method), bad_har, align, val)


def test_an_ensembles_first_member_is_the_single_model_and_it_predicts_the_members_mean():
    """methods.train with ModelConfig.members = 2: member 0 has exactly the weights of the single
    model of the same seed (same split, same random streams), member 1 others; the ensemble's
    probabilities are the members' mean; alternatives hold every rule's state for all members;
    a stored ensemble's refinement continues member by member (`start`)."""
    from c3t.core.model.networks import Ensemble, build_model

    (har, align, val, test), mcfg, cfg = _tiny_c3t()
    single, _ = train(cfg, mcfg, har, align, val)
    alternatives: dict = {}
    ens, info = train(cfg, dataclasses.replace(mcfg, members=2), har, align, val, alternatives=alternatives)
    assert isinstance(ens, Ensemble) and len(info["members"]) == 2
    for k, v in single.state_dict().items():
        assert torch.equal(v, ens.members[0].state_dict()[k]), k
    assert any(not torch.equal(v, ens.members[1].state_dict()[k]) for k, v in single.state_dict().items())
    imu, vis = torch.from_numpy(test.imu), torch.from_numpy(test.visual)
    with torch.no_grad():
        (p, a), parts = ens(imu=imu, visual=vis), [m(imu=imu, visual=vis) for m in ens.members]
    assert torch.allclose(p, (parts[0][0] + parts[1][0]) / 2) and torch.allclose(a, (parts[0][1] + parts[1][1]) / 2)
    assert set(alternatives) == {"val", "last", "align-loss"}
    probe = build_model(dataclasses.replace(mcfg, members=2))
    probe.load_state_dict(alternatives["last"][2])   # every member's key is there
    refined, _ = train(dataclasses.replace(cfg, refine_epochs=2), dataclasses.replace(mcfg, members=2), har, align, val)
    resumed, rinfo = train(dataclasses.replace(cfg, refine_epochs=2), dataclasses.replace(mcfg, members=2), har, align, val,
                           start=ens.state_dict())
    assert all(m["refined_from_start"] for m in rinfo["members"])
    for k, v in refined.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_the_frame_cnn_with_a_grid_tells_where_in_the_frame_something_moves():
    """The same flow blob in the upper or the lower half of a 32 px frame (moved by a multiple of
    the CNN's stride 8, away from the borders): the global average (grid 1) gives the same
    features, the 4 x 4 grid of motion models (defaults.FRAME_GRID) different ones."""
    from c3t.core.model.networks import FrameCNN
    from c3t.core.options import frame_grid

    upper, lower = torch.zeros(1, 2, 32, 32), torch.zeros(1, 2, 32, 32)
    upper[:, :, 8:12, 12:20] = lower[:, :, 16:20, 12:20] = torch.tensor([1.0, -0.5])[:, None, None]
    torch.manual_seed(0)
    pooled = FrameCNN(2, 16).eval()
    gridded = FrameCNN(2, 16, frame_grid("motion")).eval()
    with torch.no_grad():
        def moved(cnn, a, b):
            """How far the features of frame a are from those of frame b."""
            return float((cnn(a) - cnn(b)).abs().max())

        empty = torch.zeros_like(upper)   # the scale: how far the blob moves the features from an empty frame's
        assert moved(pooled, upper, lower) < 1e-3 * moved(pooled, upper, empty)
        assert moved(gridded, upper, lower) > 0.5 * moved(gridded, upper, empty)
    assert frame_grid("depth") == 1   # depth models keep the global average their tables were measured with


def test_model_configs_saved_before_the_frame_grid_load_with_the_global_average():
    old = ModelConfig(method="c3t", num_classes=5, visual_input="frames", visual_channels=1).to_dict()
    del old["frame_grid"]
    assert ModelConfig.from_dict(old).frame_grid == 1
