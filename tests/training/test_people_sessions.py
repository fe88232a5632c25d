"""Who wore the IMU, said when recording (issue #29, point 4): sessions recorded with a person
train under the per-person protocols (cross-subject, new-user) with no manifest edited by hand."""
from __future__ import annotations

import json

import pytest

from c3t.app.cli import main
from c3t.core.errors import C3tError
from c3t.core.session.format import Session, check_person
from c3t.core.session.record_loop import record
from c3t.devices.simulated import DATA_BATCH_S, SimulatedSource

PEOPLE = {"ann": 1, "bob": 2, "cy": 3, "dee": 4}   # name -> the simulated person who wears the IMU


def record_people(root, seconds: float = 14.0):
    """Per person an unlabelled, a camera-labelled and a checking session, recorded on simulated
    time with the person's name, as `c3t record --person NAME` and the Record tab write them."""
    for name, subject in PEOPLE.items():
        for use in ("align", "har", "check"):
            sim = SimulatedSource(realtime=False, seed=5, subject=subject, width=64, height=48, fps=15,
                                  actions="wave,squat", batch_s=DATA_BATCH_S)
            record(root / f"{name}-{use}", [(sim, sim.streams)], duration=seconds,
                   truth=None if use == "align" else use, person=name)


@pytest.fixture(scope="module")
def people_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    record_people(root)
    return root


def test_the_person_is_in_every_manifest(people_root):
    for name in PEOPLE:
        for use in ("align", "har", "check"):
            s = Session(people_root / f"{name}-{use}")
            assert s.manifest["person"] == name and s.person == name


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("protocol", ["cross-subject", "new-user"])
def test_per_person_protocols_train_on_recorded_sessions(people_root, tmp_path, protocol):
    model = tmp_path / "model"
    # the sessions' windows, cut once for both protocols; rgb: no optical flow to compute (the split is tested)
    cache = people_root.parent / f"{people_root.name}-cache"
    assert main(["train", "--dataset", str(people_root), "--method", "c3t", "--visual", "rgb", "--backbone", "small-cnn",
                 "--epochs", "1", "--protocol", protocol, "--cache", str(cache), "--out", str(model),
                 "--quiet"]) == 0
    split = json.loads((model / "split.json").read_text())
    assert split["assignment"].startswith(f"{protocol} by person")
    tested = set(split["people"]["test"])
    assert tested == {"bob", "dee"}                           # every second person, none of them trained on
    trained = {"har": set(split["people"]["har"]), "align": set(split["people"]["align"])}
    assert not tested & trained["har"]
    assert (tested <= trained["align"]) if protocol == "new-user" else not tested & trained["align"]


def test_a_name_that_would_break_a_people_list_is_refused():
    assert check_person("  p01 ") == "p01" and check_person("") is None and check_person(None) is None
    with pytest.raises(C3tError, match="no commas"):
        check_person("ann,bob")
    with pytest.raises(C3tError, match="no control characters"):
        check_person("ann\nbob")
    with pytest.raises(C3tError, match="at most 64 characters"):
        check_person("x" * 65)


def test_c3t_record_person(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["record", "--imu", "sim?width=64&height=48", "--person", " ann ", "--duration", "2", "--out", str(out),
                 "--quiet"]) == 0
    assert Session(out).person == "ann"
    assert main(["record", "--imu", "sim", "--person", "ann,bob", "--duration", "2", "--out", str(tmp_path / "t")]) == 2
    assert "no commas in a person's name" in capsys.readouterr().err and not (tmp_path / "t").exists()
