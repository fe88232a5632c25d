"""`c3t train --distributed`: InfoNCE over the global batch across ranks (values and
gradients through DDP) and the batch shards."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from c3t.core.model.losses import info_nce

ROWS = 7   # rows of the global batch: 4 on rank 0, 3 on rank 1 (uneven on purpose)


def _encoders():
    """Two seeded linear encoders (camera, IMU side) and a global batch (ROWS, 6) for each."""
    torch.manual_seed(0)
    enc_a, enc_b = torch.nn.Linear(6, 4), torch.nn.Linear(5, 4)
    gen = torch.Generator().manual_seed(1)
    return enc_a, enc_b, torch.randn(ROWS, 6, generator=gen), torch.randn(ROWS, 5, generator=gen)


def _loss(enc_a, enc_b, xa, xb, gather):
    za, zb = F.normalize(enc_a(xa), dim=1), F.normalize(enc_b(xb), dim=1)
    return info_nce(*gather(za, zb), 0.1)


def _rank(rank: int, world: int, store: str, out: str) -> None:
    """One rank: the global batch's rows of this rank through DDP (distributed.Ranks.steps) and the
    gathered InfoNCE; writes the loss and the averaged gradients to OUT/rank.pt."""
    import torch.distributed as dist

    from c3t.training import distributed

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        ranks = distributed.Ranks(rank, world, None)
        enc_a, enc_b, xa, xb = _encoders()
        model = torch.nn.ModuleDict({"a": enc_a, "b": enc_b})
        mine = ranks.shard(torch.arange(ROWS))
        losses = (_loss(enc_a, enc_b, xa[mine], xb[mine], ranks.gather) for _ in range(1))   # one step, lazily:
        loss = next(ranks.steps(losses, model))   # computed inside DDP's forward
        loss.backward()                           # DDP averages the gradients over the ranks
        torch.save({"loss": loss.item(), "rows": mine.tolist(),
                    "grads": {k: p.grad for k, p in model.named_parameters()}}, Path(out) / f"{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_gathered_info_nce_over_two_ranks_equals_info_nce_of_the_whole_batch(tmp_path):
    """Two gloo ranks with 4 and 3 rows: each rank's loss is InfoNCE of the concatenated batch,
    and the gradients DDP averages are that loss's gradients in one process."""
    torch.multiprocessing.spawn(_rank, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    enc_a, enc_b, xa, xb = _encoders()
    single = _loss(enc_a, enc_b, xa, xb, lambda *z: z)
    single.backward()
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in (0, 1)]
    assert ranks[0]["rows"] == [0, 1, 2, 3] and ranks[1]["rows"] == [4, 5, 6]   # every row once, in order
    expected = {f"{k}.{n}": p.grad for k, m in (("a", enc_a), ("b", enc_b)) for n, p in m.named_parameters()}
    for r in ranks:
        assert r["loss"] == pytest.approx(single.item(), rel=1e-6)
        for name, grad in expected.items():
            torch.testing.assert_close(r["grads"][name], grad, rtol=1e-5, atol=1e-7)
