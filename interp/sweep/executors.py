"""Executors: where jobs run. ``--executor local`` runs them one after another in a child process of the sweep;
``--executor ray`` makes each a Ray task with its resource request (``--cpus-per-run``, ``--gpus-per-run``) on
the cluster at ``--address``, or on a local cluster started for the sweep.

Both run :func:`interp.sweep.process.execute`; Ray pickles it and :class:`~interp.sweep.jobs.Job` by
reference, so workers import them from their modules in this package (every node needs it installed).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Protocol, runtime_checkable

from interp.errors import InterpError
from interp.sweep.jobs import Job
from interp.sweep.process import EXIT_FAILED, Outcome, execute


@runtime_checkable  # so the run-time type checks can check a factory's return value
class Executor(Protocol):
    capacity: int
    """How many jobs may run at once."""

    def submit(self, job: Job) -> None: ...

    def wait(self) -> list[tuple[Job, Outcome]]:
        """Finished jobs (possibly none yet: call again)."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """One job after another, in a child process of this one."""

    capacity = 1

    def __init__(self) -> None:
        self.queue: deque[Job] = deque()

    def submit(self, job: Job) -> None:
        self.queue.append(job)

    def wait(self) -> list[tuple[Job, Outcome]]:
        job = self.queue.popleft()
        return [(job, execute(job))]

    def close(self) -> None:
        pass


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InterpError("--executor ray needs Ray, an optional dependency: pip install -e '.[ray]'") from None
    return ray


class RayExecutor:
    """Each job a Ray task with a resource request, on an existing cluster or a local one started here."""

    def __init__(self, address: str | None, cpus: float, gpus: float, max_parallel: int | None) -> None:
        self.ray = import_ray()
        try:
            self.ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                          logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise InterpError(f"cannot start or reach a Ray cluster at {address or 'a new local one'}: {error}") from None
        self.remote = self.ray.remote(execute).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        self.capacity = max_parallel or self.fitting_runs(cpus, gpus)
        self.running: dict[Any, Job] = {}

    def fitting_runs(self, cpus: float, gpus: float) -> int:
        """How many runs the cluster's resources hold at once (so that submitted means running)."""
        available = self.ray.cluster_resources()
        fits = [available.get("CPU", 0) / cpus] + ([available.get("GPU", 0) / gpus] if gpus else [])
        if min(fits) < 1:
            raise InterpError(f"the Ray cluster has {available.get('CPU', 0):g} CPUs and {available.get('GPU', 0):g} "
                              f"GPUs, less than one run asks for ({cpus:g} CPUs, {gpus:g} GPUs); an autoscaling "
                              "cluster needs --max-parallel")
        return int(min(fits))

    def submit(self, job: Job) -> None:
        self.running[self.remote.remote(job)] = job

    def wait(self) -> list[tuple[Job, Outcome]]:
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=1.0)
        finished = []
        for ref in ready:
            job = self.running.pop(ref)
            try:
                finished.append((job, self.ray.get(ref)))
            except self.ray.exceptions.RayError as error:  # the worker or its node died
                now = time.time()
                finished.append((job, Outcome(EXIT_FAILED, "", f"Ray: {str(error).splitlines()[0]}", now, now)))
        return finished

    def close(self) -> None:
        self.ray.shutdown()
