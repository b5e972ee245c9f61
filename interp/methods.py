"""The head-reuse methods (SPEC §7): what each measures, in which unit, and on which colour scale it is drawn.

One member per method, each with its title, its unit and whether its values are signed (a red–blue scale
centred at 0) or non-negative (a sequential scale). ``interp.head_overlap`` measures them, ``interp.report``
draws them and ``interp.correlate`` correlates them; all three read these definitions, and nothing here
imports them.

Families group the methods one command can run alone (``python -m interp.ablation``, ``.patching``,
``.attention``). ``attention`` names both a family (the paper's difference and the focus diagnostic) and
the paper's method; :func:`parse_methods` reads a family name as the family.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from interp.errors import InterpError


class Method(enum.Enum):
    """A way to measure which heads a task uses, or (``attention``) how two tasks' heads differ."""

    ABLATION_MEAN = ("ablation_mean", "Mean ablation: drop in exact-match accuracy (clean − ablated)",
                     "accuracy drop", True)
    """Accuracy drop when the head's output is replaced by its per-position mean (the paper's map)."""
    ABLATION_ZERO = ("ablation_zero", "Zero ablation: drop in exact-match accuracy (clean − ablated)",
                     "accuracy drop", True)
    """Accuracy drop when the head's output is zeroed."""
    ABLATION_RESAMPLE = ("ablation_resample", "Resample ablation: drop in exact-match accuracy (clean − ablated)",
                         "accuracy drop", True)
    """Accuracy drop when the head's output comes from another example of the same length."""
    PATCHING = ("patching", "Activation patching: normalised recovery of the clean answer log-prob "
                            "(0 corrupted, 1 clean)", "recovery", True)
    """Normalised recovery of the clean answer's log-prob when the head's clean output is patched in."""
    ATTRIBUTION = ("attribution", "Attribution patching: first-order estimate of the normalised recovery",
                   "recovery (est.)", True)
    """Attribution patching: the first-order estimate of ``patching`` from one forward and one backward."""
    ATTENTION = ("attention", "Attention: Σ|Ā_A − Ā_B| per head (the paper's metric)", "Σ|ΔĀ|", False)
    """The paper's attention difference between two tasks: per head Σ|Ā_A − Ā_B| of their mean attention
    patterns (on their common part, or a labelled layout-free distance where they have none); no per-task map."""
    ATTENTION_FOCUS = ("attention_focus", "Attention focus (diagnostic): 1 − normalised entropy of the "
                                          "answer-predicting queries (0 uniform, 1 one token)", "focus", False)
    """Attention focus, a diagnostic: 1 − normalised entropy of the answer-predicting queries' attention."""

    def __new__(cls, name: str, title: str, unit: str, signed: bool) -> Method:
        member = object.__new__(cls)
        member._value_ = name  # Method("ablation_mean") finds the member by its name
        member.title = title
        member.unit = unit
        member.signed = signed  # signed effects: a red–blue scale centred at 0; others: a sequential scale
        return member


MAP_METHODS = tuple(method for method in Method if method is not Method.ATTENTION)
"""Methods that give one layer × head map per task (scored pairwise by :mod:`interp.reuse`)."""
FAMILIES: dict[str, tuple[Method, ...]] = {
    "ablation": (Method.ABLATION_MEAN, Method.ABLATION_ZERO, Method.ABLATION_RESAMPLE),
    "patching": (Method.PATCHING, Method.ATTRIBUTION),
    "attention": (Method.ATTENTION, Method.ATTENTION_FOCUS),
}


def parse_methods(methods: Sequence[str] | None) -> list[Method]:
    """Family names (ablation, patching, attention) and method names → methods in canonical order."""
    if methods is None:
        return list(Method)
    chosen: set[Method] = set()
    accepted = [*FAMILIES, *(method.value for method in Method)]
    for name in methods:
        name = name.strip()
        if name in FAMILIES:
            chosen.update(FAMILIES[name])
        elif name in {method.value for method in Method}:
            chosen.add(Method(name))
        else:
            raise InterpError(f"unknown method {name!r} (accepted: {', '.join(accepted)})")
    if not chosen:
        raise InterpError(f"no method chosen (accepted: {', '.join(accepted)})")
    return [method for method in Method if method in chosen]
