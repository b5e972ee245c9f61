"""Reproduce the paper at a reduced scale with one command, and keep what it finds (SPEC §1; issue 20).

    python -m interp.reproduce [--scale mini|paper] [--only CLAIM ...] [--out runs/reproduce]
        [--figures figures] [--executor local|ray] [--parallel N] [--device auto|cpu|cuda]
    python -m interp.reproduce --redraw [--figures figures]

Cai, Lee, Schwarzschild, Oymak and Papailiopoulos, "Extrapolation by Association: Length Generalization
Transfer in Transformers" (arXiv 2506.09251). Every claim of SPEC §1 is a :class:`interp.claims.Claim`; this
command brings its evidence into being and writes what it finds:

1. trains the claim's sweeps (``sweeps/reproduce_SCALE/*.toml``, through ``python -m interp.sweep``:
   resumable, nothing repeated) into ``OUT/SCALE/SWEEP/``;
2. evaluates every run's final checkpoint, and every checkpoint when the mechanistic claim is among those run
   (its correlations read GG across checkpoints; the other claims read final checkpoints only)
   (``interp.runs.evaluations``, reusing what is saved);
3. for the mechanistic claim, measures head reuse at every checkpoint of the related groups and their
   controls with the cheap methods (mean ablation and the paper's attention difference), under the competent
   protocol and the paper's side by side, correlates it with GG (``interp.correlate``: per seed, across seeds,
   against the control), and analyses the best related seed's last checkpoint with every method;
4. writes each claim's record (``FIGURES/records/CLAIM.json``: the numbers every figure and sentence is drawn
   from, never a checkpoint), then redraws everything from the records: ``FIGURES/CLAIM.html`` (offline, with
   ``plotly.min.js`` beside it), a PNG of every figure (kaleido with the system's Chromium) and
   ``FIGURES/REPRODUCTION.md``.

``--redraw`` does step 4 alone from the committed records: no training, no checkpoints needed.
``--scale paper`` uses the paper's presets and lengths (for a GPU cluster: ``--executor ray --parallel N``);
``--scale mini`` the quickstart's model and budget (``small``, 3000 steps) at lengths 8 and 16.

Verdicts follow the rules in :mod:`interp.claims`, fixed in code before the runs they judge and quoted in
the report. Pitfall: a claim's record is rewritten whenever the claim is run again; the report says which
code and machine made each record.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from interp import head_overlap
from interp.claims import CLAIMS, DOMAINS, METHODS, Claim, Evidence
from interp.cli import add_device_argument, pick_device
from interp.correlate import AnalysisRequest, StatisticsSettings, correlate
from interp.errors import InterpError, cli_main
from interp.head_overlap import jsonable
from interp.plots import write_html, write_png
from interp.reuse import Protocol
from interp.run import checkpoint_steps
from interp.runs import RunResult, evaluations, expand_runs, final_results
from interp.storage import check_writable, read_json, write_json, write_text
from interp.train import training_seconds

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "sweeps"


@dataclass(frozen=True)
class Scale:
    """Where a scale's sweeps are, and how many examples its evaluations and analyses take."""

    name: str
    sweeps: dict[str, Path]
    """Sweep stem (what claims name) → its file."""
    eval_count: int
    analysis_count: int


SCALES = {
    "mini": Scale("mini", {stem: SWEEPS / "reproduce_mini" / f"{stem}.toml"
                           for stem in ("transfer", "nope", "length_ratio", "strings")}, 128, 64),
    "paper": Scale("paper", {**{stem: SWEEPS / "reproduce_paper" / f"{stem}.toml" for stem in ("transfer", "nope",
                                                                                           "strings")},
                             "length_ratio": SWEEPS / "fig10_lengths.toml"}, 1024, 128),
}


@dataclass(frozen=True)
class Settings:
    """One invocation's choices."""

    scale: Scale
    out: Path
    figures: Path
    executor: str
    parallel: int
    device: str
    progress: bool = True

    def sweep_dir(self, stem: str) -> Path:
        return self.out / self.scale.name / stem


# ---- the evidence --------------------------------------------------------------------------------------

