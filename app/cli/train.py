"""`c3t train` and `c3t eval`."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from c3t.app.cli import check_dataset
from c3t.core.atomic_file import check_output_folder, replace_folder
from c3t.core.errors import C3tError
from c3t.core.model.folder import CONFIG_FILE, SPLIT_FILE
from c3t.core.options import (
    BACKBONES,
    CAMERA_INPUTS,
    IMU_LABELS,
    METHODS,
    NO_ACTION,
    PROTOCOLS,
    SCHEDULES,
    SELECTIONS,
    STREAM_HOP_S,
    STREAM_WINDOW_S,
    VIRTUAL_SITES,
    default_backbone,
    defaults_for,
    option_problems,
)


def register(sub) -> None:
    """Add `c3t train` and `c3t eval` to the subcommands."""
    p = sub.add_parser("train", help="train ST / CA / C3T or a baseline on a dataset folder")
    p.add_argument("--dataset", required=True, help="UTD-MHAD layout folder, `c3t synth` output, or a folder of `c3t record` sessions")
    p.add_argument("--visual", choices=CAMERA_INPUTS, help="camera input: rgb, depth, skeleton, motion (person-centred optical flow of the rgb "
                   "video, small CNN) or depth-motion (the same of the depth video) (default: the dataset's: "
                   "depth for UTD-MHAD, motion for sessions)")
    p.add_argument("--method", required=True, choices=METHODS,
                   help="c3t, ca, st (no IMU labels in training), or a baseline / supervised upper bound")
    p.add_argument("--schedule", choices=SCHEDULES, help="c3t / ca only (default: best on D_Val)")
    p.add_argument("--backbone", choices=BACKBONES, help="frame backbone for depth / rgb (default: best on D_Val)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the training (default 0)")
    p.add_argument("--epochs", type=int, help="most epochs per phase (default 80; a phase that aligns ends early once its "
                   "D_Align loss levels off, see --patience)")
    p.add_argument("--patience", type=int, metavar="P",
                   help="early stopping without labels: once the D_Align alignment loss has not improved by 1%% for P "
                        "epochs, anneal over P more and end the phase (default 10; 0: run every epoch)")
    p.add_argument("--epoch-steps", type=int, metavar="S",
                   help="an epoch ends after at most S batches of its shuffled pass (default 10, the recipe's on UTD-MHAD; "
                        "recorded sessions' overlapping windows would make a pass many times longer; 0: whole passes)")
    p.add_argument("--temperature", type=float, help="InfoNCE temperature, 0 = learnable (default: best on D_Val)")
    p.add_argument("--noise-augment", type=float, default=0.0, metavar="P",
                   help="share of training clips given test-style crop / dilate noise (default 0)")
    p.add_argument("--refine-epochs", type=int, metavar="N",
                   help="c3t / ca: epochs of pseudo-label refinement after the schedule: the model's own camera + "
                        "IMU predictions on D_Align's pairs train the IMU side, no label involved (default for "
                        "c3t and ca: half the epochs, 40 after 80, chosen on held-out training people, docs/results.md; "
                        "0: none)")
    p.add_argument("--soft-threshold", type=float, metavar="TAU",
                   help="st / fusion-pl: the teacher's class probabilities as soft pseudo-labels, only for D_Align "
                        "clips whose top probability is at least TAU (0..1; default: the paper's hard labels, all clips)")
    p.add_argument("--virtual-weight", type=float, metavar="W",
                   help="c3t / ca, combined schedule, UTD-MHAD layout: the IMU side also learns the camera labels on "
                        "the virtual IMU computed from D_HAR's skeletons, with this weight (default 0: not)")
    p.add_argument("--virtual-site", choices=VIRTUAL_SITES, default="pairs",
                   help="where the virtual IMU puts the sensor per clip: pairs (default; found from D_Align's unlabelled "
                        "pairs, no label) or label (UTD-MHAD's documented site for the clip's camera label: privileged "
                        "knowledge, an upper reference only)")
    p.add_argument("--members", type=int, default=1, metavar="K",
                   help="train K models of this configuration from different random starts on the same split and "
                        "average their probabilities (a deep ensemble: K times the training time; default 1)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="random",
                   help="how clips are split (default random): random (the paper's, per clip), cross-subject (test people never reach "
                        "training), new-user (other people's camera labels, the new users' own unlabelled pairs, "
                        "tested on their later trials). People: the sS of aA_sS_tT files, or a session's \"person\"")
    p.add_argument("--test-people", metavar="P,Q", help="people-wise protocols: the test (new) people "
                   "(default: every second person in sorted order: UTD-MHAD 2,4,6,8; synth's even people)")
    p.add_argument("--select", choices=SELECTIONS, default="val",
                   help="model selection: val (best D_Val IMU top-1, default), last (last epoch) or align-loss "
                        "(lowest alignment loss on D_Align): the last two use no labels at all")
    p.add_argument("--imu-labels", choices=IMU_LABELS, default="training",
                   help="supervised-imu / -fusion: whose IMU labels (default training) (training: D_HAR + D_Align, under new-user D_HAR "
                        "= other people's; new-users: new-user only, the new users' own earlier trials; virtual: no IMU labels, a virtual IMU "
                        "computed from D_HAR's skeleton, UTD-MHAD layouts)")
    p.add_argument("--imu-labels-per-class", type=int, metavar="K", help="supervised-imu / -fusion: only K labelled clips per class (default: all)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.add_argument("--clips", action="store_true",
                   help="clip datasets: train on whole clips resampled to one input each (the paper's tables) instead of "
                        f"the live windows ({STREAM_WINDOW_S:g} s every {STREAM_HOP_S:g} s of the clips played as streams, "
                        "training/stream_windows.py), which the default trains on for skeleton and depth")
    p.add_argument("--rest", type=float, default=0.0, metavar="S",
                   help="live windows of a clip dataset: S seconds of rest between the streamed clips, labelled "
                        f"'{NO_ACTION}' so the model learns it (made as `c3t bench stream --rest` makes it; default 0)")
    p.add_argument("--out", required=True, help="model folder to write (new; an existing one only with --force)")
    p.add_argument("--force", action="store_true", help="replace an existing model folder (whole, when training is done)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--distributed", action="store_true",
                   help="one model across the processes torchrun starts (`torchrun --nproc-per-node N -m c3t.app.cli "
                        "train ... --distributed`; gloo on CPUs, nccl on GPUs): each trains on its share of every "
                        "batch, InfoNCE over the whole batch; rank 0 writes --out (README, Scale out)")
    p.set_defaults(func=train_command)

    p = sub.add_parser("eval", help="score a model folder on IMU, camera or fusion")
    p.add_argument("--model", required=True, help="model folder written by `c3t train`")
    p.add_argument("--dataset", help="dataset folder (default: the one the model was trained on)")
    p.add_argument("--split", choices=("test", "val", "all"), default="test",
                   help="which clips of the stored split to score (default test)")
    p.add_argument("--modality", choices=("imu", "visual", "fusion"), default="imu",
                   help="score the IMU alone, the camera alone or both fused (default imu)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=eval_command)


def check_model_out(out: Path, dataset: Path, force: bool) -> None:
    """Refuse, before any work, an --out that would lose data: an existing folder without --force
    (check_output_folder), with --force a folder that is not a c3t model folder (no config.json),
    and the dataset folder itself, a folder inside it or one above it.

    Raises:
        C3tError: for such an --out, saying what to give instead
    """
    check_output_folder(out, "--out", replace=force, force_flag="--force")
    target, data = out.expanduser().resolve(), dataset.expanduser().resolve()
    if target == data or data in target.parents or target in data.parents:
        raise C3tError(f"--out {out} is the dataset folder {dataset}, inside it or above it: give the model a folder of its own")
    if force and out.is_dir() and any(out.iterdir()) and not (out / CONFIG_FILE).is_file():
        raise C3tError(f"--out {out} holds files but no config.json, so it is not a c3t model folder: --force replaces "
                       "only a model folder; give a new folder")


def class_difference(have: list[str], trained: list[str]) -> str:
    """What differs between a dataset's classes and a model's, in words: the counts, then up to
    three names on either side only (or, with the same names, that their order differs)."""
    only_data = [c for c in have if c not in trained]
    only_model = [c for c in trained if c not in have]
    parts = [f"it has {len(have)} classes, the model {len(trained)}"]
    if only_data:
        parts.append(f"only in the dataset: {', '.join(only_data[:3])}" + (f" and {len(only_data) - 3} more" if len(only_data) > 3 else ""))
    if only_model:
        parts.append(f"only in the model: {', '.join(only_model[:3])}" + (f" and {len(only_model) - 3} more" if len(only_model) > 3 else ""))
    if not only_data and not only_model:
        parts.append("the same names in another order")
    return "; ".join(parts)


def train_command(args) -> int:
    """`c3t train`: train the chosen method on the dataset and write the model folder to --out, printing
    the val and test scores; returns 0, or 130 when cancelled (nothing written).

    Raises:
        C3tError: for options or a dataset that do not fit
    """
    out = Path(args.out)
    check_dataset(args.dataset)
    check_model_out(out, Path(args.dataset), args.force)   # before any work: a training is never lost to --out
    if args.members < 1:
        raise C3tError(f"--members {args.members}: an ensemble has at least 1 member (1: one model)")
    if args.epochs is not None and args.epochs < 1:
        raise C3tError(f"--epochs {args.epochs}: train at least 1 epoch per phase (default: the chosen number)")
    if args.patience is not None and args.patience < 0:
        raise C3tError(f"--patience {args.patience}: give 0 (run every epoch) or more epochs")
    if args.epoch_steps is not None and args.epoch_steps < 0:
        raise C3tError(f"--epoch-steps {args.epoch_steps}: give 0 (whole passes) or more batches per epoch")
    if args.test_people is not None and args.protocol == "random":
        raise C3tError("--test-people needs a people-wise --protocol (cross-subject or new-user): the random split "
                       "puts every person's clips in every split")
    for field, why in option_problems(args.method, args.schedule, args.refine_epochs, args.soft_threshold, args.virtual_weight):
        raise C3tError(f"--{field.replace('_', '-')} {getattr(args, field):g}: {why} (not --method {args.method})")

    from c3t.training import distributed
    from c3t.training.decision_rule import choose_and_store, rule_words
    from c3t.training import splits as S
    from c3t.training.methods import Cancelled, device_name, training_device
    from c3t.training.pipeline import fit, fit_and_save
    from c3t.training.prepare import default_visual, prepare
    from c3t.training.stream_windows import StreamWindowing, prepare_windows, windows_or_clips
    from c3t.training.progress import PhaseBars, epoch_postfix

    visual = args.visual or default_visual(Path(args.dataset))
    backbone = args.backbone or default_backbone(visual)
    ranks = distributed.start() if args.distributed else distributed.ONE_PROCESS   # torchrun's processes, or this one
    windows, note = windows_or_clips(args.dataset, visual, backbone, args.clips)
    if windows and (args.virtual_weight or args.imu_labels == "virtual"):
        flag = "--virtual-weight" if args.virtual_weight else "--imu-labels virtual"
        raise C3tError(f"{flag} computes a virtual IMU per whole clip: train it with --clips")
    if note:
        print(note, file=sys.stderr)
    with ranks.first_rank_first():   # rank 0 fills the feature cache, the others read it
        if windows:   # the live windows of the clips played as streams (training/stream_windows.py)
            data = prepare_windows(args.dataset, visual, args.seed, args.protocol, StreamWindowing(rest_s=args.rest),
                                   args.cache, progress=not args.quiet and not ranks.rank, test_people=args.test_people)
        else:
            data = prepare(args.dataset, visual, backbone, args.cache, progress=not args.quiet and not ranks.rank)
    bar = PhaseBars(disable=args.quiet or ranks.rank > 0)   # one bar per training phase, with its ETA
    staging = None

    def progress(info):
        """Show one epoch's phase (and ensemble member), loss, validation top-1, alignment loss and
        the training's time left on the phase's progress bar."""
        member = f"member {info['member']}/{info['members']} " if "member" in info else ""
        bar(member + info["phase"], info["epoch"] / info["epochs"], **epoch_postfix(info))

    try:
        cfg = defaults_for(args.method, visual, schedule=args.schedule, epochs=args.epochs, seed=args.seed,
                           temperature=args.temperature, noise_augment=args.noise_augment, protocol=args.protocol,
                           select=args.select, imu_labels=args.imu_labels,
                           imu_labels_per_class=args.imu_labels_per_class, refine_epochs=args.refine_epochs,
                           soft_threshold=args.soft_threshold, virtual_weight=args.virtual_weight, patience=args.patience,
                           epoch_steps=args.epoch_steps,
                           virtual_site=args.virtual_site)
        if args.distributed:
            distributed.check_config(cfg)
        if ranks.rank:   # the other ranks train beside rank 0 and write nothing
            fit(data, cfg, progress=progress, test_people=args.test_people, members=args.members)
            return 0
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
        model, metrics, cfg, split = fit_and_save(data, cfg, staging, Path(args.dataset).resolve(), progress=progress,
                                                  test_people=args.test_people, members=args.members)
        decision = choose_and_store(staging, model, data, split, STREAM_HOP_S)   # the live rule, chosen on D_Val streams
        replace_folder(staging, out)
        staging = None
    except Cancelled:
        print("training cancelled; nothing written", file=sys.stderr)
        return 130
    finally:
        bar.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    sizes = metrics["sizes"]
    camera = visual if visual == "skeleton" else f"{visual}/{backbone}"   # a skeleton goes through no frame backbone
    people = S.to_json(data, split, args.seed, args.protocol).get("people")
    print(f"{args.method} ({cfg.schedule if args.method in ('c3t', 'ca') else 'n/a'}), {camera}, seed {args.seed}: "
          f"{sizes['har']} HAR, {sizes['align']} align, {sizes['val']} val, {sizes['test']} test clips; "
          f"{metrics['train_seconds']:.0f} s on {device_name(training_device())}; protocol {args.protocol}, selection {args.select}"
          + (f"; ensemble of {args.members}" if args.members > 1 else ""))
    if people and args.protocol != "random":
        print("  people: " + "; ".join(f"{k} {','.join(v) or '-'}" for k, v in people.items()))
    for part in ("val", "test"):
        scores = "  ".join(f"{m} top1 {s['top1']:.3f} top3 {s['top3']:.3f}" for m, s in metrics[part].items())
        print(f"  {part:4s} {scores or 'no clips: the dataset is too small to hold any out (record or synthesise more)'}")
    if metrics.get("selection"):
        print("  test IMU top1 by selection rule: " + "  ".join(
            f"{rule} {v['test_imu_top1']:.3f} ({_epochs(v['epoch'])})" for rule, v in metrics["selection"].items()))
    info = metrics["train_info"]
    if (info.get("selection") or {}).get("why"):
        print(f"  selection {info['selection']['used']} instead of {info['selection']['asked']}: {info['selection']['why']}")
    if info.get("early_stopped_at_epoch"):
        print("  early stopping (the D_Align loss levelled off): " +
              ", ".join(f"{phase} ended at epoch {e}" for phase, e in info["early_stopped_at_epoch"].items()))
    if metrics["selection_check"]["warning"]:
        print(f"warning: {metrics['selection_check']['warning']}", file=sys.stderr)
    if decision:
        print(f"  live decision rule (chosen on D_Val streams): {rule_words(decision)}")
    print(f"model written to {args.out}")
    return 0


def _epochs(epoch) -> str:
    """A selection rule's epoch in words: "epoch 21", or an ensemble's "epochs 21/30/18" (member by member)."""
    return f"epochs {'/'.join(map(str, epoch))}" if isinstance(epoch, list) else f"epoch {epoch}"


def eval_command(args) -> int:
    """`c3t eval`: score the model folder on the chosen split and modality and print top-1 / top-3
    (with --json also one JSON line); returns 0.

    Raises:
        C3tError: when the dataset's classes or split do not match the model's
    """
    from c3t.core.model.folder import read_model_config

    read_model_config(args.model, "--model")
    if args.dataset:
        check_dataset(args.dataset)

    import numpy as np

    from c3t.core.model.folder import load_model, read_json
    from c3t.core.streams.window import InputSpec
    from c3t.training.evaluate import evaluate
    from c3t.training.prepare import prepare

    model, config = load_model(args.model)
    dataset = args.dataset or config["dataset"]
    spec = InputSpec(**config["inputs"])
    data = prepare(dataset, spec.visual, spec.backbone, args.cache, progress=not args.json, spec=spec)
    if data.classes != config["classes"]:
        raise C3tError(f"{dataset} does not hold the classes the model was trained on: {class_difference(data.classes, config['classes'])}; "
                       f"evaluate on the dataset it was trained on ({config['dataset']}) or one with the same classes")
    if args.split == "all":
        idx = np.arange(len(data.keys))
    else:
        keys = read_json(Path(args.model) / SPLIT_FILE)[args.split]
        where = {k: i for i, k in enumerate(data.keys)}
        missing = [k for k in keys if k not in where]
        if missing:
            raise C3tError(f"{len(missing)} {args.split} sequences (e.g. {missing[0]}) are not in {dataset}; use --split all for another dataset")
        idx = np.array([where[k] for k in keys], dtype=np.int64)
    scores = evaluate(model, data.imu[idx], data.visual[idx], data.labels[idx], args.modality)
    result = {"model": str(args.model), "dataset": str(dataset), "split": args.split, "modality": args.modality,
              "method": model.cfg.method, "top1": scores["top1"], "top3": scores["top3"], "n": scores["n"]}
    print(f"{args.modality} on {args.split} ({scores['n']} clips): top1 {scores['top1']:.3f}  top3 {scores['top3']:.3f}")
    if args.json:
        print(json.dumps(result))
    return 0
