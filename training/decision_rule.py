"""Choose the live decision rule on D_Val streams, never on D_Test (#28).

The live decision (core/model/predictor.py: smoothing over `history` windows, the "no action"
`threshold`, an online decoder) turns per-window probabilities into what the user sees. Which
rule is best depends on the model and the data, so it is chosen per model, on its D_Val windows
played in stream order: every rule in `candidates()` runs the same DecisionSmoother the
predictor runs over the D_Val probabilities, and is scored with the streaming benchmark's own
figures (training/stream_metrics.py): frame accuracy and F1@50, their mean (`objective`). The
best rule goes into the model folder's config as "decision" (`store`) and StreamingPredictor,
`c3t live` and the GUI use it unless told another (PredictorSettings.from_model).

D_Val is labelled with IMU labels, used as for model selection: to choose, never to train.
The current rule (the PredictorSettings defaults) is always scored beside it, so the choice is
measured against what it replaces.
"""
from __future__ import annotations

import itertools
import logging

import numpy as np

from c3t.core.model.folder import CONFIG_FILE, read_model_config
from c3t.core.model.predictor import RULE_FIELDS, DecisionSmoother, PredictorSettings
from c3t.core.options import NO_ACTION
from c3t.training.stream_metrics import Part, stream_figures

log = logging.getLogger(__name__)

HISTORIES = (1, 2, 3, 4, 6, 8)
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)
RELEASES = (0.1, 0.2)
MIN_HOPS = (2, 3, 4)
SWITCHES = (0.01, 0.03, 0.1, 0.3)


def candidates() -> list[dict]:
    """Every rule tried (RULE_FIELDS dicts): mean smoothing over HISTORIES x THRESHOLDS, each with
    no decoder, hysteresis (RELEASES), min-duration (MIN_HOPS) and the HMM filter (SWITCHES); the
    majority vote likewise without a decoder; the current default rule first."""
    base = PredictorSettings()
    out = [base.rule()]
    for smoothing, history, threshold in itertools.product(("mean", "majority"), HISTORIES, THRESHOLDS):
        plain = {**base.rule(), "smoothing": smoothing, "history": history, "threshold": threshold, "decoder": "none"}
        out.append(plain)
        if smoothing == "mean":
            out += [{**plain, "decoder": "hysteresis", "release": r} for r in RELEASES]
            out += [{**plain, "decoder": "min-duration", "min_hops": k} for k in MIN_HOPS]
            out += [{**plain, "decoder": "hmm", "switch": w} for w in SWITCHES]
    return out


def decide(probs: np.ndarray, classes: list[str], rule: dict) -> list[str]:
    """The decisions of `rule` over one stream's per-hop probabilities (H, K), as the live
    predictor takes them (DecisionSmoother, fresh at the stream's start)."""
    smoother = DecisionSmoother.from_settings(classes, PredictorSettings(**{k: rule[k] for k in RULE_FIELDS if k in rule}))
    return [smoother.update(p)[0] for p in probs]


def objective(fig: dict) -> float:
    """What the choice maximises: the mean of frame accuracy and F1@50 (0..1)."""
    return 0.5 * ((fig.get("frame_accuracy") or 0.0) + (fig.get("f1_50") or 0.0))


def choose(streams: list[tuple[np.ndarray, np.ndarray, list[str]]], classes: list[str], hop_s: float,
           tried: list[dict] | None = None) -> dict:
    """The best rule on D_Val `streams`: each (hop times t (H,), probabilities (H, K), truths (H,)
    class names or NO_ACTION), played separately, among `tried` (default: candidates()). Returns
    {"rule": the chosen RULE_FIELDS dict, "val": its figures, "default_val": the default rule's
    figures, "tried": how many rules}."""
    def score(rule):
        parts = [Part(np.asarray(t), decide(p, classes, rule), list(g), hop_s) for t, p, g in streams]
        return stream_figures(parts)

    tried = tried or candidates()
    scored = [(objective(f), i, f) for i, f in enumerate(score(r) for r in tried)]
    _, i, fig = max(scored, key=lambda x: (x[0], -x[1]))   # ties: the earlier (simpler, the default first)
    default = scored[0][2] if tried[0] == PredictorSettings().rule() else score(PredictorSettings().rule())
    log.info("decision rule on D_Val: %s (frame accuracy %.3f, F1@50 %.3f) against the default's %.3f / %.3f",
             tried[i], fig["frame_accuracy"] or 0, fig["f1_50"] or 0, default["frame_accuracy"] or 0, default["f1_50"] or 0)
    keep = ("frame_accuracy", "f1_50", "edit", "delay_s_median", "false_starts_per_min", "hops")
    return {"rule": tried[i], "val": {k: fig.get(k) for k in keep}, "default_val": {k: default.get(k) for k in keep},
            "tried": len(tried), "chosen_on": "D_Val streams (frame accuracy + F1@50) / 2"}


