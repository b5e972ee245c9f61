"""Paper Fig. 10: the generalisation gap over main × auxiliary training lengths, beside the paper's values.

    python analyses/gg_table.py --runs runs/ [--out figures/] [--eval-count N]

Cai et al. (arXiv 2506.09251, Fig. 10) train reverse addition up to M digits with its sub-tasks (nocarry,
carry) up to X digits, for M and X in {4, 8, …, 256}, and report the mean GG over 3 seeds: transfer is
best when X/M lies in [0.5, 2] and degrades when the auxiliary is much longer or shorter. Each run's
lengths are read from its config (``group.main.max_length`` and the largest auxiliary ``max_length``);
runs are put in one table per task shape (main task ← auxiliary tasks) and positional encoding, and
each cell is the mean GG at the final checkpoint over the runs (seeds) in it, read from each run's
evaluation summary. The table is printed with the paper's value beside each of ours for all 49 cells of
SPEC §6; the paper's values are for add ← nocarry + carry, so for another shape they are a reference for
the pattern, not numbers to match.

Learned runs only. A model that learned nothing has GG 0, which is not transfer (SPEC §6), so a run
whose evaluation says ``learned: false`` (``interp.seeds`` sets it from the stored accuracies at
``--learned-threshold``, default 0.9) is shown in its cell's count and listed, but left out of the mean
and the comparison. A run whose ``learned`` is unknown (a task not evaluated on its training lengths) is
counted, and the table says how many could not be checked.

Writes ``OUT/gg_table.html``: our table (learned runs) and the paper's as heatmaps on one fixed 0–1 scale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.errors import cli_main
from interp.paper import PAPER_AUX_LENGTHS, PAPER_GG, PAPER_SHAPE, PAPER_TABLE
from interp.plots import sequential_heatmap, write_html
from interp.runs import RunResult, figure_parser, parse_run_arguments, selected_results

FIGURES = Path(__file__).resolve().parents[1] / "figures"
Shape = tuple[str, tuple[str, ...], str]
"""(main task, sorted auxiliary tasks, positional encoding)."""

Cells = dict[tuple[int, int], list[RunResult]]
"""(M, X) → the runs (seeds) with those training lengths."""


def gg_cells(results: list[RunResult]) -> dict[Shape, Cells]:
    """Per shape, (M, X) → every run with those training lengths and a GG."""
    cells: dict[Shape, Cells] = {}
    for result in results:
        group = result.group
        if not group.aux or result.gg is None:
            continue
        shape = (group.main.task, tuple(sorted(spec.task for spec in group.aux)), result.positional)
        cells.setdefault(shape, {}).setdefault((group.main.max_length, group.aux_length), []).append(result)
    return cells


def counted_gg(runs: list[RunResult]) -> list[float]:
    """The GG of the runs a cell's mean counts: all but those whose summary says they learned nothing."""
    return [run.gg for run in runs if run.learned is not False]


def cell_text(runs: list[RunResult] | None, paper: float | None) -> str:
    """``ours (paper) [counted runs/runs]``, ``—`` where there is no value."""
    paper_text = "—" if paper is None else f"{paper:.2f}"
    if runs is None:
        return f"— ({paper_text})"
    kept = counted_gg(runs)
    return f"{f'{np.mean(kept):.2f}' if kept else '—'} ({paper_text}) [{len(kept)}/{len(runs)}]"


def describe(shape: Shape) -> str:
    main, aux, positional = shape
    return f"{main} ← {' + '.join(aux)} ({positional})"


def format_table(shape: Shape, cells: Cells) -> str:
    """Rows M, columns X, each cell ``ours (paper) [counted/runs]``; the paper's grid included; exclusions listed."""
    mains = sorted({main for main, _ in cells} | set(PAPER_GG))
    auxes = sorted({aux for _, aux in cells} | set(PAPER_AUX_LENGTHS))
    rows = [[cell_text(cells.get((main, aux)), PAPER_TABLE.get((main, aux))) for aux in auxes] for main in mains]
    width = max(len(text) for row in rows for text in row) + 2
    lines = [f"GG, {describe(shape)}: ours (paper) [runs in our mean/runs]; paper: "
             f"{describe((*PAPER_SHAPE, 'rope'))}, 3 seeds", "M \\ X " + "".join(f"{aux:>{width}}" for aux in auxes)]
    lines += [f"{main:>5} " + "".join(f"{text:>{width}}" for text in row) for main, row in zip(mains, rows)]
    return "\n".join(lines + comparison_lines(shape, cells))


def comparison_lines(shape: Shape, cells: Cells) -> list[str]:
    """The comparison with the paper over the cells both have, and the runs it leaves out or cannot check."""
    runs = [run for cell_runs in cells.values() for run in cell_runs]
    lines = [f"not learned (left out of the mean): {run.label} (M={main}, X={aux}, GG {run.gg:.2f})"
             for (main, aux), cell_runs in sorted(cells.items()) for run in cell_runs if run.learned is False]
    unchecked = sum(run.learned is None for run in runs)
    if unchecked:
        lines.append(f"{unchecked} of {len(runs)} run(s) have no `learned` flag (a task was not evaluated on its "
                     "training lengths): counted; evaluate them at every length to check")
    shared = [(np.mean(kept), PAPER_TABLE[key]) for key, cell_runs in cells.items()
              if key in PAPER_TABLE and (kept := counted_gg(cell_runs))]
    if shape[:2] != PAPER_SHAPE:
        lines.append("note: these runs are not the paper's task shape; compare the pattern over X/M, not the numbers")
    elif shared:
        lines.append(f"mean |ours − paper| over the {len(shared)} of {len(PAPER_TABLE)} paper cell(s) we have: "
                     f"{np.mean([abs(ours - paper) for ours, paper in shared]):.3f}")
    return lines


def heatmaps(shape: Shape, cells: Cells) -> go.Figure:
    """Ours (learned runs) and the paper's on one 0–1 scale, each cell labelled."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(f"ours: {describe(shape)}, learned runs",
                                                           f"paper: {describe((*PAPER_SHAPE, 'rope'))}"))
    means = {key: float(np.mean(kept)) for key, runs in cells.items() if (kept := counted_gg(runs))}
    grids = [(means, sorted({main for main, _ in cells}), sorted({aux for _, aux in cells})),
             (PAPER_TABLE, sorted(PAPER_GG), list(PAPER_AUX_LENGTHS))]
    for column, (table, mains, auxes) in enumerate(grids, start=1):
        z = [[table.get((main, aux)) for aux in auxes] for main in mains]
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