def train(settings: Settings, stem: str) -> float:
    """Bring one sweep to trained and evaluated (``python -m interp.sweep``, resumable); its wall time in s."""
    command = [sys.executable, "-m", "interp.sweep", "--grid", str(settings.scale.sweeps[stem]), "--out",
               str(settings.sweep_dir(stem)), "--executor", settings.executor, "--eval-count",
               str(settings.scale.eval_count)]
    if settings.executor == "ray":
        command += ["--max-parallel", str(settings.parallel)]
        if settings.device == "cuda":
            command += ["--gpus-per-run", f"{1 / settings.parallel:.4g}"]
    began = time.perf_counter()
    status = subprocess.run(command).returncode
    if status != 0:
        raise InterpError(f"the {stem} sweep stopped with exit status {status} ({' '.join(command)}); run the same "
                          "command again to continue it")
    return time.perf_counter() - began


def evaluated(settings: Settings, stem: str, every_checkpoint: bool) -> list[RunResult]:
    """Every run of a sweep at its final checkpoint, evaluated; with ``every_checkpoint``, each of its checkpoints
    evaluated too."""
    runs = expand_runs([settings.sweep_dir(stem)])
    if every_checkpoint:
        for run in tqdm(runs, desc=f"evaluating {stem}", unit="run", disable=not settings.progress):
            evaluations(run, checkpoint_steps(run), settings.scale.eval_count, device=settings.device)
    return beside_related(settings, final_results(runs, settings.scale.eval_count, device=settings.device))


def beside_related(settings: Settings, results: list[RunResult]) -> list[RunResult]:
    """The results with each baseline evaluated at its related group's evaluation lengths: a baseline's own stop
    short of the related group's transfer window, where the claims compare the two."""
    related = next((result.group for result in results if result.group.kind == "transfer"), None)
    if related is None:
        return results
    lengths = related.eval_lengths(related.main.task)
    return [replace(result, evaluation=evaluations(result.path, [result.step], settings.scale.eval_count, lengths,
                                                   settings.device, result.config)[result.step])
            if result.group.kind == "baseline" else result for result in results]


def correlations(settings: Settings, stem: str, results: list[RunResult]) -> dict[str, dict[str, Any]]:
    """Reuse against GG over the checkpoints of the related group and its control, under both protocols."""
    domain = next(name for name, sweep in DOMAINS.items() if sweep == stem)
    runs = [result.path for result in results if result.group.kind in ("transfer", "control")]
    found = {}
    for protocol in Protocol:
        request = AnalysisRequest(METHODS, settings.scale.analysis_count, None, settings.device, settings.progress,
                                  protocol.value)
        found[f"{domain}/{protocol.value}"] = correlate(runs, None, request, settings.scale.eval_count,
                                                        settings=StatisticsSettings())
    return found


def head_maps(settings: Settings, results: list[RunResult]) -> dict[str, dict[str, Any]]:
    """The best related seed's last checkpoint analysed with every method: the maps the report shows."""
    related = [result for result in results if result.group.kind == "transfer"]
    if not related:
        return {}
    best = max(related, key=lambda result: result.main_accuracy)
    record = head_overlap.analyze(best.path, count=settings.scale.analysis_count, device=settings.device,
                                  progress=settings.progress)
    kept = ("step", "n_layers", "n_heads", "group", "tasks", "task_lengths", "pair_lengths", "maps", "settings")
    saved = record.to_json()
    return {best.label: {key: saved[key] for key in kept}}


def gather(settings: Settings, claims: list[Claim]) -> tuple[dict[str, Evidence], dict[str, float]]:
    """Train, evaluate and analyse what the claims need; each claim's evidence and each stage's wall time."""
    stems = list(dict.fromkeys(stem for claim in claims for stem in claim.sweeps if stem in settings.scale.sweeps))
    timings = {f"train {stem}": train(settings, stem) for stem in stems}
    results = {}
    for stem in stems:
        began = time.perf_counter()
        results[stem] = evaluated(settings, stem, every_checkpoint=CLAIMS["mechanism"] in claims)
        timings[f"evaluate {stem}"] = time.perf_counter() - began
    found: dict[str, dict[str, Any]] = {}
    analyses: dict[str, dict[str, Any]] = {}
    if CLAIMS["mechanism"] in claims:
        for stem in DOMAINS.values():
            if stem in results:
                began = time.perf_counter()
                found |= correlations(settings, stem, results[stem])
                analyses |= head_maps(settings, results[stem])
                timings[f"head reuse {stem}"] = time.perf_counter() - began
    evidence = {claim.name: Evidence({stem: results[stem] for stem in claim.sweeps if stem in results}, found, analyses)
                for claim in claims}
    return evidence, timings