def val_streams(model, data, split: dict, modality: str = "imu") -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
    """D_Val's windows in stream order as (t (H,), probabilities (H, K), truths (H,)) per run of
    consecutive hops, from prepared stream windows (training/stream_windows.py: extra "t_end") or
    recorded-session windows (extra "t_end" per session, "session_index"). `modality`: "imu" or
    "fusion" (the path the live model is served on)."""
    from c3t.training.methods import predict

    idx = np.asarray(split["val"])
    extra = data.extra
    if not len(idx) or "t_end" not in extra:
        return []
    t = np.asarray(extra["t_end"])[idx]
    stream = np.asarray(extra.get("session_index", np.zeros(len(data.labels), np.int64)))[idx]
    order = np.lexsort((t, stream))
    idx, t, stream = idx[order], t[order], stream[order]
    probs, _ = predict(model, imu=data.imu[idx], visual=data.visual[idx] if modality == "fusion" else None)
    names = [data.classes[k] if k >= 0 else NO_ACTION for k in data.labels[idx]]
    hop = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    cuts = np.flatnonzero((np.diff(t) > 1.5 * hop) | (np.diff(stream) != 0)) + 1 if len(t) > 1 else []
    return [(t[a:b], probs[a:b], names[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(t)]) if b > a]


def decoder_words(rule: dict) -> str:
    """A rule's decoder and its parameter in a few words ("" for no decoder)."""
    return {"hysteresis": f"hysteresis release {rule.get('release', 0):g}",
            "min-duration": f"min-duration {rule.get('min_hops', 0)} hops",
            "hmm": f"HMM filter switching {rule.get('switch', 0):g} per hop"}.get(rule["decoder"], "")


def rule_words(chosen: dict) -> str:
    """`choose`'s result in one line: the rule, and its D_Val figures beside the default rule's."""
    r, v, d = chosen["rule"], chosen["val"], chosen["default_val"]
    decoder = decoder_words(r)
    return (f"{r['smoothing']} over {r['history']} windows, threshold {r['threshold']:g}{', ' + decoder if decoder else ''}; "
            f"D_Val frame accuracy {100 * (v['frame_accuracy'] or 0):.1f}%, F1@50 {v['f1_50'] or 0:.2f} "
            f"(default rule: {100 * (d['frame_accuracy'] or 0):.1f}%, {d['f1_50'] or 0:.2f})")


def store(folder, chosen: dict) -> None:
    """Write the chosen rule into the model folder's config.json as "decision" (with how it
    scored under "decision_val"), atomically. Raises C3tError as read_model_config does."""
    from pathlib import Path

    from c3t.core.atomic_file import write_json_atomic

    config = read_model_config(folder)
    config["decision"] = chosen["rule"]
    config["decision_val"] = {k: v for k, v in chosen.items() if k != "rule"}
    write_json_atomic(Path(folder) / CONFIG_FILE, config)


def choose_and_store(folder, model, data, split: dict, hop_s: float, modality: str = "imu") -> dict | None:
    """Choose the rule on D_Val streams of `data` (val_streams) and store it in `folder`; returns
    what `choose` returns, or None (nothing stored) when D_Val has no windows in stream order."""
    streams = val_streams(model, data, split, modality)
    if not streams:
        return None
    chosen = choose(streams, data.classes, hop_s)
    store(folder, chosen)
    return chosen
