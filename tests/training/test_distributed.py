"""`c3t train --distributed`: InfoNCE over the global batch across ranks (values and
gradients through DDP) and the batch shards, and a real `torchrun --nproc-per-node 2` training on the
CPU against one process."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from c3t.app.cli import main
from c3t.core.model.losses import info_nce
from tests.conftest import link_subset

# torchrun starts two processes that import torch and read the data, and gives them 30 s after
# SIGTERM before it kills them; a busy laptop stretches both. This bound only ends a hang.
TORCHRUN_STOP_HANG_S = 600

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
        dist.barrier()   # neither rank tears its gloo group down while the other still uses it (else SIGABRT)
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


ACTIONS = [1, 3, 5, 9, 14, 22, 24, 27]   # 8 UTD-MHAD actions: 115 cross-subject D_Test clips
TRAIN = ["--visual", "skeleton", "--method", "c3t", "--epochs", "20", "--protocol", "cross-subject", "--clips", "--quiet"]


def test_torchrun_two_processes_train_one_model_scored_as_one_process(utd_root, tmp_path, capsys):
    """`torchrun --nproc-per-node 2 ... c3t train --distributed` on the CPU (gloo): rank 0 writes one
    complete model folder (no staging folder left) with the split and configuration of the
    one-process run, and its D_Test IMU top-1 is within the noise of one process's: both well
    above chance (1/8), apart by less than 0.15 (3 standard errors of the difference of two
    top-1 on 115 clips at 0.9, about 0.12, plus a margin: across seeds 0-2 the two ways differed
    by 0 to 0.08, docs/results.md "Scale out")."""
    data = link_subset(utd_root, tmp_path / "d", actions=ACTIONS, modalities=("Inertial", "Skeleton"))
    assert main(["train", "--dataset", str(data), *TRAIN, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "c3t.app.cli", "train", "--dataset", str(data), *TRAIN, "--out", str(tmp_path / "two"),
                          "--distributed"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("model written to") == 1   # rank 0 only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "one", "two"]   # no staging folder left
    one_m, two_m = (json.loads((tmp_path / k / "metrics.json").read_text()) for k in ("one", "two"))
    assert (tmp_path / "two" / "weights.pt").is_file()
    assert json.loads((tmp_path / "two" / "split.json").read_text()) == json.loads((tmp_path / "one" / "split.json").read_text())
    assert json.loads((tmp_path / "two" / "config.json").read_text())["training"] == \
        json.loads((tmp_path / "one" / "config.json").read_text())["training"]
    a, b = one_m["test"]["imu"]["top1"], two_m["test"]["imu"]["top1"]
    assert one_m["sizes"]["test"] == 115 and min(a, b) > 0.5 and abs(a - b) < 0.15, (a, b)


@pytest.mark.timeout(3 * TORCHRUN_STOP_HANG_S)
def test_torchrun_stopped_part_way_leaves_no_model_folder(utd_root, tmp_path):
    """Ctrl-C to torchrun while the processes train (rank 0's progress bar is up): torchrun stops
    them, rank 0 removes its staging folder, and --out never appears."""
    import signal

    from tests.conftest import wait_until

    data = link_subset(utd_root, tmp_path / "d", actions=ACTIONS[:2], modalities=("Inertial", "Skeleton"))
    err = tmp_path / "stderr.txt"
    with open(err, "w") as stderr:
        run = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                                "-m", "c3t.app.cli", "train", "--dataset", str(data), "--visual", "skeleton", "--method", "c3t",
                                "--epochs", "100000", "--clips", "--out", str(tmp_path / "models" / "c3t"), "--distributed"],
                               stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path)
        try:
            wait_until(lambda: "combined" in err.read_text(errors="replace"), TORCHRUN_STOP_HANG_S,
                       what="rank 0's training progress bar")
            assert any(p.name.startswith(".c3t.staging-") for p in (tmp_path / "models").iterdir())
            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=TORCHRUN_STOP_HANG_S) != 0
        finally:
            if run.poll() is None:
                run.kill()
    assert list((tmp_path / "models").iterdir()) == []
