"""The sweep command, ``python -m interp.sweep`` (the package docstring describes it): bring every run of a grid
to finished through an executor, recording each run's state in ``OUT/sweep.json``.

Runs already finished are skipped and interrupted ones resumed; a failed run (exit status other than 0 and 2)
is retried ``--retries`` times while the others go on; bad input (status 2) is not retried. SIGINT/SIGTERM
write ``OUT/.stop`` (:class:`StopRequest`), which running jobs pass on to their runs, and the sweep exits
128+signal once they have saved a checkpoint; the next invocation finishes what was left.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from interp.errors import InterpError, cli_main
from interp.storage import RunLock, check_writable, write_json, write_text
from interp.sweep.executors import Executor, LocalExecutor, RayExecutor, import_ray
from interp.sweep.expansion import RunSpec, expand, write_derived_presets
from interp.sweep.grid import Grid, load_grid
from interp.sweep.jobs import STATUS_FILE, STOP_FILE, Options, plan, run_dir, stage_command
from interp.sweep.process import EXIT_BAD_INPUT, EXIT_FAILED, Outcome, job_main

DESCRIPTION = "Sweeps: grids of training runs, one after another on this machine or in parallel on a Ray cluster."


class Status:
    """``OUT/sweep.json``: the state of every run, rewritten atomically on every change."""

    def __init__(self, out: Path, grid: Grid, runs: list[RunSpec], executor: str) -> None:
        self.path = Path(out) / STATUS_FILE
        self.header = {"grid": str(grid.path), "description": grid.description, "executor": executor,
                       "process": os.getpid()}
        self.runs = {run.name: {"status": "pending", "attempts": 0, "error": "", "dir": str(run_dir(out, run)),
                                "settings": run.settings} for run in runs}

    def set(self, name: str, **changes: Any) -> None:
        self.runs[name].update(changes)
        self.save()

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.runs.values())

    def save(self) -> None:
        write_json(self.path, {**self.header, "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                               "runs": self.runs})


class StopRequest:
    """SIGINT/SIGTERM while the sweep runs: remember the signal and write the stop file jobs watch."""

    def __init__(self, stop_file: Path) -> None:
        self.stop_file = stop_file
        self.signal: int | None = None

    def __call__(self, number: int, frame: object) -> None:
        if self.signal is None:
            self.signal = number
            write_text(self.stop_file, f"{signal.Signals(number).name}\n")
            tqdm.write(f"{signal.Signals(number).name}: stopping; running runs save a checkpoint first")

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        self.stop_file.unlink(missing_ok=True)
        previous = {number: signal.signal(number, self) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self.stop_file.unlink(missing_ok=True)


def run_sweep(
    runs: list[RunSpec], out: Path, status: Status, executor_factory: Callable[[], Executor], options: Options,
    stop: StopRequest,
) -> int:
    """Bring every run to finished. Returns 0 (all finished), 1 (some failed) or 128+signal (stopped)."""
    out = Path(out).resolve()
    todo: deque[RunSpec] = deque()
    for run in runs:
        verdict = plan(run, out, options)
        if verdict.action == "finished":
            status.set(run.name, status="skipped")
        elif verdict.problem:
            status.set(run.name, status="failed", error=verdict.problem)
            tqdm.write(f"✗ {run.name}: {verdict.problem}")
        else:
            todo.append(run)
    status.save()
    if not todo:
        tqdm.write(f"nothing to do: {status.count('skipped')} of {len(runs)} runs already finished"
                   + (f", {status.count('failed')} in conflict" if status.count("failed") else ""))
        return EXIT_FAILED if status.count("failed") else 0
    write_derived_presets(todo)
    by_name = {run.name: run for run in runs}
    executor: Executor = executor_factory()
    bar = tqdm(total=len(runs), initial=status.count("skipped") + status.count("failed"), unit="run",
               desc="sweep", dynamic_ncols=True)
    running = 0
    try:
        while todo or running:
            while todo and running < executor.capacity and stop.signal is None:
                run = todo.popleft()
                verdict = plan(run, out, options)
                if verdict.job is None:
                    finish(status, bar, run.name, "failed" if verdict.problem else "done", verdict.problem)
                    continue
                attempts = status.runs[run.name]["attempts"] + 1
                status.set(run.name, status="running", attempts=attempts, started=time.time(), action=verdict.action)
                tqdm.write(f"→ {run.name}: {verdict.action}" + (f" (attempt {attempts})" if attempts > 1 else ""))
                executor.submit(verdict.job)
                running += 1
            if not running:
                break
            show_counts(bar, status, running)
            for job, outcome in executor.wait():
                running -= 1
                settle(by_name[job.name], outcome, out, status, bar, todo, options, stop)
                show_counts(bar, status, running)
    finally:
        bar.close()
        executor.close()
    summary = ", ".join(f"{status.count(name)} {name}" for name in ("done", "skipped", "failed", "pending")
                        if status.count(name))
    tqdm.write(f"{summary}; status in {status.path}")
    if stop.signal is not None:
        return 128 + stop.signal
    return EXIT_FAILED if status.count("failed") else 0


def show_counts(bar: tqdm, status: Status, running: int) -> None:
    bar.set_postfix_str(f"done {status.count('done')} · running {running} · failed {status.count('failed')}")


def finish(status: Status, bar: tqdm, name: str, state: str, error: str = "") -> None:
    status.set(name, status=state, error=error, finished=time.time())
    bar.update(1)


def settle(run: RunSpec, outcome: Outcome, out: Path, status: Status, bar: tqdm, todo: deque[RunSpec],
           options: Options, stop: StopRequest) -> None:
    """Record a job's outcome: done, retried later, failed for good, or left for the next invocation."""
    name, attempts = run.name, status.runs[run.name]["attempts"]
    seconds = outcome.finished - outcome.started
    if outcome.code == 0:
        verdict = plan(run, out, options)
        if verdict.action == "finished":
            status.set(name, started=outcome.started)
            finish(status, bar, name, "done")
            tqdm.write(f"✓ {name}: done in {seconds:.0f} s")
            return
        error = f"its job succeeded but the run still needs: {verdict.action}"
    elif stop.signal is not None:
        status.set(name, status="pending", error="", started=outcome.started, finished=outcome.finished)
        tqdm.write(f"■ {name}: stopped; the next invocation continues it")
        return
    else:
        error = f"{outcome.stage or 'job'} (exit status {outcome.code}): {outcome.error}"
    if outcome.code != EXIT_BAD_INPUT and attempts <= options.retries:
        status.set(name, status="pending", error=error)
        todo.append(run)
        tqdm.write(f"✗ {name}: {error} — retrying ({attempts} of {options.retries + 1} attempts used)")
        return
    finish(status, bar, name, "failed", error)
    tqdm.write(f"✗ {name}: failed: {error}; its log is {out / 'logs' / (name + '.log')}")


