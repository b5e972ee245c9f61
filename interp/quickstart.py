"""The main job on an embedded default: does a related auxiliary task make addition extrapolate?

    python -m interp.quickstart [--out runs/quickstart] [--steps N] [--device auto|cpu|cuda] [--seed S]

Trains the ``small`` preset (4 layers, 4 heads, d_model 128) twice with the same seed, budget and data
seed: on ``add8_carry`` (reverse addition up to 8 digits with nocarry and carry up to 16) and on
``add8_only`` (addition alone up to 8 digits, the baseline). Then evaluates both at lengths 1–20, runs
the head-reuse analysis (``interp.head_overlap``) on the group run, and prints the comparison: addition's
exact match inside its training lengths, in the transfer window 9–16 and beyond, with and without the
auxiliaries. The budget is the issue's reference (3000 steps at batch 128 per run, about 12M tokens): on a
2-core CPU with AMX, which trains in bf16 (``interp.train.computed_precision``), it took 9⅓–12⅓ minutes in
all; in fp32 (a CPU without AMX) 12¾ minutes in the hour of the 9⅓ and 15½–18 in slower hours, as fast as
the shared machine ran (benchmarks/RESULTS.md, § Quickstart; not timed on a GPU). ``--steps`` trades that
for a smaller budget, at a risk: both runs sit on a loss plateau for their first 500–1500 steps, and shorter budgets (2000 steps; 1500
for the baseline) left some seeds on it.
Re-running continues or skips what is done (each run is resumable).

The verdict compares how far addition holds (≥ 50% exact match, no gap) with and without the
auxiliaries, and only when both runs learned their training lengths (≥ 90% mean exact match on 1–8):
otherwise the comparison says nothing about transfer, and the verdict says so.

The result is reported as measured, transfer or not: transfer is seed-unstable (Cai et al., arXiv
2506.09251), and this scale sits near its edge.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from interp.config import RunConfig, make_run_config
from interp.errors import InterpError, cli_main
from interp.evaluate import evaluate_run, pick_device, read_evaluation
from interp.groups import load_group
from interp.run import CONFIG_FILE, checkpoint_steps, read_config
from interp.train import train_run

MODEL = "small"
GROUP, BASELINE = "add8_carry", "add8_only"
EVAL_COUNT = 256
ANALYSIS_COUNT = 32
WINDOW = (9, 16)
LEARNED = 0.9
"""Mean exact match on the training lengths above which a run counts as having learned its task."""


def planned_config(out: Path, group: str, seed: int, steps: int | None) -> RunConfig | None:
    """The config of a new run, or ``None`` to continue the run already in ``out`` (which must match)."""
    config = make_run_config(MODEL, group, seed, steps=steps)
    if not (out / CONFIG_FILE).is_file():
        return config
    saved = read_config(out)
    if steps is not None and saved.training.steps != steps:
        raise InterpError(f"{out} already holds a run of {saved.training.steps} steps, not --steps {steps}; "
                          f"give another --out to train a new one")
    if saved.seed != seed:
        raise InterpError(f"{out} already holds a run of seed {saved.seed}, not --seed {seed}; "
                          f"give another --out to train a new one")
    return None


def evaluation_of(run: Path, count: int, device, quiet: bool) -> dict:
    """The last checkpoint's evaluation at lengths 1–20 for both runs (so the baseline is seen in the
    transfer window too), reusing a saved one made with at least ``count`` examples at those lengths."""
    step = checkpoint_steps(run)[-1]
    lengths = load_group(GROUP).eval_lengths("add")
    cached = read_evaluation(run, step, read_config(run).group)
    if cached is not None:
        counts = cached["tasks"]["add"]["n"]
        if all(counts.get(str(length), 0) >= count for length in lengths):
            return cached
    return evaluate_run(run, [step], count, lengths, device, quiet=quiet)[-1]


def window_accuracy(summary: dict, low: int, high: int) -> float:
    accuracy = summary["tasks"]["add"]["accuracy"]
    return float(np.mean([accuracy[str(n)] for n in range(low, high + 1) if str(n) in accuracy]))


def furthest_length(summary: dict) -> int:
    """The last length up to which addition's exact match stays at or above 50% without a gap."""
    accuracy = summary["tasks"]["add"]["accuracy"]
    reach = 0
    for length in sorted(map(int, accuracy)):
        if accuracy[str(length)] < 0.5:
            break
        reach = length
    return reach


