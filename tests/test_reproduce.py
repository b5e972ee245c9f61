"""interp.reproduce end to end on a micro grid (never the mini scale): sweep, evaluation of every checkpoint, head
reuse per checkpoint under both protocols, records, figures and the report; then --redraw from the records alone."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from interp.claims import CLAIMS, Verdict, judge_ratio, judge_transfer
from interp.reproduce import SCALES, Scale, Settings, evaluated, main, redraw, reproduce

GROUPS = {
    "t": ("transfer", [("copy", 3), ("reverse", 6)]),
    "b": ("baseline", [("copy", 3)]),
    "c": ("control", [("copy", 3), ("capitalize", 6)]),
}


def write_micro_grid(folder: Path) -> Path:
    for name, (kind, tasks) in GROUPS.items():
        entries = [f'[main]\ntask = "{tasks[0][0]}"\nmax_length = {tasks[0][1]}\n']
        entries += [f'[[aux]]\ntask = "{task}"\nmax_length = {length}\n' for task, length in tasks[1:]]
        (folder / f"{name}.toml").write_text(f'kind = "{kind}"\ndescription = "test group {name}"\n\n' + "\n".join(entries))
    grid = folder / "transfer.toml"
    grid.write_text('description = "micro reproduction"\n[base]\nmodel = "micro"\nsteps = 20\ncheckpoint_every = 10\n'
                    'seed = 0\n[grid]\ngroup = ["t.toml", "b.toml", "c.toml"]\n')
    return grid


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reproduce")
    scale = Scale("micro", {"transfer": write_micro_grid(folder)}, eval_count=8, analysis_count=4)
    settings = Settings(scale, folder / "runs", folder / "figures", "local", 1, "cpu", progress=False)
    report = reproduce(settings, ["transfer", "mechanism", "pretrained"])
    return settings, report


def test_without_the_mechanistic_claim_only_final_checkpoints_are_evaluated(reproduced, tmp_path):
    settings, _ = reproduced
    copy = replace(settings, out=tmp_path / "runs", figures=tmp_path / "figures")
    shutil.copytree(settings.sweep_dir("transfer"), copy.sweep_dir("transfer"),
                    ignore=shutil.ignore_patterns("eval", "analysis"))
    results = evaluated(copy, "transfer", every_checkpoint=False)
    assert {result.step for result in results} == {20}
    for result in results:
        assert sorted(path.name for path in (result.path / "eval").glob("step_*.json")) == ["step_000020.json"]


@pytest.mark.slow
def test_a_micro_reproduction_writes_records_figures_and_the_report(reproduced):
    settings, report = reproduced
    figures = settings.figures
    records = {path.stem: json.loads(path.read_text()) for path in (figures / "records").glob("*.json")}
    assert set(records) == {"transfer", "mechanism", "pretrained"}
    transfer = records["transfer"]
    assert transfer["verdict"] == "inconclusive" and "fewer than 2 seeds learned" in transfer["reason"]
    assert set(transfer["data"]["conditions"]) == {"transfer", "baseline", "control"}
    assert transfer["data"]["window"] == [3, 6]  # the related group's: copy past 3 up to 6
    baseline = next(run for run in transfer["data"]["runs"] if run["kind"] == "baseline")
    copy = baseline["evaluation"]["tasks"]["copy"]["accuracy"]  # evaluated over the related group's lengths too
    assert baseline["window"] == pytest.approx(sum(copy[str(length)] for length in (4, 5, 6)) / 3)
    assert transfer["command"] == "python -m interp.reproduce --scale micro --only transfer"
    assert transfer["made"]["device"] == "cpu" and "train transfer" in transfer["timings"]
    runs = transfer["data"]["runs"]  # the runs' own training time, whichever invocation trained them
    assert transfer["training"]["runs"] == transfer["training"]["logged"] == len(runs)
    assert transfer["training"]["seconds"] >= 0
    assert records["pretrained"]["verdict"] == "not tested"
    mechanism = records["mechanism"]["data"]["domains"]["arithmetic"]
    assert set(mechanism["protocols"]) == {"competent", "paper"}
    for correlation in mechanism["protocols"].values():
        assert set(correlation["runs"]) == {"c-s0", "t-s0"} and correlation["settings"]["steps"] == "all"
    assert mechanism["head_maps"]["maps"]  # the best related seed, every method
    run = settings.sweep_dir("transfer") / "t-s0"
    assert sorted(path.name for path in (run / "eval").glob("step_*.json")) == [
        "step_000000.json", "step_000010.json", "step_000020.json"]  # every checkpoint evaluated
    assert (run / "analysis" / "paper" / "steps" / "step_000010.json").is_file()  # both protocols, kept apart
    page = (figures / "transfer.html").read_text()
    assert 'src="plotly.min.js"' in page and (figures / "plotly.min.js").is_file()  # one library, offline
    assert (figures / "transfer_window.png").read_bytes()[:4] == b"\x89PNG"
    text = report.read_text()
    for claim in CLAIMS.values():
        assert claim.title in text
    assert "Not run yet: `python -m interp.reproduce --only length_ratio`" in text
    assert "![transfer_window.png](transfer_window.png)" in text
    assert f"its {len(runs)} runs trained for" in text and "this invocation's wall time: train transfer" in text


@pytest.mark.slow
def test_redraw_rebuilds_every_figure_and_the_report_from_the_records_alone(reproduced, tmp_path):
    settings, report = reproduced
    copy = tmp_path / "figures"
    shutil.copytree(settings.figures / "records", copy / "records")  # no runs, no checkpoints
    main(["--redraw", "--figures", str(copy)])
    for name in ("REPRODUCTION.md", "transfer.html", "mechanism.html"):
        assert (copy / name).read_text() == (settings.figures / name).read_text()
    assert {path.name for path in copy.glob("*.png")} == {path.name for path in settings.figures.glob("*.png")}


COMMITTED = Path(__file__).resolve().parents[1] / "figures"


@pytest.mark.skipif(not (COMMITTED / "records").is_dir(), reason="no committed records yet")
def test_the_committed_records_redraw_the_committed_report_and_figures(tmp_path):
    """On a fresh checkout --redraw rebuilds what figures/ holds from its records alone (PNGs left out: they
    need Chromium, and the browser test covers the export)."""
    copy = tmp_path / "figures"
    shutil.copytree(COMMITTED / "records", copy / "records")
    redraw(copy, png=False)
    assert (copy / "REPRODUCTION.md").read_text() == (COMMITTED / "REPRODUCTION.md").read_text()
    pages = sorted(path.name for path in COMMITTED.glob("*.html"))
    assert pages and pages == sorted(path.name for path in copy.glob("*.html"))
    for page in pages:
        assert (copy / page).read_text() == (COMMITTED / page).read_text()


def record_of(conditions: dict) -> dict:
    return {"conditions": {kind: {"group": kind, "learned": [True] * learned, "seeds": list(range(learned)),
                                  "transfer_window_accuracy": {"mean": mean, "ci": [None, None] if mean is None
                                                               else [mean - 0.1, mean + 0.1]}}
                           for kind, (learned, mean) in conditions.items()}, "runs": []}


def test_the_transfer_rule_on_known_records():
    assert judge_transfer(record_of({"transfer": (3, 0.9), "baseline": (3, 0.1), "control": (3, 0.2)}))[0] \
        is Verdict.REPRODUCED
    assert judge_transfer(record_of({"transfer": (3, 0.3), "baseline": (3, 0.25), "control": (3, 0.0)}))[0] \
        is Verdict.NOT_REPRODUCED
    assert judge_transfer(record_of({"transfer": (3, 0.5), "baseline": (3, 0.25), "control": (3, 0.0)}))[0] \
        is Verdict.INCONCLUSIVE
    verdict, reason = judge_transfer(record_of({"transfer": (1, 0.9), "baseline": (3, 0.1), "control": (3, 0.1)}))
    assert verdict is Verdict.INCONCLUSIVE and "transfer" in reason
    verdict, reason = judge_transfer(record_of({"transfer": (3, 0.9), "baseline": (3, None), "control": (3, 0.1)}))
    assert verdict is Verdict.INCONCLUSIVE and "baseline" in reason  # never compared over a window it lacks


def test_the_length_ratio_rule_on_known_cells():
    def cells(**gg):
        return {"cells": {key: {"ratio": ratio, "mean_gg": value} for key, (ratio, value) in gg.items()}}

    assert judge_ratio(cells(a=(2, 0.1), b=(0.5, 0.2), c=(4, 0.8), d=(0.25, 0.9)))[0] is Verdict.REPRODUCED
    assert judge_ratio(cells(a=(2, 0.8), b=(0.5, 0.9), c=(4, 0.2), d=(0.25, 0.3)))[0] is Verdict.NOT_REPRODUCED
    assert judge_ratio(cells(a=(2, None), b=(0.5, None), c=(4, 0.2)))[0] is Verdict.INCONCLUSIVE


def test_no_transfer_gg_is_the_share_of_lengths_between_the_two_training_lengths():
    from interp.claims import no_transfer_gg
    from interp.evaluate import generalization_gap
    from interp.groups import load_group

    assert no_transfer_gg(4, 16) == 0.75 and no_transfer_gg(8, 4) == 0.5 and no_transfer_gg(8, 8) == 0.0
    group = load_group("add8_carry")  # add to 8, nocarry and carry to 16: each exact on its lengths, then 0
    accuracy = {spec.task: {n: float(n <= spec.max_length) for n in range(1, 21)} for spec in group.specs}
    assert generalization_gap(group, accuracy) == no_transfer_gg(8, 16)


def test_scales_name_existing_sweeps():
    for scale in SCALES.values():
        for stem, path in scale.sweeps.items():
            assert path.is_file(), (scale.name, stem)
        assert {stem for claim in CLAIMS.values() for stem in claim.sweeps} <= set(scale.sweeps)


@pytest.mark.parametrize("arguments, message", [
    (["--parallel", "2"], "give --executor ray"),
    (["--redraw", "--figures", "{tmp}"], "holds no record"),
])
def test_bad_input_gives_one_line(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([argument.replace("{tmp}", str(tmp_path)) for argument in arguments])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and error.startswith("error: ") and message in error and error.count("\n") == 1


def test_a_png_export_that_fails_once_is_retried_and_one_that_keeps_failing_is_one_line(tmp_path, monkeypatch):
    import plotly.graph_objects as go

    from interp import plots
    from interp.errors import InterpError

    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("kaleido_scopes is not defined")
        return b"\x89PNG"

    monkeypatch.setattr(plots.pio, "to_image", flaky)
    assert plots.write_png(tmp_path / "a.png", go.Figure()).read_bytes() == b"\x89PNG" and len(calls) == 2
    monkeypatch.setattr(plots.pio, "to_image", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no Chromium")))
    with pytest.raises(InterpError, match="cannot export b.png as PNG .RuntimeError: no Chromium."):
        plots.write_png(tmp_path / "b.png", go.Figure())
    assert not (tmp_path / "b.png").exists()
