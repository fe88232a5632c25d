"""`c3t bench NAME`: benchmarks and experiments that print figures. This module parses and dispatches;
the measurements are in app/bench/ (and app/gui/bench.py, training/experiments.py, training/figures.py,
training/stream_eval.py).

Adding a benchmark: write `_NAME_options(p)` (its arguments) and `NAME_command(args)` (check the
options, call the measurement, print), and add one line to BENCHES.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from c3t.app.cli import check_dataset, parse_size
from c3t.core.atomic_file import check_output_folder
from c3t.core.errors import C3tError
from c3t.core.model.folder import read_model_config
from c3t.core.options import CAMERA_INPUTS, PROTOCOLS

TABLE_NAMES = ("main", "schedule", "modality", "noise", "head", "baselines", "labels", "encoders", "fusion", "latent",
               "defaults")   # training/experiments.TABLES


def _json_line(args, result: dict) -> int:
    """With --json, `result` as one JSON object on the last line; the bench's exit code (0)."""
    if args.json:
        print(json.dumps(result))
    return 0


# -- paper, table, figures: the paper's experiments (training/experiments.py, training/figures.py) --
def _paper_options(p) -> None:
    p.add_argument("--dataset", required=True, help="UTD-MHAD layout folder, `c3t synth` output, or a folder of "
                   "`c3t record` sessions")
    p.add_argument("--visual", choices=CAMERA_INPUTS, required=True, help="camera input the camera -> IMU rows use")
    p.add_argument("--table", choices=TABLE_NAMES + ("all",), default="main",
                   help="which of the paper's tables to run (default main: ST, CA, C3T and the baselines)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per cell, 0..N-1 (default 3)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="random",
                   help="split protocol (c3t train --help; default random); people-wise runs go to OUT/VISUAL-PROTOCOL")
    p.add_argument("--held-out", metavar="PERSON", help="choose on training people only (people-wise protocols): the "
                   "protocol's test people are left out altogether and training person PERSON is the test person "
                   "(UTD-MHAD: one of 1, 3, 5, 7); runs go to OUT/VISUAL-PROTOCOL-held-out-PERSON (default: none, the "
                   "protocol's own test people are tested)")
    p.add_argument("--out", default="runs/paper", help="results folder; a stopped run resumes there (default runs/paper)")
    p.add_argument("--epochs", type=int, help="override every cell's epochs per training phase (for quick checks; "
                   "a refinement keeps its 40 epochs; default: the chosen defaults)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.add_argument("--only", metavar="TEXT,...", help="train only the rows whose label contains one of these "
                   "(e.g. C3T,virtual); other cells are read if they are there (default: train every row)")
    p.add_argument("--jobs", type=int, help="cells trained side by side, one thread each (default: the cores "
                   "other programs leave idle; 1 trains one cell at a time with every thread)")
    p.add_argument("--cluster", metavar="ADDRESS", help="train the cells as Ray tasks (pip install \"c3t[cluster]\"): "
                   "local (a Ray instance on this machine with --jobs CPUs), auto (the cluster this machine joined with "
                   "`ray start`) or ray://HOST:PORT (a cluster's Ray Client port); the same files as --jobs (README, Scale out); default: not (the --jobs pool)")
    p.add_argument("--cell-gpus", type=float, metavar="F", help="--cluster: the share of one GPU each cell asks for "
                   "(default: 1/16 where the cluster has GPUs, else 0)")
    p.add_argument("--tables-only", action="store_true",
                   help="train nothing: write the tables from the cells already there (missing seeds left out)")


