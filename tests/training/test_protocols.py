"""People-wise protocols (cross-subject, new-user): no clip of a test person reaches training,
on real UTD-MHAD, on `c3t synth` output and on recorded sessions with a person field; label-free
model selection; the supervised references' labels; the tables' statistics."""
from __future__ import annotations

import json

import numpy as np
import pytest

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.training import splits as S
from c3t.training.prepare import prepare
from tests.conftest import link_subset

PEOPLE_WISE = ("cross-subject", "new-user")


def _trial(key: str) -> int:
    return int(key.rsplit("_t", 1)[1])


def _check_people_split(data, split, protocol, train_people, test_people):
    """The protocol's promises, clip by clip."""
    people = data.subjects.astype(str)
    for name in ("har", "val"):
        assert set(people[split[name]]) <= set(train_people), (protocol, name)
    assert set(people[split["test"]]) == set(test_people)
    if protocol == "cross-subject":
        assert set(people[split["align"]]) <= set(train_people)
        assert len(split["test"]) == int(np.isin(people, test_people).sum())   # every clip of the test people
    else:
        assert set(people[split["align"]]) == set(test_people)                  # the new users' own, unlabelled
        half = data.trials.max() // 2                                           # UTD-MHAD: trials 1-2 | 3-4
        assert data.trials[split["align"]].max() <= half < data.trials[split["test"]].min()
    used = np.concatenate([split[n] for n in S.SPLITS])
    assert len(used) == len(set(used.tolist()))                                 # no clip in two splits
    training = np.concatenate([split["har"], split["align"], split["val"]])
    assert not set(training.tolist()) & set(split["test"].tolist())
    assert not np.isin(people[np.concatenate([split["har"], split["val"]])], test_people).any()


@pytest.fixture(scope="module")
def utd_skeleton(utd_root, tmp_path_factory):
    root = link_subset(utd_root, tmp_path_factory.mktemp("utd") / "d", actions=[1, 9, 22, 27],
                       modalities=("Inertial", "Skeleton"))
    return prepare(root, "skeleton", progress=False)


@pytest.mark.parametrize("protocol", PEOPLE_WISE)
def test_utd_mhad_test_people_never_reach_training(utd_skeleton, protocol):
    for seed in range(3):
        split = S.split_for(utd_skeleton, seed, protocol=protocol)
        _check_people_split(utd_skeleton, split, protocol, ["1", "3", "5", "7"], ["2", "4", "6", "8"])
        assert set(utd_skeleton.labels[split["har"]]) == set(utd_skeleton.labels)   # stratified: every class taught
    a, b = (S.split_for(utd_skeleton, s, protocol=protocol) for s in (0, 1))
    assert np.array_equal(a["test"], b["test"]) and not np.array_equal(a["har"], b["har"])   # the seed moves training only


def test_named_test_people_and_bad_names(utd_skeleton):
    split = S.split_for(utd_skeleton, 0, protocol="cross-subject", test_people="3,8")
    _check_people_split(utd_skeleton, split, "cross-subject", ["1", "2", "4", "5", "6", "7"], ["3", "8"])
    with pytest.raises(C3tError, match="test person '9' is not in the data"):
        S.split_for(utd_skeleton, 0, protocol="cross-subject", test_people="9")
    with pytest.raises(C3tError, match="unknown protocol"):
        S.split_for(utd_skeleton, 0, protocol="by-moon")


@pytest.mark.parametrize("protocol", PEOPLE_WISE)
def test_choosing_on_training_people_leaves_the_test_people_out_altogether(utd_skeleton, protocol):
    inner = S.training_people_only(utd_skeleton, "7")
    assert set(inner.subjects.astype(str).tolist()) == {"1", "3", "5", "7"}
    assert len(inner.keys) == len(inner.labels) == len(inner.imu) == len(inner.visual) == len(inner.trials)
    kept = {k: i for i, k in enumerate(utd_skeleton.keys)}
    for j, key in enumerate(inner.keys):   # every row is the same clip's data, not a neighbour's
        assert "_s2_" not in key and "_s4_" not in key and "_s6_" not in key and "_s8_" not in key
        assert np.array_equal(inner.imu[j], utd_skeleton.imu[kept[key]]) and inner.labels[j] == utd_skeleton.labels[kept[key]]
    split = S.split_for(inner, 0, protocol=protocol, test_people=["7"])
    _check_people_split(inner, split, protocol, ["1", "3", "5"], ["7"])
    with pytest.raises(C3tError, match="hold out one of the training people \\(1, 3, 5, 7\\)"):
        S.training_people_only(utd_skeleton, "4")


