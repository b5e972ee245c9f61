"""Train a HookedTransformer on a task group (SPEC §5), into a run directory that survives crashes.

    python -m interp.train --model PRESET --group PRESET --out runs/NAME --seed S [--steps N]
        [--batch-size B] [--eval-every N] [--checkpoint-every N] [--device auto|cpu|cuda] [--resume]

Recipe: answer-only cross-entropy (loss on the scored target tokens and ``<eos>`` only, SPEC §2), AdamW
(weight decay on matrices only), a warmup–stable–decay schedule (linear warmup over the first 10% of
steps, constant, cosine decay to 0 over the last 40%), gradient clipping, bf16 autocast where the device
computes bf16 natively (CUDA; a CPU with AMX tiles: :func:`computed_precision`) and TF32 on CUDA,
``torch.compile`` of the hook-free fast path (``interp.model.fast_logits``): with static shapes and CUDA graphs
on CUDA (``cuda_graphs``), with dynamic shapes on the CPU where a C++ compiler is found (else the CPU step
stays eager). The fast path gets each batch's examples packed several to a row (``interp.data.pack``: one
call per step, little padding).

Safety. ``config.json`` is written once; checkpoints (weights, AdamW state, training state) are written
atomically at step 0 and every ``checkpoint_every`` steps, all kept. A lock stops two trainers writing one
run. ``--resume`` continues from the last checkpoint and ends bit-identical to an uninterrupted run on the
same device: batch ``s`` is a pure function of (data seed, s), the schedule a pure function of s,
nothing else is random, and kernels are deterministic (on CUDA: ``torch.use_deterministic_algorithms``
with a fixed cuBLAS workspace). SIGINT/SIGTERM finish the current step, save a checkpoint and exit (130/143);
a NaN or infinite loss stops with a message and leaves the last good checkpoint as the newest one.
``metrics.jsonl`` gets per-task loss, the learning rate and the window's wall time (``window_s``) every
``log_every`` steps and a quick per-length exact match every ``eval_every`` steps; on resume, lines past the
checkpoint are dropped, so :func:`training_seconds` sums the time of the steps the run kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformer_lens import HookedTransformer

from interp.batch_worker import batches_from_worker
from interp.cli import add_device_argument, pick_device
from interp.compute import autocast_for, computed_precision, cpu_compile_is_safe, prepare_training
from interp.config import RunConfig, TrainConfig, check_context, make_run_config
from interp.data import WIDTH_PARTS, Batch, MixtureSampler, PackedBatch, PackPlan, PartPlan, iterate_batches
from interp.errors import InterpError, cli_main
from interp.evaluate import count_correct
from interp.model import fast_logits, hooked_logits, load_weights, save_weights, supports_fast_path
from interp.run import (
    CONFIG_FILE,
    build_run_model,
    checkpoint_stem,
    checkpoint_steps,
    checkpoints_dir,
    optimizer_file,
    read_config,
    weights_file,
)
from interp.storage import (
    RunLock,
    atomic_write,
    check_writable,
    made_folder,
    read_json,
    remove_interrupted_writes,
    write_json,
    write_text,
)

METRICS_FILE = "metrics.jsonl"
QUICK_EVAL_LENGTHS = 12
"""The quick evaluation looks at about this many lengths per task, spread over its evaluation range."""


def learning_rate(config: TrainConfig, step: int) -> float:
    """Warmup–stable–decay: linear warmup, constant, then cosine decay to 0 over the last fraction."""
    warmup = max(1, round(config.warmup_fraction * config.steps))
    decay = round(config.decay_fraction * config.steps)
    decay_start = config.steps - decay
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if step < decay_start or decay == 0:
        return config.lr
    progress = (step - decay_start) / decay
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: HookedTransformer, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for _, p in trainable if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2),
                             fused=device.type == "cuda")


def answer_loss(logits: torch.Tensor, batch: Batch | PackedBatch,
                n_tasks: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed cross-entropy over scored tokens, and per-task sums of token losses and scored-token counts.

    Logits at p predict the token at p + 1; in a packed row the token after an example's last is the next
    example's ``<bos>``, never scored, so no loss crosses examples."""
    targets = batch.tokens[:, 1:].flatten()
    scored = batch.scored[:, 1:].flatten()
    token_loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets, reduction="none") * scored
    # per-task sums by a one-hot mask (a scatter onto a few ids is slow in deterministic mode on CUDA)
    tasks = batch.token_tasks()[:, 1:].flatten()
    one_hot = (tasks[:, None] == torch.arange(n_tasks, device=tasks.device)) & scored[:, None]
    task_loss = (token_loss.detach()[:, None] * one_hot).sum(0)
    task_tokens = one_hot.sum(0).float()
    return token_loss.sum(), task_loss, task_tokens