def comparison(group_summary: dict, baseline_summary: dict) -> str:
    count = min(group_summary["tasks"]["add"]["n"].values())
    lines = ["", f"addition exact match ({count} examples per length):",
             f"{'length':>8} {'with aux':>9} {'alone':>7}"]
    with_aux = group_summary["tasks"]["add"]["accuracy"]
    alone = baseline_summary["tasks"]["add"]["accuracy"]
    for length in sorted(map(int, with_aux)):
        marker = " (trained)" if length <= 8 else " (transfer window)" if length <= 16 else ""
        lines.append(f"{length:>8} {100 * with_aux[str(length)]:>8.1f}% {100 * alone[str(length)]:>6.1f}%{marker}")
    inside = window_accuracy(group_summary, 1, 8), window_accuracy(baseline_summary, 1, 8)
    window = window_accuracy(group_summary, *WINDOW), window_accuracy(baseline_summary, *WINDOW)
    lines.append(f"\nlengths 1-8 (trained):  with aux {100 * inside[0]:.1f}%, alone {100 * inside[1]:.1f}%")
    lines.append(f"lengths 9-16 (window):  with aux {100 * window[0]:.1f}%, alone {100 * window[1]:.1f}%")
    lines.append(f"generalisation gap of the group run: {group_summary['gg']:.3f}")
    reach = furthest_length(group_summary), furthest_length(baseline_summary)
    unlearned = [name for name, accuracy in (("with aux", inside[0]), ("alone", inside[1])) if accuracy < LEARNED]
    if unlearned:
        verdict = (f"inconclusive: addition did not learn its training lengths ({' and '.join(unlearned)} below "
                   f"{LEARNED:.0%} on lengths 1-8); train longer (--steps) or try another --seed")
    elif reach[0] > reach[1]:
        verdict = (f"transfer up to length {reach[0]}: with the auxiliaries addition stays at >= 50% exact match "
                   f"to length {reach[0]}, alone to length {reach[1]}")
    else:
        verdict = (f"no transfer at this scale and seed: addition stays at >= 50% exact match to length "
                   f"{reach[0]} with the auxiliaries and to {reach[1]} alone")
    lines.append(f"verdict: {verdict}")
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    parser.add_argument("--steps", type=int, help="training steps per run (default: the small preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--eval-count", type=int, default=EVAL_COUNT, help="test examples per task and length")
    parser.add_argument("--analysis-count", type=int, default=ANALYSIS_COUNT, help="examples per length for head_overlap")
    parser.add_argument("--skip-analysis", action="store_true", help="do not run head_overlap")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.eval_count < 1 or args.analysis_count < 1:
        raise InterpError("--eval-count and --analysis-count must be at least 1")
    device = pick_device(args.device)
    runs = {group: args.out / group for group in (GROUP, BASELINE)}
    configs = {group: planned_config(run, group, args.seed, args.steps) for group, run in runs.items()}
    for group, run in runs.items():
        print(f"== training {MODEL} on {group} → {run}")
        status = train_run(run, configs[group], device, progress=not args.quiet)
        if status:
            raise SystemExit(status)  # stopped by a signal; a re-run resumes
    summaries = {group: evaluation_of(run, args.eval_count, device, args.quiet) for group, run in runs.items()}
    print(comparison(summaries[GROUP], summaries[BASELINE]))
    if not args.skip_analysis:
        from interp.head_overlap import analyze
        from interp.report import summary_table

        print(f"\n== head reuse on {runs[GROUP]}")
        record = analyze(runs[GROUP], count=args.analysis_count, device=device, progress=not args.quiet)
        print(summary_table(record))
    print("\nfigures:")
    for run in runs.values():
        step = checkpoint_steps(run)[-1]
        print(f"  {run / 'eval' / f'accuracy_step_{step:06d}.html'}")
    if not args.skip_analysis:
        print(f"  {runs[GROUP] / 'analysis' / 'report.html'}\n  {runs[GROUP] / 'analysis' / 'ablation_report.md'}")


if __name__ == "__main__":
    main()
