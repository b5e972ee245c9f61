"""Training batches built in a child process, so that building them never holds the trainer's interpreter.

    python -m interp.batch_worker   (started by :func:`batches_from_worker`, the GPU trainer's batch stream)

Why a process. Building a batch is Python and numpy (sampling, :func:`interp.data.pack`): a few ms a step
that hold the GIL. A batch *thread* beside a GPU training loop competes for it: the loop drops the GIL at
every kernel launch and has to win it back (the measurements: benchmarks/RESULTS.md, § GPU).

Protocol, with no pickle either way. The parent writes the job as one JSON line to the child's stdin: the
group, data seed, steps, batch size and plan. For each step the child writes one JSON header line (the step;
per part its layout, real-token count and its tensors' dtypes and shapes), then the tensors' raw bytes in
that order; the parent reads them straight into its own tensors (pinned, for a GPU). A full pipe holds the
child back, so it runs about one batch ahead.

Pitfalls handled. The child ignores SIGINT and SIGTERM: the trainer answers those itself (it finishes its
step, saves a checkpoint and closes the stream, which stops the child). If the trainer dies, even by
``kill -9``, the child's next write fails and it exits. A child that fails sends its error to its stderr and
exits; the parent raises it as one line. Batch ``s`` is a pure function of (data seed, s) in either process,
so where a batch is built never changes a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

import torch

from interp.data import Batch, MixtureSampler, PackedBatch, PackPlan, PartPlan
from interp.errors import InterpError
from interp.groups import TaskGroup

LAYOUTS = {layout.__name__: layout for layout in (Batch, PackedBatch)}
PLANS = {plan.__name__: plan for plan in (PartPlan, PackPlan)}
PIPE_BYTES = 1 << 20
"""The pipe's capacity asked of Linux (the default 64 KiB would split a 2 MB batch into 32 hand-overs)."""


def batches_from_worker(sampler: MixtureSampler, start_step: int, end_step: int, batch_size: int,
                        plan: PartPlan | PackPlan, pin_memory: bool) -> Iterator[tuple[int, list[Batch] | list[PackedBatch]]]:
    """Batches ``start_step … end_step − 1`` as ``plan`` lays them out, built by a child process."""
    if type(sampler) is not MixtureSampler:
        raise InterpError(f"a batch worker rebuilds a MixtureSampler from its group and data seed; "
                          f"it cannot build the batches of a {type(sampler).__name__}")
    job = {"group": sampler.group.to_dict(), "data_seed": sampler.data_seed, "start": start_step, "end": end_step,
           "batch_size": batch_size, "plan": {"kind": type(plan).__name__, **dataclasses.asdict(plan)}}
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([sys.executable, "-m", "interp.batch_worker"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=errors, env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux only
                with contextlib.suppress(OSError):  # above the system's limit: keep the default
                    fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            child.stdin.write(json.dumps(job).encode() + b"\n")
            child.stdin.close()
            for step in range(start_step, end_step):
                line = child.stdout.readline()
                if not line:
                    child.wait()
                    errors.seek(0)
                    said = errors.read().decode(errors="replace").strip().splitlines()
                    raise InterpError(f"the batch worker process stopped before step {step} (exit status "
                                      f"{child.returncode}): {said[-1] if said else 'it said nothing'}")
                header = json.loads(line)
                yield header["step"], [read_part(child.stdout, part, pin_memory) for part in header["parts"]]
        finally:
            child.kill()
            child.wait()
            child.stdout.close()


def read_part(stream: BinaryIO, part: dict[str, Any], pin_memory: bool) -> Batch | PackedBatch:
    tensors = []
    for dtype, shape in part["tensors"]:
        tensor = torch.empty(shape, dtype=getattr(torch, dtype), pin_memory=pin_memory)
        read_exactly(stream, memoryview(tensor.numpy()).cast("B"))
        tensors.append(tensor)
    return LAYOUTS[part["layout"]](*tensors, part["real_tokens"])


def read_exactly(stream: BinaryIO, buffer: memoryview) -> None:
    done = 0
    while done < len(buffer):
        count = stream.readinto(buffer[done:])
        if not count:
            raise InterpError("the batch worker process stopped in the middle of a batch")
        done += count


def serve(job: dict[str, Any], out: IO[bytes]) -> None:
    """The child's side: write every batch of ``job`` to ``out``."""
    group = TaskGroup.from_dict(job["group"], job["group"]["name"])
    plan_fields = dict(job["plan"])
    plan = PLANS[plan_fields.pop("kind")](**plan_fields)
    sampler = MixtureSampler(group, job["data_seed"])
    for step in range(job["start"], job["end"]):
        parts = sampler.parts(step, job["batch_size"], plan)
        header = {"step": step, "parts": [
            {"layout": type(part).__name__, "real_tokens": part.real_tokens,
             "tensors": [[str(t.dtype).removeprefix("torch."), list(t.shape)] for t in part.tensors()]}
            for part in parts]}
        out.write(json.dumps(header).encode() + b"\n")
        for part in parts:
            for tensor in part.tensors():
                out.write(memoryview(tensor.contiguous().numpy()).cast("B"))
        out.flush()


def main() -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)  # the trainer answers these and then closes the stream
    try:
        line = sys.stdin.readline()
        try:
            job = json.loads(line)
        except json.JSONDecodeError:
            raise InterpError("the batch worker reads its job as one JSON line on stdin (the trainer starts it); "
                              f"got {line[:60]!r}") from None
        serve(job, sys.stdout.buffer)
    except BrokenPipeError:  # the trainer stopped reading: it is done, stopped or dead
        os._exit(0)
    except InterpError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
