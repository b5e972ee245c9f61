"""Paper Figs. 3, 4 and 6–8: exact match vs length for every task of every group, all seeds drawn.

    python analyses/accuracy_vs_length.py --runs runs/ [--out figures/] [--eval-count N]

Cai et al. (arXiv 2506.09251) show, per task group, the main task's accuracy collapsing just past its
training length when trained alone, and extending to the auxiliary task's length when trained with a
related auxiliary (Fig. 3 arithmetic, Fig. 4 strings and mazes, Figs. 6–8 controls, length ratios and
further groups). Here every group (and positional encoding) in the runs gets one figure with every seed,
the best seed in bold and the training lengths marked, and a printed table: per length, each task's mean
accuracy over seeds with the best seed's beside it. The paper gives these results as plots only, so there
are no numbers to print beside them; the shape to look for is the main task's curve following the
auxiliary's out to L_aux in transfer groups and not in controls.

Writes ``OUT/accuracy_vs_length.html``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interp.errors import cli_main
from interp.evaluate import accuracy_figure
from interp.plots import write_html
from interp.runs import RunResult, figure_parser, parse_run_arguments, selected_results
from interp.seeds import by_group, format_seeds_table, summarize_seeds

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def accuracy_table(members: list[RunResult]) -> str:
    """Rows: lengths; per task: mean accuracy over seeds (best seed's accuracy); * = trained length."""
    group = members[0].group
    best = max(members, key=lambda result: result.main_accuracy)
    tasks = group.task_names
    lengths = sorted({length for result in members for task in tasks for length in result.evaluation.tasks[task].accuracy})
    rows = ["length " + " ".join(f"{f'{task} ({group.role(task)} ≤ {group.spec(task).max_length})':>24}"
                                 for task in tasks)]
    for length in lengths:
        cells = []
        for task in tasks:
            values = [result.evaluation.tasks[task].accuracy.get(length) for result in members]
            present = [value for value in values if value is not None]
            if not present:
                cells.append(f"{'':>24}")
                continue
            trained = "*" if length <= group.spec(task).max_length else " "
            best_value = best.evaluation.tasks[task].accuracy.get(length)
            best_text = "" if best_value is None else f"{100 * best_value:.1f}%"
            cells.append(f"{100 * np.mean(present):>13.1f}%{trained} ({best_text:>6})")
        rows.append(f"{length:>6} " + " ".join(cells))
    rows.append(f"mean over {len(members)} seed(s) (best seed {best.seed}: {best.label}); * = trained length")
    return "\n".join(rows)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python analyses/accuracy_vs_length.py", __doc__.split("\n\n")[0], FIGURES)
    args = parser.parse_args(argv)
    results = selected_results(parse_run_arguments(args))
    figures = []
    for (name, positional, model), members in by_group(results).items():
        print(f"== {name} ({members[0].group.kind}, {positional}, {model}) ==\n{accuracy_table(members)}\n")
        figure = accuracy_figure([(result.label, result.evaluation) for result in members], members[0].group)
        figure.update_layout(title=f"{positional.upper()} · {figure.layout.title.text}")
        figures.append(figure)
    print(format_seeds_table(summarize_seeds(results)))
    path = write_html(args.out / "accuracy_vs_length.html", figures, "Accuracy vs length (paper Figs. 3, 4, 6–8)")
    print(f"\nfigure: {path}")


if __name__ == "__main__":
    main()