# ---- records -------------------------------------------------------------------------------------------

def provenance(settings: Settings) -> dict[str, Any]:
    """Which code, machine and precision made a record."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit, "scale": settings.scale.name,
            "machine": machine(), "device": settings.device, "python": platform.python_version()}


def machine() -> str:
    """The CPU's model name and the cores this process may use (what CPU timings depend on)."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
             if line.startswith("model name")] if info.is_file() else []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{names[0] if names else platform.processor() or 'unknown CPU'}, {cores} cores"


def record_path(figures: Path, claim: str) -> Path:
    return figures / "records" / f"{claim}.json"


def write_record(settings: Settings, claim: Claim, evidence: Evidence | None, timings: dict[str, float]) -> dict:
    """Summarise, judge and write one claim's record (before anything is drawn from it)."""
    data = jsonable(claim.summarize(evidence)) if claim.summarize and evidence else {}
    verdict, reason = claim.judge(data)
    record = {"claim": claim.name, "verdict": verdict.value, "reason": reason,
              "command": f"python -m interp.reproduce --scale {settings.scale.name} --only {claim.name}",
              "made": provenance(settings),
              "timings": {stage: round(seconds) for stage, seconds in timings.items()
                          if any(stem in stage for stem in claim.sweeps)},
              "training": training_time(evidence), "data": data}
    write_json(record_path(settings.figures, claim.name), record)
    return record


def training_time(evidence: Evidence | None) -> dict[str, Any] | None:
    """The claim's runs' training time summed from their own logs (:func:`interp.train.training_seconds`), whichever
    invocation trained them: how many runs, how many logged it (runs trained before ``window_s`` did not) and their
    sum; None for a claim without runs."""
    runs = evidence.runs() if evidence else []
    if not runs:
        return None
    seconds = [found for found in (training_seconds(result.path) for result in runs) if found is not None]
    return {"runs": len(runs), "logged": len(seconds), "seconds": round(sum(seconds))}


def saved_records(figures: Path) -> dict[str, dict[str, Any]]:
    """Every claim's saved record, in SPEC §1's order."""
    return {name: read_json(record_path(figures, name)) for name in CLAIMS if record_path(figures, name).is_file()}


# ---- drawing -------------------------------------------------------------------------------------------

def redraw(figures: Path, png: bool = True) -> Path:
    """Every figure (offline HTML, PNG) and ``REPRODUCTION.md`` from the saved records; no training."""
    records = saved_records(figures)
    if not records:
        raise InterpError(f"{figures / 'records'} holds no record; run python -m interp.reproduce first")
    drawn: dict[str, list[str]] = {}
    for name, record in records.items():
        claim = CLAIMS[name]
        pictures = claim.figures(record["data"])
        drawn[name] = [f"{name}_{label}.png" for label, _ in pictures]
        if pictures:
            write_html(figures / f"{name}.html", [figure for _, figure in pictures], claim.title, shared_library=True)
        if png:
            for (_, figure), file in zip(pictures, drawn[name], strict=True):
                write_png(figures / file, figure)
    report = figures / "REPRODUCTION.md"
    write_text(report, reproduction_markdown(records, drawn))
    return report


