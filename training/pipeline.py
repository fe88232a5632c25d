"""From prepared data to a trained, scored model: split, train, evaluate (used by the CLI,
the experiments and the app's retraining)."""
from __future__ import annotations

import time

from c3t.core.cpu import threads_for_load
from c3t.core.errors import C3tError
from c3t.core.model.networks import ModelConfig
from c3t.core.options import IMU_LABELS, frame_grid
from c3t.training import splits as S
from c3t.training.evaluate import evaluate_all
from c3t.training.methods import UPPER_BOUNDS, TrainConfig, train


def upper_parts(protocol: str, imu_labels: str) -> tuple[str, ...]:
    """The splits whose IMU labels the supervised upper bounds learn from: D_HAR + D_Align
    ("training"); under new-user, "training" is D_HAR alone (other people's labels) and
    "new-users" is D_Align (the new users' own earlier trials, labelled: the ceiling †).

    Raises:
        C3tError: for "new-users" under a protocol other than new-user
    """
    if imu_labels not in IMU_LABELS:
        raise C3tError(f"unknown --imu-labels {imu_labels!r}; expected one of {IMU_LABELS}")
    if protocol == "new-user":
        return ("har",) if imu_labels == "training" else ("align",)
    if imu_labels == "new-users":
        raise C3tError("--imu-labels new-users needs --protocol new-user (only it has new users)")
    return ("har", "align")


def selection_report(model, alternatives: dict, test) -> dict:
    """D_Test IMU top-1 of the final phase's state under each selection rule:
    {rule: {"epoch", "val_top1", "test_imu_top1"}}; {} for models without an IMU path."""
    import copy

    from c3t.training.evaluate import evaluate, supports

    if not alternatives or not len(test.labels) or not supports(model.cfg, "imu"):
        return {}
    probe, out = copy.deepcopy(model), {}
    for rule, (epoch, val, state) in alternatives.items():
        probe.load_state_dict(state)
        probe.eval().cpu()
        out[rule] = {"epoch": epoch, "val_top1": val, "test_imu_top1": evaluate(probe, test.imu, test.visual, test.labels, "imu")["top1"]}
    return out


def selection_check(model, alternatives: dict, align, used: str) -> dict:
    """Whether the kept state agrees with the label-free rules (methods.SELECTIONS "last" and
    "align-loss"), without any label: the share of D_Align's IMU clips (unlabelled) whose IMU
    prediction differs between the kept model and each rule's state of the final phase.
    Returns {"disagreement": {rule: share 0..1}, "warning": text or ""}; the warning is set when a
    share exceeds SELECTION_DISAGREEMENT (core/options.py): then the rules disagree about which
    epoch is good, and the kept one may be a bad pick (#29: D_Val-best epoch 4 against the last
    epoch's 80, IMU 37% against 90.7% on the checking session)."""
    import copy

    import numpy as np

    from c3t.core.options import SELECTION_DISAGREEMENT
    from c3t.training.evaluate import supports
    from c3t.training.methods import predict

    rules = [r for r in ("last", "align-loss") if r in alternatives and r != used]
    if align is None or not len(align.imu) or not rules or not supports(model.cfg, "imu"):
        return {"disagreement": {}, "warning": ""}
    kept = predict(model, imu=align.imu)[0].argmax(1)
    probe, shares = copy.deepcopy(model), {}
    for rule in rules:
        probe.load_state_dict(alternatives[rule][2])
        shares[rule] = round(float((predict(probe, imu=align.imu)[0].argmax(1) != kept).mean()), 4)
    worst = max(shares, key=shares.get)
    warning = ""
    if shares[worst] > SELECTION_DISAGREEMENT:
        warning = (f"the saved model (selection {used}) and the {worst} rule's model predict different classes for "
                   f"{100 * shares[worst]:.0f}% of the unlabelled D_Align IMU windows: the rules disagree about "
                   f"which epoch is good, so the saved one may be a poor pick; retrain with --select {worst} (no "
                   "label chooses the epoch) or record more checking segments")
    return {"disagreement": shares, "warning": warning}