def dry_run(runs: list[RunSpec], out: Path, options: Options) -> None:
    """Print what each run still needs and the commands that would do it; write nothing."""
    for run in runs:
        verdict = plan(run, out, options)
        print(f"{run.name}: {verdict.problem or verdict.action}")
        for stage, args in verdict.job.stages if verdict.job else ():
            print(f"    {stage_command(stage, args)}")
    derived = {file.path for run in runs for file in run.files}
    print(f"{len(runs)} runs" + (f"; {len(derived)} derived presets would be written" if derived else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m interp.sweep", description=DESCRIPTION)
    parser.add_argument("--grid", type=Path, required=True, help="sweep file (TOML), e.g. sweeps/micro_smoke.toml")
    parser.add_argument("--out", type=Path, required=True, help="sweep directory: one run directory per run")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="Ray cluster address (default: start a local cluster for the sweep)")
    parser.add_argument("--cpus-per-run", type=float, help="Ray CPUs per run (default 1); also the run's threads")
    parser.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray GPUs per run (default 0)")
    parser.add_argument("--max-parallel", type=int,
                        help="at most this many Ray runs at once (default: as many as the cluster's resources hold)")
    parser.add_argument("--retries", type=int, default=2, help="retries of a failed run (default 2)")
    parser.add_argument("--eval-count", type=int,
                        help="test examples per task and length in the final evaluation (and the --analyze analysis)")
    parser.add_argument("--analyze", action="store_true", help="also run interp.head_overlap on every run")
    parser.add_argument("--dry-run", action="store_true", help="print what would run, write nothing")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    if args.executor == "local":
        given = [flag for flag, value in (("--address", args.address), ("--gpus-per-run", args.gpus_per_run),
                                          ("--max-parallel", args.max_parallel)) if value]
        if given:
            raise InterpError(f"{', '.join(given)} apply to --executor ray only")
    if args.cpus_per_run is not None and args.cpus_per_run <= 0:
        raise InterpError("--cpus-per-run must be positive")
    if args.gpus_per_run < 0 or (args.max_parallel is not None and args.max_parallel < 1):
        raise InterpError("--gpus-per-run must be ≥ 0 and --max-parallel ≥ 1")
    if args.retries < 0 or (args.eval_count is not None and args.eval_count < 1):
        raise InterpError("--retries must be ≥ 0 and --eval-count ≥ 1")
    if args.executor == "ray":
        import_ray()
    if args.analyze and importlib.util.find_spec("interp.head_overlap") is None:
        raise InterpError("--analyze needs interp.head_overlap, which this installation lacks")


def sweep(args: argparse.Namespace) -> int:
    check_arguments(args)
    grid = load_grid(args.grid)
    runs = expand(grid, args.out)
    threads = None if args.cpus_per_run is None else max(1, int(args.cpus_per_run))
    options = Options(args.retries, args.eval_count, args.analyze, threads)
    if args.dry_run:
        dry_run(runs, args.out, options)
        return 0
    out = args.out.resolve()
    check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out), StopRequest(out / STOP_FILE).installed() as stop:
        status = Status(out, grid, runs, args.executor)
        if args.executor == "ray":
            def factory() -> Executor:
                executor = RayExecutor(args.address, args.cpus_per_run or 1.0, args.gpus_per_run, args.max_parallel)
                for number in (signal.SIGINT, signal.SIGTERM):  # ray.init installs its own handlers
                    signal.signal(number, stop)
                return executor
        else:
            factory = LocalExecutor
        return run_sweep(runs, out, status, factory, options, stop)


@cli_main
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["job"]:  # the child process of one run (see execute)
        raise SystemExit(job_main(argv[1:]))
    raise SystemExit(sweep(build_parser().parse_args(argv)))

