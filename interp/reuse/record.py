"""The head-reuse record (SPEC §7): what ``interp.head_overlap`` measured at one checkpoint, typed.

It is written as ``analysis/head_overlap.json`` and ``analysis/steps/step_NNNNNN.json`` and read by the
reports, ``interp.correlate`` and ``interp.reproduce``. Its identity, settings, length choices and control pairs
are dataclasses; its maps and scores stay in their JSON form (layer × head lists with NaN as null, lengths as
string keys), the form the reports draw from, so a record read back equals the one written.
:meth:`HeadReuseRecord.from_json` is the one way in: a file that is no record of this version is refused with
one line naming it, never a ``KeyError`` deep inside a reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.cli import format_lengths
from interp.errors import InterpError
from interp.reuse import Protocol
from interp.run import fingerprint_matches

HeadMap = list[list[float | None]]
"""A layer × head map as stored: NaN as null."""
ByTask = dict[str, Any]
"""Task (or pair ``"A|B"``) → its entry, as stored."""


def pair_key(a: str, b: str) -> str:
    return f"{a}|{b}"


@dataclass(frozen=True)
class LengthChoice:
    """The lengths a task's map or a pair's scores use, and why there are none."""

    lengths: list[int]
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"lengths": self.lengths, "reason": self.reason}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> LengthChoice:
        return cls([int(length) for length in entry["lengths"]], entry.get("reason"))


@dataclass(frozen=True)
class AnalysisSettings:
    """What was measured and how: the methods, examples, lengths per task, the checkpoint's fingerprint and the
    protocol that chose the compared lengths."""

    methods: list[str]
    count: int
    lengths: dict[str, list[int]]
    seed: int
    checkpoint: dict[str, int] | None
    protocol: Protocol
    competence: float
    top_k: int | None = None
    bootstrap_resamples: int | None = None

    def made_from_checkpoint_on_disk(self, run_dir: Path) -> bool:
        """The checkpoint fingerprint (size and mtime of the weights) matches the file on disk."""
        return fingerprint_matches(self.checkpoint, run_dir)

    def covers(self, other: AnalysisSettings) -> bool:
        """At least as much as ``other``: the same checkpoint, protocol and competence, and every method, task and
        length of ``other`` with at least as many examples."""
        if (self.checkpoint, self.protocol, self.competence) != (other.checkpoint, other.protocol, other.competence):
            return False
        return (set(other.methods) <= set(self.methods) and self.count >= other.count
                and all(set(lengths) <= set(self.lengths.get(task, ())) for task, lengths in other.lengths.items()))

    def fullness(self) -> tuple[int, int]:
        """How much it covers, to choose the fullest analysis: (methods × task–length cells, examples)."""
        return len(self.methods) * sum(map(len, self.lengths.values())), self.count

    def tag(self) -> str:
        """The name of an analysis kept beside a fuller one: ``ablation_mean+attention.n8.l3_6``."""
        lengths = sorted({length for task_lengths in self.lengths.values() for length in task_lengths})
        return f"{'+'.join(self.methods)}.n{self.count}.l{format_lengths(lengths)}"

    def to_json(self) -> dict[str, Any]:
        return {"methods": self.methods, "count": self.count, "lengths": self.lengths, "seed": self.seed,
                "checkpoint": self.checkpoint, "protocol": self.protocol.value, "competence": self.competence,
                "top_k": self.top_k, "bootstrap_resamples": self.bootstrap_resamples}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> AnalysisSettings:
        return cls([str(method) for method in entry["methods"]], int(entry["count"]),
                   {str(task): [int(length) for length in lengths] for task, lengths in entry["lengths"].items()},
                   int(entry["seed"]), entry.get("checkpoint"), Protocol(entry["protocol"]),
                   float(entry["competence"]), entry.get("top_k"), entry.get("bootstrap_resamples"))


@dataclass(frozen=True)
class ControlPairs:
    """A control run's scores for its pairs with the group's main task, which the reports set beside ours."""

    run: str
    group: str
    step: int
    reuse: dict[str, ByTask]
    """Method → pair → scores."""

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "group": self.group, "step": self.step, "reuse": self.reuse}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> ControlPairs:
        return cls(str(entry["run"]), str(entry["group"]), int(entry["step"]), entry["reuse"])


@dataclass(frozen=True)
class HeadReuseRecord:
    """One checkpoint's head-reuse analysis (the fields are documented in :mod:`interp.head_overlap`)."""

    step: int
    n_layers: int
    n_heads: int
    group: str
    main_task: str
    tasks: list[str]
    settings: AnalysisSettings
    task_lengths: dict[str, LengthChoice]
    pair_lengths: dict[str, LengthChoice]
    maps: dict[str, dict[str, HeadMap | None]]
    """Method → task → its map over the task's lengths (null where it has none)."""
    maps_by_length: dict[str, dict[str, dict[str, HeadMap]]]
    intervals: dict[str, ByTask]
    logprob_maps: dict[str, dict[str, HeadMap | None]]
    reuse: dict[str, ByTask]
    """Method → pair → scores (the attention difference's entries for ``"attention"``)."""
    attribution_agreement: ByTask | None
    clean_accuracy: dict[str, dict[str, float]]
    notes: list[str]
    control: ControlPairs | None

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, heads): the shape of every map."""
        return self.n_layers, self.n_heads

    def pair_scores(self, method: str, a: str, b: str) -> dict[str, Any] | None:
        """A pair's scores under ``method``, stored in either order; None where there are none."""
        pairs = self.reuse.get(method, {})
        return pairs.get(pair_key(a, b)) or pairs.get(pair_key(b, a))

    def to_json(self) -> dict[str, Any]:
        record = {"step": self.step, "n_layers": self.n_layers, "n_heads": self.n_heads, "group": self.group,
                  "main_task": self.main_task, "tasks": self.tasks, "settings": self.settings.to_json(),
                  "task_lengths": {task: choice.to_json() for task, choice in self.task_lengths.items()},
                  "pair_lengths": {pair: choice.to_json() for pair, choice in self.pair_lengths.items()},
                  "maps": self.maps, "maps_by_length": self.maps_by_length, "intervals": self.intervals,
                  "logprob_maps": self.logprob_maps, "reuse": self.reuse}
        if self.attribution_agreement is not None:
            record["attribution_agreement"] = self.attribution_agreement
        return {**record, "clean_accuracy": self.clean_accuracy, "notes": self.notes,
                "control": None if self.control is None else self.control.to_json()}

    @classmethod
    def from_json(cls, record: Any, where: str = "the record") -> HeadReuseRecord:
        """The typed record; one line naming ``where`` when it is no head-reuse record of this version."""
        try:
            settings = AnalysisSettings.from_json(record["settings"])
            return cls(
                int(record["step"]), int(record["n_layers"]), int(record["n_heads"]), str(record["group"]),
                str(record["main_task"]), [str(task) for task in record["tasks"]], settings,
                {task: LengthChoice.from_json(entry) for task, entry in record["task_lengths"].items()},
                {pair: LengthChoice.from_json(entry) for pair, entry in record["pair_lengths"].items()},
                record["maps"], record["maps_by_length"], record["intervals"], record["logprob_maps"],
                record["reuse"], record.get("attribution_agreement"), record["clean_accuracy"], list(record["notes"]),
                None if record["control"] is None else ControlPairs.from_json(record["control"]))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InterpError(f"{where} is not a head-reuse record of this version (written before protocols, or "
                              f"by something else: {type(error).__name__} {error})") from None


def read_head_reuse(record: Any) -> HeadReuseRecord | None:
    """The typed record, or None where ``record`` is none of this version (what readers that skip such files use)."""
    try:
        return HeadReuseRecord.from_json(record)
    except InterpError:
        return None
