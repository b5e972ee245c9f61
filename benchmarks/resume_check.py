"""Kill a training run with ``kill -9`` mid-way, resume it, and compare its final weights with an uninterrupted run.

    python benchmarks/resume_check.py [--model paper] [--group add_carry] [--steps 300] [--device cuda]

The tests prove bit-identical resume on the CPU with a micro model; this runs the same check through the
``python -m interp.train`` command line at any size on any device (the GPU claim in benchmarks/RESULTS.md).
The killed run is stopped once it has logged a step past its first checkpoint, so the resume repeats work.
Prints the throughput of the uninterrupted run and one JSON line with the verdict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from interp.cli import add_device_argument, pick_device
from interp.errors import cli_main
from interp.run import checkpoint_steps
from interp.train import METRICS_FILE


def metric_records(run: Path) -> list[dict]:
    """The run's ``metrics.jsonl`` so far (a line still being written is skipped)."""
    path = run / METRICS_FILE
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def train(command: list[str]) -> None:
    """Run ``python -m interp.train``; its error line, if it fails, is this script's."""
    result = subprocess.run([sys.executable, "-m", "interp.train", *command], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit((result.stderr.strip().splitlines() or [f"interp.train exited {result.returncode}"])[-1])


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="paper")
    parser.add_argument("--group", default="add_carry")
    parser.add_argument("--steps", type=int, default=300)
    add_device_argument(parser)
    args = parser.parse_args()
    if args.steps < 30:
        raise SystemExit("--steps must be at least 30 (three checkpoints, and a kill between the first two)")
    device = pick_device(args.device)
    checkpoint_every = args.steps // 3
    new_run = ["--model", args.model, "--group", args.group, "--seed", "0", "--steps", str(args.steps),
               "--checkpoint-every", str(checkpoint_every), "--eval-every", str(args.steps), "--device", device.type,
               "--quiet"]
    root = Path(tempfile.mkdtemp(prefix="interp-resume-"))
    straight, killed = root / "straight", root / "killed"
    print(f"runs in {root}")
    start = time.perf_counter()
    train([*new_run, "--out", str(straight)])
    rates = [r["tokens_per_s"] for r in metric_records(straight) if r["kind"] == "train"][1:]  # [0]: compilation
    print(f"uninterrupted run: {time.perf_counter() - start:.0f} s; median {statistics.median(rates):,.0f} real tokens/s "
          f"after the first log window")

    process = subprocess.Popen([sys.executable, "-m", "interp.train", *new_run, "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while max((r["step"] for r in metric_records(killed)), default=0) < checkpoint_every + 10:
        if process.poll() is not None:
            raise SystemExit(f"the run to be killed ended first: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.005)
    process.kill()
    process.wait()
    on_disk = checkpoint_steps(killed)
    train(["--out", str(killed), "--resume", "--quiet", "--device", device.type])
    final = f"checkpoints/step_{args.steps:06d}.safetensors"
    a, b = load_file(str(straight / final)), load_file(str(killed / final))
    result = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "model": args.model, "group": args.group, "steps": args.steps,
        "checkpoints_when_killed": on_disk,
        "bit_identical": a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a),
        "max_abs_diff": max(float((a[k].float() - b[k].float()).abs().max()) for k in a),
        "metrics_lines": [len(metric_records(straight)), len(metric_records(killed))],
    }
    print(json.dumps(result))
    if not result["bit_identical"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
