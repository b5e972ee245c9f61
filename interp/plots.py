"""Plotly figures and offline HTML.

Conventions (shared by every figure of the suite): signed effects on a red–blue scale centred at 0,
non-negative quantities on a sequential scale with a fixed range, training lengths marked on every
length plot, and HTML that embeds plotly.js so it opens without a network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from interp.errors import InterpError
from interp.storage import write_bytes, write_text

TASK_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SIGNED_SCALE = "RdBu_r"  # red positive, blue negative, white at 0 (with zmid=0)
SEQUENTIAL_SCALE = "Viridis"


PLOTLY_FILE = "plotly.min.js"
"""The library beside pages written with ``shared_library``: one copy for a folder of pages, still offline."""


def html_document(figures: list[go.Figure], title: str, body_html: str = "", shared_library: bool = False) -> str:
    """One page: plotly.js embedded once (or, with ``shared_library``, loaded from :data:`PLOTLY_FILE` beside
    the page), then each figure and any extra HTML."""
    parts = []
    for index, figure in enumerate(figures):
        library = (PLOTLY_FILE if shared_library else True) if index == 0 else False
        parts.append(pio.to_html(figure, full_html=False, include_plotlyjs=library, div_id=f"figure-{index}"))
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>" + title + "</title>"
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>"
        f"<h1>{title}</h1>" + "".join(parts) + body_html + "</body></html>\n"
    )


def write_html(path: Path, figures: list[go.Figure], title: str, body_html: str = "",
               shared_library: bool = False) -> Path:
    """Write the page atomically; it works offline (with ``shared_library``, plotly.js is written beside it)."""
    path = Path(path)
    if shared_library:
        library = path.parent / PLOTLY_FILE
        if not library.is_file():
            write_text(library, get_plotlyjs())
    write_text(path, html_document(figures, title, body_html, shared_library))
    return path


PNG_ATTEMPTS = 3


def write_png(path: Path, figure: go.Figure, width: int = 1000, height: int | None = None) -> Path:
    """A static PNG of the figure (kaleido with the system's Chromium), written atomically."""
    path = Path(path)
    for attempt in range(PNG_ATTEMPTS):
        try:
            image = pio.to_image(figure, format="png", width=width, height=height or figure.layout.height or 520)
            break
        except (ImportError, ValueError, RuntimeError) as error:
            if attempt + 1 < PNG_ATTEMPTS and not isinstance(error, ImportError):
                continue  # on a loaded machine kaleido's page sometimes runs before its scripts have loaded
            raise InterpError(f"cannot export {path.name} as PNG ({type(error).__name__}: {error}); it needs kaleido "
                              "(a dependency: pip install -e .) and Chromium (Debian: apt-get install chromium)") from None
    write_bytes(path, image)
    return path


def mark_training_lengths(figure: go.Figure, lengths: dict[str, int], colours: dict[str, str]) -> None:
    """A dashed vertical line at each task's largest training length, labelled."""
    for task, length in lengths.items():
        figure.add_vline(x=length + 0.5, line_dash="dash", line_color=colours[task], opacity=0.7,
                         annotation_text=f"{task} ≤ {length}", annotation_position="top left",
                         annotation_font_color=colours[task], annotation_textangle=-90)


def signed_heatmap(values, x_labels, y_labels, title: str, limit: float | None = None) -> go.Heatmap:
    """A red–blue heatmap centred at 0 (``limit`` fixes the symmetric range)."""
    array = np.asarray(values, dtype=float)
    bound = limit if limit is not None else float(np.nanmax(np.abs(array))) or 1.0
    return go.Heatmap(z=array, x=x_labels, y=y_labels, colorscale=SIGNED_SCALE, zmid=0, zmin=-bound,
                      zmax=bound, colorbar={"title": title}, hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>")


def sequential_heatmap(values, x_labels, y_labels, title: str, zmin: float = 0.0, zmax: float = 1.0) -> go.Heatmap:
    """A sequential heatmap with a fixed range, for non-negative quantities."""
    return go.Heatmap(z=values, x=x_labels, y=y_labels, colorscale=SEQUENTIAL_SCALE, zmin=zmin, zmax=zmax,
                      colorbar={"title": title}, hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>")