def test_train_cli_new_user_writes_who_went_where(utd_root, tmp_path, cache_dir, capsys):
    data = link_subset(utd_root, tmp_path / "d", actions=[1, 9, 22], modalities=("Inertial", "Skeleton"))
    out = tmp_path / "model"
    assert main(["train", "--dataset", str(data), "--visual", "skeleton", "--method", "c3t", "--epochs", "1",
                 "--protocol", "new-user", "--select", "align-loss", "--out", str(out), "--quiet",
                 "--cache", str(cache_dir)]) == 0
    split = json.loads((out / "split.json").read_text())
    assert split["protocol"] == "new-user" and split["test_people"] == ["2", "4", "6", "8"]
    assert split["people"]["har"] == split["people"]["val"] == ["1", "3", "5", "7"]
    assert split["people"]["align"] == ["2", "4", "6", "8"]
    assert {_trial(k) for k in split["align"]} == {1, 2} and {_trial(k) for k in split["test"]} == {3, 4}
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["protocol"] == "new-user" and training["select"] == "align-loss"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["selection"]) == {"val", "last", "align-loss"}
    assert "test IMU top1 by selection rule" in capsys.readouterr().out


def test_supervised_references_under_new_user(utd_skeleton):
    from c3t.training.pipeline import upper_parts

    split = S.split_for(utd_skeleton, 0, protocol="new-user")
    people = utd_skeleton.subjects.astype(str)
    others = S.upper_bound(utd_skeleton, split, upper_parts("new-user", "training"))
    own = S.upper_bound(utd_skeleton, split, upper_parts("new-user", "new-users"))
    assert len(others.labels) == len(split["har"]) and len(own.labels) == len(split["align"])
    assert set(people[split["align"]]) == {"2", "4", "6", "8"}
    k2 = S.upper_bound(utd_skeleton, split, ("align",), per_class=2, seed=0)
    assert np.bincount(k2.labels).max() == 2 and len(k2.labels) == 2 * len(np.unique(own.labels))
    with pytest.raises(C3tError, match="needs --protocol new-user"):
        upper_parts("cross-subject", "new-users")


# ---------------------------------------------------------------- c3t synth output
@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "ds"
    assert main(["synth", "--out", str(out), "--subjects", "4", "--reps", "3", "--actions", "wave,squat",
                 "--size", "64x48", "--quiet"]) == 0
    return out


def test_synth_cross_subject_odd_people_train_even_test(synth, tmp_path):
    data = prepare(synth, "skeleton", progress=False)
    for protocol in PEOPLE_WISE:
        split = S.split_for(data, 0, protocol=protocol)
        _check_people_split(data, split, protocol, ["1", "3"], ["2", "4"])
    out = tmp_path / "model"
    assert main(["train", "--dataset", str(synth), "--visual", "skeleton", "--method", "c3t", "--epochs", "1",
                 "--protocol", "cross-subject", "--out", str(out), "--quiet", "--cache", str(tmp_path / "c")]) == 0
    split = json.loads((out / "split.json").read_text())
    assert split["people"]["test"] == ["2", "4"] and split["people"]["har"] == ["1", "3"]
    assert all("_s2_" in k or "_s4_" in k for k in split["test"])
    assert not any("_s2_" in k or "_s4_" in k for n in ("har", "align", "val") for k in split[n])


# ---------------------------------------------------------------- recorded sessions
def _sessions_data(people: list[str], roles_per_session=("har", "align", "check")):
    """Windows of one session per person, each with every role (as prepare_sessions gives them)."""
    roles, labels, groups, who, index = [], [], [], [], []
    for i, person in enumerate(people):
        for role in roles_per_session:
            for k in range(4):
                roles.append(role)
                labels.append(-1 if role == "align" else k % 2)
                groups.append("" if role == "align" else f"s{i}#{role}{k}")
                who.append(person)
                index.append(i)
    n = len(roles)
    return type("Data", (), {"labels": np.array(labels), "keys": [f"w{i}" for i in range(n)],
                             "subjects": np.array(index), "imu": np.zeros((n, 4, 6), np.float32),
                             "visual": np.zeros((n, 2, 3), np.float32),
                             "extra": {"roles": np.array(roles), "groups": np.array(groups), "people": np.array(who),
                                       "session_index": np.array(index), "sessions": [f"rec-{p or i}" for i, p in enumerate(people)]}})


def test_sessions_people_wise_keep_roles_and_people_apart():
    data = _sessions_data(["ann", "bob", "cy", "dee"])
    who, roles = data.extra["people"], data.extra["roles"]
    cross = S.split_for(data, 0, protocol="cross-subject")
    assert set(who[np.concatenate([cross["har"], cross["align"], cross["val"]])]) == {"ann", "cy"}
    assert set(who[cross["test"]]) == {"bob", "dee"} and set(roles[cross["test"]]) == {"check"}
    new = S.split_for(data, 0, protocol="new-user")
    assert set(who[new["align"]]) == {"bob", "dee"} and set(roles[new["align"]]) == {"align"}
    assert set(who[np.concatenate([new["har"], new["val"]])]) == {"ann", "cy"}
    assert set(roles[new["test"]]) == {"check"} and set(who[new["test"]]) == {"bob", "dee"}
    assert S.to_json(data, new, 0, "new-user")["people"]["align"] == ["bob", "dee"]


