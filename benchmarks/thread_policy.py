"""The trainer's CPU threads on an idle machine and beside one busy process, side by side.

    python benchmarks/thread_policy.py [--steps 60] [--model small] [--group add8_carry] [--avx2] [--settings NAME ...]

Trains ``--steps`` steps of the quickstart's configuration (``python -m interp.train``, a fresh process per
line, so OpenMP reads its environment anew) for each thread setting, first with nothing else running, then
beside one busy Python loop started in a session of its own (``setsid``: the scheduler then gives each session
its share, as beside a user's other program), and prints the median real tokens/s of the logged windows after
the first (which holds the compilation). Settings:

- ``all cores`` (what the trainer uses, :func:`interp.compute.cpu_threads`) or ``1 thread``, with an OpenMP
  wait policy: ``passive`` (waiting threads sleep; what ``interp/__init__.py`` sets unless ``OMP_WAIT_POLICY``
  is set already), ``active`` (they spin), libgomp's ``default`` (spin a while, then sleep) or a shorter spin
  (``GOMP_SPINCOUNT``). One thread runs the step eager (:func:`interp.compute.cpu_compile_is_safe`).

``--avx2`` holds the kernels to AVX2 as on a CPU without AVX-512 or AMX. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "all cores, passive": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(os.cpu_count())},
    "all cores, active": {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": str(os.cpu_count())},
    "all cores, libgomp default": {"OMP_WAIT_POLICY": "", "OMP_NUM_THREADS": str(os.cpu_count())},
    "all cores, spin 10k": {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "10000", "OMP_NUM_THREADS": str(os.cpu_count())},
    "1 thread, passive": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"},
}
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def tokens_per_second(model: str, group: str, steps: int, extra_env: dict[str, str]) -> tuple[float, int]:
    """Median real tokens/s after the first logged window, and the thread count the run saved."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        subprocess.run([sys.executable, "-m", "interp.train", "--model", model, "--group", group, "--seed", "0", "--out", str(out),
                        "--steps", str(steps), "--eval-every", str(steps), "--checkpoint-every", str(steps),
                        "--device", "cpu", "--quiet"], env={**env, **extra_env}, check=True,
                       stdout=subprocess.DEVNULL)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        threads = json.loads((out / "checkpoints" / f"step_{steps:06d}.json").read_text())["threads"]
    windows = [record["tokens_per_s"] for record in records if record["kind"] == "train"][1:]
    return statistics.median(windows), threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--model", default="small")
    parser.add_argument("--group", default="add8_carry")
    parser.add_argument("--avx2", action="store_true")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    extra = AVX2 if args.avx2 else {}
    results: dict[str, dict[str, tuple[float, int]]] = {}
    for condition in ("idle", "one busy process"):
        busy = None
        if condition != "idle":
            busy = subprocess.Popen(["setsid", sys.executable, "-c", "while True: pass"])
            time.sleep(1)
        try:
            for name, env in ((name, SETTINGS[name]) for name in args.settings):
                results.setdefault(name, {})[condition] = tokens_per_second(
                    args.model, args.group, args.steps, {**env, **extra})
                print(f"{name:>20} {condition:>16}: {results[name][condition][0]:8,.0f} tokens/s "
                      f"({results[name][condition][1]} threads)", file=sys.stderr)
        finally:
            if busy is not None:
                busy.kill()
    print(f"\n{args.model} on {args.group}, {args.steps} steps per line, {os.cpu_count()} cores"
          f"{', AVX2 kernels' if args.avx2 else ''}\n")
    print("| setting | idle: tokens/s (threads) | one busy process: tokens/s (threads) | busy / idle |")
    print("|---|---|---|---|")
    for name, by_condition in results.items():
        (idle, idle_threads), (busy, busy_threads) = by_condition["idle"], by_condition["one busy process"]
        print(f"| {name} | {idle:,.0f} ({idle_threads}) | {busy:,.0f} ({busy_threads}) | {busy / idle:.2f} |")


if __name__ == "__main__":
    main()
