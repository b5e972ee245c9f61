"""Run configuration: one frozen dataclass per concern, parsed from TOML presets once and saved in every run.

Config flows one way: size preset (``models/sizes/NAME.toml``: ``[model]`` and ``[training]``) and group
preset (``models/groups/NAME.toml``) → command-line overrides → :class:`RunConfig` → ``config.json`` in the
run directory → everything downstream (training, evaluation, analyses) reads it back from there.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from interp.errors import InterpError
from interp.groups import TaskGroup, load_group
from interp.model import ModelConfig
from interp.presets import check_keys, check_number, load_preset, typed_fields
from interp.tasks import default_tokens, get_task, stable_rng

PRECISIONS = ("bf16", "fp32")
CONTEXT_SAMPLE = 64
"""Examples sampled per (task, length) to measure the longest sequence (:func:`tokens_needed`)."""


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (SPEC §5): AdamW with a warmup–stable–decay schedule and answer-only loss."""

    steps: int = 20_000
    batch_size: int = 1024
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.98
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    decay_fraction: float = 0.4
    grad_clip: float = 1.0
    log_every: int = 20
    eval_every: int = 1000
    eval_count: int = 128
    checkpoint_every: int = 1000
    precision: str = "bf16"
    """The training step's autocast precision where the device computes it natively (CUDA with bf16, a CPU
    with AMX); elsewhere fp32 (``interp.train.computed_precision``)."""
    compile: bool = True
    """``torch.compile`` the training step (on the CPU only where a C++ compiler is found)."""
    cuda_graphs: bool = True
    """On CUDA, replay the compiled step's forward and backward as CUDA graphs (``torch.compile``'s
    ``reduce-overhead`` mode): one launch instead of hundreds, the same kernels (``interp.train.Trainer``)."""

    @classmethod
    def from_dict(cls, table: dict[str, Any], where: str = "training") -> TrainConfig:
        check_keys(table, {field.name for field in fields(cls)}, where)
        config = cls(**typed_fields(cls, table, where))
        config.validate(where)
        return config

    def validate(self, where: str = "training") -> None:
        for name in ("steps", "batch_size", "log_every", "eval_every", "eval_count", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InterpError(f"{where}: {name} must be a positive integer, got {value!r}")
        for name in ("lr", "beta1", "beta2", "weight_decay", "warmup_fraction", "decay_fraction", "grad_clip"):
            check_number(getattr(self, name), name, where)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise InterpError(f"{where}: beta1 and beta2 must be in [0, 1)")
        if not self.lr > 0 or not 0 <= self.weight_decay or not self.grad_clip > 0:
            raise InterpError(f"{where}: lr and grad_clip must be positive and weight_decay non-negative")
        if not (0 <= self.warmup_fraction and 0 <= self.decay_fraction and self.warmup_fraction + self.decay_fraction <= 1):
            raise InterpError(f"{where}: warmup_fraction and decay_fraction must be ≥ 0 and sum to at most 1")
        for name in ("compile", "cuda_graphs"):
            if not isinstance(getattr(self, name), bool):
                raise InterpError(f"{where}: {name} must be true or false, got {getattr(self, name)!r}")
        if self.precision not in PRECISIONS:
            raise InterpError(f"{where}: precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")

    def replace(self, **changes: Any) -> TrainConfig:
        given = {name: value for name, value in changes.items() if value is not None}
        config = dataclasses.replace(self, **typed_fields(TrainConfig, given, "command line"))
        config.validate("command line")
        return config


def load_size_preset(name_or_path: str | Path) -> tuple[str, ModelConfig, TrainConfig]:
    """A size preset: its name, its model shape and its training defaults."""
    name, table = load_preset("model", name_or_path)
    check_keys(table, {"model", "training", "description"}, f"model preset {name!r}")
    if "model" not in table:
        raise InterpError(f"model preset {name!r} has no [model] table")
    model = ModelConfig.from_dict(table["model"], f"model preset {name!r} [model]")
    training = TrainConfig.from_dict(table.get("training", {}), f"model preset {name!r} [training]")
    return name, model, training


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run, saved as ``config.json``."""

    model_preset: str
    model: ModelConfig
    group: TaskGroup
    training: TrainConfig
    seed: int
    data_seed: int = 0
    vocab: tuple[str, ...] = ()
    pretrained: dict[str, Any] | None = None
    """For finetuned runs (``interp.finetune``): what was loaded (``name``, ``revision``, ``commit``), the
    re-indexed ``architecture`` (a JSON-able HookedTransformerConfig, which is what gets built) and each
    suite token's ``token_sources``. ``model`` is then the pretrained model's shape, for display."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vocab"] = list(self.vocab)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config.json") -> RunConfig:
        try:
            group = data["group"]
            return cls(
                model_preset=data["model_preset"],
                model=ModelConfig.from_dict(data["model"], f"{where} model"),
                group=TaskGroup.from_dict({k: v for k, v in group.items() if k != "name"}, group["name"]),
                training=TrainConfig.from_dict(data["training"], f"{where} training"),
                seed=int(data["seed"]),
                data_seed=int(data.get("data_seed", 0)),
                vocab=tuple(data["vocab"]),
                pretrained=check_pretrained(data.get("pretrained"), where),
            )
        except (KeyError, TypeError) as error:
            raise InterpError(f"{where} is not an interp run config (missing {error})") from None


