"""Reports of a head-reuse analysis (:mod:`interp.head_overlap`): an offline HTML page, Markdown, a table.

    python -m interp.report --run DIR [--family F] [--device D]   (redraws a saved analysis's two reports)

- :func:`report_html`: one self-contained page (plotly.js embedded, no network): per method, every task's
  layer × head map (signed effects on a red–blue scale centred at 0 with one range shared by the tasks;
  attention focus on a sequential [0, 1] scale), the difference maps map_A − map_B of every pair, the
  attention pair maps (the paper's Σ|Ā_A − Ā_B| and the offset JS distance), each task's mean attention
  pattern per head (a menu picks the head) with token labels, and the reuse table.
- :func:`ablation_markdown`: per task, the heads that matter most with effect sizes and bootstrap
  intervals, then every reuse score in plain words, compared with its null.
- :func:`summary_table`: the reuse scores as a plain-text table for the terminal.

Everything is rendered from the record (:class:`interp.reuse.record.HeadReuseRecord`, maps in their JSON form with
NaN as null), so a saved record can be re-rendered.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.attention import AttentionForm, AttentionStats
from interp.methods import Method
from interp.plots import html_document, sequential_heatmap, signed_heatmap
from interp.reuse import Protocol
from interp.reuse.record import HeadReuseRecord
from interp.vocab import Tokenizer

ATTENTION = Method.ATTENTION.value
"""The method whose pair scores are the paper's attention difference (no per-task map)."""
LAYOUT_FREE = AttentionForm.LAYOUT_FREE.value
"""The attention difference's fallback form, in other units (Jensen–Shannon distance)."""
TOP_HEADS = 5


def as_array(values: Any) -> np.ndarray:
    """A map from the record (null = NaN)."""
    return np.array([[np.nan if value is None else value for value in row] for row in values], dtype=float)


def head_name(flat_index: int, n_heads: int) -> str:
    return f"L{flat_index // n_heads}H{flat_index % n_heads}"


def axis_labels(shape: tuple[int, int]) -> tuple[list[str], list[str]]:
    n_layers, n_heads = shape
    return [f"H{head}" for head in range(n_heads)], [f"L{layer}" for layer in range(n_layers)]


def symmetric_limit(maps: Sequence[np.ndarray]) -> float:
    finite = np.concatenate([np.abs(m[np.isfinite(m)]) for m in maps]) if maps else np.array([])
    return float(finite.max()) if len(finite) and finite.max() > 0 else 1.0


def map_grid(shape: tuple[int, int], panels: dict[str, np.ndarray], title: str, unit: str, signed: bool,
             zmax: float = 1.0) -> go.Figure:
    """One heatmap per panel (layer × head, ``shape`` = (layers, heads)), side by side, one colour scale."""
    names = list(panels)
    figure = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.06)
    x_labels, y_labels = axis_labels(shape)
    limit = symmetric_limit(list(panels.values()))
    for column, name in enumerate(names, start=1):
        values = panels[name]
        trace = (signed_heatmap(values, x_labels, y_labels, unit, limit=limit) if signed
                 else sequential_heatmap(values, x_labels, y_labels, unit, zmin=0.0, zmax=zmax))
        trace.update(showscale=column == len(names), name=name)
        figure.add_trace(trace, row=1, col=column)
        figure.update_yaxes(autorange="reversed", row=1, col=column)
    figure.update_layout(title=title, height=max(340, 170 + 40 * shape[0]),
                         width=min(1400, 260 + 320 * len(names)), template="plotly_white")
    return figure


