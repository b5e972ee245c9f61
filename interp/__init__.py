"""interp: mechanistic interpretability of length-generalisation transfer in transformers.

Reproduces and extends Cai et al., "Extrapolation by Association: Length Generalization Transfer in
Transformers" (arXiv 2506.09251). ``from interp import load_run`` opens a trained run in a notebook.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

# Threads that wait for a descheduled one sleep instead of spinning on a shared CPU (read by OpenMP when torch
# loads it, so set before any interp module imports torch; benchmarks/RESULTS.md, § Threads on a busy machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# torch's cache of compiled CPU kernels does not tell those built with the kernels capped (ATEN_CPU_CAPABILITY,
# ONEDNN_MAX_CPU_ISA: emulating a CPU without AVX-512) from those built without; a training step reusing the other
# kind's crashed (a segfault), so capped kernels get a cache of their own (benchmarks/RESULTS.md, § Quickstart).
CAPPED_ISA = "_".join(os.environ[name].lower() for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
                      if os.environ.get(name))
if CAPPED_ISA:
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR",
                          os.path.join(tempfile.gettempdir(), f"torchinductor_capped_{CAPPED_ISA}"))

if TYPE_CHECKING:
    from interp.run import Run, load_run

__all__ = ["Run", "load_run"]


def __getattr__(name: str) -> Any:  # keep ``import interp.tasks`` free of torch and TransformerLens
    if name in __all__:
        from interp import run

        return getattr(run, name)
    raise AttributeError(f"module 'interp' has no attribute {name!r}")
