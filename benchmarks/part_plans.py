"""How to cut a batch for a model compiled with static shapes: the trainer's step on equal-row parts.

    python benchmarks/part_plans.py [--model paper] [--group add_carry] [--parts 1,2,4,8] [--granularity 16]
        [--batches 60] [--steps 20] [--device auto]

Before the trainer packed several examples to a row (``interp.data.pack``, which it does now), the compiled
CUDA trainer ran each batch whole at its bucket width (``interp.data.WHOLE_BATCH``): parts cut where the row
width changes vary in row count from batch to batch, and dynamic shapes ran slow. Parts of
equal row counts keep shapes static: the batch sorted by row length and cut into N parts whose row counts
depend on the batch size alone, each padded to the multiple of ``--granularity`` its longest row needs. This
times the trainer's step on them (compiled as the trainer compiles: static shapes on CUDA, dynamic on the
CPU), in one process for each N (N = 1: the whole batch):
the distinct part shapes met over ``--batches`` batches (one compiled graph each), the padding share, the
time of that first pass less its steps at the steady rate (compilation, with the inductor caches off, as on
a fresh machine), and the steady step time over ``--steps`` batches already compiled for. The last column
is what a run of the preset's steps would take: steady steps plus compilation. More parts mean less
padding but smaller kernels, more calls and more graphs (benchmarks/RESULTS.md, § Training throughput / GPU:
on an H200 four parts took 2.6 times the whole batch's step time, so the trainer kept the whole batch).
"""

from __future__ import annotations

import os

os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "0")  # time compilation as a fresh machine pays it
os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "0")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import itertools  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from interp.cli import add_device_argument, pick_device  # noqa: E402
from interp.config import make_run_config  # noqa: E402
from interp.data import PAD, Batch, MixtureSampler  # noqa: E402
from interp.errors import cli_main  # noqa: E402
from interp.train import Trainer  # noqa: E402


def equal_row_parts(batch: Batch, count: int, granularity: int) -> list[Batch]:
    """The batch's rows sorted by length, cut into ``count`` parts of equal row counts (±1), each padded to
    the multiple of ``granularity`` its longest row needs."""
    lengths = (batch.tokens != PAD).sum(1)
    order = torch.argsort(lengths, stable=True)
    rows = len(order)
    bounds = [rows * i // count for i in range(count + 1)]
    return [batch.rows(order[a:b], -(-int(lengths[order[b - 1]]) // granularity) * granularity)
            for a, b in itertools.pairwise(bounds) if b > a]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="paper")
    parser.add_argument("--group", default="add_carry")
    parser.add_argument("--parts", default="1,2,4,8", help="comma-separated part counts to compare")
    parser.add_argument("--granularity", type=int, default=16, help="part widths are multiples of this")
    parser.add_argument("--batches", type=int, default=60, help="batches of the first (compiling) pass")
    parser.add_argument("--steps", type=int, default=20, help="timed steps at the steady rate")
    add_device_argument(parser)
    args = parser.parse_args()
    try:
        counts = [int(n) for n in args.parts.split(",")]
    except ValueError:
        raise SystemExit(f"--parts must be comma-separated part counts, got {args.parts!r}") from None
    if min(counts) < 1 or args.granularity < 1 or args.batches < args.steps or args.steps < 1:
        raise SystemExit("--parts and --granularity must be positive, and --batches at least --steps (at least 1)")
    device = pick_device(args.device)
    config = make_run_config(args.model, args.group, 0)
    config = dataclasses.replace(config, training=config.training.replace(compile=True))
    sampler = MixtureSampler(config.group, 0)
    batches = [sampler.batch(step, config.training.batch_size) for step in range(args.batches)]
    print(f"{args.model} on {args.group}, batch {config.training.batch_size}, {config.training.steps:,} steps, "
          f"{torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}\n")
    print("| parts | shapes | padding | first pass less steady steps (compilation) | steady ms/step "
          "| a run of the preset's steps |")
    print("|---|---|---|---|---|---|")
    for count in counts:
        torch._dynamo.reset()
        trainer = Trainer(Path(tempfile.mkdtemp(prefix="interp-plans-")), config, device, progress=False)
        if not trainer.compiled:
            raise SystemExit(f"the trainer does not compile on {device.type} here")
        parts = [[p.to(device) for p in equal_row_parts(batch, count, args.granularity)] for batch in batches]
        shapes = {tuple(p.tokens.shape) for ps in parts for p in ps}
        padding = 1 - sum(p.real_tokens for ps in parts for p in ps) / sum(p.tokens.numel() for ps in parts for p in ps)
        synchronize(device)
        start = time.perf_counter()
        for ps in parts:
            trainer.train_step(ps, step=100)
        synchronize(device)
        first_pass = time.perf_counter() - start
        start = time.perf_counter()
        for ps in parts[: args.steps]:
            trainer.train_step(ps, step=100)
        synchronize(device)
        steady = (time.perf_counter() - start) / args.steps
        compiling = first_pass - steady * len(parts)
        run_minutes = (config.training.steps * steady + compiling) / 60
        print(f"| {count} | {len(shapes)} | {padding:.0%} | {compiling:.0f} s | {steady * 1e3:.1f} | "
              f"{run_minutes:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