def pattern_figure(task: str, length: int, stats: AttentionStats, tokenizer: Tokenizer) -> go.Figure:
    """The mean attention pattern of every head of one task at one length; a menu picks the head."""
    end = len(stats.tokens)
    labels = [f"{position}:{tokenizer.tokens[token]}" for position, token in enumerate(stats.tokens)]
    n_layers, n_heads = stats.mean_pattern.shape[:2]
    figure = go.Figure()
    buttons = []
    for layer in range(n_layers):
        for head in range(n_heads):
            index = layer * n_heads + head
            trace = sequential_heatmap(np.round(stats.mean_pattern[layer, head, :end, :end], 4), labels, labels,
                                       "attention", zmin=0.0, zmax=1.0)
            trace.update(visible=index == 0, name=f"L{layer}H{head}",
                         hovertemplate="query %{y}<br>key %{x}<br>%{z:.3f}<extra></extra>")
            figure.add_trace(trace)
            visible = [False] * (n_layers * n_heads)
            visible[index] = True
            buttons.append({"label": f"L{layer}H{head}", "method": "update", "args": [{"visible": visible}]})
    layout_note = "" if stats.layout is not None else " (labels: example 0; answers vary in length)"
    figure.update_layout(
        title=f"{task}, length {length}: mean attention{layout_note}",
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "y": 1.12, "xanchor": "right"}],
        yaxis={"autorange": "reversed", "title": "query position"}, xaxis={"title": "key position"},
        height=min(1400, max(480, 160 + 14 * end)), width=min(1400, max(640, 200 + 14 * end)),
        template="plotly_white",
    )
    return figure


def format_ci(value: Any, interval: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.{digits}f}"
    if interval and None not in interval:
        text += f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"
    return text


def not_available(scores: dict[str, Any]) -> str:
    """``n/a (reason)`` for a pair without scores."""
    return f"n/a ({scores['reason']})" if scores.get("reason") else "n/a"


def map_rows(record: HeadReuseRecord) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, pair, scores) of every map method (the attention difference has rows of its own)."""
    return [(method, pair, scores) for method, by_pair in record.reuse.items() if method != ATTENTION
            for pair, scores in by_pair.items()]


def attention_rows(record: HeadReuseRecord) -> list[tuple[str, dict[str, Any]]]:
    return list(record.reuse.get(ATTENTION, {}).items())


def lengths_text(lengths: Sequence[int]) -> str:
    return ", ".join(map(str, lengths)) if lengths else "none"


def attention_text(entry: dict[str, Any]) -> str:
    """The paper's attention difference in words: value, form and the lengths it used."""
    if entry["difference"] is None:
        return not_available(entry)
    unit = "JS distance, layout-free" if entry["form"] == LAYOUT_FREE else "Σ|ΔĀ| per head, mean over heads"
    form = entry["form"].replace("_", " ")
    return f"{entry['difference']:.3f} ({unit}; {form}; lengths {lengths_text(entry['lengths'])})"


def reuse_table_html(record: HeadReuseRecord) -> str:
    header = ("<tr><th>method</th><th>pair</th><th>lengths</th><th>mean |A − B| [95% CI]</th>"
              "<th>Spearman ρ [95% CI]</th><th>top-k Jaccard [95% CI]</th><th>null</th><th>k (sizes)</th></tr>")
    rows = []
    for method, pair, scores in map_rows(record):
        if scores["mean_abs_diff"] is None and scores.get("reason"):
            cells = [method, pair, not_available(scores), "", "", "", "", ""]
        else:
            sizes = scores.get("top_k_sizes")
            cells = [method, pair, lengths_text(record.pair_lengths[pair].lengths),
                     format_ci(scores["mean_abs_diff"], scores["mean_abs_diff_ci"]),
                     format_ci(scores["spearman"], scores["spearman_ci"], 2),
                     format_ci(scores["jaccard_top_k"], scores["jaccard_top_k_ci"], 2),
                     format_ci(scores["jaccard_null"], None, 2), f"{scores['k']}" + (f" ({sizes[0]}, {sizes[1]})"
                                                                                  if sizes else "")]
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    rows += [f"<tr><td>attention</td><td>{html.escape(pair)}</td><td colspan='6'>"
             f"{html.escape(attention_text(entry))}</td></tr>" for pair, entry in attention_rows(record)]
    if not rows:
        return "<p>No pair of tasks: nothing to compare.</p>"
    return f"<table>{header}{''.join(rows)}</table>"


def protocol_text(record: HeadReuseRecord) -> str:
    """Which lengths the maps were compared on, in words."""
    if record.settings.protocol is Protocol.COMPETENT:
        return (f"Protocol: competent — a pair is compared on the lengths both tasks were trained on where both "
                f"have clean exact match ≥ {record.settings.competence:.0%}; a task's own map on its competent training "
                "lengths.")
    return ("Protocol: paper — maps averaged over the lengths the generalisation gap averages. CAUTION: an "
            "accuracy-drop map is ≈ 0 where its task fails, so these scores are confounded with accuracy.")


