"""`c3t bench paper --cluster ADDRESS`: the cells of the experiment grid as Ray tasks.

Ray (https://docs.ray.io) is an optional extra: `pip install "c3t[cluster]"` (ray[client]). ADDRESS is
`local` (a Ray instance started here for this run, with the `--jobs` CPUs), `auto` (the
cluster this machine joined with `ray start`) or `ray://HOST:PORT` (a cluster's Ray Client
server, port 10001 by default). Each cell is one task that declares its needs: one CPU (the
cell trains with one thread, as the `--jobs` workers do) and, where the cluster has GPUs,
CELL_GPUS of one GPU (cells are small: 16 of them kept one GPU 99% busy, docs/results.md).

The task runs the same cell function as `--jobs` (experiments.timed_cell) on the prepared
dataset, which goes to the cluster's object store once. The task writes the model folder on
its node in a temporary folder and sends its files back; the bench writes them to
RUN/models/ID and the record to RUN/cells/ID.json (experiments.train_cells), so nodes need no
shared file system, and a cell that continues from another (experiments.depends_on) is sent
that cell's stored files.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import shutil
import tempfile
from pathlib import Path

from c3t.core.errors import C3tError

log = logging.getLogger(__name__)

CELL_CPUS = 1          # CPUs one cell asks for: it trains with one thread
CELL_GPUS = 1 / 16     # share of one GPU a cell asks for on a cluster with GPUs (docs/results.md: 16 per H200)


def import_ray():
    """The `ray` module.

    Raises:
        C3tError: naming the extra to install (pip install c3t[cluster]) where Ray is missing
    """
    try:
        import ray
    except ImportError as exc:
        raise C3tError(f"--cluster needs Ray, which is not installed here ({exc}): pip install \"c3t[cluster]\" "
                       "(or pip install \"ray>=2\"), or leave --cluster out to train the cells with --jobs") from None
    return ray


def check_address(address: str) -> None:
    """Refuse a --cluster value Ray cannot connect to.

    Raises:
        C3tError: not `local`, `auto`, `ray://HOST:PORT` or `HOST:PORT`.
    """
    if address in ("local", "auto") or (":" in address and address.rsplit(":", 1)[1].isdigit()):
        return
    raise C3tError(f"--cluster {address}: give local (a Ray instance on this machine), auto (the cluster this "
                   "machine joined with `ray start`) or ray://HOST:PORT (a cluster's Ray Client port, 10001 by default)")


def pack(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` as {path relative to it (POSIX): bytes}."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def unpack(files: dict[str, bytes], folder: Path) -> None:
    """Write pack()'s `files` under `folder` (folders created as needed)."""
    for name, blob in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)


_node_data: tuple = (None, None)   # (object id, the prepared dataset) kept by a Ray worker process


def _cell_on_node(data_ref: list, cfg: dict, cell: str, inputs: dict[str, bytes]) -> tuple[dict, dict[str, bytes]]:
    """The Ray task of one cell: with one thread (experiments.one_thread), on this worker's copy of
    the dataset (`data_ref`: [its object ref], fetched once per worker process), train `cfg` as
    experiments.timed_cell does in a temporary run folder holding `inputs` (pack() files of the
    run: the cell it continues from); returns (its record, pack() of its model folder)."""
    import copy

    import ray

    from c3t.training.experiments import one_thread, timed_cell

    global _node_data
    if _node_data[0] != data_ref[0].hex():   # a private, writable copy (object store arrays are read-only)
        _node_data = (data_ref[0].hex(), copy.deepcopy(ray.get(data_ref[0])))
    one_thread()
    with tempfile.TemporaryDirectory(prefix="c3t-cell-") as tmp:
        run = Path(tmp)
        unpack(inputs, run)
        record = timed_cell(_node_data[1], cfg, run / "models" / cell)
        return record, pack(run / "models" / cell)


