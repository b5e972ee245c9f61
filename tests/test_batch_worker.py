"""The batch worker process yields exactly the batches built in line, stops with its stream, and reports errors."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.batch_worker import batches_from_worker
from interp.data import WIDTH_PARTS, MixtureSampler, PackPlan, iterate_batches
from interp.errors import InterpError
from interp.groups import TaskGroup, TaskSpec, load_group


@pytest.mark.parametrize("plan", [WIDTH_PARTS, PackPlan(row_multiple=4, min_width=64),
                                  PackPlan(row_multiple=4, min_width=64, max_rows=16)],
                         ids=["parts", "packed", "packed over a row cap"])
def test_the_worker_yields_the_batches_built_in_line(plan):
    sampler = MixtureSampler(load_group("add_carry"), data_seed=3)
    in_line = list(iterate_batches(sampler, 10, 14, 96, plan))
    from_worker = list(batches_from_worker(sampler, 10, 14, 96, plan, pin_memory=False))
    assert [step for step, _ in from_worker] == [10, 11, 12, 13]
    for (_, expected), (_, parts) in zip(in_line, from_worker, strict=True):
        assert [type(part) for part in parts] == [type(part) for part in expected]
        for a, b in zip(expected, parts, strict=True):
            assert a.real_tokens == b.real_tokens
            assert all(x.dtype == y.dtype and torch.equal(x, y) for x, y in zip(a.tensors(), b.tensors(), strict=True))


def children() -> set[int]:
    pid = os.getpid()
    return {int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()}


def test_closing_the_stream_stops_the_worker():
    before = children()
    stream = batches_from_worker(MixtureSampler(load_group("add_only"), 0), 0, 10_000, 32, WIDTH_PARTS, False)
    next(stream)
    [worker] = children() - before
    stream.close()
    deadline = time.monotonic() + 10
    while worker in children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker not in children()


def test_a_failing_worker_is_one_clear_error():
    # the parent's sampler takes an unchecked group; the worker validates it and refuses it
    group = TaskGroup("too_short", TaskSpec("add", 0))
    with pytest.raises(InterpError, match=r"batch worker process stopped before step 0 .*max_length 0 "):
        next(batches_from_worker(MixtureSampler(group, 0), 0, 3, 8, WIDTH_PARTS, False))
    class Subclass(MixtureSampler):
        pass

    with pytest.raises(InterpError, match="cannot build the batches of a Subclass"):
        next(batches_from_worker(Subclass(load_group("add_only"), 0), 0, 3, 8, WIDTH_PARTS, False))


def test_run_by_hand_without_a_job_it_says_what_it_needs():
    result = subprocess.run([sys.executable, "-m", "interp.batch_worker"], input="hello\n", capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: the batch worker reads its job as one JSON line on stdin (the trainer " \
                                    "starts it); got 'hello\\n'"
