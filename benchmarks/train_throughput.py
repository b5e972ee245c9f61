"""Training and evaluation throughput: our HookedTransformer step against a plain PyTorch model.

    python benchmarks/train_throughput.py [--model paper] [--group add_carry] [--batch 1024] [--device auto]
        [--steps 20] [--no-compile] [--variants "plain eager,ours compiled"] [--trainer-plans auto,whole,parts,packed]
        [--trainer-modes graphs,compiled,eager] [--trainer-precisions bf16,fp32] [--loop-steps N [--loop-profile]]

Everything runs in one process on the same batches, so the ratios mean something on a noisy machine:

- ``plain``: a plain Llama-style PyTorch model of identical shape (fused QKV ``nn.Linear``, rotary,
  ``F.scaled_dot_product_attention``, gated SiLU MLP, RMSNorm), eager and under ``torch.compile``;
- ``hooked``: ``HookedTransformer.forward`` (hook points, explicit attention patterns), eager and compiled;
- ``ours``: ``interp.model.fast_logits`` over the HookedTransformer's own parameters, eager and compiled;
- the trainer's real step (``interp.train.Trainer.train_step``, deterministic kernels on CUDA), compiled (with
  CUDA graphs on CUDA: ``graphs``; without them: ``compiled``) and eager, on the batch as the trainer lays
  it out (its plan, ``interp.train.training_plan``: the fast path's examples packed several to a row,
  ``interp.data.pack``), or as ``--trainer-plans`` says (``whole``: the
  whole batch at its bucket width; ``parts``: up to four width parts; ``packed``), in the precision its
  size preset asks for or as ``--trainer-precisions`` says (each line names the precision it computed in);
- with ``--loop-steps N``, the trainer's whole loop (``Trainer.run``: the batch stream, built by a worker
  process beside a GPU, the transfers, the bookkeeping and a sync per logged window; no quick evaluation or
  checkpoint inside) over the warm-up and N steps in each trainer mode, as the median real tokens/s of its
  logged windows after the warm-up, beside the trainer step's on prebuilt batches: the gap between the two
  is what the loop costs. Each loop after the first also reports how far its final weights are from the
  first's (CUDA graphs replay the same kernels, so 0 is expected). ``--loop-profile`` adds
  ``torch.profiler``'s table of 10 loop steps (CPU and, on CUDA, GPU time).

The first six run on full batches padded to one width (``--width``, default 128: batch 1024 × 128 tokens,
the issue's setting) and report padded tokens/s; the trainer's step reports real (non-pad) tokens/s beside
the padded-width run's real tokens/s. Evaluation throughput is teacher-forced exact match, examples/s. bf16
autocast where the device computes bf16 natively (CUDA, a CPU with AMX) and TF32 on CUDA, else fp32 (as in
training). Prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import platform
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.profiler import ProfilerActivity

from interp.cli import add_device_argument, pick_device
from interp.compute import autocast_for, computed_precision
from interp.config import PRECISIONS, RunConfig, load_size_preset, make_run_config
from interp.data import WHOLE_BATCH, WIDTH_PARTS, MixtureSampler, evaluation_set
from interp.errors import cli_main
from interp.evaluate import exact_match
from interp.model import ModelConfig, build_model, fast_logits
from interp.tasks import default_tokens
from interp.train import METRICS_FILE, Trainer, answer_loss, training_plan


class PlainBlock(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        inner = config.n_heads * config.d_head
        self.heads, self.d_head = config.n_heads, config.d_head
        self.norm1 = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        self.qkv = nn.Linear(config.d_model, 3 * inner)
        self.out = nn.Linear(inner, config.d_model)
        self.norm2 = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        self.gate = nn.Linear(config.d_model, config.d_mlp, bias=False)
        self.up = nn.Linear(config.d_model, config.d_mlp)
        self.down = nn.Linear(config.d_mlp, config.d_model)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, positions, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, positions, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        q, k = rotate_half(q, cos, sin), rotate_half(k, cos, sin)
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(z.transpose(1, 2).reshape(batch, positions, -1))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def rotate_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


class PlainModel(nn.Module):
    """The reference: the same shape as the suite's model, written the ordinary way."""

    def __init__(self, config: ModelConfig, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, config.d_model)
        self.blocks = nn.ModuleList(PlainBlock(config) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        self.unembed = nn.Linear(config.d_model, vocab)
        frequencies = config.rotary_base ** (-torch.arange(0, config.d_head, 2).float() / config.d_head)
        angles = torch.arange(config.n_ctx).float()[:, None] * frequencies[None]
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = tokens.shape[1]
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, self.cos[:positions], self.sin[:positions])
        return self.unembed(self.norm(x))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(step, batches: list, device: torch.device, warmup: int) -> float:
    """Seconds per step, after ``warmup`` untimed steps (compilation happens there)."""
    for batch in batches[:warmup]:
        step(batch)
    synchronize(device)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(batch)
    synchronize(device)
    return (time.perf_counter() - start) / (len(batches) - warmup)