def paper_command(args) -> int:
    """`c3t bench paper`: train (or read back) every cell of the chosen tables and seeds under
    OUT/VISUAL[-PROTOCOL]/cells, then write the tables (app/bench/paper.py); returns 0.

    Raises:
        C3tError: for an --out that is a file, a missing --dataset, --seeds, --epochs or --jobs below 1, a
            --cluster address Ray cannot use, --cell-gpus without --cluster, --held-out without a people-wise --protocol
            (checked here, before any heavy import), and as app/bench/paper.run_paper.
    """
    protocol = getattr(args, "protocol", "random")
    out = Path(args.out) / (args.visual if protocol == "random" else f"{args.visual}-{protocol}")
    if args.held_out is not None:
        if protocol == "random":
            raise C3tError("--held-out holds out one training person: give a people-wise --protocol (cross-subject or new-user)")
        out = out.with_name(f"{out.name}-held-out-{args.held_out}")
    check_output_folder(out, "--out", replace=True)   # resumable: its own earlier cells are kept
    check_dataset(args.dataset)
    if args.jobs is not None and args.jobs < 1:
        raise C3tError(f"--jobs {args.jobs}: at least 1 cell must train at a time")
    if args.cluster is not None:
        from c3t.training.cluster import check_address   # light: Ray itself is imported when the cells start

        check_address(args.cluster)
    elif args.cell_gpus is not None:
        raise C3tError("--cell-gpus is the GPU share of a cell on a Ray cluster: give --cluster too")
    if args.seeds < 1:
        raise C3tError(f"--seeds {args.seeds}: give at least 1 seed per cell (seeds 0..N-1)")
    if args.epochs is not None and args.epochs < 1:
        raise C3tError(f"--epochs {args.epochs}: train at least 1 epoch per phase (leave it out for the chosen defaults)")
    from c3t.app.bench.paper import run_paper

    return run_paper(args, out)


def _table_options(p) -> None:
    p.add_argument("seeds", nargs="+", help="per-seed CSV file(s) written by `c3t bench paper`")


def table_command(args) -> int:
    """`c3t bench table`: print each per-seed file's table: mean ± sample std [95% interval] per method.

    Raises:
        C3tError: for a file that does not exist.
    """
    from c3t.training.experiments import render_table

    for path in args.seeds:
        if not Path(path).is_file():
            raise C3tError(f"{path} does not exist; `c3t bench paper` writes OUT/RUN/TABLE-seeds.csv")
        print(render_table(path, f"### {Path(path).stem}"))
    return 0


def _figures_options(p) -> None:
    p.add_argument("--run", required=True, help="a `c3t bench paper` output folder for one modality, e.g. runs/paper/depth")
    p.add_argument("--seed", type=int, default=0, help="which seed's models to draw (default 0)")
    p.add_argument("--out", help="folder for the PNGs (default: RUN/figures)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.add_argument("--alignment-epochs", action="store_true",
                   help="also draw the paper's Figure 3: the seed's C3T trained again, its D_Test latents before "
                        "training and after epochs 1, 5, 20 and the last (minutes: one more training)")


def figures_command(args) -> int:
    """`c3t bench figures`: draw the t-SNE, attention and confusion PNGs of one `bench paper` run;
    returns the exit code of training/figures.make_figures.

    Raises:
        C3tError: for a --run that is not a `bench paper` output or an --out that cannot be written
            (before any heavy import).
    """
    if not (Path(args.run) / "models").is_dir():
        raise C3tError(f"--run {args.run} holds no models/ folder: give a `c3t bench paper` output folder for "
                       "one camera input, e.g. runs/paper/depth")
    check_output_folder(args.out or Path(args.run) / "figures", "--out", replace=True)   # figures are redrawn
    from c3t.training.figures import make_figures

    return make_figures(args)


# -- demo: the demo model's build time and scores (app/bench/demo.py) --------------------------
def _demo_options(p) -> None:
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    p.add_argument("--dir", help="where the models are built (default: a temporary folder, removed after)")
    p.add_argument("--out", help="write the per-seed results here (JSON; default: printed only)")


def demo_command(args) -> int:
    """`c3t bench demo`: build and score the demo model per seed; print one line per seed and the
    summary; --out writes the per-seed results; returns 0.

    Raises:
        C3tError: for --seeds below 1 or an --out whose folder cannot be created or written.
    """
    if args.seeds < 1:
        raise C3tError(f"--seeds must be at least 1, not {args.seeds}")
    if args.out:
        folder = Path(args.out).resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise C3tError(f"--out {args.out}: cannot create {folder} ({exc.strerror}); choose another place") from None
        if not os.access(folder, os.W_OK):
            raise C3tError(f"--out {args.out}: {folder} is not writable; choose another place")
    from c3t.app.bench.demo import measure_demo
    from c3t.core.atomic_file import write_json_atomic

    results = measure_demo(args.seeds, args.dir)
    if args.out:
        write_json_atomic(Path(args.out), {"command": " ".join(sys.argv), "seeds": results}, fsync=True)
    return 0


