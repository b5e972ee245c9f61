"""How often the quickstart's configuration shows transfer: the quickstart over several seeds.

    python benchmarks/quickstart_seeds.py --seeds 0 1 2 3 4 --parallel 2 --out /tmp/qs_seeds [--avx2]

Runs ``python -m interp.quickstart --seed S --skip-analysis`` (``--analysis``: without ``--skip-analysis``) for every seed (``--parallel`` at a time, the
machine's cores shared evenly among them through ``OMP_NUM_THREADS``), then judges each seed with the
quickstart's own rule (:func:`interp.quickstart.judge`) and prints a Markdown table and the counts with a 95%
Wilson interval: how many seeds transferred, and in how many the baseline learned its training lengths
without transferring. ``--avx2`` holds the kernels to AVX2 (``ATEN_CPU_CAPABILITY=avx2``,
``ONEDNN_MAX_CPU_ISA=AVX2``), as on a CPU without AVX-512 or AMX. Re-running skips finished seeds.

Thread count changes the order of the sums, so a seed run here with one thread need not give the digits a
two-thread quickstart gives; the rate is what this measures, not any one seed's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from interp.evaluate import Evaluation, read_evaluation
from interp.quickstart import (
    Outcome,
    furthest_length,
    judge,
    learned_without_transfer,
    load_settings,
    window_accuracy,
)
from interp.run import checkpoint_steps, read_config
from interp.stats import wilson_interval

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def run_seed(seed: int, out: Path, threads: int, avx2: bool, analysis: bool) -> float:
    """Run one seed's quickstart (skipped when its evaluations exist); its wall time in seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **(AVX2 if avx2 else {})}
    command = [sys.executable, "-m", "interp.quickstart", "--seed", str(seed), "--out", str(out),
               "--quiet", "--device", "cpu", *([] if analysis else ["--skip-analysis"])]
    start = time.perf_counter()
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def summary_of(run: Path) -> Evaluation | None:
    """The evaluation of the run's last checkpoint; None while the run has none (not trained or not evaluated)."""
    steps = checkpoint_steps(run)
    return read_evaluation(run, steps[-1], read_config(run).group) if steps else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--avx2", action="store_true")
    parser.add_argument("--analysis", action="store_true", help="run the quickstart whole (its head-reuse analysis too)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // args.parallel)
    with ThreadPoolExecutor(args.parallel) as pool:
        times = dict(zip(args.seeds, pool.map(
            lambda seed: run_seed(seed, args.out / f"seed{seed}", threads, args.avx2, args.analysis), args.seeds)))
    settings = load_settings()
    main_length, (low, high) = settings.main_length, settings.window
    print(f"| seed | verdict | add 1-{main_length} with aux / alone | reach with aux / alone | "
          f"window {low}-{high} with aux / alone | wall |")
    print("|---|---|---|---|---|---|")
    outcomes, baseline_plain = [], 0
    for seed in args.seeds:
        group, baseline = (summary_of(args.out / f"seed{seed}" / name) for name in (settings.group, settings.baseline))
        if group is None or baseline is None:
            raise SystemExit(f"error: seed {seed} has a run without an evaluation of its last checkpoint")
        outcome, sentence = judge(group, baseline, main_length)
        outcomes.append(outcome)
        baseline_plain += learned_without_transfer(baseline, main_length)
        print(f"| {seed} | {sentence.split(':')[0]} | {100 * window_accuracy(group, 1, main_length):.1f} / "
              f"{100 * window_accuracy(baseline, 1, main_length):.1f}% | {furthest_length(group)} / {furthest_length(baseline)} | "
              f"{100 * window_accuracy(group, low, high):.1f} / {100 * window_accuracy(baseline, low, high):.1f}% | "
              f"{times[seed] / 60:.1f} min |")
    count = len(args.seeds)
    transferred = outcomes.count(Outcome.TRANSFER)
    low, high = wilson_interval(transferred, count)
    print(f"\ntransferred in {transferred} of {count} seeds (95% Wilson interval {low:.2f}-{high:.2f}); "
          f"baseline learned 1-8 without transferring in {baseline_plain} of {count}; "
          f"{threads} thread(s) per seed, {args.parallel} at once{', AVX2 kernels' if args.avx2 else ''}")
    (args.out / "seeds.json").write_text(json.dumps(
        {"seeds": args.seeds, "outcomes": [o.value for o in outcomes], "transferred": transferred,
         "baseline_plain": baseline_plain, "threads": threads, "avx2": args.avx2}, indent=1))


if __name__ == "__main__":
    main()
