"""The paper's published numbers the suite is held against (SPEC §1, §6).

Cai, Lee, Schwarzschild, Oymak and Papailiopoulos, "Extrapolation by Association: Length Generalization
Transfer in Transformers" (arXiv 2506.09251, NeurIPS 2025). Only Fig. 10 is a table of numbers; the other
findings are given as plots, and :data:`CLAIMS` states them in words, as SPEC §1 does.
"""

from __future__ import annotations

PAPER_SHAPE = ("add", ("carry", "nocarry"))
"""Fig. 10's task shape: reverse addition (main) with nocarry and carry (auxiliaries)."""
PAPER_AUX_LENGTHS = (4, 8, 16, 32, 64, 128, 256)
PAPER_GG = {  # SPEC §6, rows M, columns PAPER_AUX_LENGTHS (the same lengths)
    4: (0.00, 0.41, 0.65, 0.78, 0.78, 0.78, 0.75),
    8: (0.28, 0.00, 0.27, 0.74, 0.91, 0.91, 0.89),
    16: (0.60, 0.03, 0.00, 0.23, 0.67, 0.90, 0.95),
    32: (0.90, 0.72, 0.15, 0.00, 0.16, 0.34, 0.87),
    64: (0.95, 0.87, 0.72, 0.09, 0.00, 0.04, 0.66),
    128: (0.94, 0.95, 0.91, 0.36, 0.04, 0.00, 0.34),
    256: (0.91, 0.94, 0.93, 0.87, 0.63, 0.20, 0.00),
}
PAPER_TABLE = {(main, aux): value for main, row in PAPER_GG.items()
               for aux, value in zip(PAPER_AUX_LENGTHS, row, strict=True)}
"""(M, X) → the paper's mean GG over 3 seeds (Fig. 10)."""


def paper_cells_of_ratio(ratio: float) -> dict[tuple[int, int], float]:
    """The paper's Fig. 10 cells whose aux/main length ratio X/M is ``ratio``."""
    return {(main, aux): value for (main, aux), value in PAPER_TABLE.items() if aux / main == ratio}
