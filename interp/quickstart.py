"""The main job on an embedded default: does a related auxiliary task make addition extrapolate?

    python -m interp.quickstart [--out runs/quickstart] [--steps N] [--device auto|cpu|cuda] [--seed S]

Trains one size preset twice with the same seed, budget and data seed, as ``models/quickstart.toml`` says:
on a group (by default ``add8_carry``: reverse addition up to 8 digits with nocarry and carry up to 16) and
on its baseline (``add8_only``: addition alone). Then evaluates both at the group's evaluation lengths, runs
the head-reuse analysis (``interp.head_overlap``) on the group run, and prints the comparison: addition's
exact match inside its training lengths, in the transfer window (SPEC §6) and beyond, with and without the
auxiliaries. Re-running continues or skips what is done (each run is resumable).

The verdict compares how far addition holds (>= 50% exact match, no gap) with and without the auxiliaries,
and only when both runs learned their training lengths (>= 90% mean exact match): otherwise the comparison
says nothing about transfer, and the verdict says so. One seed is one draw: transfer is seed-unstable (Cai
et al., arXiv 2506.09251), so beside the verdict the quickstart prints how often the configuration transferred
over several seeds when it was measured (``[measured]`` in the settings file, from
``benchmarks/quickstart_seeds.py``). ``--steps`` shortens the budget at a risk: both runs sit on a loss plateau
for their first several hundred steps, and shorter budgets left some seeds on it. Times and the seed table:
benchmarks/RESULTS.md, § Quickstart.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from pathlib import Path

import numpy as np

from interp.cli import add_device_argument, pick_device
from interp.config import RunConfig, make_run_config
from interp.errors import InterpError, cli_main
from interp.evaluate import Evaluation, evaluate_run, read_evaluation
from interp.groups import load_group
from interp.presets import check_keys, models_dir, read_toml, typed_fields
from interp.run import CONFIG_FILE, checkpoint_steps, read_config, step_name
from interp.stats import wilson_interval
from interp.train import train_run

SETTINGS_FILE = "quickstart.toml"
EVAL_COUNT = 256
ANALYSIS_COUNT = 32
LEARNED = 0.9
"""Mean exact match on the training lengths above which a run counts as having learned its task."""


@dataclasses.dataclass(frozen=True)
class Measured:
    """How the configuration fared over several seeds when measured (``[measured]`` of the settings file)."""

    seeds: int
    transferred: int
    baseline_learned_without_transfer: int
    how: str

    def sentence(self) -> str:
        if self.seeds == 0:
            return "this configuration's seed-success rate has not been measured: one seed proves little"
        low, high = wilson_interval(self.transferred, self.seeds)
        return (f"when measured, this configuration transferred in {self.transferred} of {self.seeds} seeds "
                f"(95% interval {low:.2f}-{high:.2f}) and the baseline learned its training lengths without "
                f"transferring in {self.baseline_learned_without_transfer} of {self.seeds} ({self.how}); "
                f"one seed's verdict is one draw from that")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The quickstart's configuration: ``models/quickstart.toml``."""

    model: str
    group: str
    baseline: str
    measured: Measured

    @property
    def main_length(self) -> int:
        return load_group(self.group).spec("add").max_length

    @property
    def window(self) -> tuple[int, int]:
        """SPEC §6's transfer window: past the main task's training lengths up to twice them."""
        return self.main_length + 1, 2 * self.main_length


def load_settings() -> Settings:
    path = models_dir() / SETTINGS_FILE
    table = read_toml(path)
    check_keys(table, {"model", "group", "baseline", "measured"}, str(path))
    measured = table.get("measured", {})
    check_keys(measured, {field.name for field in dataclasses.fields(Measured)}, f"{path} [measured]")
    try:
        return Settings(table["model"], table["group"], table["baseline"],
                        Measured(**typed_fields(Measured, measured, f"{path} [measured]")))
    except (KeyError, TypeError) as error:
        raise InterpError(f"{path}: missing {error}") from None


def planned_config(out: Path, model: str, group: str, seed: int, steps: int | None) -> RunConfig | None:
    """The config of a new run, or ``None`` to continue the run already in ``out`` (which must match)."""
    config = make_run_config(model, group, seed, steps=steps)
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


def evaluation_of(run: Path, group: str, count: int, device, quiet: bool) -> Evaluation:
    """The last checkpoint's evaluation at the group's evaluation lengths for both runs (so the baseline is seen in the
    transfer window too), reusing a saved one made with at least ``count`` examples at those lengths."""
    step = checkpoint_steps(run)[-1]
    lengths = load_group(group).eval_lengths("add")
    return (read_evaluation(run, step, read_config(run).group, count, lengths)
            or evaluate_run(run, [step], count, lengths, device, quiet=quiet)[-1])


def window_accuracy(summary: Evaluation, low: int, high: int) -> float:
    accuracy = summary.tasks["add"].accuracy
    return float(np.mean([accuracy[n] for n in range(low, high + 1) if n in accuracy]))


def furthest_length(summary: Evaluation) -> int:
    """The last length up to which addition's exact match stays at or above 50% without a gap."""
    accuracy = summary.tasks["add"].accuracy
    reach = 0
    for length in sorted(accuracy):
        if accuracy[length] < 0.5:
            break
        reach = length
    return reach


def learned_without_transfer(baseline_summary: Evaluation, main_length: int) -> bool:
    """The baseline's hoped-for outcome: addition learned on its training lengths and holding no further."""
    return (window_accuracy(baseline_summary, 1, main_length) >= LEARNED
            and furthest_length(baseline_summary) <= main_length)