def forward_backward_step(forward, parameters, device: torch.device, precision: str):
    optimizer = torch.optim.AdamW(parameters, lr=1e-4, fused=device.type == "cuda")

    def step(batch) -> None:
        with autocast_for(device, precision):
            logits = forward(batch.tokens)
        loss, _, _ = answer_loss(logits, batch, 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


TRAINER_MODES = {
    "graphs": {"compile": True, "cuda_graphs": True},
    "compiled": {"compile": True, "cuda_graphs": False},
    "eager": {"compile": False},
}
"""How the trainer's step can run: compiled with CUDA graphs (the default; on the CPU the same as
``compiled``), compiled without them, or eager."""

TRAINER_PLANS = {
    "auto": None,
    "whole": lambda trainer: WHOLE_BATCH,
    "parts": lambda trainer: WIDTH_PARTS,
    "packed": lambda trainer: training_plan(True, trainer.compiled and trainer.on_gpu, trainer.sampler,
                                            trainer.training.batch_size),
}
"""Batch layouts the trainer's step can be timed with (``auto``: the one the trainer picks)."""


def loop_line(config: RunConfig, device: torch.device, warmup: int, steps: int, step_seconds: float | None,
              profile: bool, mode: str) -> tuple[str, dict[str, torch.Tensor]]:
    """The trainer's whole loop over ``warmup + steps`` steps, as the median real tokens/s of its logged
    windows after the warm-up and the ms/step that gives at these batches' mean real tokens; and the
    weights it ends with."""
    total = warmup + steps
    training = config.training.replace(steps=total, eval_every=total, checkpoint_every=total, **TRAINER_MODES[mode])
    trainer = Trainer(Path(tempfile.mkdtemp(prefix="interp-loop-")), dataclasses.replace(config, training=training),
                      device, progress=False)
    table = ""
    if profile:
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        profiler = torch.profiler.profile(activities=activities,
                                          schedule=torch.profiler.schedule(wait=warmup + steps // 2, warmup=2, active=10))
        one_step = trainer.train_step

        def profiled_step(parts, step):
            result = one_step(parts, step)
            profiler.step()
            return result

        trainer.train_step = profiled_step
        with profiler:
            trainer.run(0)
        sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        table = "\n" + profiler.key_averages().table(sort_by=sort, row_limit=25)
    else:
        trainer.run(0)
    records = [json.loads(line) for line in (trainer.run_dir / METRICS_FILE).read_text().splitlines()]
    windows = [record["tokens_per_s"] for record in records
               if record["kind"] == "train" and record["step"] - training.log_every >= warmup]
    if not windows:
        raise SystemExit(f"--loop-steps {steps} holds no whole logged window of {training.log_every} steps after the warm-up")
    rate = statistics.median(windows)
    mean_real = statistics.mean(trainer.sampler.batch(step, training.batch_size).real_tokens for step in range(warmup, total))
    seconds = mean_real / rate
    versus = f" ({seconds / step_seconds:.2f}× the trainer step above)" if step_seconds else ""
    line = (f"trainer loop, {step_mode(trainer)}, {trainer.precision}: median {rate:,.0f} real "
            f"tokens/s over {len(windows)} windows of {training.log_every} steps, about {seconds * 1e3:.1f} ms/step"
            f"{versus}{table}")
    return line, {name: p.detach().cpu() for name, p in trainer.model.named_parameters()}


def step_mode(trainer: Trainer) -> str:
    """How the trainer's step ran, as its lines name it (CUDA graphs apply on CUDA only)."""
    return "graphs" if trainer.cuda_graphs else "compiled" if trainer.compiled else "eager"


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="size preset (default: paper on CUDA, small on the CPU)")
    parser.add_argument("--group", default="add_carry")
    parser.add_argument("--batch", type=int, default=None, help="default: the preset's batch size")
    parser.add_argument("--width", type=int, default=128, help="padded width of the fixed-width comparison")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=5)
    add_device_argument(parser)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--variants", help="comma-separated subset of the variants to time (default: all)")
    parser.add_argument("--skip-trainer", action="store_true", help="do not time the trainer's real step")
    parser.add_argument("--trainer-plans", default="auto",
                        help=f"comma-separated batch layouts for the trainer's step: {', '.join(TRAINER_PLANS)} "
                             "(default: auto, the trainer's own)")
    parser.add_argument("--trainer-modes", default="graphs,eager",
                        help=f"comma-separated ways to run the trainer's step: {', '.join(TRAINER_MODES)}")
    parser.add_argument("--trainer-precisions", default="preset",
                        help="the trainer's configured precision: preset (the size preset's), bf16, fp32, or a list")
    parser.add_argument("--loop-steps", type=int, default=0,
                        help="also time the trainer's whole loop over this many steps after --warmup")
    parser.add_argument("--loop-profile", action="store_true", help="with --loop-steps: profile 10 loop steps")
    args = parser.parse_args()
    plans = args.trainer_plans.split(",")
    modes = args.trainer_modes.split(",")
    precisions = args.trainer_precisions.split(",")
    unknown = ([name for name in plans if name not in TRAINER_PLANS] + [m for m in modes if m not in TRAINER_MODES]
               + [p for p in precisions if p not in ("preset", *PRECISIONS)])
    if unknown:
        raise SystemExit(f"unknown trainer plan, mode or precision {', '.join(map(repr, unknown))}")
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch._dynamo.config.cache_size_limit = 64
    preset = args.model or ("paper" if device.type == "cuda" else "small")
    _, model_config, training = load_size_preset(preset)
    batch_size = args.batch or training.batch_size
    precision = computed_precision(device, training.precision)  # as the trainer computes: bf16 where native
    vocab = len(default_tokens())
    sampler = MixtureSampler(make_run_config(preset, args.group, 0).group, 0)
    total = args.warmup + args.steps
    whole = []
    for step in range(total):
        batch = sampler.batch(step, batch_size)
        if batch.tokens.shape[1] > args.width:
            raise SystemExit(f"group {args.group} needs width {batch.tokens.shape[1]} > --width {args.width}")
        padded = torch.zeros(batch_size, args.width, dtype=torch.long)
        padded[:, : batch.tokens.shape[1]] = batch.tokens
        scored = torch.zeros(batch_size, args.width, dtype=torch.bool)
        scored[:, : batch.tokens.shape[1]] = batch.scored
        whole.append(type(batch)(padded, scored, batch.task_index * 0, batch.length, batch.real_tokens).to(device))
    padded_tokens = batch_size * args.width
    real_tokens = sum(b.real_tokens for b in whole[args.warmup:]) / args.steps

    hooked = build_model(model_config, vocab, seed=0, device=device)
    plain = PlainModel(model_config, vocab).to(device)
    compile_ = (lambda f: torch.compile(f, dynamic=False)) if not args.no_compile else None
    variants = {
        "plain eager": forward_backward_step(plain, plain.parameters(), device, precision),
        "hooked eager": forward_backward_step(hooked, hooked.parameters(), device, precision),
        "ours eager": forward_backward_step(lambda t: fast_logits(hooked, t), hooked.parameters(), device, precision),
    }
    if compile_:
        compiled_plain = compile_(plain)
        compiled_hooked = compile_(hooked)
        compiled_fast = compile_(fast_logits)
        variants["plain compiled"] = forward_backward_step(compiled_plain, plain.parameters(), device, precision)
        variants["hooked compiled"] = forward_backward_step(compiled_hooked, hooked.parameters(), device, precision)
        variants["ours compiled"] = forward_backward_step(lambda t: compiled_fast(hooked, t), hooked.parameters(),
                                                          device, precision)
    chosen = args.variants.split(",") if args.variants else list(variants)
    if unknown := [name for name in chosen if name not in variants]:
        raise SystemExit(f"unknown variant {', '.join(map(repr, unknown))}; known: {', '.join(variants)}")
    seconds = {}
    for name in chosen:
        seconds[name] = measure(variants[name], whole, device, args.warmup)
        print(f"{name}: {padded_tokens / seconds[name]:,.0f} padded tokens/s", flush=True)

    config = make_run_config(preset, args.group, 0, batch_size=batch_size)
    trainer_lines = []
    step_seconds = {}  # (mode, plan, precision asked) -> seconds per trainer step
    modes = [mode for mode in modes if not (args.no_compile and TRAINER_MODES[mode]["compile"])]
    for mode, plan, precision_asked in ([] if args.skip_trainer else itertools.product(modes, plans, precisions)):
        recipe = config.training.replace(**TRAINER_MODES[mode], precision=None if precision_asked == "preset" else precision_asked)
        trainer = Trainer(Path(tempfile.mkdtemp(prefix="interp-bench-")), dataclasses.replace(config, training=recipe),
                          device, progress=False)
        if plan != "auto":
            trainer.part_plan = TRAINER_PLANS[plan](trainer)
        parts = [[part.to(device) for part in trainer.part_plan.cut(sampler.batch(step, batch_size))]
                 for step in range(total)]
        # Untimed first over every batch: the timed ones may meet part shapes the warmup did not compile.
        trainer_seconds = measure(partial(trainer.train_step, step=100), parts + parts[args.warmup:], device,
                                  len(parts))
        step_seconds[mode, plan, precision_asked] = trainer_seconds
        part_real = sum(sum(p.real_tokens for p in ps) for ps in parts[args.warmup:]) / args.steps
        part_padded = sum(sum(p.tokens.numel() for p in ps) for ps in parts[args.warmup:]) / args.steps
        trainer_lines.append(
            f"trainer step, {step_mode(trainer)}, "
            f"{trainer.precision} ({trainer.part_plan}): {part_real / trainer_seconds:,.0f} real tokens/s (padding share {1 - part_real / part_padded:.0%}), "
            f"{trainer_seconds * 1e3:.1f} ms/step; a {preset} run of {training.steps:,} steps: "
            f"{training.steps * trainer_seconds / 60:.1f} minutes of steps")
    first_weights = None
    for mode in modes if args.loop_steps else []:
        line, weights = loop_line(config, device, args.warmup, args.loop_steps, step_seconds.get((mode, "auto", "preset")),
                                  args.loop_profile, mode)
        if first_weights is None:
            first_weights = weights
        else:  # the same kernels, replayed or launched: a mode that changes the weights changes the runs
            difference = max(float((weights[name].float() - first_weights[name].float()).abs().max()) for name in weights)
            line += f"; final weights against the first loop's: max abs diff {difference:.3g}"
        trainer_lines.append(line)
    hooked.eval()
    examples = evaluation_set(config.group.main.task, config.group.main.max_length, count=batch_size)
    exact_match(hooked, examples, batch_size=batch_size)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(3):
        exact_match(hooked, examples, batch_size=batch_size)
    synchronize(device)
    eval_rate = 3 * batch_size / (time.perf_counter() - start)

    name = torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"device: {name} ({device.type}, {torch.get_num_threads()} threads), torch {torch.__version__}, "
          f"{precision}, preset {preset}, group {args.group}, batch {batch_size} × width {args.width}\n")
    reference = next((name for name in ("plain compiled", "plain eager") if name in seconds), next(iter(seconds)))
    print(f"| variant | padded tokens/s | vs {reference} |")
    print("|---|---|---|")
    for variant, value in seconds.items():
        print(f"| {variant} | {padded_tokens / value:,.0f} | {seconds[reference] / value:.2f}× |")
    print(f"\nreal tokens in these batches: {1 - real_tokens / padded_tokens:.0%} padding at width {args.width}")
    print("\n" + "\n".join(trainer_lines))
    print(f"evaluation: {eval_rate:,.0f} examples/s ({config.group.main.task} at length "
          f"{config.group.main.max_length}, teacher-forced exact match)")


if __name__ == "__main__":
    main()
