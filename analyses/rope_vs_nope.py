"""Paper Fig. 12: RoPE vs NoPE, the generalisation gap of every group under both positional encodings.

    python analyses/rope_vs_nope.py --runs runs/ [--out figures/] [--eval-count N]

Cai et al. (arXiv 2506.09251, Fig. 12) find that transfer works with either positional encoding but
better with rotary embeddings (RoPE) than with none (NoPE): GG is lower under RoPE for most groups. For
every group this prints the mean GG over the learned seeds (``interp.seeds``) at the final checkpoint for
each encoding, with bootstrap intervals over seeds and the learned and total seed counts, and Δ = GG(NoPE) − GG(RoPE) (positive: RoPE transfers better,
as in the paper). The paper gives this result as a bar chart only, so there are no numbers to print
beside ours.

Writes ``OUT/rope_vs_nope.html``: bars of mean GG per group and encoding with their intervals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from interp.errors import cli_main
from interp.plots import TASK_COLOURS, write_html
from interp.runs import figure_parser, parse_run_arguments, selected_results
from interp.seeds import format_estimate, summarize_seeds

FIGURES = Path(__file__).resolve().parents[1] / "figures"
ENCODINGS = ("rope", "nope")


def by_encoding(summaries: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """group (with its model, when runs of several models are given) → encoding → seeds summary, for groups
    with an auxiliary task (GG is defined)."""
    several_models = len({summary["model"] for summary in summaries}) > 1
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for summary in summaries:
        if summary["aux"]:
            row = f"{summary['group']} ({summary['model']})" if several_models else summary["group"]
            table.setdefault(row, {})[summary["positional"]] = summary
    return table


def difference(encodings: dict[str, dict[str, Any]]) -> float | None:
    """GG(NoPE) − GG(RoPE) when both are measured."""
    means = [encodings.get(encoding, {}).get("gg", {}).get("mean") for encoding in ENCODINGS]
    return None if None in means else means[1] - means[0]


def format_table(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    header = (f"{'group':<18} {'kind':<8} {'RoPE GG [95% CI] (learned/seeds)':<36} "
              f"{'NoPE GG [95% CI] (learned/seeds)':<36} Δ NoPE−RoPE")
    rows = [header, "-" * len(header)]
    for group, encodings in table.items():
        cells = []
        for encoding in ENCODINGS:
            summary = encodings.get(encoding)
            learned = sum(bool(flag) for flag in summary["learned"]) if summary else 0
            cells.append("—" if summary is None else
                         f"{format_estimate(summary['gg'])} ({learned}/{len(summary['seeds'])})")
        delta = difference(encodings)
        kind = next(iter(encodings.values()))["kind"]
        rows.append(f"{group:<18} {kind:<8} {cells[0]:<36} {cells[1]:<36} {'—' if delta is None else f'{delta:+.3f}'}")
    rows.append("GG over the seeds that learned their training lengths (SPEC §6); paper (Fig. 12): transfer under both "
                "encodings, lower GG with RoPE (Δ > 0) for most groups")
    return "\n".join(rows)


def error_bar(estimate: dict[str, Any]) -> tuple[float, float]:
    """Distances from the mean down and up to the interval's ends (0 where undefined)."""
    mean, (lo, hi) = estimate["mean"], estimate["ci"]
    if mean is None or lo is None or hi is None:
        return 0.0, 0.0
    return mean - lo, hi - mean


def bars(table: dict[str, dict[str, dict[str, Any]]]) -> go.Figure:
    figure = go.Figure()
    groups = list(table)
    for index, encoding in enumerate(ENCODINGS):
        estimates = [table[group].get(encoding, {}).get("gg", {"mean": None, "ci": [None, None]}) for group in groups]
        means = [estimate["mean"] for estimate in estimates]
        lower, upper = zip(*(error_bar(estimate) for estimate in estimates))
        figure.add_trace(go.Bar(x=groups, y=means, name=encoding.upper(), marker_color=TASK_COLOURS[index],
                                error_y={"type": "data", "symmetric": False, "array": list(upper),
                                         "arrayminus": list(lower)},
                                hovertemplate=f"{encoding.upper()} %{{x}}: GG %{{y:.3f}}<extra></extra>"))
    figure.update_layout(barmode="group", title="Generalisation gap with RoPE and NoPE (paper Fig. 12; lower is "
                         "better; bars: bootstrap 95% interval over seeds)", yaxis={"title": "GG", "range": [0, 1]},
                         template="plotly_white")
    return figure


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python analyses/rope_vs_nope.py", __doc__.split("\n\n")[0], FIGURES)
    args = parser.parse_args(argv)
    table = by_encoding(summarize_seeds(selected_results(parse_run_arguments(args))))
    print(format_table(table))
    path = write_html(args.out / "rope_vs_nope.html", [bars(table)], "RoPE vs NoPE (paper Fig. 12)")
    print(f"\nfigure: {path}")


if __name__ == "__main__":
    main()
