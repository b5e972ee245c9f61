"""How a device computes: the precision of a training step, its autocast and evaluation's, the CPU's thread
count, and the process-wide settings training needs (set by the training commands, never by constructing a
:class:`~interp.train.Trainer`, so building one in a notebook changes no global state).

Precision: bf16 where the device has native bf16 products (CUDA; a CPU with AMX tiles), fp32 elsewhere,
since software bf16 is slower than fp32. Evaluation on the CPU never autocasts, so it reads the fp32 weights
exactly. Pitfall: a run trained in bf16 and one trained in fp32 differ in their digits, and at small scale
transfer moves with such differences (benchmarks/RESULTS.md, § Quickstart).
"""

from __future__ import annotations

import functools
import os

import torch


def cpu_threads(saved: int | None) -> int:
    """The intra-op thread count for training on the CPU: ``OMP_NUM_THREADS`` when set; else the count a resumed
    run's last checkpoint saved (threads change the order of sums, so a resumed run computes as it began); else
    every core this process may use. Not fewer when the machine is busy: with waiting threads asleep
    (``OMP_WAIT_POLICY=PASSIVE``, set in ``interp/__init__.py``) all cores beside one busy process still ran
    faster than one thread, and a run's numbers then do not depend on what ran when it started
    (benchmarks/RESULTS.md, § Threads on a busy machine)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    if saved:
        return saved
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def prepare_training(device: torch.device, saved_threads: int | None) -> None:
    """The process-wide settings of a training run on ``device``: the CPU's intra-op threads
    (:func:`cpu_threads`), or on CUDA deterministic kernels (so a resumed run ends bit-identical) and TF32."""
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(saved_threads))
    elif device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS, for --resume
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def cpu_compile_is_safe() -> bool:
    """Whether the training step may be compiled for the CPU: not on one intra-op thread, where torch 2.13's
    inductor kernels for the ``small`` preset corrupted the heap on an AVX-512 CPU, in bf16 and in fp32
    (``malloc(): unaligned tcache chunk detected``; eager and two threads ran clean; benchmarks/RESULTS.md,
    § Threads on a busy machine). Such a step runs eager."""
    return torch.get_num_threads() > 1


def autocast_for(device: torch.device, precision: str):
    """The training step's autocast for ``precision`` as :func:`computed_precision` gives it: bf16, or none (fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def evaluation_autocast(device: torch.device):
    """bf16 autocast on CUDA (as the GPU trains); none on the CPU, even where training autocasts to bf16 (AMX,
    :func:`computed_precision`): there evaluation reads the fp32 weights exactly."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def computed_precision(device: torch.device, precision: str) -> str:
    """The precision a training step on ``device`` computes in when the config asks for ``precision``.

    ``"bf16"`` is honoured where bf16 products run natively: a CUDA device that supports bf16, or a CPU with
    AMX tiles (:func:`cpu_has_amx`). Elsewhere the step stays in fp32: without a bf16 matrix unit, bf16 is
    computed in software, slower than fp32 (benchmarks/RESULTS.md).
    """
    if precision != "bf16":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_amx() else "fp32"


@functools.cache
def cpu_has_amx() -> bool:
    """AMX tiles that torch's kernels may use: the CPU has them and neither ``ATEN_CPU_CAPABILITY`` nor
    ``ONEDNN_MAX_CPU_ISA`` holds the kernels below AVX-512 (as when emulating a CPU without them, where bf16
    would be computed in slow software)."""
    is_supported = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if not (is_supported and is_supported()):
        return False
    onednn_isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return (torch.backends.cpu.get_cpu_capability().startswith("AVX512")
            and (onednn_isa == "ALL" or "AMX" in onednn_isa))