# -- buffer, latency, record, sessions, gui: the live path's speed ----------------------------
def _buffer_options(p) -> None:
    p.add_argument("--seconds", type=float, default=120.0, help="seconds of data to ingest (default 120)")
    p.add_argument("--imu-hz", type=float, default=200.0, help="IMU rate in Hz (default 200)")
    p.add_argument("--imu-batch", type=int, default=4, help="IMU samples per batch (default 4)")
    p.add_argument("--fps", type=float, default=30.0, help="camera frames per second (default 30)")
    p.add_argument("--size", default="640x480", help="camera frame WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--windows", type=int, default=300, help="windows to cut (default 300)")


def buffer_command(args) -> int:
    """`c3t bench buffer`: SyncBuffer ingest rate and window time (app/bench/buffer.py); returns 0.

    Raises:
        C3tError: for a --size that is not WIDTHxHEIGHT.
    """
    size = parse_size(args.size)
    from c3t.app.bench.buffer import measure_buffer

    measure_buffer(args.seconds, args.imu_hz, args.imu_batch, args.fps, size, args.windows)
    return 0


def _latency_options(p) -> None:
    p.add_argument("--model", required=True, help="model folder to time")
    p.add_argument("--path", choices=("imu", "camera", "fusion"), help="inference path (default: imu if the model has it)")
    p.add_argument("--windows", type=int, default=500, help="timed windows per backend (default 500)")
    p.add_argument("--threads", type=int, default=1, help="threads for both backends (default 1)")
    p.add_argument("--size", help="camera frame WIDTHxHEIGHT a motion model's input is timed on (default 640x480; "
                   "give your camera's; other camera inputs do not use it)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def latency_command(args) -> int:
    """`c3t bench latency`: time one model path per window in milliseconds (p50, p95) with onnxruntime
    and torch, plus the full predictor step (IMU path) and the frame backbone (camera path)
    (app/bench/latency.py); returns 0.

    Raises:
        C3tError: for --windows below 10, --threads below 1, a --size that is not WIDTHxHEIGHT, a --model
            that is not a model folder, or a path the model does not have.
    """
    if args.windows < 10:
        raise C3tError("--windows must be at least 10")
    if args.threads < 1:
        raise C3tError(f"--threads {args.threads}: give at least 1 thread")
    size = parse_size(args.size or "640x480")
    read_model_config(args.model, "--model")
    from c3t.app.bench.latency import measure_latency

    result = measure_latency(args.model, args.path, args.windows, args.threads, size, args.size)
    return _json_line(args, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()})


