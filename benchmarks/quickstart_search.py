"""Which learning rate and budget let the quickstart leave addition's loss plateau and transfer most often.

    python -m interp.sweep --grid sweeps/quickstart_search.toml --out runs/quickstart_search --eval-count 256 \
        [--executor ray --gpus-per-run 0.25 --max-parallel 4]
    python benchmarks/quickstart_search.py --sweep runs/quickstart_search

Pairs every group run of the sweep with the baseline run of the same configuration and seed (settings equal but
for ``group``), judges each pair with the quickstart's own rule (:func:`interp.quickstart.judge`) and prints a
Markdown table with a row per configuration: how many seeds transferred (with a 95% Wilson interval), in how many
the baseline learned its training lengths without transferring, how many were inconclusive (a run did not learn its
training lengths: most often a baseline still on its plateau), and the median step at which each run's addition
loss first fell below ``ESCAPE_LOSS`` (it sits near 1.1 on the plateau; ``-`` when it never did in half the seeds).
A pair with a run still unfinished is left out and counted. The quickstart's groups come from
``models/quickstart.toml``; the search's grid is a sweep file, so it runs wherever ``interp.sweep`` does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from quickstart_seeds import summary_of

from interp.quickstart import Outcome, judge, learned_without_transfer, load_settings
from interp.stats import wilson_interval

ESCAPE_LOSS = 0.5
"""Addition's training loss below which a run counts as having left the plateau (about 1.1 on it, near 0 learned)."""


def escape_step(run: Path) -> int | None:
    """The first logged step at which the run's addition loss fell below ``ESCAPE_LOSS``; None if it never did."""
    with open(run / "metrics.jsonl") as metrics:
        for line in metrics:
            record = json.loads(line)
            if record.get("kind") == "train" and record["loss_by_task"]["add"] < ESCAPE_LOSS:
                return record["step"]
    return None


def median_step(steps: list[int | None]) -> str:
    """Median escape step over seeds, a seed that never escaped counting as later than any; '-' when the median
    seed never escaped."""
    ordered = sorted(steps, key=lambda step: float("inf") if step is None else step)
    middle = ordered[(len(ordered) - 1) // 2]
    return "-" if middle is None else str(middle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", type=Path, required=True, help="the sweep's --out folder")
    args = parser.parse_args()
    sweep_file = args.sweep / "sweep.json"
    if not sweep_file.is_file():
        raise SystemExit(f"error: {sweep_file} not found; run interp.sweep with --out {args.sweep} first")
    runs = json.loads(sweep_file.read_text())["runs"]
    settings = load_settings()
    main_length = settings.main_length
    pairs: dict[tuple, dict[int, dict[str, Path]]] = {}
    for run in runs.values():
        chosen = run["settings"]
        if chosen["group"] not in (settings.group, settings.baseline):
            continue
        configuration = tuple(sorted((key, value) for key, value in chosen.items() if key not in ("group", "seed")))
        pairs.setdefault(configuration, {}).setdefault(chosen["seed"], {})[chosen["group"]] = Path(run["dir"])
    print("| configuration | seeds | transferred (95% interval) | baseline learned without transfer | inconclusive | "
          "escape step with aux / alone (median) |")
    print("|---|---|---|---|---|---|")
    unfinished = 0
    for configuration, seeds in pairs.items():
        outcomes, baseline_plain, escapes = [], 0, {settings.group: [], settings.baseline: []}
        for runs_of_seed in seeds.values():
            group, baseline = (summary_of(runs_of_seed[name]) if name in runs_of_seed else None
                               for name in (settings.group, settings.baseline))
            if group is None or baseline is None:
                unfinished += 1
                continue
            outcomes.append(judge(group, baseline, main_length)[0])
            baseline_plain += learned_without_transfer(baseline, main_length)
            for name in escapes:
                escapes[name].append(escape_step(runs_of_seed[name]))
        if not outcomes:
            continue
        transferred = outcomes.count(Outcome.TRANSFER)
        low, high = wilson_interval(transferred, len(outcomes))
        label = ", ".join(f"{key} {value}" for key, value in configuration)
        print(f"| {label} | {len(outcomes)} | {transferred} ({low:.2f}-{high:.2f}) | {baseline_plain} | "
              f"{outcomes.count(Outcome.INCONCLUSIVE)} | "
              f"{median_step(escapes[settings.group])} / {median_step(escapes[settings.baseline])} |")
    if unfinished:
        print(f"\n{unfinished} seed pair(s) left out: a run not finished or not evaluated")


if __name__ == "__main__":
    main()