class RayCells:
    """Cells as Ray tasks on the cluster at `address` (check_address): connects (starting a local
    instance with `cpus` CPUs for "local"), puts `data` in the object store. `slots`: how many
    cells the cluster runs at once (its CPUs / CELL_CPUS, and its GPUs / the GPU share).
    `gpus_per_cell`: the GPU share each cell asks for (None: CELL_GPUS where the cluster has
    GPUs, else 0). Used by experiments.train_cells; the same interface as its process pool.

    Raises:
        C3tError: Ray missing (import_ray), a bad address, a cluster that cannot be reached, or a
            GPU share a cluster without GPUs cannot give.
    """

    def __init__(self, data, address: str, cpus: int | None = None, gpus_per_cell: float | None = None):
        check_address(address)
        ray = import_ray()
        self._ray, self._started = ray, not ray.is_initialized()
        if self._started:
            try:
                if address == "local":
                    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,   # a new one,
                             logging_level=logging.WARNING)   # even where this machine runs a cluster
                else:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)   # one progress bar
            except (ConnectionError, RuntimeError, ValueError) as exc:
                client = (" Ray Client (ray://) also needs the head's port reachable and, from Ray 2.59, its token: "
                          "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (ray get-auth-token on the head).")
                raise C3tError(f"--cluster {address}: cannot connect to Ray there ({exc}); start the cluster with `ray start "
                               f"--head` on its head node (README, Scale out), or use --cluster local."
                               + (client if address.startswith("ray://") else "")) from None
        have = ray.cluster_resources()
        self.cpus, self.gpus = int(have.get("CPU", 0)), float(have.get("GPU", 0))
        self.gpu_share = (CELL_GPUS if self.gpus else 0.0) if gpus_per_cell is None else gpus_per_cell
        if self.gpu_share > self.gpus or self.gpu_share < 0:
            self.close()
            raise C3tError(f"--cell-gpus {self.gpu_share:g}: the cluster has {self.gpus:g} GPUs; give 0 .. {self.gpus:g}")
        self.slots = max(1, self.cpus // CELL_CPUS)
        if self.gpu_share:
            self.slots = max(1, min(self.slots, int(self.gpus / self.gpu_share + 1e-9)))
        self._data = ray.put(data)
        self._task = ray.remote(_cell_on_node).options(num_cpus=CELL_CPUS, num_gpus=self.gpu_share, max_retries=0)
        self._refs: set = set()
        log.info("Ray cluster %s: %d CPUs, %g GPUs; %d cells at a time", address, self.cpus, self.gpus, self.slots)

    def describe(self) -> str:
        """The cluster in words, for the bench's summary line."""
        gpus = f", {self.gpus:g} GPUs ({self.gpu_share:g} of one per cell)" if self.gpus else ""
        return f"Ray ({self.cpus} CPUs{gpus})"

    def submit(self, cfg: dict, model_dir: Path) -> cf.Future:
        """Start the cell `cfg` as a task, sent the stored cell it continues from (depends_on)
        where RUN (model_dir/../..) holds it. The future's result is the cell's record, once its
        model folder is written to `model_dir` (through a staging folder beside it, renamed when
        complete)."""
        from c3t.training.experiments import depends_on

        run, base, inputs = model_dir.parent.parent, depends_on(cfg), {}
        if base is not None and (run / "cells" / f"{base}.json").is_file() and (run / "models" / base).is_dir():
            inputs = {f"cells/{base}.json": (run / "cells" / f"{base}.json").read_bytes(),
                      **{f"models/{base}/{k}": v for k, v in pack(run / "models" / base).items()}}
        ref = self._task.remote([self._data], cfg, model_dir.name, inputs)
        self._refs.add(ref)
        done: cf.Future = cf.Future()

        def finish(task: cf.Future) -> None:
            """Write the returned model folder and resolve `done` with the record (or the task's error)."""
            from c3t.core.atomic_file import replace_folder

            self._refs.discard(ref)
            try:
                record, files = task.result()
                if not files:   # a cell without a model (the "random" rows)
                    done.set_result(record)
                    return
                model_dir.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.staging-", dir=model_dir.parent))
                try:
                    unpack(files, staging)
                    replace_folder(staging, model_dir)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                done.set_result(record)
            except BaseException as exc:   # the cell's own error (ray.exceptions.RayTaskError wraps it) or a write error
                done.set_exception(exc)

        ref.future().add_done_callback(finish)
        return done

    def stop(self) -> None:
        """Cancel every task not finished (running ones are ended) and let go of the cluster."""
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:   # already finished, or the cluster is gone: nothing left to cancel
                log.debug("cancel %s: %s", ref, exc)
        self.close()

    def close(self) -> None:
        """Shut down the local instance, or disconnect from the cluster, if this object connected."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
