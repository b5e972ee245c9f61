"""Sweeps: grids of training runs, one after another on this machine or in parallel on a Ray cluster.

    python -m interp.sweep --grid sweeps/NAME.toml --out runs/NAME [--executor local|ray] [--address ADDR]
        [--gpus-per-run G] [--cpus-per-run C] [--max-parallel N] [--retries R] [--eval-count N] [--analyze]
        [--dry-run]

The paper's results (Cai et al., "Extrapolation by Association: Length Generalization Transfer in
Transformers", arXiv 2506.09251) rest on hundreds of trainings: every task group × 5 seeds, RoPE vs NoPE,
and the Fig. 10 grid of main × auxiliary training lengths × 3 seeds. A sweep file names a base experiment
and the axes to vary; this module expands it into runs with stable, readable names and brings every run
to "trained and evaluated", never losing or repeating finished work.

Sweep file (TOML; the presets live in ``sweeps/``)::

    description = "copy ≤ 4 + reverse ≤ 8 on the micro model, two seeds"
    [base]                       # one value per axis, shared by every run
    model = "micro"
    group = "copy_reverse"
    main_length = 4
    aux_length = 8
    steps = 20
    [grid]                       # a list per axis; the runs are the cartesian product
    seed = [0, 1]

Axes: ``group`` and ``model`` (a preset name, or a ``.toml`` path relative to the sweep file), ``seed``,
``data_seed``, ``positional`` (rope/nope), ``main_length`` (the main task's training length) and
``aux_length`` (every auxiliary task's), any ``[training]`` field of a size preset (``steps``, ``lr``,
``warmup_fraction``, …) and any ``[model]`` field (``n_ctx``, ``d_model``, …). ``model``, ``group`` and
``seed`` are required. Changed lengths make a derived group, written to ``OUT/groups/NAME.toml``; model
fields and training fields that ``interp.train`` has no flag for make a derived size preset in
``OUT/models/``. Each run's ``config.json`` holds its resolved group and model, as for any run.

Names. ``GROUP[-LmainxAUX][-MODEL][-POSITIONAL][-FIELDvalue…][-dDATASEED]-sSEED``: the group and seed
always, the lengths whenever they are set, every other axis when it varies in ``[grid]``; e.g.
``add_carry-L16x32-s0``, ``add_carry-nope-s3``, ``copy_reverse-L4x8-lr0.0003-s1``. The same file always
gives the same names in the same order (seed-major, so a half-finished sweep already holds whole
replicates). Names are unique and safe directory names, or expansion fails naming the clash.

Context length. A run is evaluated up to 1.25× its longest training length (SPEC §6), and the model's
``n_ctx`` must hold those sequences (reverse addition at length 320 takes 967 tokens). Expansion checks
every run and fails naming the first that does not fit and the ``n_ctx`` it needs; the Fig. 10 preset
sets ``n_ctx = 1024``.

Execution. Each run is one child process (``python -m interp.sweep job …``) that calls the command-line
mains of ``interp.train`` (``--resume`` for an interrupted run), ``interp.evaluate`` and, with
``--analyze``, ``interp.head_overlap`` in turn — the commands ``--dry-run`` prints; a new run's training is
handed the config the sweep resolved, which its printed command resolves to as well — so a crash never takes
the sweep down, and torch and TransformerLens (about 5 s to import) are loaded once per run, not per stage.
``--executor local`` runs them one after another; ``--executor ray`` makes each a Ray task
with its resource request (``--cpus-per-run``, ``--gpus-per-run``) on the cluster at ``--address``, or
on a local cluster started for the sweep. On a cluster, ``--out`` must be a path every node sees and
every node needs this package installed. ``--cpus-per-run`` also sets the run's thread count
(``OMP_NUM_THREADS``), so both executors compute bit-identical runs.

State lives on disk: a run is finished when it has a checkpoint at its last step and that step's
``eval/step_NNNNNN.json`` (with ``--analyze``, also ``analysis/steps/step_NNNNNN.json``); finished runs are skipped,
interrupted ones resumed, a directory whose ``config.json`` differs from the grid's is reported and
left alone. A failed run (exit status other than 0 and 2) is retried ``--retries`` times, resuming from
its last checkpoint, while the others go on; bad input (status 2) is not retried. ``OUT/sweep.json``
(status, attempts, error and settings per run) is rewritten atomically as runs change state and each
run's output goes to ``OUT/logs/NAME.log``.

Stopping. SIGINT/SIGTERM to the sweep write ``OUT/.stop``; each running job forwards SIGTERM to its
child, training saves a checkpoint and exits, and the sweep exits 128+signal. The next invocation
finishes what was left. On Linux a job also stops when the process that started it dies, even by ``kill -9``
(the kernel signals it: ``PR_SET_PDEATHSIG``, turned into one SIGTERM), so a killed sweep leaves no training behind, only a
checkpoint to resume from, and the job marks its run ``pending`` in ``sweep.json`` (whose ``process`` names the
sweep that writes it), which would otherwise say ``running`` for good; elsewhere a ``kill -9`` of the sweep leaves its current job running to the end
of its run (holding the run's lock meanwhile).

Modules: :mod:`~interp.sweep.grid` (the sweep file), :mod:`~interp.sweep.expansion` (runs, names, configs,
derived presets), :mod:`~interp.sweep.jobs` (what a run still needs), :mod:`~interp.sweep.process` (one job
as a child process), :mod:`~interp.sweep.executors` (local, Ray) and :mod:`~interp.sweep.command` (the
sweep and its command line).
"""

from interp.sweep.command import Status, StopRequest, main, run_sweep
from interp.sweep.executors import Executor, LocalExecutor, RayExecutor
from interp.sweep.expansion import NAME_PATTERN, DerivedFile, RunSpec, expand, write_derived_presets
from interp.sweep.grid import AXES, Grid, load_grid
from interp.sweep.jobs import Job, Options, Plan, plan
from interp.sweep.process import Outcome, execute

__all__ = [
    "AXES", "NAME_PATTERN", "DerivedFile", "Executor", "Grid", "Job", "LocalExecutor", "Options", "Outcome", "Plan",
    "RayExecutor", "RunSpec", "Status", "StopRequest", "execute", "expand", "load_grid", "main", "plan", "run_sweep",
    "write_derived_presets",
]
