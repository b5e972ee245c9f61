"""One job as a child process: :func:`execute` starts it and passes on a stop request, :func:`run_job` is the child.

Each run is one child process (``python -m interp.sweep job …``) that calls each stage's command-line main
in turn, so a crash never takes the sweep down, and torch and TransformerLens (seconds to import) are
loaded once per run, not per stage. A new run's ``interp.train`` main is also handed the run's config as the
sweep resolved it (the child gets it as JSON), so it trains that config rather than reading the derived
presets back and resolving them again (to the same config: the tests hold the two equal). Its output goes to ``OUT/logs/NAME.log``, each stage opened by a line
``== STAGE: COMMAND``, from which a failure's stage and message are read back (:func:`failure`).

Stopping. The sweep writes the stop file; :func:`execute` sees it and sends its child one SIGTERM (the child
runs in a session of its own, so a Ctrl-C at the terminal reaches the sweep only); training then saves a
checkpoint and exits. On Linux the child also stops when the process that started it dies, ``kill -9``
included (``PR_SET_PDEATHSIG``), and then marks its run ``pending`` in ``sweep.json`` (:func:`record_orphaned`),
which would otherwise say ``running`` for good. Pitfall: the kernel sends the parent-death signal again each time
the orphan is handed to another thread of the dying parent, and a second SIGTERM aborts training without a
checkpoint; so the kernel sends SIGUSR1, and the child turns the first one into its one SIGTERM
(:func:`stop_once`).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from interp.config import RunConfig
from interp.errors import InterpError
from interp.storage import read_json, write_json
from interp.sweep.jobs import STAGE_MODULES, STATUS_FILE, Job, stage_command

POLL_SECONDS = 0.2
"""How often a running job looks for the stop request."""
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


@dataclass(frozen=True)
class Outcome:
    """How a job ended."""

    code: int
    """The job process's exit status (negative: killed by that signal)."""
    stage: str
    """The stage that ended it ('' when every stage succeeded)."""
    error: str
    started: float
    finished: float


def execute(job: Job) -> Outcome:
    """Run the job as a child process; forward a stop request to it as SIGTERM. Runs under Ray, too."""
    started = time.time()
    if job.stop_file.exists():
        return Outcome(128 + signal.SIGTERM, "", "stopped before it started", started, started)
    job.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, PARENT_VARIABLE: str(os.getpid())}
    if job.threads:
        env["OMP_NUM_THREADS"] = str(job.threads)
    with open(job.log, "a") as log:
        log.write(f"=== {datetime.now().isoformat(timespec='seconds')} on {os.uname().nodename}\n")
        log.flush()
        offset = log.tell()
        # A new session: a Ctrl-C at the terminal reaches the sweep only, which forwards exactly one SIGTERM.
        status = job.stop_file.parent / STATUS_FILE
        config = json.dumps(None if job.config is None else job.config.to_dict())
        child = subprocess.Popen([sys.executable, "-m", "interp.sweep", "job", json.dumps(job.stages), job.name,
                                  str(status), config],
                                 stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        code = wait_or_stop(child, job.stop_file)
    stage, error = failure(job.log, offset) if code else ("", "")
    return Outcome(code, stage, error, started, time.time())


def wait_or_stop(child: subprocess.Popen, stop_file: Path) -> int:
    forwarded = False
    while True:
        try:
            return child.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if stop_file.exists() and not forwarded:
                child.send_signal(signal.SIGTERM)
                forwarded = True


def failure(log: Path, offset: int) -> tuple[str, str]:
    """The failing stage and its message: its ``error: …`` line, else the last line it printed."""
    with open(log, errors="replace") as handle:
        handle.seek(offset)
        lines = [line.strip() for line in handle.read().splitlines() if line.strip()]
    stages = [line.split()[1].rstrip(":") for line in lines if line.startswith("== ") and len(line.split()) > 1]
    printed = [line for line in lines if not line.startswith("== ")]
    errors = [line for line in printed if line.startswith("error:")]
    message = errors[-1] if errors else (printed[-1] if printed else "no output")
    return (stages[-1] if stages else ""), message[:500]


PARENT_VARIABLE = "INTERP_SWEEP_PARENT"
"""The environment variable through which a job learns which process started it (:func:`stop_with_parent`)."""
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_DEATH_SIGNAL = signal.SIGUSR1


def stop_with_parent() -> None:
    """On Linux, have this job stop as on one SIGTERM when the process that started it dies, ``kill -9``
    included: training then saves a checkpoint and exits. If that process died before the request was made,
    stop at once. Elsewhere (no ``prctl``) nothing is arranged."""
    if not sys.platform.startswith("linux") or PARENT_VARIABLE not in os.environ:
        return
    signal.signal(PARENT_DEATH_SIGNAL, stop_once)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL)
    if os.getppid() != int(os.environ[PARENT_VARIABLE]):
        os.kill(os.getpid(), signal.SIGTERM)