def check_pretrained(pretrained: Any, where: str) -> dict[str, Any] | None:
    if pretrained is not None and not (isinstance(pretrained, dict) and isinstance(pretrained.get("architecture"), dict)):
        raise InterpError(f"{where}: pretrained must be a table with an architecture table")
    return pretrained


def make_run_config(
    model_preset: str | Path, group_preset: str | Path, seed: int, data_seed: int = 0,
    positional: str | None = None, **training_overrides: Any,
) -> RunConfig:
    """Resolve presets and overrides into a full :class:`RunConfig`."""
    return override_presets(load_size_preset(model_preset), load_group(group_preset), seed, data_seed, positional,
                            **training_overrides)


def override_presets(
    size_preset: tuple[str, ModelConfig, TrainConfig], group: TaskGroup, seed: int, data_seed: int = 0,
    positional: str | None = None, **training_overrides: Any,
) -> RunConfig:
    """A size preset (as :func:`load_size_preset` gives it) and a group with a training command's settings
    applied: the seeds, ``--positional`` and the ``[training]`` overrides (None: the preset's value)."""
    if seed < 0 or data_seed < 0:
        raise InterpError("seeds must be non-negative integers")
    name, model, training = size_preset
    if positional is not None:
        model = ModelConfig.from_dict({**model.to_dict(), "positional": positional}, "--positional")
    return RunConfig(name, model, group, training.replace(**training_overrides), seed, data_seed, default_tokens())


def check_context(config: RunConfig, lengths: dict[str, list[int]] | None = None,
                  advice: str = "use a size preset with n_ctx = {fit} or more, or shorter training lengths") -> None:
    """The model's context must hold the longest sequence of every task at ``lengths`` (default: its evaluation
    lengths, SPEC §6: up to 1.25× the group's longest training length). Checked before training or evaluating,
    so that a run never fails at its first quick evaluation; ``advice`` may name the ``{fit}`` context."""
    if lengths is None:
        lengths = {task: config.group.eval_lengths(task) for task in config.group.task_names}
    for task, task_lengths in lengths.items():
        if not task_lengths:
            continue
        needed = tokens_needed(task, max(task_lengths))
        if needed > config.model.n_ctx:
            raise InterpError(
                f"{task} is evaluated up to length {max(task_lengths)}, which takes {needed} tokens, but the model's "
                f"n_ctx is {config.model.n_ctx}; " + advice.format(fit=-(-needed // 64) * 64))


@functools.cache
def tokens_needed(task: str, length: int) -> int:
    """The longest of ``CONTEXT_SAMPLE`` test sequences of ``task`` at ``length``.

    Exact where the length fixes the layout; mul's answer widths vary with the value, but about 2 in 5 of
    its examples have the longest layout, and a test holds the sample to it.
    """
    examples = get_task(task).sample(stable_rng("sweep-context", task, length), CONTEXT_SAMPLE, length, exact=True)
    return int(examples.end.max())