def fit(data, cfg: TrainConfig, progress=None, cancel=None, require_checking: bool = True, test_people=None,
        start: dict | None = None, on_epoch=None, **model_overrides):
    """Train `cfg.method` (cfg from defaults.defaults_for) on a seeded split of `data` under
    `cfg.protocol` (splits.PROTOCOLS); returns (model, metrics, cfg, split).

    `cfg.virtual_weight`: D_HAR's virtual IMU (virtual_imu.virtual_har) joins C3T / CA's training.
    `cfg.select`: model selection rule (methods.SELECTIONS); metrics["selection"] scores every
    rule's state of the final phase on D_Test (IMU), beside the one kept. `cfg.imu_labels` /
    `cfg.imu_labels_per_class`: whose IMU labels the supervised upper bounds use (upper_parts),
    and optionally only k of them per class; "virtual" uses none (training/virtual_imu.py).
    `start`: for a refinement (cfg.refine_epochs > 0), the state_dict of the same configuration
    trained without it; the schedule is then not trained again (methods.train).
    `require_checking=False` lets recorded sessions without check labels train
    (splits.role_split): with an empty D_Val the last state is kept, and metrics["val"] /
    ["test"] are {} when empty. `on_epoch`: methods.train's. `model_overrides`: ModelConfig fields
    (head, t_rec, latent, encoder, fusion).
    Raises C3tError for a split that cannot be made, methods.Cancelled when `cancel` is set."""
    started = time.time()
    split = S.split_for(data, cfg.seed, require_checking, protocol=cfg.protocol, test_people=test_people)
    har, align, val, test = S.views(data, split)
    model_cfg = ModelConfig(**{"method": cfg.method, "num_classes": len(data.classes), "visual_input": data.spec.visual_input,
                               "visual_channels": data.visual.shape[2], "frame_grid": frame_grid(data.spec.visual), **model_overrides})
    upper, extra_info = None, {}
    if cfg.virtual_weight:   # D_HAR's virtual IMU, from its skeleton: the IMU side learns the camera labels on it too
        import dataclasses

        from c3t.training.virtual_imu import virtual_har

        virtual, extra_info["virtual_imu"] = virtual_har(data, split, cfg.virtual_site)
        har = dataclasses.replace(har, virtual_imu=virtual)
    if cfg.method in UPPER_BOUNDS and cfg.imu_labels == "virtual":   # no IMU labels: virtual IMU from D_HAR's skeleton
        from c3t.training.virtual_imu import virtual_upper

        upper, extra_info["virtual_imu"] = virtual_upper(data, split, cfg.seed, cfg.virtual_site)
    elif cfg.method in UPPER_BOUNDS:
        upper = S.upper_bound(data, split, upper_parts(cfg.protocol, cfg.imu_labels), cfg.imu_labels_per_class, cfg.seed)
    alternatives: dict = {}
    with threads_for_load():
        model, info = train(cfg, model_cfg, har, align, val, upper, progress=progress, cancel=cancel, alternatives=alternatives,
                            start=start, camera=data.spec.visual, on_epoch=on_epoch)
    scored = {name: evaluate_all(model, clips) if len(clips.labels) else {} for name, clips in (("val", val), ("test", test))}
    check = selection_check(model, alternatives, align, (info.get("selection") or {}).get("used", cfg.select))
    metrics = {**scored, "train_info": {**info, **extra_info}, "selection": selection_report(model, alternatives, test),
               "selection_check": check,
               "train_seconds": round(time.time() - started, 1),
               "sizes": {"har": len(har.labels), "align": len(align.imu), "val": len(val.labels), "test": len(test.labels),
                         **({"imu_labelled": len(upper.labels)} if upper is not None else {})}}
    return model, metrics, cfg, split


def fit_and_save(data, cfg: TrainConfig, folder, dataset: str, checking=None, **fit_args):
    """fit(), then the model folder `folder` (config, weights, split.json, metrics.json) for
    `data` read from `dataset`. `checking(model, split, metrics) -> dict`, if given, is stored
    as metrics["checking"] (the app's scores on its checking sessions). Returns what fit returns
    (metrics with "checking" when given). Raises what fit and save_model raise."""
    from c3t.core.model.folder import save_model

    model, metrics, cfg, split = fit(data, cfg, **fit_args)
    if checking is not None:
        metrics["checking"] = checking(model, split, metrics)
    save_model(folder, model, inputs=data.spec.to_dict(), classes=data.classes, training=cfg.to_dict(),
               dataset=str(dataset), split=S.to_json(data, split, cfg.seed, cfg.protocol), metrics=metrics)
    return model, metrics, cfg, split
