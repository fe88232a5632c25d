"""core/processes.living_after: a process reads as ended once it has exited, whoever reaps it."""
import multiprocessing

from c3t.core.processes import living_after


def _wait_for(event) -> None:
    event.wait()


def test_a_process_is_living_until_it_exits_even_when_another_reaped_it():
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    p = ctx.Process(target=_wait_for, args=(go,))
    p.start()
    try:
        assert living_after([p], 0) == [p]
        go.set()
        assert living_after([p], None) == []     # None: wait until it has exited
        p.join()                                 # reaped here: the sentinel still says it ended
        assert living_after([p], 0) == [] and p.exitcode == 0
    finally:
        go.set()
        p.join()