def test_sessions_without_a_person_are_named():
    data = _sessions_data(["ann", "", "cy"])
    with pytest.raises(C3tError, match=r"rec-1 have no person.*\"person\": \"NAME\".*--protocol random"):
        S.split_for(data, 0, protocol="new-user")
    S.split_for(data, 0)                                  # the random protocol needs no people
    with pytest.raises(C3tError, match="at least two people"):
        S.split_for(_sessions_data(["ann"]), 0, protocol="cross-subject")
    with pytest.raises(C3tError, match="D_align would be empty.*unlabelled camera \\+ IMU pairs of the test people"):
        S.split_for(_sessions_data(["ann", "bob"], ("har", "check")), 0, protocol="new-user")


def test_session_person_reads_the_manifest(tmp_path):
    """Session.person: the manifest's "person" (c3t record --person, the Record tab's Person), else
    an older session's "subject"; "" for neither."""
    from c3t.core.session.format import MANIFEST, Session
    from c3t.core.session.writer import Recorder, RecorderConfig, StreamSpec

    def session(name, person=None, **manifest):
        rec = Recorder(tmp_path / name, [StreamSpec("imu", "imu", 100.0)], person=person, config=RecorderConfig(fsync=False))
        rec.close()
        m = json.loads((tmp_path / name / MANIFEST).read_text())
        (tmp_path / name / MANIFEST).write_text(json.dumps({**m, **manifest}))
        return Session(tmp_path / name)

    assert session("a", " ann ").person == "ann" and session("a2", "ann", subject=3).person == "ann"
    assert session("b", person=None, subject=3).person == "3"
    nobody = session("c")
    assert nobody.person == "" and nobody.manifest["person"] is None


# ---------------------------------------------------------------- selection and statistics
def test_label_free_selection_keeps_last_or_lowest_alignment_loss():
    from c3t.core.model.networks import ModelConfig
    from c3t.training.methods import TrainConfig, selection_rule, train
    from tests.training.test_learning import _toy

    data = _toy()
    split = S.uma_split(data.labels, 0)
    har, align, val, _ = S.views(data, split)
    mcfg = ModelConfig(method="c3t", num_classes=3, visual_input="sequence", visual_channels=8, width=32, latent=32, t_rec=4)
    for rule in ("val", "last", "align-loss"):
        alternatives: dict = {}
        model, _ = train(TrainConfig(method="c3t", epochs=4, batch=8, select=rule), mcfg, har, align, val,
                         alternatives=alternatives)
        assert set(alternatives) == {"val", "last", "align-loss"} and alternatives["last"][0] == 4
        kept = alternatives[selection_rule(rule, val)[0]][2]   # this toy D_Val is too small to choose: "val" keeps the last
        assert all(np.array_equal(v.numpy(), kept[k].cpu().numpy()) for k, v in model.state_dict().items())
    with pytest.raises(C3tError, match="unknown model selection"):
        train(TrainConfig(method="c3t", epochs=1, select="best-test"), mcfg, har, align, val)


def test_summaries_use_the_sample_std_and_a_t_interval(tmp_path):
    from c3t.training.experiments import render_table, summarize

    s = summarize([0.80, 0.90, 0.85])
    assert s["mean"] == pytest.approx(85.0) and s["std"] == pytest.approx(5.0)           # ddof=1
    assert s["hi"] - s["mean"] == pytest.approx(4.302653 * 5.0 / np.sqrt(3), rel=1e-5)  # t(0.975, 2)
    csv = tmp_path / "main-seeds.csv"
    csv.write_text("method,seed,wall_seconds,IMU top-1,camera top-1\nC3T,0,10,0.8,\nC3T,1,12,0.9,\nC3T,2,11,0.85,\n")
    table = render_table(csv)
    assert "| C3T | 85.0 ± 5.0 [72.6, 97.4] | – | reference | 11 |" in table   # C3T: the rows' paired reference
    assert main(["bench", "table", str(csv)]) == 0


@pytest.mark.parametrize("args, flag", [(["--method", "c3t", "--soft-threshold", "0.5"], "--soft-threshold 0.5"),
                                        (["--method", "st", "--soft-threshold", "1"], "--soft-threshold 1"),
                                        (["--method", "st", "--refine-epochs", "10"], "--refine-epochs 10"),
                                        (["--method", "st", "--virtual-weight", "0.5"], "--virtual-weight 0.5"),
                                        (["--method", "c3t", "--schedule", "har-first", "--virtual-weight", "1"],
                                         "--virtual-weight 1")])
def test_train_options_for_other_methods_are_refused_by_their_flag_before_any_work(utd_root, tmp_path, capsys, args, flag):
    """`c3t train` names the flag a method cannot take, before the dataset is read; nothing is written."""
    code = main(["train", "--dataset", str(utd_root), "--visual", "skeleton", "--out", str(tmp_path / "m"), "--quiet"] + args)
    err = capsys.readouterr().err
    assert code == 2 and f"error: {flag}:" in err and "reading" not in err
    assert not (tmp_path / "m").exists()
