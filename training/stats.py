"""How sure a table's figures are: paired comparisons over seeds, and intervals that include
which test people and clips happened to be drawn.

- `paired_difference`: two rows of one table trained on the same seeds (the same split per
  seed) compared seed by seed: the mean difference, the paired t-test's two-sided p, and on how
  many seeds the first was higher. A "better than" claim needs this, not two overlapping
  intervals of unpaired means.
- `people_bootstrap`: a hierarchical bootstrap of top-1 over seeds, test people, and clips
  within each person (each level resampled with replacement), so the interval covers test
  sampling (a few test people, one D_Test) as well as the seed spread that the t interval of
  `experiments.summarize` covers alone.
"""
from __future__ import annotations

import numpy as np

from c3t.core.errors import C3tError


def paired_difference(a: list[float], b: list[float]) -> dict:
    """Row a minus row b over paired seeds (values 0..1, one per seed, in the same seed order).

    Returns {"n", "mean_diff" (points, percent), "p" (paired t-test, two-sided; NaN under 2
    seeds or when every difference is equal), "wins" (seeds where a > b), "losses"}.

    Raises:
        C3tError: a and b hold different numbers of seeds, or none.
    """
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) != len(b) or not len(a):
        raise C3tError(f"a paired comparison needs the same seeds on both rows; got {len(a)} and {len(b)} values")
    d = a - b
    p = float("nan")
    if len(d) > 1 and np.ptp(d) > 0:
        p = float(stats.ttest_rel(a, b).pvalue)
    return {"n": int(len(d)), "mean_diff": float(100 * d.mean()), "p": p,
            "wins": int((d > 0).sum()), "losses": int((d < 0).sum())}


def people_bootstrap(correct: list[np.ndarray], people: list[np.ndarray], reps: int = 2000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """Top-1 with a hierarchical bootstrap interval: `correct[s]` (n_s,) 0/1 per D_Test clip of
    seed s, `people[s]` (n_s,) the person each clip shows. Each replicate draws seeds, then test
    people, then each drawn person's clips, all with replacement, and scores the pooled clips.

    Returns {"mean" (percent, over every clip of every seed), "lo", "hi" (the percentile interval
    at `level`), "reps", "people" (distinct test people)}.

    Raises:
        C3tError: no seeds, or a seed whose arrays differ in length or are empty.
    """
    if not correct or len(correct) != len(people):
        raise C3tError(f"the bootstrap needs per-clip results for at least one seed; got {len(correct)} "
                       f"result and {len(people)} people arrays")
    groups = []
    for s, (c, p) in enumerate(zip(correct, people)):
        c, p = np.asarray(c, float), np.asarray(p).astype(str)
        if len(c) != len(p) or not len(c):
            raise C3tError(f"seed {s}: {len(c)} results for {len(p)} clips' people")
        groups.append([c[p == who] for who in np.unique(p)])
    rng = np.random.default_rng(seed)
    scores = np.empty(reps)
    for r in range(reps):
        hits = total = 0.0
        for s in rng.integers(0, len(groups), len(groups)):
            persons = groups[s]
            for k in rng.integers(0, len(persons), len(persons)):
                clips = persons[k]
                drawn = clips[rng.integers(0, len(clips), len(clips))]
                hits += drawn.sum()
                total += len(drawn)
        scores[r] = hits / total
    tail = 100 * (1 - level) / 2
    pooled = np.concatenate([np.asarray(c, float) for c in correct])
    return {"mean": float(100 * pooled.mean()), "lo": float(np.percentile(100 * scores, tail)),
            "hi": float(np.percentile(100 * scores, 100 - tail)), "reps": reps,
            "people": len({str(x) for p in people for x in np.asarray(p)})}