def _record_options(p) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="seconds to record (default 60)")
    p.add_argument("--imu-hz", type=float, default=200.0, help="IMU rate in Hz (default 200)")
    p.add_argument("--fps", type=float, default=30.0, help="camera frames per second (default 30)")
    p.add_argument("--size", default="640x480", help="frame WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--out", help="session folder to write (default: a temporary one, deleted after)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def record_command(args) -> int:
    """`c3t bench record`: the recorder's drops, writer lag, CPU and MB per minute (app/bench/record.py);
    returns 0.

    Raises:
        C3tError: for a --size that is not WIDTHxHEIGHT.
    """
    size = parse_size(args.size)
    from c3t.app.bench.record import measure_recording

    return _json_line(args, measure_recording(args.seconds, args.imu_hz, args.fps, size, args.out))


def _sessions_options(p) -> None:
    p.add_argument("--out", help="folder for the sessions (default: a temporary one)")
    p.add_argument("--align-s", type=float, default=300.0, help="seconds of unlabelled recording (default 300)")
    p.add_argument("--har-s", type=float, default=240.0, help="seconds of camera-labelled recording (default 240)")
    p.add_argument("--check-s", type=float, default=180.0, help="seconds of IMU-labelled recording for checking (default 180)")
    p.add_argument("--actions", default="", help="comma-separated action keys (default: all ten)")
    p.add_argument("--sim-seed", type=int, default=1, help="the simulated person (default 1)")
    p.add_argument("--size", default="160x120", help="camera frame WIDTHxHEIGHT (default 160x120)")
    p.add_argument("--backbone", default="small-cnn", help="frame backbone (default small-cnn)")
    p.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    p.add_argument("--epochs", type=int, help="epochs (default: c3t's)")
    p.add_argument("--cache", help="feature cache folder (default: ~/.cache/c3t)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def sessions_command(args) -> int:
    """`c3t bench sessions`: record simulated sessions, train C3T on them per seed and print the IMU
    top-1 on D_Test (app/bench/record.py); returns 0.

    Raises:
        C3tError: for an --out that cannot be written or a --size that is not WIDTHxHEIGHT (before any
            heavy import).
    """
    if args.out:   # an existing one is fine: a session already there is never overwritten
        check_output_folder(args.out, "--out", replace=True)
    size = parse_size(args.size)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    from c3t.app.bench.record import measure_sessions

    summary = measure_sessions(args.out, args.align_s, args.har_s, args.check_s, args.actions, args.sim_seed,
                               size, args.backbone, seeds, args.epochs, args.cache, progress=not args.json)
    return _json_line(args, summary)


def _retrain_options(p) -> None:
    p.add_argument("--sessions", help="a folder of recorded sessions (default: record the seven simulated sessions of "
                   "docs/results.md into a temporary folder, on simulated time)")
    p.add_argument("--method", choices=("c3t", "ca"), default="c3t", help="the method retrained (default c3t)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def retrain_command(args) -> int:
    """`c3t bench retrain`: time the Train tab's one-click retrain (app/bench/retrain.py); returns 0.

    Raises:
        C3tError: for a --sessions folder that does not exist or holds no session, and when the retrain fails.
    """
    if args.sessions:
        check_dataset(args.sessions, "--sessions")
        from c3t.core.session.format import find_sessions

        if not find_sessions(args.sessions):
            raise C3tError(f"--sessions {args.sessions} holds no recorded session; record some with `c3t record`, "
                           "or leave --sessions out to time the seven simulated ones")
    from c3t.app.bench.retrain import measure_retrain

    return _json_line(args, measure_retrain(Path(args.sessions) if args.sessions else None, args.method))


def _gui_options(p) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="seconds to measure (default 60)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def gui_command(args) -> int:
    """`c3t bench gui`: the demo window (devices connected, model predicting, a session recording) for
    --seconds: frames the live view drew per second and UI-thread stalls over 100 ms
    (app/gui/bench.py); returns 0.

    Raises:
        C3tError: for --seconds below 5, when Qt cannot start here, or no prediction within a minute.
    """
    if args.seconds < 5:
        raise C3tError("--seconds must be at least 5")
    from c3t.app.gui.bench import measure_demo_window

    result = measure_demo_window(args.seconds)
    stalls = result["stalls_over_100ms"]
    print(f"live view: {result['fps']:.1f} frames drawn per second over {result['seconds']:.0f} s while recording "
          f"({result['recorded_s']:.0f} s written) and predicting; UI-thread stalls over 100 ms: {stalls}"
          + (f" (worst {result['worst_stall_ms']:.0f} ms)" if stalls else ""))
    return _json_line(args, result)


# -- stream: held-out data through the live path on simulated time (training/stream_eval.py) --
def _stream_options(p) -> None:
    p.add_argument("--model", required=True, help="model folder (from `c3t train` or the Train tab)")
    p.add_argument("--dataset", help="UTD-MHAD layout folder, `c3t synth` output, a folder of recorded sessions, or "
                   "sim: unseen simulated people of the world the model learnt from (no default: give it or --sim)")
    p.add_argument("--sim", action="store_true", help="the same as --dataset sim")
    p.add_argument("--split", choices=("test", "val", "all"), default="test",
                   help="which clips or sessions: the model's D_Test (default) or D_Val from its split.json, or all "
                        "of them (a folder the model never saw)")
    p.add_argument("--rest", type=float, default=0.0, metavar="S",
                   help="clip datasets: S seconds of rest between clips, truth 'no action' (the IMU glides between the "
                        "clips' rest postures with their own noise, the camera holds a still frame; default 0: back to back)")
    p.add_argument("--seed", type=int, default=0, help="seed of the clips' order and the rests' noise (default 0)")
    p.add_argument("--from", dest="predict_from", choices=("all", "imu", "camera"), default="all",
                   help="which streams the model sees: every one it takes (default), the IMU or the camera")
    p.add_argument("--people", type=int, default=1, help="--sim: unseen simulated people (default 1)")
    p.add_argument("--seconds", type=float, default=120.0, help="--sim: simulated seconds per person (default 120)")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "torch"), default="auto",
                   help="auto: onnxruntime when the model was exported, else torch (default auto)")
    p.add_argument("--rule", choices=("model", "default"), default="model",
                   help="the live decision rule: the model's own, chosen on its D_Val streams (default), or the built-in "
                        "one (mean over 4 windows, threshold 0.5, no decoder) to compare against")
    p.add_argument("--decoders", action="store_true",
                   help="also compare the online decoders: for each (none, hysteresis, min-duration, hmm) the best rule "
                        "of its kind, chosen on the model's D_Val (--sim: the next --people unseen people), scored here")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def stream_command(args) -> int:
    """`c3t bench stream`: play held-out data through SyncBuffer -> StreamingPredictor and its decision rule
    on simulated time and print the per-hop figures (training/stream_eval.py); returns 0.

    Raises:
        C3tError: for a --model that is not a model folder, no --dataset (nor --sim), a missing dataset folder,
            --people or --seconds below 1 / 0 (checked before any heavy import), and as
            training/stream_eval.bench_stream.
    """
    read_model_config(args.model, "--model")
    sim = args.sim or args.dataset == "sim"
    if not sim:
        if not args.dataset:
            raise C3tError("give --dataset DIR (clips or sessions) or --sim (unseen simulated people)")
        check_dataset(args.dataset)
    if sim and (args.people < 1 or args.seconds <= 0):
        raise C3tError(f"--people {args.people} / --seconds {args.seconds}: give at least 1 person and some seconds")
    from c3t.core.model.predictor import PredictorSettings
    from c3t.training.stream_eval import bench_stream, report_lines

    person = None
    if sim:
        from c3t.devices.simulated import DATA_BATCH_S, SimulatedSource

        def person(**config):
            """One simulated person on simulated time (the seed, not the CPU, decides what is played)."""
            return SimulatedSource(realtime=False, batch_s=DATA_BATCH_S, **config)

    report = bench_stream(args.model, None if sim else args.dataset, split=args.split, rest_s=args.rest,
                          seed=args.seed, predict_from=args.predict_from, backend=args.backend, sim_person=person,
                          people=args.people, seconds=args.seconds, decoders=args.decoders,
                          settings=PredictorSettings(from_model=args.rule == "model"))
    print("\n".join(report_lines(report)))
    keys = ("kind", "data", "split", "modalities", "window_s", "settings", "seed", "rest", "decoders", "decoders_chosen_on")
    return _json_line(args, {**report["figures"], **{k: report[k] for k in keys if k in report}})


# name -> (help, the arguments, the command); `c3t bench --help` lists them in this order
BENCHES = {
    "paper": ("the paper's experiment tables on a dataset (resumable)", _paper_options, paper_command),
    "table": ("print the markdown table of a per-seed results file (TABLE-seeds.csv, docs/results/)",
              _table_options, table_command),
    "figures": ("t-SNE, attention and confusion figures from a `bench paper` run", _figures_options, figures_command),
    "demo": ("build the demo model for seeds 0..N-1 (timed) and score it on the checking session",
             _demo_options, demo_command),
    "buffer": ("SyncBuffer ingest throughput and window extraction time", _buffer_options, buffer_command),
    "record": ("record a 200 Hz IMU + 640x480 30 fps camera: drops, writer lag, CPU, bytes/min",
               _record_options, record_command),
    "sessions": ("end to end: record simulated sessions, train C3T on them, score IMU on check sessions",
                 _sessions_options, sessions_command),
    "retrain": ("time the Train tab's one-click retrain on seven simulated sessions (or --sessions DIR)",
                _retrain_options, retrain_command),
    "latency": ("per-window latency of a model: onnxruntime vs torch", _latency_options, latency_command),
    "gui": ("the demo window while recording and predicting: frames drawn per second, UI stalls",
            _gui_options, gui_command),
    "stream": ("held-out data through the live path on simulated time, scored per hop: frame accuracy, edit, "
               "F1@k, detection delay, false starts", _stream_options, stream_command),
}


def register(sub) -> None:
    """Add `c3t bench` and one subcommand per entry of BENCHES."""
    bench = sub.add_parser("bench", help="benchmarks and experiments that print figures")
    benches = bench.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for name, (help_text, options, command) in BENCHES.items():
        p = benches.add_parser(name, help=help_text)
        options(p)
        p.set_defaults(func=command)
