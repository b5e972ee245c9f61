"""interp: mechanistic interpretability of length-generalisation transfer in transformers.

Reproduces and extends Cai et al., "Extrapolation by Association: Length Generalization Transfer in
Transformers" (arXiv 2506.09251). ``from interp import load_run`` opens a trained run in a notebook.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Threads that wait for a descheduled one sleep instead of spinning on a shared CPU (read by OpenMP when torch
# loads it, so set before any interp module imports torch; benchmarks/RESULTS.md, § Threads on a busy machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if TYPE_CHECKING:
    from interp.run import Run, load_run

__all__ = ["Run", "load_run"]


def __getattr__(name: str) -> Any:  # keep ``import interp.tasks`` free of torch and TransformerLens
    if name in __all__:
        from interp import run

        return getattr(run, name)
    raise AttributeError(f"module 'interp' has no attribute {name!r}")