def reproduction_markdown(records: dict[str, dict[str, Any]], drawn: dict[str, list[str]]) -> str:
    """The report: a verdict table, then per claim the paper, the rule, ours, the figures and the verdict."""
    lines = ["# Reproducing *Extrapolation by Association* at a reduced scale", "",
             "Cai et al., arXiv 2506.09251: every claim of SPEC §1 put to the test by the suite's own commands. This page "
             "and every figure are drawn from the records in `records/` by `python -m interp.reproduce --redraw`; "
             "each section names the command that made its record, on which code and machine. Verdicts follow rules "
             "fixed in `interp/claims.py` before the runs they judge.", "",
             "| claim | verdict | why |", "|---|---|---|"]
    for name, claim in CLAIMS.items():
        record = records.get(name)
        verdict, reason = (record["verdict"], record["reason"]) if record else ("not run", "no record yet")
        lines.append(f"| [{claim.title}](#{name}) | **{verdict}** | {reason} |")
    for name, claim in CLAIMS.items():
        lines += ["", f"<a id=\"{name}\"></a>", f"## {claim.title}", "", f"**The paper.** {claim.paper}", "",
                  f"**The rule.** {claim.rule}", ""]
        record = records.get(name)
        if record is None:
            lines += [f"Not run yet: `python -m interp.reproduce --only {name}`."]
            continue
        lines += claim_body(claim, record, drawn.get(name, []))
    return "\n".join(lines) + "\n"


def claim_body(claim: Claim, record: dict[str, Any], pictures: list[str]) -> list[str]:
    made = record["made"]
    timings = ", ".join(f"{stage} {seconds} s" for stage, seconds in record["timings"].items())
    training = record.get("training")
    if training is None:
        trained = ""
    elif training["logged"] == 0:
        trained = f"; the training time of its {training['runs']} runs is not in their logs (logged before window_s)"
    elif training["logged"] == training["runs"]:
        trained = f"; its {training['runs']} runs trained for {training['seconds'] / 60:.0f} min (summed from their logs)"
    else:
        trained = (f"; {training['logged']} of its {training['runs']} runs logged their training time, "
                   f"{training['seconds'] / 60:.0f} min in all (the others trained before window_s)")
    lines = ["**Ours.**", "", *claim.lines(record["data"]), ""]
    lines += [f"![{picture}]({picture})" for picture in pictures]
    lines += ["", f"**Verdict: {record['verdict']}** — {record['reason']}.", "",
              f"Made by `{record['command']}` on {made['date']} (code {made['commit']}, {made['machine']}, device "
              f"{made['device']}, Python {made['python']})" + (f"; this invocation's wall time: {timings}" if timings else "")
              + trained + "."]
    return lines


# ---- the command ---------------------------------------------------------------------------------------

def reproduce(settings: Settings, names: list[str]) -> Path:
    """Gather the evidence of the named claims, write their records, redraw everything."""
    claims = [CLAIMS[name] for name in names]
    check_writable(settings.figures)
    testable = [claim for claim in claims if claim.sweeps]
    evidence, timings = gather(settings, testable) if testable else ({}, {})
    for claim in claims:
        record = write_record(settings, claim, evidence.get(claim.name), timings)
        print(f"{claim.name}: {record['verdict']} — {record['reason']}")
    return redraw(settings.figures)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m interp.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=list(SCALES), default="mini")
    parser.add_argument("--only", nargs="+", choices=list(CLAIMS), metavar="CLAIM",
                        help=f"claims to run ({', '.join(CLAIMS)}; default: all)")
    parser.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="where the runs go")
    parser.add_argument("--figures", type=Path, default=ROOT / "figures", help="where records, figures and the report go")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (Ray; on a GPU they share it)")
    add_device_argument(parser)
    parser.add_argument("--redraw", action="store_true", help="only redraw the figures and the report from the records")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.redraw:
        print(f"wrote {redraw(args.figures)} and its figures")
        return
    if args.parallel < 1 or (args.parallel > 1 and args.executor != "ray"):
        raise InterpError("--parallel N runs N runs at once through Ray: give --executor ray (N ≥ 1)")
    device = str(pick_device(args.device))
    settings = Settings(SCALES[args.scale], args.out, args.figures, args.executor, args.parallel, device,
                        not args.quiet)
    report = reproduce(settings, args.only or list(CLAIMS))
    print(f"wrote {report}")


if __name__ == "__main__":
    main()
