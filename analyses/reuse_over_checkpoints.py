"""Paper App. B: the generalisation gap and head reuse over the checkpoints of each run.

    python analyses/reuse_over_checkpoints.py --runs runs/add_carry [--out figures/] [--methods ...]
        [--steps all|S,S,...] [--count N] [--lengths 8 16] [--eval-count N]

Cai et al. (arXiv 2506.09251, App. B) plot, over training, GG next to the difference between the main and
auxiliary tasks' attention matrices and per-head mean-ablation maps: for arithmetic both shrink together
with GG, for strings only the ablation maps track it. The paper has plots only; this script prints, per
run, the series behind them (step, GG, transfer-window accuracy and each method's mean |map_main −
map_aux|, and for attention also the paper's Σ|Ā_main − Ā_aux|) and the Spearman ρ of GG with each, with its permutation p-value, bootstrap interval and the
autocorrelation caution of ``interp.correlate`` (which computes and caches the head analyses it needs).

Writes ``OUT/reuse_over_checkpoints.html``: per method, one small multiple per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interp.correlate import (
    PRIMARY_SCORE,
    add_analysis_arguments,
    analysis_request,
    checkpoints_figure,
    correlate,
    format_p,
    format_rho,
    parse_steps,
)
from interp.errors import cli_main
from interp.plots import write_html
from interp.seeds import figure_parser, format_value, parse_run_arguments

FIGURES = Path(__file__).resolve().parents[1] / "figures"
PAPER_ATTENTION_SCORE = "pattern_l1_mean"
PAPER = ("paper (App. B, plots only): GG shrinks together with the attention and mean-ablation differences for "
         "arithmetic; for strings only the ablation maps track it (reuse predicts ρ > 0)")


def columns(run: dict[str, Any], within: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, score) pairs shown: each method's primary score, and the paper's Σ|ΔĀ| for attention."""
    shown = []
    for method in within:
        shown += [(method, score) for score in (PRIMARY_SCORE, PAPER_ATTENTION_SCORE) if score in run["reuse"][method]]
    return shown


def run_table(label: str, run: dict[str, Any], within: dict[str, Any]) -> str:
    """Per checkpoint: GG, transfer-window accuracy and the reuse scores; then ρ(GG, score) for each."""
    shown = columns(run, within)
    names = [method if score == PRIMARY_SCORE else f"{method} Σ|ΔĀ|" for method, score in shown]
    lines = [f"== {label} ({run['group']}, {run['kind']}, {run['positional']}, seed {run['seed']}) ==",
             f"{'step':>8} {'GG':>7} {'window':>7} " + " ".join(f"{name:>18}" for name in names)]
    for index, step in enumerate(run["steps"]):
        scores = " ".join(f"{format_value(run['reuse'][method][score][index]):>18}" for method, score in shown)
        lines.append(f"{step:>8} {format_value(run['gg'][index]):>7} "
                     f"{format_value(run['transfer_window_accuracy'][index], True):>7} {scores}")
    for method, score in shown:
        record = within[method] if score == PRIMARY_SCORE else within[method]["by_score"][score]
        caution = f"  caution: {record['caution']}" if record.get("caution") else ""
        lines.append(f"ρ(GG, {method} {score}) {format_rho(record)}, p {format_p(record['p'])}, n {record['n']}"
                     f"{caution}")
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python analyses/reuse_over_checkpoints.py", __doc__.split("\n\n")[0], FIGURES)
    add_analysis_arguments(parser)
    args = parser.parse_args(argv)
    selection = parse_run_arguments(args)
    result = correlate(selection.runs, parse_steps(args.steps), analysis_request(args, selection),
                       selection.eval_count, selection.eval_lengths)
    for label, within in result["within_run"].items():
        print(run_table(label, result["runs"][label], within) + "\n")
    print(PAPER)
    figures = [checkpoints_figure(result, method) for method in result["settings"]["methods"]]
    path = write_html(args.out / "reuse_over_checkpoints.html", figures, "GG and head reuse over checkpoints (App. B)")
    print(f"\nfigure: {path}")


if __name__ == "__main__":
    main()
