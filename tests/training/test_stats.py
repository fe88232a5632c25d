"""Paired comparisons over seeds and the people-and-clips bootstrap (training/stats.py), and the
tables that print them (experiments.render_table)."""
import csv
import json

import numpy as np
import pytest
from scipy import stats as scipy_stats

from c3t.core.errors import C3tError
from c3t.training.experiments import reference_row, render_table
from c3t.training.stats import paired_difference, people_bootstrap


def test_a_paired_difference_is_the_paired_t_test_seed_by_seed():
    a, b = [0.80, 0.85, 0.90, 0.82], [0.78, 0.80, 0.91, 0.75]
    d = paired_difference(a, b)
    assert d["mean_diff"] == pytest.approx(100 * np.mean(np.subtract(a, b)))
    assert d["p"] == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue)
    assert (d["wins"], d["losses"], d["n"]) == (3, 1, 4)
    assert np.isnan(paired_difference([0.5], [0.4])["p"])          # one seed: no test
    with pytest.raises(C3tError, match="same seeds"):
        paired_difference([0.5, 0.6], [0.4])


def test_the_people_bootstrap_widens_with_people_who_differ():
    """Two seeds, four test people: when the people differ (one at 20%, three at 95%) the
    interval is wider than when every person scores alike at the same mean, and it holds the
    mean."""
    rng = np.random.default_rng(0)
    people = np.repeat(["2", "4", "6", "8"], 50)
    alike = [(rng.random(200) < 0.7625).astype(int) for _ in range(2)]
    rates = np.repeat([0.2, 0.95, 0.95, 0.95], 50)
    differ = [(rng.random(200) < rates).astype(int) for _ in range(2)]
    wide = people_bootstrap(differ, [people, people], reps=400)
    narrow = people_bootstrap(alike, [people, people], reps=400)
    assert wide["lo"] <= wide["mean"] <= wide["hi"] and narrow["lo"] <= narrow["mean"] <= narrow["hi"]
    assert wide["hi"] - wide["lo"] > 2 * (narrow["hi"] - narrow["lo"])
    assert wide["people"] == 4
    with pytest.raises(C3tError, match="seed 0"):
        people_bootstrap([np.ones(3)], [np.array(["1", "2"])])


def test_tables_compare_like_with_like_and_print_both_intervals(tmp_path):
    rows = [("C3T", [0.70, 0.75, 0.72]), ("C3T + refinement", [0.78, 0.80, 0.74]),
            ("C3T, ensemble of 3", [0.80, 0.82, 0.79]), ("C3T + refinement, ensemble of 3", [0.83, 0.85, 0.84])]
    path = tmp_path / "main-seeds.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "seed", "wall_seconds", "IMU top-1"])
        for name, values in rows:
            for s, v in enumerate(values):
                w.writerow([name, s, 1.0, v])
    methods = [n for n, _ in rows]
    assert reference_row(methods, "C3T + refinement") == "C3T"
    assert reference_row(methods, "C3T + refinement, ensemble of 3") == "C3T, ensemble of 3"   # ensemble with ensemble
    assert reference_row(methods, "C3T") is None
    table = render_table(path)
    assert "+5.0 vs C3T (p" in table and "3/3 seeds higher" in table
    assert "vs C3T, ensemble of 3 (p" in table and "people + clips" not in table
    clips = {n: {str(s): {"people": ["2", "4"] * 5, "imu_correct": [1] * 7 + [0] * 3} for s in range(3)} for n in methods}
    (tmp_path / "main-clips.json").write_text(json.dumps(clips))
    assert "IMU top-1, 95% over people + clips" in render_table(path)


def test_label_free_columns_are_left_empty_where_an_earlier_phase_chose_by_d_val():
    """A refinement row trained with D_Val selection starts its last phase from D_Val's pick:
    its 'last epoch' is not label-free, so the bench leaves that column empty (#32)."""
    from c3t.training.experiments import _selected

    selection = {"last": {"test_imu_top1": 0.9}, "align-loss": {"test_imu_top1": 0.88}}
    one_phase = {"train_info": {"history": [{"phase": "combined"}], "selection": {"used": "val"}}, "selection": selection}
    two_phases = {"train_info": {"history": [{"phase": "combined"}, {"phase": "refine"}], "selection": {"used": "val"}},
                  "selection": selection}
    continued = {"train_info": {"history": [{"phase": "refine"}], "refined_from_start": True, "selection": {"used": "val"}},
                 "selection": selection}
    label_free_run = {"train_info": {"history": [{"phase": "combined"}, {"phase": "refine"}], "selection": {"used": "last"}},
                      "selection": selection}
    assert _selected("last")(one_phase) == 0.9 and _selected("align-loss")(one_phase) == 0.88
    assert _selected("last")(two_phases) is None and _selected("last")(continued) is None
    assert _selected("last")(label_free_run) == 0.9 and _selected("align-loss")(label_free_run) is None
