"""`c3t export` and `c3t live`: a trained model folder exported for onnxruntime, and on live data
(app/runtime/headless.py runs the live loop)."""
from __future__ import annotations

import os
import sys

from c3t.app.cli import check_dataset
from c3t.core.errors import C3tError
from c3t.core.model.folder import ensemble_members, read_model_config


def register(sub) -> None:
    """Add `c3t export` and `c3t live` to the subcommands."""
    p = sub.add_parser("export", help="write ONNX files for a model folder (--model), or a session as XDF (SESSION --xdf FILE)")
    p.add_argument("session", nargs="?", help="with --xdf: the session folder to write as an XDF file")
    p.add_argument("--xdf", metavar="FILE", help="write SESSION as this XDF file (Lab Streaming Layer's format; "
                   "readable by pyxdf, EEGLAB, MNE); default: not (ONNX export of --model)")
    p.add_argument("--force", action="store_true", help="with --xdf: replace FILE if it exists")
    p.add_argument("--model", help="model folder (from `c3t train`) to export for onnxruntime (default: none; needed without --xdf)")
    p.add_argument("--dataset", help="dataset for the parity check's real windows (default: the model's own)")
    p.add_argument("--clips", type=int, default=4, help="clips in the parity check (default 4)")
    p.set_defaults(func=export_command)

    p = sub.add_parser("live", help="recognise actions live from an IMU and/or a camera")
    p.add_argument("--model", required=True, help="model folder (exported with `c3t export` for onnxruntime)")
    p.add_argument("--imu", metavar="SPEC", help="IMU source, e.g. sim, serial:/dev/ttyACM0, ble:ADDRESS "
                   "(default: none; give --imu, --camera or both, as the model takes them)")
    p.add_argument("--camera", metavar="SPEC", help="camera source, e.g. camera:0 or sim (default: none)")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl+C)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per prediction (with the class names)")
    p.add_argument("--lsl-out", metavar="NAME", help="also publish every decision as Lab Streaming Layer streams NAME "
                   "and NAME-probabilities (needs pip install 'c3t[lsl]'; default: not published)")
    p.add_argument("--hop", type=float, default=0.25, help="seconds between predictions (default 0.25)")
    p.add_argument("--window", type=float, help="window length in seconds (default: the model's, else 2.5)")
    p.add_argument("--smoothing", choices=("mean", "majority"),
                   help="how the decision is smoothed over the last windows (default: the model's rule chosen on D_Val, "
                        "else mean)")
    p.add_argument("--history", type=int, help="windows the smoothed decision looks back over (default: the model's "
                   "rule, else 4)")
    p.add_argument("--threshold", type=float, help="below this smoothed confidence the decision is 'no action' "
                   "(default: the model's rule, else 0.5)")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "torch"), default="auto",
                   help="auto: onnxruntime when the model was exported, else torch (default auto)")
    p.set_defaults(func=live_command)


def export_command(args) -> int:
    """`c3t export`: write the model folder's ONNX files, checked against torch on --clips clips; returns 0.

    Raises:
        C3tError: for --clips below 1, a --model that is not a writable model folder, a missing --dataset,
            or a model that cannot be exported.
    """
    if args.xdf or args.session:
        return export_xdf_command(args)
    if not args.model:
        raise C3tError("give --model MODEL_DIR (ONNX export) or SESSION --xdf FILE (XDF export)")
    if args.clips < 1:
        raise C3tError("--clips must be at least 1")
    members = ensemble_members(read_model_config(args.model, "--model"))
    if not os.access(args.model, os.W_OK | os.X_OK):
        raise C3tError(f"--model {args.model} cannot be written (read-only or not yours): the ONNX files go into "
                       "the model folder; copy it somewhere writable and export the copy")
    if args.dataset:
        check_dataset(args.dataset)
    from c3t.training.export import export_model

    print(f"exporting {args.model}" + (f" (an ensemble of {members}: each graph averages its members)" if members > 1 else ""))
    record = export_model(args.model, args.dataset, args.clips)
    files = [p["file"] for p in record["paths"].values()] + ([record["backbone"]["file"]] if record["backbone"] else [])
    print(f"wrote {', '.join(files)} and export.json to {args.model} (opset {record['opset']})")
    return 0


def export_xdf_command(args) -> int:
    """`c3t export SESSION --xdf FILE`: write the session as an XDF file (core/session/xdf.py) and print its
    streams; returns 0.

    Raises:
        C3tError: SESSION or --xdf missing, --model given too, FILE exists without --force, or a session
            that cannot be read.
    """
    from pathlib import Path

    from c3t.core.session.xdf import export_xdf

    if not args.session or not args.xdf or args.model:
        raise C3tError("export a session as `c3t export SESSION --xdf FILE` (and a model as `c3t export --model DIR`)")
    out = Path(args.xdf)
    if out.exists() and not args.force:
        raise C3tError(f"--xdf {out} exists; choose another file or add --force to replace it")
    for line in export_xdf(args.session, out):
        print(line)
    print(f"wrote {out}")
    return 0


def live_command(args) -> int:
    """`c3t live`: load the model, connect --imu and/or --camera and print one line per prediction until
    --seconds pass or Ctrl+C (app/runtime/headless.HeadlessRun); returns 0.

    Raises:
        C3tError: for a model that cannot take these devices, a device that cannot be opened, or no
            data within 10 s.
    """
    read_model_config(args.model, "--model")
    check_specs(args.imu, args.camera)
    if not args.imu and not args.camera:
        raise C3tError("give an IMU source, a camera source or both (e.g. --imu sim)")
    from c3t.app.runtime.headless import HeadlessRun
    from c3t.app.runtime.live import LivePipeline
    from c3t.core.model.predictor import PredictorSettings

    own = {k: v for k, v in (("smoothing", args.smoothing), ("history", args.history), ("threshold", args.threshold))
           if v is not None}   # any of them given: the user's rule, not the model's chosen one
    settings = PredictorSettings(hop_s=args.hop, window_s=args.window, from_model=not own, **own)
    live = LivePipeline(settings, backend=args.backend)
    live.set_model(args.model)
    if live.engine.note:
        print(f"note: {live.engine.note}", file=sys.stderr)
    check_model_inputs(live.engine, args.imu, args.camera)
    if args.lsl_out:
        live.publish_lsl(args.lsl_out)
        print(f"publishing decisions over LSL as {args.lsl_out!r} and {args.lsl_out + '-probabilities'!r}",
              file=sys.stderr)
    return HeadlessRun(live, args.imu, args.camera, args.seconds, args.jsonl).run()


def check_specs(imu: str | None, camera: str | None) -> None:
    """Check --imu and --camera specs before the model is loaded or a device opened.

    Raises:
        C3tError: with the forms a spec takes, for a spec that cannot be parsed.
    """
    from c3t.devices.spec import parse_spec

    for spec in (imu, camera):
        if spec:
            parse_spec(spec)


def check_model_inputs(engine, imu: str | None, camera: str | None) -> None:
    """Check that the model's engine can take the devices asked for.

    Raises:
        C3tError: saying what to leave out, when the model has no path for a device asked for or
            cannot use this camera.
    """
    from c3t.core.model.predictor import LiveInputs

    if camera and "camera" not in engine.paths:
        raise C3tError(f"a {engine.method} model has no camera path; leave out --camera")
    problem = LiveInputs(engine.config, engine).camera_problem if camera else None
    if problem:
        raise C3tError(problem)
    if imu and "imu" not in engine.paths:
        raise C3tError(f"a {engine.method} model has no IMU path; leave out --imu")