class Trainer:
    """One training run: model, optimiser, data stream and run directory.

    ``model`` is the starting model (a finetuned run's re-indexed pretrained model); by default the run's
    own (:func:`interp.run.build_run_model`), whose weights a resumed run then loads from a checkpoint.
    """

    def __init__(self, run_dir: Path, config: RunConfig, device: torch.device, progress: bool = True,
                 model: HookedTransformer | None = None) -> None:
        self.run_dir, self.config, self.device, self.progress = run_dir, config, device, progress
        self.training = config.training
        self.model = build_run_model(config, device) if model is None else model.to(device, print_details=False)
        self.model.train()
        self.optimizer = make_optimizer(self.model, self.training, device)
        self.sampler = MixtureSampler(config.group, config.data_seed)
        self.task_names = config.group.task_names
        fast = supports_fast_path(self.model)
        self.forward = fast_logits if fast else hooked_logits
        self.on_gpu = on_gpu = device.type == "cuda"
        self.precision = computed_precision(device, self.training.precision)  # what the step computes in
        # CUDA: static shapes (few graphs; dynamic ones ran slower). CPU: dynamic shapes. benchmarks/RESULTS.md.
        self.compiled = self.training.compile and fast and (
            on_gpu or (cpu_compiler_available() and cpu_compile_is_safe()))
        # CUDA graphs: the step's hundreds of kernel launches become one replay per graph, so the GPU need not
        # wait for Python between kernels (static shapes make one graph serve nearly every step); the weights end
        # identical (benchmarks/RESULTS.md, § GPU).
        self.cuda_graphs = self.compiled and on_gpu and self.training.cuda_graphs
        if self.compiled:
            self.forward = torch.compile(fast_logits, dynamic=not on_gpu,
                                         mode="reduce-overhead" if self.cuda_graphs else None)
        self.part_plan = training_plan(fast, self.compiled and on_gpu, self.sampler, self.training.batch_size)
        self.stop_signal: int | None = None

    # ---- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, step: int) -> None:
        """Weights, optimizer state, then the state JSON that marks the checkpoint complete; interrupted before
        the JSON (a second Ctrl-C), the step's files are removed again, leaving no weights without their JSON."""
        stem = checkpoint_stem(self.run_dir, step)
        weights, optimizer = stem.with_suffix(".safetensors"), optimizer_file(self.run_dir, step)
        try:
            atomic_write(weights, lambda path: save_weights(self.model, path))
            atomic_write(optimizer, lambda path: save_file(self.optimizer_tensors(), str(path)))
            write_json(stem.with_suffix(".json"), {
                "step": step, "lr": learning_rate(self.training, max(step - 1, 0)), "time": time.time(),
                "device": self.device.type, "precision": self.precision,
                "threads": torch.get_num_threads() if self.device.type == "cpu" else None})
        except BaseException:
            if not stem.with_suffix(".json").exists():
                weights.unlink(missing_ok=True)
                optimizer.unlink(missing_ok=True)
            raise

    def optimizer_tensors(self) -> dict[str, torch.Tensor]:
        names = {id(p): name for name, p in self.model.named_parameters()}
        tensors = {}
        for parameter, state in self.optimizer.state.items():
            for key, value in state.items():
                tensors[f"{names[id(parameter)]}::{key}"] = value.detach().reshape(value.shape).contiguous().cpu()
        return tensors

    def load_checkpoint(self, step: int) -> None:
        """Weights and optimizer state of ``step``; files that do not open or do not fit the model are named in
        one line with the previous good checkpoint."""
        problem = checkpoint_problem(self.run_dir, step)
        if problem:
            raise damaged_checkpoint(self.run_dir, step, problem)
        try:
            load_weights(self.model, weights_file(self.run_dir, step))
            tensors = load_file(str(optimizer_file(self.run_dir, step)))
            parameters = dict(self.model.named_parameters())
            for key, value in tensors.items():
                name, field = key.split("::")
                state = self.optimizer.state[parameters[name]]
                state[field] = value.to(self.device if field != "step" or self.device.type == "cuda" else "cpu")
        except InterpError as error:  # weights of another shape
            raise damaged_checkpoint(self.run_dir, step, str(error)) from None
        except (KeyError, ValueError) as error:  # optimizer entries that name no parameter of the model
            raise damaged_checkpoint(self.run_dir, step, f"{optimizer_file(self.run_dir, step)} does not fit the "
                                     f"model ({error})") from None

    # ---- metrics ------------------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        with open(self.run_dir / METRICS_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Keep the metrics lines up to ``step`` (the resumed checkpoint); drop a torn last line."""
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return
        kept = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not (isinstance(record, dict) and isinstance(record.get("step", 0), int)):
                raise InterpError(f"{path} line {number} is not a JSON object with a step ({line[:40]!r}); remove "
                                  "or repair that line and resume again")
            if record.get("step", 0) <= step:
                kept.append(line)
        write_text(path, "".join(line + "\n" for line in kept))

    def quick_eval(self, step: int) -> None:
        group = self.config.group
        lengths = {}
        for task in group.task_names:
            every = group.eval_lengths(task)
            spaced = np.unique(np.linspace(0, len(every) - 1, QUICK_EVAL_LENGTHS).round().astype(int))
            lengths[task] = [every[index] for index in spaced]
        self.model.eval()
        counts = count_correct(self.model, group, lengths, self.training.eval_count, progress=False)
        self.model.train()
        accuracy = {task: {str(length): right / total for length, (right, total) in by_length.items()}
                    for task, by_length in counts.items()}
        self.log({"step": step, "kind": "eval", "accuracy": accuracy})
        if self.progress:
            summary = ", ".join(f"{task} {100 * np.mean(list(values.values())):.0f}%" for task, values in accuracy.items())
            tqdm.write(f"step {step}: mean exact match over lengths: {summary}")

    # ---- the loop -----------------------------------------------------------------------------
    def train_step(self, parts: list[Batch] | list[PackedBatch], step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step on a batch as its plan lays it out; returns per-task loss sums and counts."""
        if self.cuda_graphs:  # the last step's graph outputs (logits, gradients) are spent: their memory may be reused
            torch.compiler.cudagraph_mark_step_begin()
        lr = learning_rate(self.training, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        scored_tokens = sum(part.scored[:, 1:].sum() for part in parts)
        task_loss = torch.zeros(len(self.task_names), device=self.device)
        task_tokens = torch.zeros(len(self.task_names), device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        for part in parts:
            with autocast_for(self.device, self.precision):
                logits = self.forward(self.model, *part.model_inputs())
            loss_sum, part_task_loss, part_task_tokens = answer_loss(logits, part, len(self.task_names))
            (loss_sum / scored_tokens).backward()
            task_loss += part_task_loss
            task_tokens += part_task_tokens
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.training.grad_clip)
        self.optimizer.step()
        return task_loss, task_tokens

    def run(self, start_step: int) -> int:
        """Train from ``start_step``; returns the exit status (0 done, 128+signal when stopped)."""
        training = self.training
        if start_step == 0 and 0 not in checkpoint_steps(self.run_dir):
            self.save_checkpoint(0)
        task_loss_sum = torch.zeros(len(self.task_names), device=self.device)
        task_token_sum = torch.zeros(len(self.task_names), device=self.device)
        real_tokens, padded_tokens, window_start = 0, 0, time.perf_counter()
        bar = tqdm(total=training.steps, initial=start_step, desc=self.run_dir.name, unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        last_good = start_step
        with handle_signals(self):
            # Beside a GPU, batches are built by a child process (interp.batch_worker: a thread would hold the
            # GIL the loop needs for every launch); on the CPU a builder beside the step competes with its
            # intra-op threads, so batches are built in line there (benchmarks/RESULTS.md).
            stream = (batches_from_worker(self.sampler, start_step, training.steps, training.batch_size,
                                          self.part_plan, pin_memory=True) if self.on_gpu else
                      iterate_batches(self.sampler, start_step, training.steps, training.batch_size, self.part_plan))
            for step, parts in stream:
                parts = [part.to(self.device, non_blocking=True) for part in parts]
                task_loss, task_tokens = self.train_step(parts, step)
                task_loss_sum += task_loss
                task_token_sum += task_tokens
                real_tokens += sum(part.real_tokens for part in parts)
                padded_tokens += sum(part.tokens.numel() for part in parts)
                done = step + 1
                bar.update(1)
                finished = done == training.steps
                if done % training.log_every == 0 or finished or self.stop_signal:
                    per_task = (task_loss_sum / task_token_sum.clamp(min=1)).tolist()
                    loss = float(task_loss_sum.sum() / task_token_sum.sum().clamp(min=1))
                    if not math.isfinite(loss):
                        stream.close()
                        bar.close()
                        raise InterpError(
                            f"loss became {loss} by step {done}; training stopped. The last good checkpoint is "
                            f"step {last_good} in {self.run_dir / 'checkpoints'} (try a lower --lr or more warmup)")
                    elapsed = time.perf_counter() - window_start
                    self.log({"step": done, "kind": "train", "lr": learning_rate(training, step), "loss": loss,
                              "loss_by_task": dict(zip(self.task_names, per_task, strict=True)),
                              "tokens_per_s": real_tokens / elapsed, "padding_share": 1 - real_tokens / padded_tokens,
                              "window_s": elapsed})
                    bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{real_tokens / elapsed:,.0f}")
                    task_loss_sum.zero_()
                    task_token_sum.zero_()
                    real_tokens, padded_tokens, window_start = 0, 0, time.perf_counter()
                if done % training.eval_every == 0 or finished:
                    self.quick_eval(done)
                if done % training.checkpoint_every == 0 or finished or self.stop_signal:
                    self.save_checkpoint(done)
                    last_good = done
                if self.stop_signal:
                    stream.close()
                    bar.close()
                    name = signal.Signals(self.stop_signal).name
                    print(f"stopped by {name} after step {done}; checkpoint saved. Continue with --resume.",
                          file=sys.stderr)
                    return 128 + self.stop_signal
        bar.close()
        return 0


def training_seconds(run_dir: Path) -> float | None:
    """A run's training wall time, summed from its logged windows (across resumes; steps redone after a kill count
    once, the work lost past the last checkpoint not at all); None where none is logged or a window lacks its time
    (runs logged before ``window_s``)."""
    path = Path(run_dir) / METRICS_FILE
    windows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line
        if isinstance(record, dict) and record.get("kind") == "train":
            windows.append(record.get("window_s"))
    if not windows or not all(isinstance(window, (int, float)) for window in windows):
        return None
    return float(sum(windows))


def checkpoint_problem(run_dir: Path, step: int) -> str | None:
    """What keeps checkpoint ``step`` from being resumed (a missing file, or one whose safetensors header does
    not cover the file: a truncated write), or None."""
    for path in (weights_file(run_dir, step), optimizer_file(run_dir, step)):
        if not path.is_file():
            return f"{path} is missing"
        try:
            with safe_open(str(path), "pt") as tensors:
                tensors.keys()
        except (OSError, SafetensorError) as error:
            return f"{path} is damaged ({error})"
    return None


def damaged_checkpoint(run_dir: Path, step: int, problem: str) -> InterpError:
    """The one-line refusal to resume from a damaged checkpoint, offering the newest earlier one that opens."""
    earlier = [good for good in reversed(checkpoint_steps(run_dir)) if good < step
               and checkpoint_problem(run_dir, good) is None]
    offer = (f"the previous good checkpoint is step {earlier[0]}: move {checkpoint_stem(run_dir, step)}.* aside and "
             "resume again to continue from there") if earlier else "no earlier checkpoint is complete either"
    return InterpError(f"cannot resume from step {step}: {problem}; {offer}")


PACKED_MIN_WIDTH = 64
"""Packed rows are at least this wide: narrower rows leave short examples much padding, wider ones pay for
attention over the whole row (the measured trade-off: benchmarks/RESULTS.md)."""


def training_plan(fast: bool, static_shapes: bool, sampler: MixtureSampler, batch_size: int) -> PartPlan | PackPlan:
    """How the trainer lays out a batch. The fast path takes packed rows (several examples to a row, so little
    padding); with static shapes the row count is rounded up to a 16th of the batch and capped
    (:func:`row_cap`), so graphs stay few: the `paper` batches of ``add_carry`` need 412–449 rows of 128 in their
    first 420 steps, which a 32nd (32 rows) splits between three graphs and a 16th between two (448 and, for
    one batch, 512; each compiled for about 20 s on an H100), for the same mean padding. The hooked forward
    takes plain rows, in width parts."""
    if not fast:
        return WIDTH_PARTS
    if not static_shapes:
        return PackPlan(row_multiple=1, min_width=PACKED_MIN_WIDTH)
    plan = PackPlan(row_multiple=max(1, batch_size // 16), min_width=PACKED_MIN_WIDTH)
    return dataclasses.replace(plan, max_rows=row_cap(plan, sampler, batch_size))


ROW_CAP_BATCHES = 64
"""How many of a run's first batches set its row cap (:func:`row_cap`; packing them takes about 0.3 s at
batch 1024 on the CPU of benchmarks/RESULTS.md)."""


def row_cap(plan: PackPlan, sampler: MixtureSampler, batch_size: int) -> int:
    """The most rows ``plan`` packs any of the first ``ROW_CAP_BATCHES`` batches into (a multiple of its row
    multiple): the static row count of the graph nearly every batch runs at.

    A later batch may need more rows, and without a cap each new row count compiles another graph for a step or
    two (benchmarks/RESULTS.md). Capped, such a batch runs as two parts of the capped row count (two forward and
    backward passes, one optimiser step). A pure function of the group, data seed and batch size, so a resumed run
    lays out its batches exactly as an uninterrupted one."""
    return max(len(part.tokens) for step in range(ROW_CAP_BATCHES) for part in plan.cut(sampler.batch(step, batch_size)))


@functools.cache
def cpu_compiler_available() -> bool:
    """Whether ``torch.compile`` can build CPU kernels here (it needs a C++ compiler and Python's headers):
    compiles and runs a one-line function once per process."""
    try:
        return bool(torch.compile(lambda x: x * 2 + 1, dynamic=False)(torch.ones(2)).eq(3).all())
    except Exception:  # no compiler or headers (an inductor error): the CPU step stays eager
        return False


@contextmanager
def handle_signals(trainer: Trainer):
    """SIGINT/SIGTERM ask the trainer to checkpoint and stop after the current step; a second one aborts."""

    def request_stop(number: int, frame: object) -> None:
        if trainer.stop_signal is not None:
            raise KeyboardInterrupt
        trainer.stop_signal = number

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def check_resume_request(out: Path, args: argparse.Namespace) -> None:
    """``--resume`` continues the saved config; flags that would change it are refused."""
    if not (out / CONFIG_FILE).is_file():
        raise InterpError(f"cannot resume: {out} is not a run directory (no {CONFIG_FILE})")
    saved = read_config(out).training
    changed = [key for key, value in training_overrides(args).items()
               if value is not None and getattr(saved, key) != value]
    if changed:
        raise InterpError(f"cannot resume with a different {', '.join(changed)}: the run was made with "
                          + ", ".join(f"{key}={getattr(saved, key)}" for key in changed))


def check_new_run_directory(out: Path) -> None:
    check_writable(out)
    if (out / CONFIG_FILE).exists():
        raise InterpError(f"{out} already holds a run; add --resume to continue it or choose another --out")
    if out.exists() and any(path.name != RunLock.FILE for path in out.iterdir()):
        raise InterpError(f"{out} exists and is not empty; choose another --out")


def train_run(out: Path, config: RunConfig | None, device: torch.device, progress: bool = True,
              initial_model: HookedTransformer | None = None) -> int:
    """Train a new run with ``config`` into ``out``, or (``config=None``) continue the run there.

    ``initial_model`` is the model to start from when no checkpoint exists yet (by default the run's own
    freshly initialised one); a finetuned run needs it, since its starting weights are the pretrained ones.
    Returns the exit status: 0 when trained to the last step, 128 + signal when stopped by one.
    """
    new = config is not None
    if new:
        check_new_run_directory(out)
    else:
        config = read_config(out)
    check_context(config)  # before the first step: the quick evaluation goes up to 1.25x the training lengths
    with made_folder(out), RunLock(out):
        if new:
            check_new_run_directory(out)  # again, now that no other trainer can start one
        steps = [] if new else checkpoint_steps(out)
        resume_from = steps[-1] if steps else None
        start_step = resume_from or 0
        if start_step >= config.training.steps:
            print(f"{out} is already trained to step {start_step}; nothing to do", file=sys.stderr)
            return 0
        if resume_from is None and config.pretrained is not None and initial_model is None:
            raise InterpError(f"{out} is a finetuned run without a checkpoint yet; continue it with python -m "
                              f"interp.finetune --out {out} --resume, which loads the pretrained weights again")
        saved = read_json(checkpoint_stem(out, resume_from).with_suffix(".json")) if resume_from is not None else {}
        prepare_training(device, saved.get("threads"))
        trainer = Trainer(out, config, device, progress=progress,
                          model=initial_model if resume_from is None else None)
        if new:  # written once the trainer stands, so a config it refuses leaves no run behind
            write_json(out / CONFIG_FILE, config.to_dict())
        if resume_from is not None:
            trainer.load_checkpoint(resume_from)
            trainer.truncate_metrics(resume_from)
            print(f"resuming {out} from step {resume_from}", file=sys.stderr)
        for folder, name in ((checkpoints_dir(out), "step_*"), (out, CONFIG_FILE), (out, METRICS_FILE)):
            remove_interrupted_writes(folder, name)  # what a kill -9 left; no one else writes these (the lock)
        try:
            return trainer.run(start_step)
        except KeyboardInterrupt:  # a second SIGINT/SIGTERM: no checkpoint now, the last complete one stays
            print(f"aborted by a second signal; the last complete checkpoint is step {checkpoint_steps(out)[-1]}. "
                  "Continue with --resume.", file=sys.stderr)
            return 128 + (trainer.stop_signal or signal.SIGINT)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m interp.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="size preset name in models/sizes/ or a .toml path")
    parser.add_argument("--group", help="group preset name in models/groups/ or a .toml path")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--seed", type=int, help="model seed (initialisation)")
    parser.add_argument("--data-seed", type=int, default=0, help="data seed (separate from the model seed)")
    parser.add_argument("--positional", choices=("rope", "nope"), help="override the preset's positional encoding")
    add_training_arguments(parser)
    return parser


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The recipe overrides and run controls of every training command (``interp.train``, ``interp.finetune``)."""
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--checkpoint-every", type=int)
    add_device_argument(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[training]`` values given on the command line (None where not given)."""
    return {"steps": args.steps, "batch_size": args.batch_size, "eval_every": args.eval_every,
            "checkpoint_every": args.checkpoint_every, "lr": args.lr}


@cli_main
def main(argv: list[str] | None = None, config: RunConfig | None = None) -> None:
    """``config``: what a new run's presets and options resolve to, where the caller has resolved them already
    (a sweep's job): trained as given rather than resolved again from the preset files."""
    args = build_parser().parse_args(argv)
    device = pick_device(args.device)
    if args.resume:
        check_resume_request(args.out, args)
        config = None
    elif config is None:
        check_new_run_directory(args.out)
        if args.model is None or args.group is None or args.seed is None:
            raise InterpError("a new run needs --model, --group and --seed")
        config = make_run_config(args.model, args.group, args.seed, args.data_seed, args.positional,
                                 **training_overrides(args))
    raise SystemExit(train_run(args.out, config, device, progress=not args.quiet))


if __name__ == "__main__":
    main()
