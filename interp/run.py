"""Run directories and the notebook API ``load_run``.

A run directory holds::

    config.json                     the resolved RunConfig (model, group, training, seeds, vocabulary; for a
                                    finetuned run also the pretrained architecture, see interp.finetune)
    checkpoints/step_NNNNNN.safetensors        model parameters
    checkpoints/step_NNNNNN.optimizer.safetensors  AdamW state (for --resume)
    checkpoints/step_NNNNNN.json    training state; written last, so its presence marks a complete checkpoint
    metrics.jsonl                   per-task loss, learning rate, throughput, each window's wall time, quick evaluations
    eval/step_NNNNNN.json           full evaluations (``interp.evaluate``), plus figures; narrower ones are kept
                                    beside as eval/step_NNNNNN.TAG.json (``interp.evaluate.save_evaluation``)
    analysis/                       head-reuse analyses (``interp.head_overlap``): analysis/head_overlap.json
                                    and its reports; analysis/FAMILY/ for one family's; analysis/steps/
                                    step_NNNNNN.json per checkpoint; analysis/paper/ the same under the paper's
                                    protocol

Every result can be regenerated from it. This module owns that layout: every other module gets a run's paths
from the functions below, never by joining names itself. ``load_run(path, step=None)`` gives the model (eval mode) at a
checkpoint, the tokenizer, the config and the list of checkpoint steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer

from interp.config import RunConfig
from interp.errors import InterpError
from interp.model import build_from_architecture, build_model, load_weights
from interp.storage import read_json
from interp.tasks import check_compatible
from interp.vocab import Tokenizer

CONFIG_FILE = "config.json"
CHECKPOINT_PATTERN = re.compile(r"step_(\d{6,})\.json$")


def step_name(step: int) -> str:
    """A checkpoint step as every per-step file of a run is named after it: ``step_000500``."""
    return f"step_{step:06d}"


def step_file(folder: Path, step: int, suffix: str = ".json") -> Path:
    """``folder/step_NNNNNN{suffix}``: a per-step file (an evaluation, an analysis record, a checkpoint's part)."""
    return Path(folder) / f"{step_name(step)}{suffix}"


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_stem(run_dir: Path, step: int) -> Path:
    return checkpoints_dir(run_dir) / step_name(step)


def evaluation_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "eval"


def evaluation_path(run_dir: Path, step: int, tag: str = "") -> Path:
    """``eval/step_NNNNNN.json``; ``eval/step_NNNNNN.TAG.json`` for one kept beside it
    (``interp.evaluate.save_evaluation``)."""
    return step_file(evaluation_dir(run_dir), step, f".{tag}.json" if tag else ".json")


DEFAULT_PROTOCOL = "competent"
"""The head-reuse protocol whose analyses live at the top of ``analysis/`` (``interp.reuse.Protocol``'s values
name the others' folders)."""


def analysis_dir(run_dir: Path, family: str | None = None, protocol: str = DEFAULT_PROTOCOL) -> Path:
    """Where an analysis lives: ``analysis/`` for the full one (``python -m interp.head_overlap``),
    ``analysis/FAMILY/`` for one family's (``python -m interp.ablation``, ``.patching``, ``.attention``), and
    under ``analysis/PROTOCOL/`` the same for another protocol (``paper``), so that neither a family nor the
    other protocol ever overwrites an analysis: each is kept beside the others under its own name."""
    folder = Path(run_dir) / "analysis"
    if protocol != DEFAULT_PROTOCOL:
        folder = folder / protocol
    return folder / (family or "")


def step_record_path(analysis: Path, step: int) -> Path:
    """Where the record of one checkpoint's analysis goes, in an :func:`analysis_dir` (read across checkpoints by
    ``interp.correlate``)."""
    return step_file(Path(analysis) / "steps", step)


def weights_file(run_dir: Path, step: int) -> Path:
    return checkpoint_stem(run_dir, step).with_suffix(".safetensors")


def checkpoint_fingerprint(run_dir: Path, step: int) -> dict[str, int] | None:
    """What a record computed from checkpoint ``step`` keeps to tell whether that checkpoint changed since: the
    weights' size and modification time (None when the weights are gone)."""
    weights = weights_file(run_dir, step)
    if not weights.is_file():
        return None
    stat = weights.stat()
    return {"step": step, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def fingerprint_matches(saved: dict[str, Any] | None, run_dir: Path) -> bool:
    """Whether a record's saved :func:`checkpoint_fingerprint` is that of the checkpoint on disk now."""
    saved = saved if isinstance(saved, dict) else {}
    step = saved.get("step")
    return isinstance(step, int) and checkpoint_fingerprint(run_dir, step) == {
        key: saved.get(key) for key in ("step", "bytes", "mtime_ns")}


def optimizer_file(run_dir: Path, step: int) -> Path:
    stem = checkpoint_stem(run_dir, step)
    return stem.with_name(stem.name + ".optimizer.safetensors")


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps with a complete checkpoint (state JSON and weights present), ascending."""
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    steps = []
    for path in folder.iterdir():
        match = CHECKPOINT_PATTERN.fullmatch(path.name)
        if match and path.with_suffix(".safetensors").is_file():
            steps.append(int(match.group(1)))
    return sorted(steps)


def read_config(run_dir: Path) -> RunConfig:
    """The run's config; a missing or foreign directory raises one clear error."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise InterpError(f"{run_dir} is a file, not a run directory")
    if not run_dir.is_dir():
        raise InterpError(f"run directory {run_dir} does not exist")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise InterpError(f"{run_dir} is not an interp run directory (no {CONFIG_FILE})")
    return RunConfig.from_dict(read_json(path), str(path))


def resolve_step(run_dir: Path, step: int | None) -> int:
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise InterpError(f"run {run_dir} has no checkpoint yet")
    if step is None:
        return steps[-1]
    if step not in steps:
        raise InterpError(f"run {run_dir} has no checkpoint at step {step} (steps: {format_steps(steps)})")
    return step


def format_steps(steps: list[int]) -> str:
    return ", ".join(map(str, steps)) if len(steps) <= 12 else f"{steps[0]}, {steps[1]}, …, {steps[-1]}"


@dataclass
class Run:
    """A trained run at one checkpoint."""

    path: Path
    config: RunConfig
    model: HookedTransformer
    tokenizer: Tokenizer
    step: int
    steps: list[int]


def build_run_model(config: RunConfig, device: torch.device | str = "cpu") -> HookedTransformer:
    """The run's model before any checkpoint is loaded: freshly initialised from the model seed, or, for a
    finetuned run, the saved pretrained architecture with uninitialised weights (load a checkpoint next)."""
    if config.pretrained is not None:
        return build_from_architecture(config.pretrained["architecture"], device)
    return build_model(config.model, len(config.vocab), seed=config.seed, device=device)


def model_at(run_dir: Path, config: RunConfig, step: int, device: torch.device | str = "cpu") -> HookedTransformer:
    """The run's model with the weights of checkpoint ``step``, in eval mode."""
    model = build_run_model(config, device)
    load_weights(model, weights_file(run_dir, step))
    return model.eval()


def load_run(path: str | Path, step: int | None = None, device: torch.device | str = "cpu") -> Run:
    """Open a run directory at checkpoint ``step`` (default: the last one)."""
    run_dir = Path(path)
    config = read_config(run_dir)
    tokenizer = check_compatible(config.vocab)
    chosen = resolve_step(run_dir, step)
    model = model_at(run_dir, config, chosen, device)
    return Run(run_dir, config, model, tokenizer, chosen, checkpoint_steps(run_dir))
