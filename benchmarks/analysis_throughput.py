"""Head-reuse analysis throughput: every head × every task × 8 lengths × 1024 examples of the paper preset.

    python benchmarks/analysis_throughput.py [--preset paper] [--group add_mul] [--count 8] [--all-lengths]
        [--target-count 1024] [--loop-count 8] [--threads N] [--device auto|cpu|cuda]

Times each method of :mod:`interp.head_overlap` (the three ablation kinds, exact patching, attribution
patching, attention statistics) over every head of an untrained model of the preset (the cost does not
depend on the weights) on the tasks of the group. The full job is every task at its 8 default analysis
lengths with ``--target-count`` examples each. By default only a fraction is measured — ``--count``
examples at one length per task (its training length) — and the full time is extrapolated linearly in
the number of tokens (rows × sequence width; attention's quadratic term is negligible at these widths),
marked ``~``. ``--all-lengths --count 1024`` measures the full job itself. Then times batched mean
ablation against the plain per-head loop on the same inputs, side by side in this process. Prints
Markdown for benchmarks/RESULTS.md, with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from interp.ablation import AblationKind, ablate_heads
from interp.attention import attention_stats
from interp.cli import add_device_argument, pick_device
from interp.config import load_size_preset
from interp.data import evaluation_set
from interp.errors import cli_main
from interp.groups import load_group
from interp.head_overlap import analysis_lengths
from interp.model import build_model
from interp.patching import corrupted_examples, patch_heads
from interp.tasks import Examples, default_tokens

METHODS: dict[str, Callable[[torch.nn.Module, Examples, str], object]] = {
    "ablation_mean": lambda model, examples, task: ablate_heads(model, examples, [AblationKind.MEAN]),
    "ablation_zero": lambda model, examples, task: ablate_heads(model, examples, [AblationKind.ZERO]),
    "ablation_resample": lambda model, examples, task: ablate_heads(model, examples, [AblationKind.RESAMPLE]),
    "patching": lambda model, examples, task: patch_heads(model, examples, corrupted_examples(examples, task, 1),
                                                          attribution=False),
    "attribution": lambda model, examples, task: patch_heads(model, examples, corrupted_examples(examples, task, 1),
                                                             exact=False),
    "attention": lambda model, examples, task: attention_stats(model, examples),
}


def timed(work: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def machine(device: torch.device) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads"
    if device.type == "cuda":
        text += f", GPU {torch.cuda.get_device_name(device)}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{text}; load average at start {load:.1f}"


def format_duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def tokens(examples: Examples) -> int:
    return len(examples) * examples.tokens.shape[1]


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper", help="model size preset")
    parser.add_argument("--group", default="add_mul", help="group preset (its tasks are analysed)")
    parser.add_argument("--count", type=int, default=8, help="examples per task and length actually measured")
    parser.add_argument("--all-lengths", action="store_true", help="measure all 8 lengths, not one per task")
    parser.add_argument("--target-count", type=int, default=1024, help="examples per task and length reported")
    parser.add_argument("--loop-count", type=int, default=8, help="examples per task for batched vs loop")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    add_device_argument(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    _, model_config, _ = load_size_preset(args.preset)
    model = build_model(model_config, len(default_tokens()), seed=0, device=device).eval()
    group = load_group(args.group)
    lengths = analysis_lengths(group, group.task_names, None)
    full_job = {(task, length): evaluation_set(task, length, args.target_count) for task in group.task_names
                for length in lengths[task]}
    measured = {(task, length): evaluation_set(task, length, args.count) for task, length in full_job
                if args.all_lengths or length == group.spec(task).max_length}
    scale = sum(map(tokens, full_job.values())) / sum(map(tokens, measured.values()))
    mark = "~" if abs(scale - 1) > 1e-9 else ""
    heads = model.cfg.n_layers * model.cfg.n_heads
    print(f"machine: {machine(device)}; device {device}\n")
    print(f"preset {args.preset} ({model.cfg.n_layers} layers × {model.cfg.n_heads} heads), group {args.group}; "
          f"full job: {args.target_count} examples at " + "; ".join(
              f"{task} lengths {', '.join(map(str, lengths[task]))}" for task in group.task_names))
    print(f"measured: {args.count} examples at " + ", ".join(f"{task} {length}" for task, length in measured)
          + (f"; full-job times extrapolated ×{scale:.1f} by tokens (marked ~)" if mark else "") + "\n")
    print(f"| method | measured | head-examples/s | all {heads} heads × {len(group.task_names)} tasks × "
          f"{len(lengths[group.main.task])} lengths × {args.target_count} examples |")
    print("|---|---|---|---|")
    task, length = next(iter(measured))
    METHODS["ablation_zero"](model, measured[(task, length)], task)  # warm-up (allocator, kernels)
    total = 0.0
    for name, method in METHODS.items():
        seconds = sum(timed(lambda m=method, t=task, e=examples: m(model, e, t), device)
                      for (task, _), examples in measured.items())
        total += seconds * scale
        rate = heads * args.count * len(measured) / seconds
        print(f"| {name} | {seconds:.2f} s | {rate:,.0f} | {mark}{format_duration(seconds * scale)} |")
    print(f"| all methods | | | {mark}{format_duration(total)} |\n")

    print(f"batched mean ablation vs the per-head loop ({args.loop_count} examples, same inputs, this process):\n")
    print("| task | length | loop | batched | speed-up |")
    print("|---|---|---|---|---|")
    for spec in group.specs:
        examples = evaluation_set(spec.task, spec.max_length, args.loop_count)
        loop = timed(lambda e=examples: ablate_heads(model, e, [AblationKind.MEAN], batched=False), device)
        batched = timed(lambda e=examples: ablate_heads(model, e, [AblationKind.MEAN]), device)
        print(f"| {spec.task} | {spec.max_length} | {loop:.2f} s | {batched:.2f} s | {loop / batched:.1f}× |")


if __name__ == "__main__":
    main()
