"""Scores of a stream of live decisions, as the temporal-action-segmentation field scores them.

A stream is scored per hop: each hop has a time t (seconds, the end of its window), the decision
the live path took then (a class name or NO_ACTION) and the true action at that instant (a class
name, or NO_ACTION during a rest). Every function here is pure (numpy only, no model, no I/O):

    frame_accuracy       share of hops whose decision equals the truth (NO_ACTION is wrong during
                         an action; during a rest any class is wrong)
    settled_mask         hops at least `settle_s` after the last true change (the frame accuracy
                         "leaving out the first second after each change")
    macro_f1             F1 per true class (NO_ACTION included when rests occur), averaged
    edit_score           segmental edit score, 0..100: (1 - Levenshtein(pred segments, true
                         segments) / max(#pred, #true)) x 100, NO_ACTION segments left out as
                         background (Lea et al., CVPR 2017; as MS-TCN, Farha & Gall, CVPR 2019)
    f1_counts / f1       F1@k: a decided segment is a true positive when its IoU with a not yet
                         matched true segment of the same class is at least k/100 (the best-IoU
                         one), else a false positive; unmatched true segments are false negatives.
                         Background left out as for the edit score (MS-TCN's F1@{10,25,50})
    detection_delays     per true action segment: seconds from its start to the first hop inside
                         it whose decision is that action; segments never detected are "missed"
    false_starts         decided action segments (runs of one class) whose first hop is during a
                         rest, and the seconds of rest (hops whose truth is NO_ACTION x hop)
    lagged_truth_accuracy  the frame accuracy of a perfect recogniser that is `lag_s` late: each
                         hop decided as the truth LAGS_S earlier. A causal window cannot know an
                         action before its first samples arrive, so this is the yardstick for
                         frame accuracy at a given detection delay (the shorter the actions,
                         the lower it is)

`stream_figures(parts)` gives all of them over one or more separately played streams (frame
scores pooled over hops, F1 counts and delays pooled over segments, edit averaged over parts as
MS-TCN averages it over videos), and `StreamScore` collects (t, decision, truth) per hop where the
live pipeline runs (`c3t live`, `c3t demo --headless`) to print the same figures at the end.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from c3t.core.options import NO_ACTION

OVERLAPS = (10, 25, 50)     # F1@k thresholds, percent IoU
SETTLE_S = 1.0              # frame accuracy also reported leaving out this long after each true change
LAGS_S = (0.25, 0.5, 1.0)   # the lags of the perfect-but-late recogniser the frame accuracy is set beside


def runs(labels) -> list[tuple[str, int, int]]:
    """Maximal runs of equal labels as (label, first index, end index exclusive), in order.
    `labels` (H,) of str; [] for an empty sequence."""
    labels = list(labels)
    out, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append((labels[start], start, i))
            start = i
    return out if labels else []


def frame_accuracy(decisions, truths, mask=None) -> float | None:
    """Share (0..1) of hops (where `mask` is True, default all) whose decision equals the truth;
    None when no hop counts. `decisions`, `truths`: (H,) class names."""
    d, t = np.asarray(decisions, dtype=object), np.asarray(truths, dtype=object)
    keep = np.ones(len(d), bool) if mask is None else np.asarray(mask, bool)
    return float((d[keep] == t[keep]).mean()) if keep.any() else None


def settled_mask(t, truths, settle_s: float = SETTLE_S) -> np.ndarray:
    """(H,) bool: True for hops at least `settle_s` seconds after the last change of the truth
    (the first hop's truth counts as a change at its time: nothing before it was seen).
    `t` (H,) seconds, increasing."""
    t = np.asarray(t, dtype=np.float64)
    change = t[0] if len(t) else 0.0
    out = np.zeros(len(t), bool)
    for i in range(len(t)):
        if i > 0 and truths[i] != truths[i - 1]:
            change = t[i]
        out[i] = t[i] - change >= settle_s - 1e-9
    return out


def macro_f1(decisions, truths) -> float | None:
    """Per-hop F1 of each class present in `truths` (NO_ACTION too when rests occur), averaged
    (0..1); a decision of a class that never occurs counts only as a false positive of nothing
    (it lowers the recall of the true class). None for no hops."""
    d, t = np.asarray(decisions, dtype=object), np.asarray(truths, dtype=object)
    if not len(t):
        return None
    scores = []
    for c in dict.fromkeys(t.tolist()):
        tp = np.sum((d == c) & (t == c))
        scores.append(2 * tp / (np.sum(d == c) + np.sum(t == c)))
    return float(np.mean(scores))


def _segments(labels, background: str) -> list[tuple[str, int, int]]:
    return [r for r in runs(labels) if r[0] != background]


def edit_score(decisions, truths, background: str = NO_ACTION) -> float:
    """Segmental edit score 0..100 (see the module docstring): 100 when the decided and true
    segment sequences (background left out) are equal, also when both are empty."""
    p = [r[0] for r in _segments(decisions, background)]
    g = [r[0] for r in _segments(truths, background)]
    if not p and not g:
        return 100.0
    row = list(range(len(g) + 1))
    for i, a in enumerate(p, 1):
        prev, row[0] = row[0], i
        for j, b in enumerate(g, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a != b))
    return (1.0 - row[-1] / max(len(p), len(g))) * 100.0


def f1_counts(decisions, truths, overlap: float, background: str = NO_ACTION) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of F1@k with IoU threshold `overlap`
    (0..1, i.e. k/100); segments are runs of hops, background left out (module docstring)."""
    pred, true = _segments(decisions, background), _segments(truths, background)
    hit = np.zeros(len(true), bool)
    tp = fp = 0
    for label, a, b in pred:
        best, which = 0.0, -1
        for j, (g, c, d) in enumerate(true):
            if g != label:
                continue
            iou = (min(b, d) - max(a, c)) / (max(b, d) - min(a, c))
            if iou > best:
                best, which = iou, j
        if which >= 0 and best >= overlap and not hit[which]:
            tp, hit[which] = tp + 1, True
        else:
            fp += 1
    return tp, fp, len(true) - int(hit.sum())


def f1(tp: int, fp: int, fn: int) -> float:
    """F1 (0..1) from counts; 1.0 when there is nothing to find and nothing was decided."""
    if tp + fp + fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


def detection_delays(t, decisions, segments, background: str = NO_ACTION) -> tuple[list[float], int]:
    """(delays in seconds of the detected true action segments, how many were missed).
    `segments`: true (start_s, end_s, label); a segment is detected at the first hop with
    start <= t < end whose decision is its label. Background segments are not actions."""
    t = np.asarray(t, dtype=np.float64)
    d = np.asarray(decisions, dtype=object)
    delays, missed = [], 0
    for start, end, label in segments:
        if label == background:
            continue
        inside = np.flatnonzero((t >= start) & (t < end) & (d == label))
        if len(inside):
            delays.append(float(t[inside[0]] - start))
        elif ((t >= start) & (t < end)).any():
            missed += 1
    return delays, missed


def lagged_truth_accuracy(t, truths, lag_s: float) -> float | None:
    """The frame accuracy (0..1) of deciding each hop as the truth `lag_s` seconds earlier (the
    first hop's truth before the stream starts). `t` (H,) seconds, ascending; `truths` (H,)."""
    t = np.asarray(t, dtype=np.float64)
    if not len(t):
        return None
    earlier = np.clip(np.searchsorted(t, t - lag_s + 1e-9, side="right") - 1, 0, None)
    return frame_accuracy([truths[i] for i in earlier], truths)


def false_starts(decisions, truths, hop_s: float, background: str = NO_ACTION) -> tuple[int, float]:
    """(decided action segments that start on a hop whose truth is background, seconds of
    background: its hops x `hop_s`)."""
    starts = sum(1 for label, a, _ in runs(decisions) if label != background and truths[a] == background)
    rest_s = float(np.sum(np.asarray(truths, dtype=object) == background)) * hop_s
    return starts, rest_s


def segments_from_hops(t, truths, hop_s: float) -> list[tuple[float, float, str]]:
    """True segments (start_s, end_s, label) read off per-hop truths: each run starts at its first
    hop's time and ends one hop after its last (delays measured from them are up to a hop short)."""
    t = np.asarray(t, dtype=np.float64)
    return [(float(t[a]), float(t[b - 1] + hop_s), label) for label, a, b in runs(truths)]


@dataclass
class Part:
    """One separately played stream: hop times t (H,) seconds, decisions and truths (H,) class
    names, the hop in seconds and the exact true segments (start_s, end_s, label), or None to read
    them off the hops."""

    t: np.ndarray
    decisions: list
    truths: list
    hop_s: float
    segments: list | None = None


def _rounded(x, digits: int = 4):
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else round(float(x), digits)


def stream_figures(parts: list[Part]) -> dict:
    """Every figure of the module docstring over `parts` (JSON-ready; None where undefined):
    hops, seconds, frame_accuracy, frame_accuracy_settled, macro_f1, edit (0..100),
    f1_10 / f1_25 / f1_50 (0..1), delay_s_median, delay_s_p95, actions, detected, missed,
    false_starts, rest_minutes, false_starts_per_min, no_action_share, decided_segments,
    true_segments, lagged_truth_accuracy ({lag in seconds as text: share} for LAGS_S)."""
    parts = [p for p in parts if len(p.t)]
    d = [x for p in parts for x in p.decisions]
    g = [x for p in parts for x in p.truths]
    settled = np.concatenate([settled_mask(p.t, p.truths) for p in parts]) if parts else np.zeros(0, bool)
    counts = {k: np.sum([f1_counts(p.decisions, p.truths, k / 100) for p in parts], axis=0) if parts else (0, 0, 0)
              for k in OVERLAPS}
    delays, missed, starts, rest_s = [], 0, 0, 0.0
    for p in parts:
        segs = p.segments if p.segments is not None else segments_from_hops(p.t, p.truths, p.hop_s)
        found, lost = detection_delays(p.t, p.decisions, segs)
        delays += found
        missed += lost
        n, s = false_starts(p.decisions, p.truths, p.hop_s)
        starts, rest_s = starts + n, rest_s + s
    out = {
        "hops": len(d),
        "seconds": _rounded(sum(len(p.t) * p.hop_s for p in parts), 2),
        "frame_accuracy": _rounded(frame_accuracy(d, g)),
        "frame_accuracy_settled": _rounded(frame_accuracy(d, g, settled)),
        "macro_f1": _rounded(macro_f1(d, g)),
        "edit": _rounded(np.mean([edit_score(p.decisions, p.truths) for p in parts]) if parts else None, 2),
        **{f"f1_{k}": _rounded(f1(*counts[k])) for k in OVERLAPS},
        "delay_s_median": _rounded(np.median(delays) if delays else None, 3),
        "delay_s_p95": _rounded(np.percentile(delays, 95) if delays else None, 3),
        "actions": len(delays) + missed, "detected": len(delays), "missed": missed,
        "false_starts": starts, "rest_minutes": _rounded(rest_s / 60, 3),
        "false_starts_per_min": _rounded(starts / (rest_s / 60) if rest_s > 0 else None, 3),
        "no_action_share": _rounded(float(np.mean(np.asarray(d, dtype=object) == NO_ACTION)) if d else None),
        "decided_segments": sum(len(_segments(p.decisions, NO_ACTION)) for p in parts),
        "true_segments": sum(len(_segments(p.truths, NO_ACTION)) for p in parts),
        "lagged_truth_accuracy": {f"{lag:g}": _rounded(_pooled_lagged(parts, lag)) for lag in LAGS_S},
    }
    return out


def _pooled_lagged(parts: list[Part], lag_s: float) -> float | None:
    """lagged_truth_accuracy pooled over the hops of every part."""
    hops = sum(len(p.t) for p in parts)
    if not hops:
        return None
    return sum(lagged_truth_accuracy(p.t, p.truths, lag_s) * len(p.t) for p in parts) / hops


def figure_lines(fig: dict) -> list[str]:
    """`stream_figures` output (plus "clip_top1" / "window_top1" when present) as a few readable
    lines, percentages where the figure is a share."""
    def pct(key):
        v = fig.get(key)
        return "-" if v is None else f"{100 * v:.1f}%"

    def num(key, fmt="{:.2f}"):
        v = fig.get(key)
        return "-" if v is None else fmt.format(v)

    lines = [
        (f"hops {fig['hops']} ({num('seconds', '{:.0f}')} s): frame accuracy {pct('frame_accuracy')}, "
         f"leaving out {SETTLE_S:g} s after each change {pct('frame_accuracy_settled')}, macro-F1 {pct('macro_f1')}, "
         f"'{NO_ACTION}' decided on {pct('no_action_share')} of hops"),
        (f"segments: edit {num('edit', '{:.1f}')}, F1@10 {num('f1_10')}, F1@25 {num('f1_25')}, F1@50 {num('f1_50')} "
         f"({fig['decided_segments']} decided action segments for {fig['true_segments']} true)"),
        (f"detection delay: median {num('delay_s_median')} s, 95th percentile {num('delay_s_p95')} s "
         f"({fig['detected']} of {fig['actions']} actions detected); false starts {fig['false_starts']} in "
         f"{num('rest_minutes')} min of rest = {num('false_starts_per_min')} per min"),
    ]
    lagged = fig.get("lagged_truth_accuracy") or {}
    if any(v is not None for v in lagged.values()):
        lines.append("yardstick: a perfect recogniser that is " + " / ".join(f"{k}" for k in lagged) + " s late scores "
                     + " / ".join("-" if v is None else f"{100 * v:.1f}" for v in lagged.values()) + "% frame accuracy")
    if "clip_top1" in fig or "window_top1" in fig:
        lines.append(f"beside them: clip top-1 {pct('clip_top1')} on the same clips; window top-1 (raw top class, "
                     f"windows wholly inside one true segment) {pct('window_top1')}")
    return lines


@dataclass
class StreamScore:
    """Collects (t, decision, truth) per hop where the live pipeline runs and scores them with
    `stream_figures` (truths read off the hops: delays up to one hop short). `hop_s`: the
    predictor's hop in seconds."""

    hop_s: float
    t: list = field(default_factory=list)
    decisions: list = field(default_factory=list)
    truths: list = field(default_factory=list)

    def add(self, t: float, decision: str, truth: str | None) -> None:
        """One hop: its time (seconds), the decision, the true action (None: a rest)."""
        self.t.append(float(t))
        self.decisions.append(decision)
        self.truths.append(truth or NO_ACTION)

    def figures(self) -> dict:
        """`stream_figures` of what was collected (hops 0 when nothing was)."""
        return stream_figures([Part(np.array(self.t), self.decisions, self.truths, self.hop_s)])
