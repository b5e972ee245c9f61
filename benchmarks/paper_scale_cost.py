"""What the reproduction's paper scale costs on one GPU, from the one paper run that was timed end to end.

    python benchmarks/paper_scale_cost.py [--batches 8]

For every run of the paper scale's sweeps (``interp.reproduce.SCALES["paper"]``), the training FLOPs of its
20k steps estimated from sampled batches (each example alone: 6·P·T for the weights' products, 12·L·T²·d_model
for attention, T its tokens, P the non-embedding parameters, L the layers), and its time on an H200 scaled from
the timed run: ``paper`` on ``add_carry``, all 20,000 steps in 536.1 s end to end (benchmarks/RESULTS.md,
§ GPU (H200): CUDA graphs). An estimate, not a measurement: it assumes the GPU sustains the timed run's FLOP
rate at every length (long sequences run bigger attention kernels, usually at a better rate; packing, start-up
and evaluation overheads are taken as in the timed run).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from interp.config import RunConfig
from interp.data import MixtureSampler
from interp.reproduce import SCALES
from interp.sweep import expand, load_grid

TIMED_SECONDS = 536.1
"""``python -m interp.train --model paper --group add_carry --seed 0 --device cuda`` on an H200, end to end."""
TIMED_GROUP = "add_carry"


def flops_per_step(config: RunConfig, batches: int) -> float:
    """Mean training FLOPs a step over ``batches`` sampled batches."""
    model = config.model
    params = model.n_layers * (4 * model.d_model * model.n_heads * model.d_head + 3 * model.d_model * model.d_mlp)
    sampler = MixtureSampler(config.group, config.data_seed)
    totals = []
    for step in range(batches):
        lengths = sampler.examples(step, config.training.batch_size)[0].end.astype(float)
        totals.append(6 * params * lengths.sum() + 12 * model.n_layers * model.d_model * (lengths ** 2).sum())
    return float(np.mean(totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=8, help="sampled batches a group")
    args = parser.parse_args()
    if args.batches < 1:
        parser.error("--batches must be at least 1")
    scale = SCALES["paper"]
    with tempfile.TemporaryDirectory() as out:
        sweeps = {stem: expand(load_grid(path), Path(out) / stem) for stem, path in scale.sweeps.items()}
    per_group: dict[str, float] = {}
    rows, total = [], 0.0
    for stem, runs in sweeps.items():
        seconds = 0.0
        for run in runs:
            config = run.config
            key = f"{config.group.name}|{config.model.n_ctx}"
            if key not in per_group:
                per_group[key] = flops_per_step(config, args.batches) * config.training.steps
            seconds += per_group[key]
        rows.append((stem, len(runs), seconds))
        total += seconds
    timed = next(run.config for runs in sweeps.values() for run in runs if run.config.group.name == TIMED_GROUP)
    rate = flops_per_step(timed, args.batches) * timed.training.steps / TIMED_SECONDS
    print("| sweep | runs | H200 hours (estimated) |\n|---|---|---|")
    for stem, count, flops in rows:
        print(f"| {stem} | {count} | {flops / rate / 3600:.1f} |")
    print(f"| all | {sum(count for _, count, _ in rows)} | {total / rate / 3600:.1f} |")
    print(f"\ncalibration: {TIMED_GROUP} at {rate / 1e12:.0f} TFLOP/s sustained (its 20k steps in {TIMED_SECONDS} s)")


if __name__ == "__main__":
    main()
