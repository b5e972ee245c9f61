"""The claims of SPEC §1, each put to the test at a reduced scale: what it compares, the rule its verdict follows,
its figures and its section of ``figures/REPRODUCTION.md`` (:mod:`interp.reproduce` runs them).

Cai, Lee, Schwarzschild, Oymak and Papailiopoulos, "Extrapolation by Association: Length Generalization
Transfer in Transformers" (arXiv 2506.09251, NeurIPS 2025). A claim turns the runs it reads into a *record*
(JSON: every number a figure or a sentence needs, never a checkpoint), judges the record by its rule and
draws it. The rules are fixed here, in code committed before the runs they judge, and the report quotes
them; a verdict is one of :class:`Verdict`.

Pitfalls: three seeds make intervals wide, so "inconclusive" is a common and honest answer; a condition
whose seeds did not learn their training lengths (``learned``, SPEC §6) says nothing about transfer and is
counted as such, never as transfer (GG ≈ 0) or its absence.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from interp.correlate import checkpoints_figure, seeds_figure
from interp.evaluate import Evaluation, accuracy_figure
from interp.groups import TaskGroup
from interp.paper import PAPER_TABLE
from interp.plots import TASK_COLOURS, sequential_heatmap
from interp.report import as_array, map_grid
from interp.runs import RunResult
from interp.seeds import format_estimate, summarize_seeds

TRANSFERS = 0.5
"""Transfer-window accuracy at or above which a learned seed counts as transferring."""
DOES_NOT_TRANSFER = 0.2
"""Transfer-window accuracy below which a learned seed counts as not transferring."""
MARGIN = 0.3
"""How far the related group's mean window accuracy must exceed the baseline's and the control's."""
SMALL = 0.1
"""An advantage this small or smaller is no transfer."""
MIN_SEEDS = 2
"""Learned seeds a condition needs before its mean is judged."""


class Verdict(enum.Enum):
    """The outcome of a claim, by its rule."""

    REPRODUCED = "reproduced"
    """The rule's condition for the paper's finding holds."""
    NOT_REPRODUCED = "not reproduced"
    """The rule's condition against the finding holds: the data contradict it at this scale."""
    INCONCLUSIVE = "inconclusive"
    """Neither holds: too few learned seeds, or intervals too wide to decide."""
    NOT_TESTED = "not tested"
    """The claim needs what this reproduction does not have (stated in the reason)."""


Judgement = tuple[Verdict, str]


@dataclass(frozen=True)
class Evidence:
    """What the claims read, gathered by :mod:`interp.reproduce`."""

    results: dict[str, list[RunResult]]
    """Per sweep (its file's stem), every run at its final checkpoint, evaluated."""
    correlations: dict[str, dict[str, Any]]
    """``DOMAIN/PROTOCOL`` → ``interp.correlate``'s record over the related group's and its control's runs."""
    analyses: dict[str, dict[str, Any]]
    """Run label → the part of its head-reuse record at the final checkpoint that the report draws (identity,
    settings, lengths and maps, every method), in the JSON form the claims record keeps."""

    def runs(self, kind: str | None = None) -> list[RunResult]:
        """Every run (of groups of ``kind``)."""
        return [result for results in self.results.values() for result in results
                if kind is None or result.group.kind == kind]


@dataclass(frozen=True)
class Claim:
    """One finding of SPEC §1: the paper's words, the rule, the sweeps whose runs it reads, and its functions."""

    name: str
    title: str
    paper: str
    rule: str
    sweeps: tuple[str, ...]
    summarize: Callable[[Evidence], dict[str, Any]] | None
    judge: Callable[[dict[str, Any]], Judgement]
    figures: Callable[[dict[str, Any]], list[tuple[str, go.Figure]]]
    lines: Callable[[dict[str, Any]], list[str]]


# ---- shared pieces ---------------------------------------------------------------------------------------

def condition_summaries(results: Sequence[RunResult], window: tuple[int, int] | None) -> dict[str, dict[str, Any]]:
    """Per group (by kind: transfer, baseline, control) its summary over seeds (``interp.seeds``), every group's
    window accuracy measured over ``window``."""
    return {summary["kind"]: summary for summary in summarize_seeds(results, window=window)}


