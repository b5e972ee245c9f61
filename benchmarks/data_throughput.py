"""Data generation throughput: examples/s for batches of 1024 of every task at its largest group length.

    python benchmarks/data_throughput.py [--batch 1024] [--repeats 5]

Runs on one core (BLAS/OpenMP threads pinned to 1 before numpy loads). Targets (issue 2): arithmetic and
string tasks ≥ 50,000 examples/s, mazes ≥ 5,000. Also times whole training batches (mixture sampling,
merging, padding, tensors) for every group preset, and the same batches packed several examples to a row as
the compiled CUDA trainer packs them (``interp.train.training_plan``: rows at least 64 wide, the row count a
multiple of a 16th of the batch). Prints Markdown tables for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from interp.data import MixtureSampler  # noqa: E402
from interp.errors import cli_main  # noqa: E402
from interp.groups import load_group  # noqa: E402
from interp.presets import preset_names  # noqa: E402
from interp.tasks import TASKS, stable_rng  # noqa: E402
from interp.train import training_plan  # noqa: E402

TARGETS = {"arithmetic": 50_000, "strings": 50_000, "mazes": 5_000}


def best_rate(make, batch: int, repeats: int) -> float:
    """Examples/s of the fastest of ``repeats`` calls (after one warm-up call)."""
    make(0)
    best = min(timed(make, index) for index in range(1, repeats + 1))
    return batch / best


def timed(make, index: int) -> float:
    start = time.perf_counter()
    make(index)
    return time.perf_counter() - start


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    groups = [load_group(name) for name in preset_names("group")]
    largest = {name: max((s.max_length for g in groups for s in g.specs if s.task == name), default=16)
               for name in TASKS}

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one used; "
          f"python {platform.python_version()}, batch {args.batch}\n")
    print("| task | domain | length | examples/s | target | |")
    print("|---|---|---|---|---|---|")
    failures = 0
    for name, task in TASKS.items():
        rate = best_rate(lambda i, task=task: task.sample_train(stable_rng(i, task.name), args.batch,
                                                                largest[task.name]), args.batch, args.repeats)
        target = TARGETS[task.domain]
        failures += rate < target
        print(f"| {name} | {task.domain} | {largest[name]} | {rate:,.0f} | {target:,} | "
              f"{'ok' if rate >= target else 'BELOW'} |")
    print("\n| group | training batch examples/s | padding share at one width | packed: examples/s | "
          "packed: padding share |")
    print("|---|---|---|---|---|")
    for group in groups:
        sampler = MixtureSampler(group, data_seed=0)
        plan = training_plan(fast=True, static_shapes=True, sampler=sampler, batch_size=args.batch)  # as on CUDA
        rate = best_rate(lambda i, sampler=sampler: sampler.batch(i, args.batch), args.batch, args.repeats)
        packed_rate = best_rate(lambda i, sampler=sampler, plan=plan: sampler.parts(i, args.batch, plan), args.batch,
                                args.repeats)
        share = sum(sampler.batch(i, args.batch).padding_share for i in range(3)) / 3
        packed_share = sum(sampler.parts(i, args.batch, plan)[0].padding_share for i in range(3)) / 3
        print(f"| {group.name} | {rate:,.0f} | {share:.0%} | {packed_rate:,.0f} | {packed_share:.0%} |")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
