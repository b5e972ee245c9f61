"""Paper Fig. 10: the generalisation gap over main × auxiliary training lengths, beside the paper's values.

    python analyses/gg_table.py --runs runs/ [--out figures/] [--eval-count N]

Cai et al. (arXiv 2506.09251, Fig. 10) train reverse addition up to M digits with its sub-tasks (nocarry,
carry) up to X digits, for M in 4–32 and X in 4–256, and report the mean GG over 3 seeds: transfer is
best when X/M lies in [0.5, 2] and degrades when the auxiliary is much longer or shorter. Each run's
lengths are read from its config (``group.main.max_length`` and the largest auxiliary ``max_length``);
runs are put in one table per task shape (main task ← auxiliary tasks) and positional encoding, and
each cell is the mean GG at the final checkpoint over the runs (seeds) in it. The table is printed with
the paper's value beside each of ours (SPEC §6); the paper's values are for add ← nocarry + carry, so
for another shape they are a reference for the pattern, not numbers to match.

Writes ``OUT/gg_table.html``: our table and the paper's as heatmaps on one fixed 0–1 scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.errors import cli_main
from interp.plots import sequential_heatmap, write_html
from interp.seeds import RunResult, figure_parser, parse_run_arguments, selected_results

FIGURES = Path(__file__).resolve().parents[1] / "figures"
PAPER_SHAPE = ("add", ("carry", "nocarry"))
PAPER_AUX_LENGTHS = (4, 8, 16, 32, 64, 128, 256)
PAPER_GG = {  # SPEC §6, rows M, columns PAPER_AUX_LENGTHS
    4: (0.00, 0.41, 0.65, 0.78, 0.78, 0.78, 0.75),
    8: (0.28, 0.00, 0.27, 0.74, 0.91, 0.91, 0.89),
    16: (0.60, 0.03, 0.00, 0.23, 0.67, 0.90, 0.95),
    32: (0.90, 0.72, 0.15, 0.00, 0.16, 0.34, 0.87),
}
PAPER_TABLE = {(main, aux): value for main, row in PAPER_GG.items() for aux, value in zip(PAPER_AUX_LENGTHS, row)}
"""(M, X) → the paper's mean GG over 3 seeds."""

Shape = tuple[str, tuple[str, ...], str]
"""(main task, sorted auxiliary tasks, positional encoding)."""


def gg_cells(results: list[RunResult]) -> dict[Shape, dict[tuple[int, int], list[float]]]:
    """Per shape, (M, X) → the GG of every run (seed) with those training lengths."""
    cells: dict[Shape, dict[tuple[int, int], list[float]]] = {}
    for result in results:
        group = result.group
        if not group.aux or result.gg is None:
            continue
        shape = (group.main.task, tuple(sorted(spec.task for spec in group.aux)), result.positional)
        cells.setdefault(shape, {}).setdefault((group.main.max_length, group.aux_length), []).append(result.gg)
    return cells


def describe(shape: Shape) -> str:
    main, aux, positional = shape
    return f"{main} ← {' + '.join(aux)} ({positional})"


def format_table(shape: Shape, cells: dict[tuple[int, int], list[float]]) -> str:
    """Rows M, columns X; each cell ``ours (paper)`` with the number of seeds; the paper's grid included."""
    mains = sorted({main for main, _ in cells} | set(PAPER_GG))
    auxes = sorted({aux for _, aux in cells} | set(PAPER_AUX_LENGTHS))
    lines = [f"GG, {describe(shape)}: ours (paper) [seeds]; paper: {describe((*PAPER_SHAPE, 'rope'))}, 3 seeds",
             "M \\ X " + "".join(f"{aux:>17}" for aux in auxes)]
    for main in mains:
        row = []
        for aux in auxes:
            ours = cells.get((main, aux))
            paper = PAPER_TABLE.get((main, aux))
            ours_text = "—" if ours is None else f"{np.mean(ours):.2f}"
            paper_text = "—" if paper is None else f"{paper:.2f}"
            seeds = "" if ours is None else f" [{len(ours)}]"
            row.append(f"{ours_text} ({paper_text}){seeds}")
        lines.append(f"{main:>5} " + "".join(f"{cell:>17}" for cell in row))
    shared = [(np.mean(values), PAPER_TABLE[key]) for key, values in cells.items() if key in PAPER_TABLE]
    if shape[:2] != PAPER_SHAPE:
        lines.append("note: these runs are not the paper's task shape; compare the pattern over X/M, not the numbers")
    elif shared:
        lines.append(f"mean |ours − paper| over the {len(shared)} cell(s) both have: "
                     f"{np.mean([abs(ours - paper) for ours, paper in shared]):.3f}")
    return "\n".join(lines)


def heatmaps(shape: Shape, cells: dict[tuple[int, int], list[float]]) -> go.Figure:
    """Ours and the paper's on one 0–1 scale, each cell labelled."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(f"ours: {describe(shape)}",
                                                           f"paper: {describe((*PAPER_SHAPE, 'rope'))}"))
    ours_mains, ours_auxes = sorted({main for main, _ in cells}), sorted({aux for _, aux in cells})
    grids = [(cells, ours_mains, ours_auxes, lambda values: float(np.mean(values))),
             ({key: [value] for key, value in PAPER_TABLE.items()}, sorted(PAPER_GG), list(PAPER_AUX_LENGTHS),
              lambda values: values[0])]
    for column, (table, mains, auxes, value) in enumerate(grids, start=1):
        z = [[value(table[main, aux]) if (main, aux) in table else None for aux in auxes] for main in mains]
        heatmap = sequential_heatmap(z, [f"X={aux}" for aux in auxes], [f"M={main}" for main in mains], "GG")
        heatmap.update(texttemplate="%{z:.2f}", showscale=column == 2)
        figure.add_trace(heatmap, row=1, col=column)
    figure.update_layout(title="Generalisation gap over main (M) × auxiliary (X) training lengths (paper Fig. 10)",
                         template="plotly_white")
    return figure


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python analyses/gg_table.py", __doc__.split("\n\n")[0], FIGURES)
    args = parser.parse_args(argv)
    cells = gg_cells(selected_results(parse_run_arguments(args)))
    if not cells:
        print("no run with an auxiliary task: nothing to put in the table")
    for shape, shape_cells in cells.items():
        print(format_table(shape, shape_cells) + "\n")
    path = write_html(args.out / "gg_table.html", [heatmaps(shape, shape_cells) for shape, shape_cells in cells.items()],
                      "Generalisation gap over training lengths (paper Fig. 10)")
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