def stop_once(number: int, frame: object) -> None:
    """The parent-death signal's handler: the first one becomes a SIGTERM to this job, the ones the kernel sends
    again as the dying parent's threads exit are ignored."""
    signal.signal(PARENT_DEATH_SIGNAL, signal.SIG_IGN)
    os.kill(os.getpid(), signal.SIGTERM)


def job_main(argv: list[str]) -> int:
    """The job process's command line as :func:`execute` writes it: stages (JSON), run name, ``sweep.json``,
    and the new run's config (JSON, ``null`` for a run already started)."""
    stages, name, status, config = argv
    resolved = json.loads(config)
    return run_job(json.loads(stages), name, status, None if resolved is None else RunConfig.from_dict(resolved))


def run_job(stages: list[list[Any]], name: str | None = None, status: str | None = None,
            config: RunConfig | None = None) -> int:
    """The job process: each stage's command-line main in turn, stopping at the first that fails; run ``name``
    of the sweep whose ``sweep.json`` is ``status``. A new run's train stage is handed ``config``, the run's
    config as the sweep resolved it, so ``interp.train`` trains it without reading the derived presets back."""
    stop_with_parent()
    code = 0
    for stage, args in stages:
        print(f"== {stage}: {stage_command(stage, tuple(args))}", flush=True)
        given = {"config": config} if stage == "train" and config is not None else {}
        code = call_main(STAGE_MODULES[stage], list(args), **given)
        sys.stdout.flush()
        sys.stderr.flush()
        if code:
            print(f"== {stage} exited with status {code}", flush=True)
            break
    parent = int(os.environ.get(PARENT_VARIABLE, os.getppid()))
    if status and name and has_died(parent):  # the sweep was killed (kill -9): it cannot record how this ended
        record_orphaned(Path(status), name, parent, code)
    return code


def has_died(parent: int) -> bool:
    """Whether the process that started this job is gone: this job was handed to another parent, or (Linux) the
    parent is a zombie, as a killed process with several threads is for a while before its children move."""
    if os.getppid() != parent:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        return Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:  # reaped meanwhile
        return True


def record_orphaned(status: Path, name: str, sweep_process: int, code: int) -> None:
    """Say in ``sweep.json`` that the run is no longer running, for the sweep that died while its job ran (a new
    sweep that has taken its place since owns the file)."""
    try:
        saved = read_json(status)
    except InterpError:
        return
    if not isinstance(saved, dict) or saved.get("process") != sweep_process:
        return
    record = saved.get("runs", {}).get(name)
    if not isinstance(record, dict) or record.get("status") != "running":
        return
    record.update(status="pending", finished=time.time(), error=f"the sweep (process {sweep_process}) was killed "
                  f"while this run was running; its job then ended with status {code}; run the sweep again to "
                  "continue it")
    write_json(status, saved)


def call_main(module: str, args: list[str], **keywords: Any) -> int:
    try:
        importlib.import_module(module).main(args, **keywords)
    except SystemExit as exited:
        if exited.code is None or isinstance(exited.code, int):
            return exited.code or 0
        print(exited.code, file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        traceback.print_exc()
        return EXIT_FAILED
    return 0