def pair_lengths_text(record: HeadReuseRecord) -> str:
    return "; ".join(f"{pair}: {lengths_text(choice.lengths)}" + (f" ({choice.reason})" if choice.reason else "")
                     for pair, choice in record.pair_lengths.items())


def settings_html(record: HeadReuseRecord) -> str:
    settings = record.settings
    lengths = "; ".join(f"{task}: {', '.join(map(str, lengths))}" for task, lengths in settings.lengths.items())
    accuracy = "; ".join(
        f"{task}: " + ", ".join(f"{length}→{value:.0%}" for length, value in by_length.items())
        for task, by_length in record.clean_accuracy.items())
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in record.notes)
    agreement = record.attribution_agreement or {}
    agreement_text = "; ".join(f"{task}: ρ = {format_ci(value['spearman'], None, 2)}" for task, value in agreement.items())
    return (
        f"<p>Group <b>{html.escape(record.group)}</b>, step {record.step}, {record.n_layers} layers × "
        f"{record.n_heads} heads; {settings.count} test examples per task and length (seed {settings.seed}); "
        f"lengths analysed {html.escape(lengths)}. Intervals are 95% bootstrap intervals over examples "
        f"({settings.bootstrap_resamples} resamples).</p>"
        f"<p><b>{html.escape(protocol_text(record))}</b> Lengths compared per pair: "
        f"{html.escape(pair_lengths_text(record) or 'none')}.</p>"
        f"<p>Clean exact-match accuracy: {html.escape(accuracy)}.</p>"
        + (f"<p>Attribution vs exact patching (Spearman ρ over heads): {html.escape(agreement_text)}.</p>"
           if agreement else "")
        + (f"<ul>{notes}</ul>" if notes else "")
    )


def method_figures(record: HeadReuseRecord, method: str) -> list[go.Figure]:
    """A map method's per-task maps and its pairs' difference maps (each over its own lengths), where defined."""
    maps = {task: as_array(values) for task, values in record.maps[method].items() if values is not None}
    definition = Method(method)
    figures = [map_grid(record.shape, maps, definition.title, definition.unit, definition.signed)] if maps else []
    differences = {pair: as_array(scores["difference_map"]) for pair, scores in record.reuse[method].items()
                   if scores.get("difference_map") is not None}
    if differences:
        figures.append(map_grid(record.shape, differences, f"{method}: difference maps (A − B) over each pair's lengths",
                                f"Δ {definition.unit}", signed=True))
    return figures


def attention_figures(record: HeadReuseRecord) -> list[go.Figure]:
    """The paper's attention difference per head, one grid per unit (Σ|ΔĀ| forms and the layout-free one)."""
    entries = {pair: entry for pair, entry in attention_rows(record) if entry["per_head"] is not None}
    figures = []
    for layout_free in (False, True):
        panels = {f"{pair} ({entry['form']})": as_array(entry["per_head"]) for pair, entry in entries.items()
                  if (entry["form"] == LAYOUT_FREE) == layout_free}
        if not panels:
            continue
        top = max(float(np.nanmax(values)) for values in panels.values())
        title = ("Attention: Jensen–Shannon distance between attention-by-offset profiles (layout-free fallback; "
                 "0 same, 1 disjoint)" if layout_free else "Attention: Σ|Ā_A − Ā_B| per head (the paper's metric)")
        figures.append(map_grid(record.shape, panels, title, "JS distance" if layout_free else "Σ|ΔĀ|", signed=False,
                                zmax=1.0 if layout_free else (top if top > 0 else 1.0)))
    return figures


def report_html(
    record: HeadReuseRecord, patterns: dict[str, tuple[int, AttentionStats]], tokenizer: Tokenizer, title: str,
) -> str:
    """The whole report as one offline HTML page."""
    figures = [figure for method in record.maps for figure in method_figures(record, method)]
    figures += attention_figures(record)
    for task, (length, stats) in patterns.items():
        figures.append(pattern_figure(task, length, stats, tokenizer))
    body = "<h2>Reuse scores</h2>" + reuse_table_html(record)
    if record.control is not None:
        body += "<h2>Against the control</h2><ul>" + "".join(
            f"<li>{html.escape(line)}</li>" for line in control_lines(record)) + "</ul>"
    return html_document(figures, html.escape(title), settings_html(record) + body)