def related_window(results: Sequence[RunResult]) -> tuple[int, int] | None:
    """The related group's transfer window (low, high] on its main task, where all three groups are compared; None
    when the sweep has no related group or its window is on the auxiliary side."""
    for result in results:
        window = result.evaluation.transfer_window
        if result.group.kind == "transfer" and window is not None and window[0] == "main":
            return window[1], window[2]
    return None


def learned_count(summary: dict[str, Any]) -> int:
    return sum(bool(flag) for flag in summary["learned"])


def run_entries(results: Sequence[RunResult], window: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """Each run's final checkpoint: what the figures and sentences read (its evaluation in full); its window
    accuracy over ``window`` when given (:meth:`RunResult.window_accuracy`)."""
    return [{"label": result.label, "group": result.group.to_dict(), "kind": result.group.kind, "seed": result.seed,
             "positional": result.positional, "step": result.step, "learned": result.learned, "gg": result.gg,
             "window": result.window_accuracy(window), "evaluation": result.evaluation.to_json()} for result in results]


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def accuracy_figures(record: dict[str, Any]) -> list[tuple[str, go.Figure]]:
    """Accuracy against length per group, every seed, the best in bold, training lengths marked."""
    figures = []
    for name in dict.fromkeys(run["group"]["name"] for run in record["runs"]):
        runs = [run for run in record["runs"] if run["group"]["name"] == name]
        group = TaskGroup.from_dict(runs[0]["group"], name)
        figures.append((f"accuracy_{name}", accuracy_figure([(f"seed {run['seed']}", Evaluation.from_json(
            run["evaluation"], group)) for run in runs], group)))
    return figures


def window_figure(record: dict[str, Any], title: str) -> go.Figure:
    """Transfer-window accuracy of every seed per group (open: not learned) and the mean over learned seeds."""
    figure = go.Figure()
    for index, (kind, summary) in enumerate(record["conditions"].items()):
        runs = [run for run in record["runs"] if run["kind"] == kind]
        colour = TASK_COLOURS[index % len(TASK_COLOURS)]
        name = f"{summary['group']} ({kind})"
        figure.add_trace(go.Scatter(
            x=[name] * len(runs), y=[run["window"] for run in runs], mode="markers", showlegend=False,
            marker={"color": colour, "size": 11, "symbol": ["circle" if run["learned"] else "circle-open"
                                                            for run in runs]},
            text=[f"seed {run['seed']}" for run in runs], hovertemplate="%{text}: %{y:.0%}<extra></extra>"))
        mean = summary["transfer_window_accuracy"]
        if mean["mean"] is not None and None not in mean["ci"]:
            figure.add_trace(go.Scatter(
                x=[name], y=[mean["mean"]], mode="markers", showlegend=False,
                marker={"symbol": "line-ew-open", "size": 30, "color": "black"},
                error_y={"type": "data", "symmetric": False, "array": [mean["ci"][1] - mean["mean"]],
                         "arrayminus": [mean["mean"] - mean["ci"][0]]}))
    figure.update_layout(title=title, yaxis={"range": [-0.02, 1.02], "tickformat": ".0%",
                                             "title": "main task, transfer-window accuracy"},
                         template="plotly_white")
    return figure


# ---- transfer (and strings): a related auxiliary against the main task alone and an unrelated one --------

TRANSFER_RULE = (
    f"Reproduced when at least {MIN_SEEDS} seeds of each of the three groups learned their training lengths "
    f"(every task ≥ 90% exact match there) and the related group's mean transfer-window accuracy over its "
    f"learned seeds is at least {MARGIN:.0%} (absolute) above both the baseline's and the control's, with the "
    f"lower end of its bootstrap interval above both their means. Not reproduced when, with as many learned "
    f"seeds, it is at most {SMALL:.0%} above the baseline's or the control's. Inconclusive otherwise.")


def summarize_transfer(evidence: Evidence) -> dict[str, Any]:
    """The three groups of one sweep (transfer, baseline, control) over their seeds, and every run."""
    runs = evidence.runs()
    window = related_window(runs)
    return {"window": window, "conditions": condition_summaries(runs, window), "runs": run_entries(runs, window)}


def judge_transfer(record: dict[str, Any]) -> Judgement:
    conditions = record["conditions"]
    missing = [kind for kind in ("transfer", "baseline", "control") if kind not in conditions]
    if missing:
        return Verdict.INCONCLUSIVE, f"no run of the {', '.join(missing)} group"
    few = [summary["group"] for summary in conditions.values() if learned_count(summary) < MIN_SEEDS]
    if few:
        return Verdict.INCONCLUSIVE, f"fewer than {MIN_SEEDS} seeds learned their training lengths: {', '.join(few)}"
    related = conditions["transfer"]["transfer_window_accuracy"]
    others = {kind: conditions[kind]["transfer_window_accuracy"]["mean"] for kind in ("baseline", "control")}
    unmeasured = [kind for kind, mean in {"transfer": related["mean"], **others}.items() if mean is None]
    if unmeasured:
        return Verdict.INCONCLUSIVE, (f"no transfer-window accuracy for the {' and '.join(unmeasured)} group (not "
                                      f"evaluated at every length of the window)")
    advantage = {kind: related["mean"] - mean for kind, mean in others.items()}
    text = ", ".join(f"{advantage[kind]:+.0%} over the {kind}" for kind in others)
    if all(value >= MARGIN for value in advantage.values()) and related["ci"][0] > max(others.values()):
        return Verdict.REPRODUCED, f"the related group's window accuracy is {text}"
    if min(advantage.values()) <= SMALL:
        return Verdict.NOT_REPRODUCED, f"the related group's window accuracy is only {text}"
    return Verdict.INCONCLUSIVE, f"the related group's window accuracy is {text}, short of the rule's margin"


def transfer_figures(record: dict[str, Any]) -> list[tuple[str, go.Figure]]:
    return [("window", window_figure(record, "Transfer-window accuracy per seed (filled: learned; bar: mean over "
                                             "learned seeds, 95% bootstrap interval)")), *accuracy_figures(record)]


def transfer_lines(record: dict[str, Any]) -> list[str]:
    lines = ["| group | kind | learned seeds | transfer-window accuracy [95% CI] | GG [95% CI] |", "|---|---|---|---|---|"]
    for kind, summary in record["conditions"].items():
        lines.append(f"| `{summary['group']}` | {kind} | {learned_count(summary)} of {len(summary['seeds'])} | "
                     f"{format_estimate(summary['transfer_window_accuracy'], True)} | {format_estimate(summary['gg'])} |")
    per_seed = ", ".join(f"{run['label']} {percent(run['window'])}{'' if run['learned'] else ' (not learned)'}"
                         for run in record["runs"])
    return [*lines, "", f"Per seed (window accuracy): {per_seed}."]


# ---- seeds: some transfer, some do not ----------------------------------------------------------------------

INSTABILITY_RULE = (
    f"Over the related groups (arithmetic and strings): reproduced when some group has a learned seed that "
    f"transfers (window accuracy ≥ {TRANSFERS:.0%}) and a learned seed that does not (< {DOES_NOT_TRANSFER:.0%}). "
    f"Not reproduced when every learned seed of every related group transfers and at least 3 did. Inconclusive "
    f"otherwise.")


def summarize_instability(evidence: Evidence) -> dict[str, Any]:
    return {"runs": run_entries([run for run in evidence.runs("transfer") if run.positional == "rope"])}


def judge_instability(record: dict[str, Any]) -> Judgement:
    learned = [run for run in record["runs"] if run["learned"] and run["window"] is not None]
    for name in dict.fromkeys(run["group"]["name"] for run in learned):
        windows = [run["window"] for run in learned if run["group"]["name"] == name]
        if max(windows) >= TRANSFERS and min(windows) < DOES_NOT_TRANSFER:
            return Verdict.REPRODUCED, f"{name}: window accuracy from {min(windows):.0%} to {max(windows):.0%} " \
                                       f"across its learned seeds"
    if len(learned) >= 3 and all(run["window"] >= TRANSFERS for run in learned):
        return Verdict.NOT_REPRODUCED, f"all {len(learned)} learned seeds of the related groups transfer"
    return Verdict.INCONCLUSIVE, f"{len(learned)} learned seeds of the related groups, no group with both outcomes"


def instability_lines(record: dict[str, Any]) -> list[str]:
    return [f"- `{run['label']}`: window accuracy {percent(run['window'])}"
            f"{'' if run['learned'] else ', did not learn its training lengths'}" for run in record["runs"]]


# ---- RoPE against NoPE ---------------------------------------------------------------------------------------

ROPE_RULE = (
    f"On the related arithmetic group: reproduced when both encodings have at least {MIN_SEEDS} learned seeds and "
    f"NoPE's mean GG over them is at least {SMALL:.2f} above RoPE's, with RoPE's bootstrap interval below NoPE's "
    f"mean. Not reproduced when NoPE's mean GG is at most RoPE's. Inconclusive otherwise (a NoPE model that does "
    f"not learn its training lengths at this budget says nothing about transfer).")


def summarize_rope(evidence: Evidence) -> dict[str, Any]:
    runs = evidence.runs("transfer")
    return {"encodings": {summary["positional"]: summary for summary in summarize_seeds(runs)},
            "runs": run_entries(runs)}


def judge_rope(record: dict[str, Any]) -> Judgement:
    encodings = record["encodings"]
    if set(encodings) != {"rope", "nope"}:
        return Verdict.INCONCLUSIVE, f"runs of {', '.join(encodings) or 'no encoding'} only"
    few = [name for name, summary in encodings.items() if learned_count(summary) < MIN_SEEDS]
    if few:
        return Verdict.INCONCLUSIVE, f"fewer than {MIN_SEEDS} {' and '.join(few).upper()} seeds learned their training " \
                                     "lengths"
    rope, nope = encodings["rope"]["gg"], encodings["nope"]["gg"]
    difference = nope["mean"] - rope["mean"]
    text = f"GG {rope['mean']:.2f} with RoPE, {nope['mean']:.2f} with NoPE"
    if difference >= SMALL and rope["ci"][1] is not None and rope["ci"][1] < nope["mean"]:
        return Verdict.REPRODUCED, text
    if difference <= 0:
        return Verdict.NOT_REPRODUCED, text
    return Verdict.INCONCLUSIVE, text + ", a difference inside the rule's margin"


def rope_figures(record: dict[str, Any]) -> list[tuple[str, go.Figure]]:
    figure = go.Figure()
    for index, (encoding, summary) in enumerate(record["encodings"].items()):
        runs = [run for run in record["runs"] if run["positional"] == encoding]
        name = encoding.upper()
        figure.add_trace(go.Scatter(x=[name] * len(runs), y=[run["gg"] for run in runs], mode="markers",
                                    marker={"color": TASK_COLOURS[index], "size": 11, "symbol": [
                                        "circle" if run["learned"] else "circle-open" for run in runs]},
                                    showlegend=False, hovertemplate=f"{name} %{{y:.3f}}<extra></extra>"))
        gg = summary["gg"]
        if gg["mean"] is not None and None not in gg["ci"]:
            figure.add_trace(go.Scatter(x=[name], y=[gg["mean"]], mode="markers", showlegend=False,
                                        marker={"symbol": "line-ew-open", "size": 30, "color": "black"},
                                        error_y={"type": "data", "symmetric": False, "array": [gg["ci"][1] - gg["mean"]],
                                                 "arrayminus": [gg["mean"] - gg["ci"][0]]}))
    figure.update_layout(title="GG with RoPE and NoPE per seed (filled: learned; bar: mean over learned seeds, 95% "
                               "bootstrap interval); lower is better", yaxis={"range": [-0.02, 1.02], "title": "GG"},
                         template="plotly_white")
    return [("gg", figure), *accuracy_figures(record)]


def rope_lines(record: dict[str, Any]) -> list[str]:
    lines = ["| encoding | learned seeds | GG [95% CI] | transfer-window accuracy [95% CI] |", "|---|---|---|---|"]
    for encoding, summary in record["encodings"].items():
        lines.append(f"| {encoding.upper()} | {learned_count(summary)} of {len(summary['seeds'])} | "
                     f"{format_estimate(summary['gg'])} | {format_estimate(summary['transfer_window_accuracy'], True)} |")
    return lines


# ---- the length ratio: a reduced Fig. 10 ---------------------------------------------------------------------

IN_RANGE, OUT_OF_RANGE = (0.5, 2.0), 4.0
RATIO_RULE = (
    "Cells with aux/main ratio 1/2 or 2 (in the paper's range, the trivial ratio 1 left out) against cells with "
    "ratio ≥ 4 or ≤ 1/4, each cell's GG the mean over its learned seeds: reproduced when the in-range cells' mean "
    f"GG is at least {MARGIN:.2f} below the out-of-range cells'; not reproduced when it is not below it at all; "
    "inconclusive otherwise, or when fewer than half the cells of either set have a learned seed.")


def cell_key(group: dict[str, Any]) -> tuple[int, int]:
    """(M, X): the main task's and the largest auxiliary training length."""
    return group["main"]["max_length"], max(aux["max_length"] for aux in group["aux"])


def summarize_ratio(evidence: Evidence) -> dict[str, Any]:
    runs = run_entries(evidence.runs())
    cells: dict[str, dict[str, Any]] = {}
    for run in runs:
        main, aux = cell_key(run["group"])
        cell = cells.setdefault(f"{main}x{aux}", {"main": main, "aux": aux, "ratio": aux / main, "gg": [], "seeds": 0,
                                                 "paper": PAPER_TABLE.get((main, aux))})
        cell["seeds"] += 1
        if run["learned"]:
            cell["gg"].append(run["gg"])
    for cell in cells.values():
        cell["mean_gg"] = float(np.mean(cell["gg"])) if cell["gg"] else None
    return {"cells": cells, "runs": runs}


def ratio_sets(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cells = list(record["cells"].values())
    inside = [cell for cell in cells if cell["ratio"] in IN_RANGE]
    outside = [cell for cell in cells if cell["ratio"] >= OUT_OF_RANGE or cell["ratio"] <= 1 / OUT_OF_RANGE]
    return inside, outside


def judge_ratio(record: dict[str, Any]) -> Judgement:
    inside, outside = ratio_sets(record)
    means = []
    for cells, name in ((inside, "in-range"), (outside, "out-of-range")):
        learned = [cell["mean_gg"] for cell in cells if cell["mean_gg"] is not None]
        if not cells or 2 * len(learned) < len(cells):
            return Verdict.INCONCLUSIVE, f"{len(learned)} of {len(cells)} {name} cells have a learned seed"
        means.append(float(np.mean(learned)))
    text = f"mean GG {means[0]:.2f} at ratios 1/2 and 2, {means[1]:.2f} at ratios ≥ 4 or ≤ 1/4"
    if means[0] <= means[1] - MARGIN:
        return Verdict.REPRODUCED, text
    if means[0] >= means[1]:
        return Verdict.NOT_REPRODUCED, text
    return Verdict.INCONCLUSIVE, text + ", a difference inside the rule's margin"


def ratio_figures(record: dict[str, Any]) -> list[tuple[str, go.Figure]]:
    """Our cells as a heatmap, and GG against the ratio: ours per cell beside every cell of the paper's Fig. 10."""
    cells = record["cells"]
    mains = sorted({cell["main"] for cell in cells.values()})
    auxes = sorted({cell["aux"] for cell in cells.values()})
    z = [[cells.get(f"{main}x{aux}", {}).get("mean_gg") for aux in auxes] for main in mains]
    heatmap = go.Figure(sequential_heatmap(z, [f"X={aux}" for aux in auxes], [f"M={main}" for main in mains], "GG"))
    heatmap.update_traces(texttemplate="%{z:.2f}")
    heatmap.update_layout(title="Reduced Fig. 10: mean GG over learned seeds per main (M) × aux (X) length "
                                "(blank: no learned seed)", template="plotly_white")
    scatter = go.Figure()
    paper = sorted(PAPER_TABLE.items())
    scatter.add_trace(go.Scatter(x=[math.log2(aux / main) for (main, aux), _ in paper], y=[value for _, value in paper],
                                 mode="markers", name="paper, Fig. 10 (M, X in 4–256)", marker={"color": "grey"}))
    ours = [cell for cell in cells.values() if cell["mean_gg"] is not None]
    scatter.add_trace(go.Scatter(x=[math.log2(cell["ratio"]) for cell in ours], y=[cell["mean_gg"] for cell in ours],
                                 mode="markers", name="ours", marker={"color": TASK_COLOURS[1], "size": 11},
                                 text=[f"M={cell['main']}, X={cell['aux']}" for cell in ours],
                                 hovertemplate="%{text}: GG %{y:.2f}<extra></extra>"))
    scatter.add_vrect(x0=-1, x1=1, fillcolor="green", opacity=0.08, line_width=0)
    scatter.update_layout(title="GG against the aux/main length ratio (shaded: the paper's [1/2, 2])",
                          xaxis={"title": "log2(X / M)"}, yaxis={"range": [-0.02, 1.02], "title": "GG"},
                          template="plotly_white")
    return [("cells", heatmap), ("ratio", scatter)]


def no_transfer_gg(main: int, aux: int) -> float:
    """GG when each task is exact on its own training lengths and fails past them, every length evaluated: the
    lengths between M and X count 1 each, so GG is |X - M| / max(M, X) without any transfer at all."""
    return abs(aux - main) / max(aux, main)


def ratio_lines(record: dict[str, Any]) -> list[str]:
    lines = ["| M | X | X/M | learned seeds | our GG (mean) | GG with no transfer | paper's GG at this (M, X) |",
             "|---|---|---|---|---|---|---|"]
    for cell in sorted(record["cells"].values(), key=lambda cell: (cell["main"], cell["aux"])):
        ours = "—" if cell["mean_gg"] is None else f"{cell['mean_gg']:.2f}"
        paper = "—" if cell["paper"] is None else f"{cell['paper']:.2f}"
        lines.append(f"| {cell['main']} | {cell['aux']} | {cell['ratio']:g} | {len(cell['gg'])} of {cell['seeds']} | "
                     f"{ours} | {no_transfer_gg(cell['main'], cell['aux']):.2f} | {paper} |")
    lines += ["", "GG grows with the ratio by construction: with no transfer at all it is |X − M| / max(M, X) (the "
              "column beside ours), 0.5 at ratios 2 and 1/2 and 0.75 or more at 4 and 1/4. A cell shows transfer only "
              "as far as its GG falls below that value; the rule compares raw GG, as the paper does."]
    return lines


# ---- the mechanism: does reuse track transfer across checkpoints? ------------------------------------------

DOMAINS = {"arithmetic": "transfer", "strings": "strings"}
"""Domain → the sweep whose related (``transfer``) and ``control`` groups it compares."""
METHODS = ("ablation_mean", "attention")
"""The cheap methods measured at every checkpoint: (b) the mean-ablation maps, (a) the paper's attention difference."""
PAPER_TRACKS = {("arithmetic", "ablation_mean"), ("arithmetic", "attention"), ("strings", "ablation_mean")}
"""What the paper reports tracking GG (App. B): both measures for arithmetic, only the ablation maps for strings."""
MECHANISM_RULE = (
    "Per domain and measure, under the competent protocol (maps compared where both tasks work, checkpoints that "
    "learned their training lengths): reproduced when the related group's seed-level test finds a positive mean "
    "ρ(GG, difference) with Benjamini–Hochberg-adjusted p < 0.05 and the comparison with the control finds it "
    "larger (Welch on Fisher z, p < 0.05); not reproduced when at least 3 seeds have a ρ and the upper end of the "
    "seed-level interval is below 0.3; inconclusive otherwise. The claim is reproduced when every measure the "
    "paper reports tracking (arithmetic: attention and ablation; strings: ablation) is, not reproduced when one of "
    "them is not, inconclusive otherwise. The paper's protocol is shown beside and not judged: it is confounded "
    "with accuracy (SPEC §7.1).")


def summarize_mechanism(evidence: Evidence) -> dict[str, Any]:
    domains = {}
    for domain in DOMAINS:
        protocols = {key.split("/")[1]: correlation for key, correlation in evidence.correlations.items()
                     if key.startswith(f"{domain}/")}
        if not protocols:
            continue
        related = [run for runs in evidence.results.values() for run in runs
                   if run.group.kind == "transfer" and any(run.label in c["runs"] for c in protocols.values())]
        best = max(related, key=lambda run: run.main_accuracy, default=None)
        domains[domain] = {"protocols": protocols,
                           "head_maps": evidence.analyses.get(best.label) if best is not None else None}
    return {"domains": domains}


def related_condition(correlation: dict[str, Any]) -> str | None:
    return next(iter(correlation["versus_control"]), None)


def judge_measure(correlation: dict[str, Any], method: str) -> Judgement:
    """One domain and measure under the competent protocol, by the rule."""
    condition = related_condition(correlation)
    if condition is None or method not in correlation["seed_level"].get(condition, {}):
        return Verdict.INCONCLUSIVE, "no related group with this measure"
    test = correlation["seed_level"][condition][method]
    controls = list(correlation["versus_control"][condition].get(method, {}).values())
    text = (f"mean ρ {test['rho']:.2f} over {test['n']} seeds (p_BH {test['p_fdr']:.3g})" if test["rho"] is not None
            and test["p_fdr"] is not None else f"{test['n']} seeds with a ρ")
    if (test["rho"] is not None and test["rho"] > 0 and test["p_fdr"] is not None and test["p_fdr"] < 0.05
            and controls and controls[0]["p"] is not None and controls[0]["difference_z"] > 0 and controls[0]["p"] < 0.05):
        return Verdict.REPRODUCED, text + ", above the control's"
    if test["n"] >= 3 and test["ci"][1] is not None and test["ci"][1] < 0.3:
        return Verdict.NOT_REPRODUCED, text
    return Verdict.INCONCLUSIVE, text


def measure_verdicts(record: dict[str, Any]) -> dict[tuple[str, str], Judgement]:
    return {(domain, method): judge_measure(entry["protocols"]["competent"], method)
            for domain, entry in record["domains"].items() if "competent" in entry["protocols"] for method in METHODS}


def judge_mechanism(record: dict[str, Any]) -> Judgement:
    verdicts = measure_verdicts(record)
    expected = {key: verdicts.get(key, (Verdict.INCONCLUSIVE, "not measured")) for key in sorted(PAPER_TRACKS)}
    text = "; ".join(f"{domain} {method}: {verdict.value}" for (domain, method), (verdict, _) in expected.items())
    if any(verdict is Verdict.NOT_REPRODUCED for verdict, _ in expected.values()):
        return Verdict.NOT_REPRODUCED, text
    if all(verdict is Verdict.REPRODUCED for verdict, _ in expected.values()):
        return Verdict.REPRODUCED, text
    return Verdict.INCONCLUSIVE, text


def mechanism_figures(record: dict[str, Any]) -> list[tuple[str, go.Figure]]:
    figures = []
    for domain, entry in record["domains"].items():
        for protocol, correlation in entry["protocols"].items():
            for method in correlation["settings"]["methods"]:
                figures.append((f"{domain}_{protocol}_{method}_seeds", seeds_figure(correlation, method)))
                if protocol == "competent":
                    figures.append((f"{domain}_{method}_checkpoints", checkpoints_figure(correlation, method)))
        maps = entry["head_maps"]
        if maps and maps["maps"].get("ablation_mean"):
            panels = {task: as_array(values) for task, values in maps["maps"]["ablation_mean"].items()
                      if values is not None}
            if panels:
                title = f"{domain}: mean-ablation maps of the best seed at its last checkpoint"
                grid = map_grid((maps["n_layers"], maps["n_heads"]), panels, title, "accuracy drop", True)
                figures.append((f"{domain}_head_maps", grid))
    return figures


def mechanism_lines(record: dict[str, Any]) -> list[str]:
    lines = ["| domain | measure | protocol | related: mean ρ [95% CI] (seeds) | p_BH | control: mean ρ (seeds) | "
             "related − control (Fisher z), p | verdict |", "|---|---|---|---|---|---|---|---|"]
    verdicts = measure_verdicts(record)
    for domain, entry in record["domains"].items():
        for protocol, correlation in entry["protocols"].items():
            lines += [measure_row(domain, method, protocol, correlation, verdicts.get((domain, method)))
                      for method in correlation["settings"]["methods"]]
    return lines


def measure_row(domain: str, method: str, protocol: str, correlation: dict[str, Any],
                judgement: Judgement | None) -> str:
    condition = related_condition(correlation)
    tests = correlation["seed_level"]
    related = tests.get(condition, {}).get(method, {"rho": None, "ci": [None, None], "n": 0, "p_fdr": None})
    controls = correlation["versus_control"].get(condition, {}).get(method, {})
    control_name, comparison = next(iter(controls.items()), (None, None))
    control = tests.get(control_name, {}).get(method) if control_name else None

    def rho(test: dict[str, Any] | None) -> str:
        if not test or test["rho"] is None:
            return "n/a"
        interval = "" if test["ci"][0] is None else f" [{test['ci'][0]:.2f}, {test['ci'][1]:.2f}]"
        return f"{test['rho']:.2f}{interval} ({test['n']})"

    versus = "n/a" if not comparison or comparison["p"] is None else \
        f"{comparison['difference_z']:+.2f}, p {comparison['p']:.3g}"
    p_fdr = "n/a" if related.get("p_fdr") is None else f"{related['p_fdr']:.3g}"
    verdict = (judgement[0].value if judgement else "—") if protocol == "competent" else "not judged (confounded)"
    return f"| {domain} | {method} | {protocol} | {rho(related)} | {p_fdr} | {rho(control)} | {versus} | {verdict} |"


# ---- pretrained language models ----------------------------------------------------------------------------

def judge_pretrained(record: dict[str, Any]) -> Judgement:
    return Verdict.NOT_TESTED, ("needs pretrained SmolLM checkpoints (downloaded from the Hugging Face hub, which "
                                "this machine cannot reach) and a GPU for 5000 finetuning steps per checkpoint")


PRETRAINED_LINES = ["Run it where a network and a GPU are at hand (README, *Pretrained language models*):", "",
                    "    python -m interp.finetune --pretrained HuggingFaceTB/SmolLM-360M --revisions REV1 REV2 \\",
                    "        --group add_only --out runs/smol_revisions --seed 0"]


def no_figures(record: dict[str, Any]) -> list[tuple[str, go.Figure]]:
    return []


# ---- the claims, in SPEC §1's order -------------------------------------------------------------------------

CLAIMS = {claim.name: claim for claim in (
    Claim("transfer", "A related auxiliary task makes the main task extrapolate; an unrelated one does not",
          "Trained alone at short lengths, reverse addition fails just past its training length; trained with a "
          "related auxiliary task at longer lengths (nocarry and carry), it extrapolates to the auxiliary's length; "
          "an unrelated auxiliary (copying the first operand) gives no transfer (SPEC §1; the paper's Figs. 3 and 6, "
          "add ≤ 16 with aux ≤ 32, plots only).",
          TRANSFER_RULE, ("transfer",), summarize_transfer, judge_transfer, transfer_figures, transfer_lines),
    Claim("strings", "The same holds for a string group", "Copy trained with multi-query associative recall at "
          "longer lengths extrapolates; copy alone and copy with reverse do not (SPEC §4; the paper's Figs. 4 and 18, "
          "copy ≤ 16 with mqar ≤ 32, plots only).",
          TRANSFER_RULE, ("strings",), summarize_transfer, judge_transfer, transfer_figures, transfer_lines),
    Claim("length_ratio", "Transfer works best when the aux/main length ratio is in [1/2, 2]",
          "GG is small for ratios X/M in [1/2, 2] and large for ratios ≥ 4 or ≤ 1/4 (SPEC §6; the paper's Fig. 10, "
          "M and X in 4–256, mean GG over 3 seeds: e.g. 0.27, 0.74, 0.91 for M = 8 and X = 16, 32, 64).",
          RATIO_RULE, ("length_ratio",), summarize_ratio, judge_ratio, ratio_figures, ratio_lines),
    Claim("rope_nope", "RoPE transfers better than NoPE", "Transfer happens with either positional encoding but is "
          "better with rotary embeddings: lower GG with RoPE for most groups (the paper's Fig. 12, a bar chart).",
          ROPE_RULE, ("transfer", "nope"), summarize_rope, judge_rope, rope_figures, rope_lines),
    Claim("seed_instability", "Transfer is seed-unstable", "Some seeds transfer and others do not (the paper, §4).",
          INSTABILITY_RULE, ("transfer", "strings"), summarize_instability, judge_instability, no_figures,
          instability_lines),
    Claim("pretrained", "Pretrained language models show the same effect", "Finetuning SmolLM checkpoints from "
          "later in pretraining transfers better: pretraining acts as an implicit auxiliary task (the paper's Fig. 9).",
          "Not run at the mini scale.", (), None, judge_pretrained, no_figures, lambda record: PRETRAINED_LINES),
    Claim("mechanism", "GG shrinks together with the difference between the tasks' attention and ablation maps",
          "Across the checkpoints of a run, GG shrinks together with (a) the difference between the main and "
          "auxiliary tasks' attention matrices and (b) the difference between their per-head mean-ablation maps; for "
          "strings only (b) tracks (SPEC §1; the paper's App. B, plots only, no statistics).",
          MECHANISM_RULE, ("transfer", "strings"), summarize_mechanism, judge_mechanism, mechanism_figures,
          mechanism_lines),
)}
