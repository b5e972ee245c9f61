"""Seeds are the unit of replication: every group's result summarised over its runs.

    python -m interp.seeds --runs DIR [DIR ...] [--eval-count N] [--eval-lengths 1-40] [--learned-threshold 0.9]
                           [--json FILE]

Length-generalisation transfer is seed-unstable (Cai et al., "Extrapolation by Association: Length
Generalization Transfer in Transformers", arXiv 2506.09251: some seeds transfer, some do not), so one run
says little and a group's result is a distribution over seeds. Runs are grouped by group name and
positional encoding (RoPE and NoPE runs of one group are different experiments); for each group this
reports, at every run's final checkpoint, the mean generalisation gap (GG) and the mean transfer-window
accuracy over the seeds that learned their training lengths (``learned``, SPEC §6: a run that learned
nothing has GG ≈ 0 without any transfer, so it is left out and listed), each with a percentile bootstrap
interval over seeds, and the best seed. Each run's evaluation is its fullest saved one
(:func:`interp.evaluate.fullest_evaluation`); one made at fewer lengths than SPEC §6's is named with its file and
the lengths it lacks, since its GG covers only the others. The best seed is the one with the highest mean main-task accuracy over the evaluated lengths, the same rule that
draws it in bold in ``interp.evaluate``'s figures.

Pitfalls: with 3–5 seeds the bootstrap interval of a mean is rough (it cannot be wider than the range of
the seeds); read it as "how far apart the seeds are", not as a calibrated 95% interval. GG and the
transfer window are None for a baseline group (no auxiliary task).

Choosing the runs and evaluating them is :mod:`interp.runs`'.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from interp.errors import cli_main
from interp.evaluate import (
    LEARNED_THRESHOLD,
)
from interp.runs import RunResult, add_run_arguments, parse_run_arguments, selected_results
from interp.stats import bootstrap_mean, finite, none_if_nan
from interp.storage import check_output_file, write_json

SUMMARY_RESAMPLES = 2000


def by_group(results: Iterable[RunResult]) -> dict[tuple[str, str, str], list[RunResult]]:
    """Runs grouped by (group name, positional encoding, model), sorted by name (RoPE first), each by seed.

    Only seeds of one condition pool: a finetuned or a larger model's runs of a group are a condition
    of their own.
    """
    groups: dict[tuple[str, str, str], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.group.name, result.positional, result.model), []).append(result)
    return {key: sorted(groups[key], key=lambda result: (result.seed, result.label))
            for key in sorted(groups, key=lambda key: (key[0], key[1] != "rope", key[1], key[2]))}


def over_seeds(values: Sequence[float | None], seed: int = 0) -> dict[str, Any]:
    """``{"mean", "ci", "values"}`` over the seeds that have a value (all None when none has)."""
    present = [float(value) for value in values if finite(value)]
    if not present:
        return {"mean": None, "ci": [None, None], "values": list(values)}
    mean, (lo, hi) = bootstrap_mean(present, SUMMARY_RESAMPLES, seed=seed)
    return {"mean": mean, "ci": [none_if_nan(lo), none_if_nan(hi)], "values": list(values)}


def summarize_seeds(results: Iterable[RunResult], seed: int = 0,
                    window: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """One summary per (group, positional encoding, model): means over seeds, intervals, the best seed.

    GG and the transfer-window accuracy are averaged over the *learned* seeds only (an unlearned run has
    GG ≈ 0 without any transfer); the seeds left out are listed under ``unlearned``. With ``window`` (low, high],
    every group's transfer-window accuracy is its main task's over those lengths, so that a baseline (no window of
    its own) is measured where its related group is (:meth:`RunResult.window_accuracy`)."""
    summaries = []
    for (name, positional, model), members in by_group(results).items():
        group = members[0].group
        best = max(members, key=lambda result: result.main_accuracy)
        learned = [result for result in members if result.learned]
        summaries.append({
            "group": name,
            "kind": group.kind,
            "positional": positional,
            "model": model,
            "main": {"task": group.main.task, "max_length": group.main.max_length},
            "aux": [{"task": spec.task, "max_length": spec.max_length} for spec in group.aux],
            "seeds": [result.seed for result in members],
            "runs": [result.label for result in members],
            "steps": [result.step for result in members],
            "learned": [result.learned for result in members],
            "learned_threshold": members[0].evaluation.learned_threshold,
            "unlearned": [result.label for result in members if not result.learned],
            "evaluations": [result.evaluation.source.file for result in members],
            "narrow": {result.label: asdict(result.evaluation.source) for result in members
                       if result.evaluation.source.lengths_missing},
            "gg": over_seeds([result.gg for result in learned], seed),
            "transfer_window_accuracy": over_seeds([result.window_accuracy(window) for result in learned], seed),
            "main_accuracy": over_seeds([result.main_accuracy for result in members], seed),
            "best": {"run": best.label, "seed": best.seed, "main_accuracy": best.main_accuracy, "gg": best.gg,
                     "transfer_window_accuracy": best.window_accuracy(window), "learned": best.learned},
        })
    return summaries


def format_estimate(summary: dict[str, Any], percent: bool = False) -> str:
    """``0.123 [0.050, 0.200]`` (or in percent); ``n/a`` when undefined."""
    if summary["mean"] is None:
        return "n/a"
    scale, unit, digits = (100, "%", 1) if percent else (1, "", 3)
    lo, hi = (f"{scale * value:.{digits}f}" if value is not None else "?" for value in summary["ci"])
    return f"{scale * summary['mean']:.{digits}f}{unit} [{lo}, {hi}]"


def format_value(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def format_seeds_table(summaries: list[dict[str, Any]]) -> str:
    """One line per group: seeds (learned of all), mean GG and transfer-window accuracy over the learned seeds
    with intervals, the best seed."""
    header = (f"{'group':<18} {'pos':<4} {'model':<10} {'kind':<8} {'learned':>7}  {'GG mean [95% CI]':<24} "
              f"{'transfer window [95% CI]':<26} best seed (main acc, GG)")
    rows = [header, "-" * len(header)]
    for summary in summaries:
        best = summary["best"]
        learned = f"{sum(bool(flag) for flag in summary['learned'])}/{len(summary['seeds'])}"
        rows.append(
            f"{summary['group']:<18} {summary['positional']:<4} {summary['model']:<10} {summary['kind']:<8} "
            f"{learned:>7}  "
            f"{format_estimate(summary['gg']):<24} {format_estimate(summary['transfer_window_accuracy'], True):<26} "
            f"{best['seed']} ({format_value(best['main_accuracy'], True)}, {format_value(best['gg'])}"
            f"{'' if best['learned'] else ', not learned'})")
    threshold = summaries[0]["learned_threshold"] if summaries else LEARNED_THRESHOLD
    rows.append(f"GG: 0 = perfect transfer (mean |acc_aux − acc_main| up to the longer training length); learned: "
                f"every task ≥ {threshold:.0%} on its training lengths; GG and window over learned seeds only; "
                "intervals: bootstrap over seeds")
    rows += [f"not learned, left out of GG: {', '.join(summary['unlearned'])} ({summary['group']})"
             for summary in summaries if summary["unlearned"]]
    rows += [f"evaluated at fewer lengths than SPEC §6, so its GG covers only those: {label} ({source['file']} lacks "
             + "; ".join(f"{task} {lengths}" for task, lengths in source["lengths_missing"].items()) + ")"
             for summary in summaries for label, source in summary["narrow"].items()]
    return "\n".join(rows)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.seeds", description="Every group's result summarised over its seeds.")
    add_run_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write the summaries as JSON here")
    args = parser.parse_args(argv)
    if args.json:
        check_output_file(args.json)
    summaries = summarize_seeds(selected_results(parse_run_arguments(args)))
    print(format_seeds_table(summaries))
    if args.json:
        write_json(args.json, summaries)
        print(f"summaries: {args.json}")


if __name__ == "__main__":
    main()