def top_heads(values: np.ndarray, count: int = TOP_HEADS) -> list[int]:
    """Flat indices of the largest finite entries, largest first."""
    flat = values.ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    return finite[np.argsort(-flat[finite], kind="stable")][:count].tolist()


def flat_value(values: Any, flat: int) -> float | None:
    """Entry ``flat`` (layer-major) of a record map; None when it is NaN or the map is null."""
    if values is None:
        return None
    value = as_array(values).ravel()[flat]
    return None if not np.isfinite(value) else float(value)


def task_section(record: HeadReuseRecord, task: str) -> list[str]:
    methods = list(record.maps)
    choice = record.task_lengths[task]
    lines = [f"## {task}", ""]
    if not methods:
        return lines
    lead = next((method for method in methods if method.startswith("ablation")), methods[0])
    if record.maps[lead][task] is None:
        return [*lines, f"No map: {choice.reason}.", ""]
    ranked = top_heads(as_array(record.maps[lead][task]))
    lines += [f"Heads ranked by {lead} ({Method(lead).unit}) over lengths {lengths_text(choice.lengths)}; 95% "
              "bootstrap intervals over examples.", ""]
    columns = [*methods, *(f"{method} log-prob drop" for method in record.logprob_maps)]
    lines += ["| head | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for flat in ranked:
        cells = []
        for method in methods:
            interval = record.intervals[method].get(task)
            bounds = [flat_value(interval[side], flat) for side in ("lo", "hi")] if interval else None
            cells.append(format_ci(flat_value(record.maps[method][task], flat), bounds))
        cells += [format_ci(flat_value(record.logprob_maps[method][task], flat), None)
                  for method in record.logprob_maps]
        lines.append(f"| {head_name(flat, record.n_heads)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def overlap_words(scores: dict[str, Any]) -> str:
    """The top-k overlap judged against random sets of the same sizes."""
    jaccard, null, interval = scores["jaccard_top_k"], scores["jaccard_null"], scores["jaccard_top_k_ci"]
    if jaccard is None:
        return "no top-k overlap: neither task has a head whose effect is clearly positive"
    if null is None or None in interval:
        return f"top-k Jaccard {format_ci(jaccard, interval, 2)}, which cannot be compared with chance"
    if interval[0] > null:
        verdict = "above chance (the interval excludes it)"
    elif interval[1] < null:
        verdict = "below chance (the interval excludes it)"
    else:
        verdict = "not distinguishable from chance"
    sizes = scores.get("top_k_sizes") or [scores["k"], scores["k"]]
    return (f"their top heads (at most {scores['k']} with a positive effect: {sizes[0]} and {sizes[1]}) overlap with "
            f"Jaccard {format_ci(jaccard, interval, 2)} against {null:.2f} for random sets of those sizes: {verdict}")


def reuse_sentence(method: str, pair: str, scores: dict[str, Any], lengths: Sequence[int] = ()) -> str:
    """One score line in words: each score with its interval, judged against its null; n/a with its reason."""
    a, b = pair.split("|")
    if scores["mean_abs_diff"] is None and scores.get("reason"):
        return f"- **{method}**, {a} vs {b}: {not_available(scores)}."
    rho, rho_interval = scores["spearman"], scores["spearman_ci"]
    if rho is None or None in rho_interval:
        order = "cannot be judged"
    elif rho_interval[0] > 0:
        order = "agrees (the interval is above 0)"
    elif rho_interval[1] < 0:
        order = "is reversed (the interval is below 0)"
    else:
        order = "shows no clear agreement (the interval includes 0)"
    return (f"- **{method}**, {a} vs {b} (lengths {lengths_text(lengths)}): the maps differ by "
            f"{format_ci(scores['mean_abs_diff'], scores['mean_abs_diff_ci'])} per head on average "
            f"({Method(method).unit}); the ranking of heads {order}: Spearman ρ = "
            f"{format_ci(rho, rho_interval, 2)}; {overlap_words(scores)}.")


def control_lines(record: HeadReuseRecord) -> list[str]:
    """Each main|aux pair's top-k overlap and mean |A − B| beside the control run's pair with the same main task."""
    control = record.control
    if control is None:
        return []
    lines = []
    for method, pairs in record.reuse.items():
        controls = control.reuse.get(method, {})
        for pair, scores in pairs.items():
            if record.main_task not in pair.split("|"):
                continue
            for control_pair, control_scores in controls.items():
                lines.append(f"{method}: {pair} {comparison_values(method, scores)} vs control {control_pair} "
                             f"({control.group}, {control.run}) {comparison_values(method, control_scores)}")
    return lines


def comparison_values(method: str, scores: dict[str, Any]) -> str:
    if method == ATTENTION:
        return attention_text(scores)
    if scores["mean_abs_diff"] is None:
        return not_available(scores)
    return (f"Jaccard {format_ci(scores['jaccard_top_k'], scores['jaccard_top_k_ci'], 2)}, mean |A − B| "
            f"{format_ci(scores['mean_abs_diff'], scores['mean_abs_diff_ci'])}")


def ablation_markdown(record: HeadReuseRecord, title: str) -> str:
    """Per task the heads that matter most, then the reuse scores in plain words."""
    settings = record.settings
    lines = [f"# {title}", "",
             f"Group `{record.group}`, step {record.step}, {record.n_layers} layers × {record.n_heads} "
             f"heads, {settings.count} test examples per task and length; lengths analysed: "
             + "; ".join(f"{task} {', '.join(map(str, lengths))}" for task, lengths in settings.lengths.items())
             + ". Ablation effects are drops (clean − ablated): positive means the head matters. Patching is the "
             "normalised recovery of the clean answer's log-prob (0 corrupted, 1 clean).", "",
             f"**{protocol_text(record)}**", ""]
    for task in record.tasks:
        lines += task_section(record, task)
    lines += ["## Reuse", ""]
    lines += [reuse_sentence(method, pair, scores, record.pair_lengths[pair].lengths)
              for method, pair, scores in map_rows(record)]
    lines += [f"- **attention** (the paper's difference), {pair.replace('|', ' vs ')}: {attention_text(entry)}"
              + (f". {entry['note']}" if entry.get("note") else "") for pair, entry in attention_rows(record)]
    if not record.pair_lengths:
        lines.append("No pair of tasks.")
    if record.control is not None:
        lines += ["", "## Against the control", "", *(f"- {line}" for line in control_lines(record))]
    elif record.reuse:
        lines += ["", "No control pair was given (`--control RUN`, a run of the group's control analysed alike): the "
                  "overlaps above are compared with random sets only."]
    if record.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in record.notes)]
    return "\n".join(lines) + "\n"