class Outcome(enum.Enum):
    """What one quickstart (one seed) showed."""

    TRANSFER = "transfer"
    """Both runs learned their training lengths and addition holds (>= 50%, no gap) further with the auxiliaries."""
    NO_TRANSFER = "no transfer"
    """Both runs learned their training lengths and addition holds no further with the auxiliaries than alone."""
    INCONCLUSIVE = "inconclusive"
    """A run did not learn its training lengths, so the comparison says nothing about transfer."""


def judge(group_summary: Evaluation, baseline_summary: Evaluation, main_length: int) -> tuple[Outcome, str]:
    """The outcome of one group run against its baseline (addition trained up to ``main_length``), and the
    sentence that explains it."""
    inside = window_accuracy(group_summary, 1, main_length), window_accuracy(baseline_summary, 1, main_length)
    reach = furthest_length(group_summary), furthest_length(baseline_summary)
    unlearned = [name for name, accuracy in (("with aux", inside[0]), ("alone", inside[1])) if accuracy < LEARNED]
    if unlearned:
        return Outcome.INCONCLUSIVE, (
            f"inconclusive: addition did not learn its training lengths ({' and '.join(unlearned)} below "
            f"{LEARNED:.0%} on lengths 1-{main_length}); train longer (--steps) or try another --seed")
    if reach[0] > reach[1]:
        return Outcome.TRANSFER, (
            f"transfer up to length {reach[0]}: with the auxiliaries addition stays at >= 50% exact match "
            f"to length {reach[0]}, alone to length {reach[1]}")
    return Outcome.NO_TRANSFER, (
        f"no transfer at this seed: addition stays at >= 50% exact match to length {reach[0]} with the "
        f"auxiliaries and to {reach[1]} alone")


def comparison(group_summary: Evaluation, baseline_summary: Evaluation, settings: Settings) -> str:
    main_length, (low, high) = settings.main_length, settings.window
    count = min(group_summary.tasks["add"].n.values())
    lines = ["", f"addition exact match ({count} examples per length):",
             f"{'length':>8} {'with aux':>9} {'alone':>7}"]
    with_aux = group_summary.tasks["add"].accuracy
    alone = baseline_summary.tasks["add"].accuracy
    for length in sorted(with_aux):
        marker = " (trained)" if length <= main_length else " (transfer window)" if length <= high else ""
        lines.append(f"{length:>8} {100 * with_aux[length]:>8.1f}% {100 * alone[length]:>6.1f}%{marker}")
    inside = window_accuracy(group_summary, 1, main_length), window_accuracy(baseline_summary, 1, main_length)
    window = window_accuracy(group_summary, low, high), window_accuracy(baseline_summary, low, high)
    lines.append(f"\nlengths 1-{main_length} (trained):  with aux {100 * inside[0]:.1f}%, alone {100 * inside[1]:.1f}%")
    lines.append(f"lengths {low}-{high} (window):  with aux {100 * window[0]:.1f}%, alone {100 * window[1]:.1f}%")
    lines.append(f"generalisation gap of the group run: {group_summary.gg:.3f}")
    lines.append(f"verdict (this seed): {judge(group_summary, baseline_summary, main_length)[1]}")
    lines.append(f"uncertainty: {settings.measured.sentence()}")
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    parser.add_argument("--steps", type=int, help="training steps per run (default: the small preset's)")
    parser.add_argument("--seed", type=int, default=0)
    add_device_argument(parser)
    parser.add_argument("--eval-count", type=int, default=EVAL_COUNT, help="test examples per task and length")
    parser.add_argument("--analysis-count", type=int, default=ANALYSIS_COUNT, help="examples per length for head_overlap")
    parser.add_argument("--skip-analysis", action="store_true", help="do not run head_overlap")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.eval_count < 1:
        raise InterpError("--eval-count must be at least 1")
    if args.analysis_count < 2:  # head_overlap's resampling ablation needs a donor example
        raise InterpError("--analysis-count must be at least 2")
    settings = load_settings()
    device = pick_device(args.device)
    runs = {group: args.out / group for group in (settings.group, settings.baseline)}
    configs = {group: planned_config(run, settings.model, group, args.seed, args.steps) for group, run in runs.items()}
    for group, run in runs.items():
        print(f"== training {settings.model} on {group} → {run}")
        status = train_run(run, configs[group], device, progress=not args.quiet)
        if status:
            raise SystemExit(status)  # stopped by a signal; a re-run resumes
    summaries = {group: evaluation_of(run, settings.group, args.eval_count, device, args.quiet)
                 for group, run in runs.items()}
    print(comparison(summaries[settings.group], summaries[settings.baseline], settings))
    if not args.skip_analysis:
        from interp.head_overlap import analyze
        from interp.report import summary_table

        print(f"\n== head reuse on {runs[settings.group]}")
        record = analyze(runs[settings.group], count=args.analysis_count, device=device, progress=not args.quiet)
        print(summary_table(record))
    print("\nfigures:")
    for run in runs.values():
        step = checkpoint_steps(run)[-1]
        print(f"  {run / 'eval' / f'accuracy_{step_name(step)}.html'}")
    if not args.skip_analysis:
        print(f"  {runs[settings.group] / 'analysis' / 'report.html'}\n  {runs[settings.group] / 'analysis' / 'ablation_report.md'}")


if __name__ == "__main__":
    main()
