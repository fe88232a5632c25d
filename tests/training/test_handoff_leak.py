"""The hand-off guard (#32): nothing of a test person's held-out clips reaches training.

The split tests (test_protocols.py) check which indices go where; these check what `pipeline.fit`
actually hands to the trainer. Each test person's held-out clips (cross-subject: every clip of the
test people; new-user: their later trials; random: D_Test) are overwritten with other numbers
(their IMU and camera input, and their labels under the people-wise protocols) and the model is trained again on the same seed: every
weight and every normalisation buffer must come out bit for bit the same. Any path by which those
clips, or statistics of them, reach D_HAR, D_Align, D_Val, the virtual IMU or the input
normalisation changes at least one number. The mutation check at the end proves the test can fail:
appending the test clips to D_Align inside fit is caught.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from c3t.core.options import defaults_for
from c3t.training import pipeline
from c3t.training import splits as S
from c3t.training.prepare import prepare
from tests.conftest import link_subset

TEST_PEOPLE = ("2", "4", "6", "8")   # UTD-MHAD's people-wise test people (splits.py)


@pytest.fixture(scope="module")
def skeleton_data(utd_root, tmp_path_factory):
    root = link_subset(utd_root, tmp_path_factory.mktemp("utd") / "d", actions=[1, 9, 22, 27],
                       modalities=("Inertial", "Skeleton"))
    return prepare(root, "skeleton", progress=False)


def held_out(data, protocol: str, seed: int) -> np.ndarray:
    """Indices of the clips that must not reach training, decided here from the people and
    trials (people-wise protocols) rather than taken from fit's own split."""
    people = data.subjects.astype(str)
    tested = np.isin(people, TEST_PEOPLE)
    if protocol == "cross-subject":
        return np.flatnonzero(tested)
    if protocol == "new-user":   # the new users' later trials are D_Test; their earlier ones are D_Align by design
        return np.flatnonzero(tested & (data.trials > data.trials.max() // 2))
    return S.split_for(data, seed, protocol="random")["test"]


def overwrite(data, idx: np.ndarray, labels_too: bool):
    """`data` with the clips `idx` replaced: other IMU and camera numbers and, with
    `labels_too`, other labels. (The random protocol is the paper's class-stratified split over
    every clip, so which clip is D_Test depends on all labels by design: there only the data is
    replaced.)"""
    rng = np.random.default_rng(7)
    imu, visual, labels = data.imu.copy(), data.visual.copy(), data.labels.copy()
    imu[idx] = rng.normal(3.0, 5.0, imu[idx].shape).astype(imu.dtype)
    visual[idx] = rng.normal(-2.0, 4.0, visual[idx].shape).astype(visual.dtype)
    if labels_too:
        labels[idx] = (labels[idx] + 1) % len(data.classes)
    return dataclasses.replace(data, imu=imu, visual=visual, labels=labels)


def fit_state(data, protocol: str, method: str, **options) -> dict:
    """The trained state (weights and normalisation buffers) of a tiny fit, one thread, seed 0."""
    cfg = defaults_for(method, "skeleton", epochs=2, batch=16, seed=0, protocol=protocol, **options)
    torch.set_num_threads(1)
    model, *_ = pipeline.fit(data, cfg, latent=32, t_rec=4)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """fit picks its thread count from the machine's load; two runs must sum in the same order."""
    monkeypatch.setattr(pipeline, "threads_for_load", contextlib.nullcontext)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def assert_same(a: dict, b: dict) -> None:
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert not changed, f"the held-out clips changed {len(changed)} of {len(a)} tensors, e.g. {changed[:4]}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("protocol", ["random", "cross-subject", "new-user"])
@pytest.mark.parametrize("method,options", [("c3t", {"refine_epochs": 1, "virtual_weight": 0.5}),
                                            ("supervised-imu", {})])
def test_held_out_clips_change_nothing_the_model_learns(skeleton_data, protocol, method, options):
    idx = held_out(skeleton_data, protocol, seed=0)
    assert len(idx) >= 8
    before = fit_state(skeleton_data, protocol, method, **options)
    after = fit_state(overwrite(skeleton_data, idx, labels_too=protocol != "random"), protocol, method, **options)
    assert_same(before, after)


@pytest.mark.timeout(900)
def test_the_guard_catches_test_clips_appended_to_d_align(skeleton_data, monkeypatch):
    """Mutation check: the leak the audit planted (every cross-subject test person's clips
    appended to D_Align inside fit) makes the guard above fail."""
    real_views = S.views

    def leaky_views(data, split):
        har, align, val, test = real_views(data, split)
        align = S.Pairs(visual=np.concatenate([align.visual, test.visual]), imu=np.concatenate([align.imu, test.imu]))
        return har, align, val, test

    monkeypatch.setattr(S, "views", leaky_views)
    idx = held_out(skeleton_data, "cross-subject", seed=0)
    before = fit_state(skeleton_data, "cross-subject", "c3t")
    after = fit_state(overwrite(skeleton_data, idx, labels_too=True), "cross-subject", "c3t")
    with pytest.raises(AssertionError, match="the held-out clips changed"):
        assert_same(before, after)