def summary_table(record: HeadReuseRecord) -> str:
    """The reuse scores as a plain-text table."""
    lines = [f"step {record.step}: {record.n_layers} layers × {record.n_heads} heads, tasks "
             f"{', '.join(record.tasks)}, {record.settings.count} examples per length",
             protocol_text(record),
             f"{'method':<18} {'pair':<22} {'mean|A-B| [95% CI]':<28} {'spearman [95% CI]':<24} "
             f"{'top-k jaccard [95% CI]':<24} null"]
    for method, pair, scores in map_rows(record):
        if scores["mean_abs_diff"] is None and scores.get("reason"):
            lines.append(f"{method:<18} {pair:<22} {not_available(scores)}")
            continue
        lines.append(f"{method:<18} {pair:<22} {format_ci(scores['mean_abs_diff'], scores['mean_abs_diff_ci']):<28} "
                     f"{format_ci(scores['spearman'], scores['spearman_ci'], 2):<24} "
                     f"{format_ci(scores['jaccard_top_k'], scores['jaccard_top_k_ci'], 2):<24} "
                     f"{format_ci(scores['jaccard_null'], None, 2)} (k={scores['k']})")
    lines += [f"{ATTENTION:<18} {pair:<22} {attention_text(entry)}" for pair, entry in attention_rows(record)]
    for task, value in (record.attribution_agreement or {}).items():
        lines.append(f"attribution vs exact patching, {task}: Spearman ρ = {format_ci(value['spearman'], None, 2)}")
    lines += [f"note: {note}" for note in record.notes]
    return "\n".join(lines)
