"""One model across processes: `c3t train ... --distributed` under `torchrun --nproc-per-node N`.

Every process (rank) holds the whole model and the whole prepared dataset; torch's
DistributedDataParallel (DDP) averages the gradients of every step, so the replicas stay
equal. What changes against one process, through four hooks that methods.py calls:

- `shard(idx)`: every rank draws the same shuffled global batch (the same seeded generator,
  as torch's DistributedSampler does) and trains on its own contiguous part of it.
  The global batch is TrainConfig.batch, as in one process.
- `augment_generator(gen)`: each rank augments its part with random streams of its own
  (the batch order stays in step across ranks).
- `steps(losses, model)`: each step's loss is computed inside DDP's forward, so its backward
  all-reduces the gradients; after each epoch rank 0's buffers (BatchNorm statistics) go to
  every rank, so every rank scores the same model on D_Val and keeps the same epoch.
- `gather(a, b)`: the contrastive loss sees the GLOBAL batch: latents are all-gathered from
  every rank with their gradients (as CLIP-style training does, Radford et al. 2021), so
  InfoNCE's negatives are every pair of the global batch, not only the rank's own. The loss
  then equals InfoNCE on the concatenated batch, and DDP's gradient average equals its
  gradient (tests/training/test_distributed.py).

Rank 0 writes the model folder (app/cli/train.py, through a staging folder renamed when
done). gloo on the CPU, nccl on GPUs (one GPU per rank: LOCAL_RANK). In one process
`current()` is ONE_PROCESS, whose hooks change nothing.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import weakref

import torch

from c3t.core.errors import C3tError

log = logging.getLogger(__name__)

AUGMENT_SEED = 1_000_003   # offset between the ranks' augmentation streams (from TrainConfig.seed)


class OneProcess:
    """Training in this process alone (the default): every hook leaves the step as it is."""

    rank, world = 0, 1

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch of clip indices (B,): all of it."""
        return idx

    def augment_generator(self, gen: torch.Generator) -> torch.Generator:
        """The generator that augments this rank's clips: the trainer's own `gen`."""
        return gen

    def steps(self, losses, model: torch.nn.Module):
        """An epoch's step losses (an iterator of scalar tensors), as they come."""
        return losses

    def gather(self, *latents: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Latents (N_rank, D) of the whole global batch: here, this process's."""
        return latents

    @contextlib.contextmanager
    def first_rank_first(self):
        """Run the block (in several processes rank 0 runs it before the others)."""
        yield


ONE_PROCESS = OneProcess()
_current: OneProcess = ONE_PROCESS


def current() -> OneProcess:
    """The process group this process trains in: a Ranks after start(), else ONE_PROCESS."""
    return _current


class _GatherWithGrad(torch.autograd.Function):
    """All-gather rows (N_rank, D) from every rank into (N, D), rank order; the backward sums
    every rank's gradient of the gathered rows (all-reduce) and hands each rank its own rows,
    so gradients flow back through the gather. Ranks may hold different row counts."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        world = dist.get_world_size()
        counts = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
        dist.all_gather(counts, torch.tensor([len(x)], device=x.device))
        counts = [int(c) for c in counts]
        padded = torch.zeros((max(counts),) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
        padded[: len(x)] = x
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        ctx.start = sum(counts[: dist.get_rank()])
        ctx.count = len(x)
        return torch.cat([p[:n] for p, n in zip(parts, counts)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)   # every rank's loss depends on every rank's rows
        return grad[ctx.start : ctx.start + ctx.count]


class _Step(torch.nn.Module):
    """The module DDP wraps: its forward advances an epoch's step iterator, so the loss of the
    step (computed by the recipe on the model's encoders and heads) is DDP's forward output."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, losses):
        return next(losses)


class Ranks(OneProcess):
    """This process as rank `rank` of `world` (torch.distributed initialised by start())."""

    def __init__(self, rank: int, world: int, device_ids: list[int] | None):
        self.rank, self.world, self.device_ids = rank, world, device_ids
        self._wrapped: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # model -> its DDP

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of a global batch (B,) of clip indices (the first
        B mod world ranks hold one more); none on every rank when the batch has fewer than two
        clips per rank (BatchNorm needs two)."""
        if len(idx) < 2 * self.world:
            return idx[:0]
        return torch.tensor_split(idx, self.world)[self.rank]

    def augment_generator(self, gen: torch.Generator) -> torch.Generator:
        """A generator of this rank's own, seeded from `gen`'s seed: each rank augments its clips
        differently while `gen` (the batch order) stays the same on every rank."""
        return torch.Generator().manual_seed(gen.initial_seed() + AUGMENT_SEED * (self.rank + 1))

    def steps(self, losses, model: torch.nn.Module):
        """Yield each step's loss computed inside DistributedDataParallel's forward (its backward
        then averages the gradients over the ranks); at the epoch's end, rank 0's buffers go to
        every rank. Every rank runs the same number of steps (the same batch order)."""
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        ddp = self._wrapped.get(model)
        if ddp is None:   # one per model: its phases train different parameters, so some go unused
            ddp = DistributedDataParallel(_Step(model), device_ids=self.device_ids, find_unused_parameters=True)
            self._wrapped[model] = ddp
        while True:
            try:
                loss = ddp(losses)
            except StopIteration:
                break
            yield loss
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)

    def gather(self, *latents: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Each (N_rank, D) latent tensor gathered from every rank into (N, D), in rank order,
        with gradients (_GatherWithGrad): pairs stay row for row, so InfoNCE on the result is
        InfoNCE over the global batch."""
        return tuple(_GatherWithGrad.apply(z) for z in latents)

    @contextlib.contextmanager
    def first_rank_first(self):
        """Rank 0 runs the block, then the others (e.g. preparing the dataset: rank 0 fills the
        feature cache, the others read it)."""
        import torch.distributed as dist

        if self.rank:
            dist.barrier()
        yield
        if not self.rank:
            dist.barrier()


def start() -> Ranks:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT):
    nccl with GPU LOCAL_RANK when torch sees GPUs, else gloo. Makes current() this Ranks; the
    group is left when the process ends, and SIGTERM (torchrun stopping its workers) exits
    through the usual clean-up, so a staging folder is removed. Returns the Ranks.

    Raises:
        C3tError: outside torchrun (no RANK / WORLD_SIZE in the environment), or more processes
            than GPUs on a GPU machine.
    """
    global _current
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise C3tError("--distributed runs under torchrun, which starts the processes: e.g. "
                       "`torchrun --nproc-per-node 2 \"$(which c3t)\" train ... --distributed` (README, Scale out)")
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus:
        if local >= gpus:
            raise C3tError(f"--distributed: local rank {local} has no GPU of its own ({gpus} seen); start at most "
                           f"--nproc-per-node {gpus} processes per machine")
        torch.cuda.set_device(local)
        # every rank scores the same model on D_Val / D_Align and must reach the same number, so that all
        # keep the same epoch and end a phase together: no run-to-run varying convolution algorithms
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    dist.init_process_group("nccl" if gpus else "gloo")
    _current = Ranks(dist.get_rank(), dist.get_world_size(), [local] if gpus else None)
    log.info("rank %d of %d (%s)", _current.rank, _current.world, dist.get_backend())
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    atexit.register(stop)
    return _current


def stop() -> None:
    """Leave the process group (if start() joined one); current() is ONE_PROCESS again."""
    global _current
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _current = ONE_PROCESS


def check_config(cfg) -> None:
    """Refuse a TrainConfig the ranks could not keep equal.

    Raises:
        C3tError: a learnable temperature (temperature 0): it is a trainer parameter outside the
            model, which DDP does not average.
    """
    if cfg.temperature == 0:
        raise C3tError("--distributed needs a fixed InfoNCE temperature (a learnable one is not averaged over the "
                       "processes); leave --temperature out or give one above 0")
