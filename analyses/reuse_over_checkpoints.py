"""Paper App. B: the generalisation gap and head reuse over the checkpoints of each run.

    python analyses/reuse_over_checkpoints.py --runs runs/add_carry [--out figures/] [--methods ...]
        [--steps all|S,S,...] [--count N] [--lengths 8 16] [--eval-count N]

Cai et al. (arXiv 2506.09251, App. B) plot, over training, GG next to the difference between the main and
auxiliary tasks' attention matrices and per-head mean-ablation maps: for arithmetic both shrink together
with GG, for strings only the ablation maps track it. The paper has plots only; this script prints, per
run, the series behind them (step, GG, transfer-window accuracy, whether the checkpoint is learned, and each
method's primary score: mean |map_main − map_aux| for maps, the paper's Σ|Ā_main − Ā_aux| for attention)
and the Spearman ρ of GG with each over the learned, competent checkpoints, with the autocorrelation-valid
p-value of ``interp.correlate`` (which computes and caches the head analyses it needs) and the number of
checkpoints left out.

Writes ``OUT/reuse_over_checkpoints.html``: per method, one small multiple per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interp.correlate import (
    add_analysis_arguments,
    analysis_request,
    checkpoints_figure,
    correlate,
    excluded_text,
    format_p,
    format_rho,
    parse_steps,
)
from interp.errors import cli_main
from interp.plots import write_html
from interp.runs import figure_parser, parse_run_arguments
from interp.seeds import format_value

FIGURES = Path(__file__).resolve().parents[1] / "figures"
PAPER = ("paper (App. B, plots only): GG shrinks together with the attention and mean-ablation differences for "
         "arithmetic; for strings only the ablation maps track it (reuse predicts ρ > 0)")


def run_table(label: str, run: dict[str, Any], within: dict[str, Any]) -> str:
    """Per checkpoint: GG, transfer-window accuracy, learned and each method's primary score; then ρ(GG, score)
    over the included checkpoints."""
    shown = [(method, record["score"]) for method, record in within.items()]
    lines = [f"== {label} ({run['group']}, {run['kind']}, {run['positional']}, seed {run['seed']}) ==",
             f"{'step':>8} {'GG':>7} {'window':>7} {'learned':>7} " + " ".join(f"{method:>18}" for method, _ in shown)]
    for index, step in enumerate(run["steps"]):
        scores = " ".join(f"{format_value(run['reuse'][method][score][index]):>18}" for method, score in shown)
        lines.append(f"{step:>8} {format_value(run['gg'][index]):>7} "
                     f"{format_value(run['transfer_window_accuracy'][index], True):>7} "
                     f"{'yes' if run['learned'][index] else 'no':>7} {scores}")
    for method, score in shown:
        record = within[method]
        caution = f"  caution: {record['caution']}" if record.get("caution") else ""
        lines.append(f"ρ(GG, {method} {score}) {format_rho(record)}, p {format_p(record['p'])}, n {record['n']} "
                     f"(left out: {excluded_text(record['excluded'])}){caution}")
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python analyses/reuse_over_checkpoints.py", __doc__.split("\n\n")[0], FIGURES)
    add_analysis_arguments(parser)
    args = parser.parse_args(argv)
    selection = parse_run_arguments(args)
    result = correlate(selection.runs, parse_steps(args.steps), analysis_request(args, selection),
                       selection.eval_count, selection.eval_lengths, learned_threshold=selection.learned_threshold)
    if result["caution"]:
        print(f"CAUTION: {result['caution']}\n")
    for label, within in result["within_run"].items():
        print(run_table(label, result["runs"][label], within) + "\n")
    print(PAPER)
    figures = [checkpoints_figure(result, method) for method in result["settings"]["methods"]]
    path = write_html(args.out / "reuse_over_checkpoints.html", figures, "GG and head reuse over checkpoints (App. B)")
    print(f"\nfigure: {path}")


if __name__ == "__main__":
    main()
