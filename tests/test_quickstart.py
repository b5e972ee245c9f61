"""The quickstart end to end at a toy budget (the real budget is measured in benchmarks/RESULTS.md)."""

import json
import subprocess
import sys
from pathlib import Path


def test_quickstart_trains_both_runs_compares_and_resumes(tmp_path):
    command = [sys.executable, "-m", "interp.quickstart", "--out", str(tmp_path), "--steps", "12", "--device", "cpu",
               "--eval-count", "4", "--analysis-count", "4", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for run in ("add8_carry", "add8_only"):
        config = json.loads((tmp_path / run / "config.json").read_text())
        assert config["model_preset"] == "small" and config["training"]["steps"] == 12
        assert (tmp_path / run / "eval" / "step_000012.json").is_file()
    assert "lengths 9-16 (window)" in result.stdout and "verdict (this seed):" in result.stdout
    assert "uncertainty: " in result.stdout  # never a verdict presented as certain from one seed
    assert "mean|A-B|" in result.stdout  # the head-reuse summary
    assert (tmp_path / "add8_carry" / "analysis" / "report.html").is_file()
    again = subprocess.run(command, capture_output=True, text=True)  # everything is done: nothing retrains
    assert again.returncode == 0 and "nothing to do" in again.stderr
    for flag, value, message in (("--steps", "20", "already holds a run of 12 steps, not --steps 20"),
                                 ("--eval-count", "0", "--eval-count must be at least 1"),
                                 ("--analysis-count", "1", "--analysis-count must be at least 2")):
        changed = [*command, flag, value]  # argparse: the last value of a flag wins
        before = (tmp_path / "add8_carry" / "config.json").read_bytes()
        bad = subprocess.run(changed, capture_output=True, text=True)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
        assert "== training" not in bad.stdout  # refused before any training
        assert (tmp_path / "add8_carry" / "config.json").read_bytes() == before


def test_verdict_needs_both_runs_to_learn_their_training_lengths_and_states_its_uncertainty():
    from interp.evaluate import Evaluation, TaskAccuracy
    from interp.quickstart import (
        Measured,
        Outcome,
        Settings,
        comparison,
        judge,
        learned_without_transfer,
        load_settings,
    )

    settings = load_settings()
    main = settings.main_length

    def summary(accuracy: dict[int, float]) -> Evaluation:
        add = TaskAccuracy("main", main, accuracy, {n: (a, a) for n, a in accuracy.items()}, dict.fromkeys(accuracy, 256))
        return Evaluation(0, {"add": add}, 0.5, None, None, None, 0.9, {})

    lengths = range(1, int(2.5 * main) + 1)
    beyond = summary({n: 1.0 if n <= main + 2 else 0.0 for n in lengths})
    learned = summary({n: 1.0 if n <= main else 0.0 for n in lengths})
    never = summary({n: 0.3 if n == 1 else 0.0 for n in lengths})
    assert judge(beyond, learned, main) == (Outcome.TRANSFER, judge(beyond, learned, main)[1])
    assert f"verdict (this seed): transfer up to length {main + 2}" in comparison(beyond, learned, settings)
    assert judge(learned, learned, main)[0] is Outcome.NO_TRANSFER
    assert judge(beyond, never, main)[0] is judge(never, learned, main)[0] is Outcome.INCONCLUSIVE
    assert learned_without_transfer(learned, main)  # what a baseline should do
    assert not learned_without_transfer(beyond, main) and not learned_without_transfer(never, main)
    measured = Settings(settings.model, settings.group, settings.baseline, Measured(5, 4, 5, "a test"))
    text = comparison(beyond, learned, measured)
    assert "transferred in 4 of 5 seeds (95% interval 0.38-0.96)" in text and "uncertainty:" in text


def test_quickstart_search_judges_each_seed_pair_of_a_sweep_with_the_quickstart_rule(tmp_path):
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    grid = tmp_path / "search.toml"
    grid.write_text('description = "micro search"\n[base]\nmodel = "micro"\nsteps = 4\n'
                    '[grid]\ngroup = ["add8_carry", "add8_only"]\nseed = [0, 1]\n')
    out = tmp_path / "out"
    sweep = subprocess.run([sys.executable, "-m", "interp.sweep", "--grid", str(grid), "--out", str(out),
                            "--eval-count", "2"], capture_output=True, text=True)
    assert sweep.returncode == 0, sweep.stderr
    with open(out / "add8_carry-s0" / "metrics.jsonl", "a") as metrics:  # seed 0's group run leaves the plateau
        metrics.write(json.dumps({"step": 4, "kind": "train", "loss": 0.1, "loss_by_task": {"add": 0.1}}) + "\n")
    for evaluation in (out / "add8_only-s1" / "eval").glob("step_*.json"):  # seed 1's pair is unfinished
        evaluation.unlink()
    search = [sys.executable, str(benchmarks / "quickstart_search.py"), "--sweep", str(out)]
    result = subprocess.run(search, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # micro runs learn nothing in 4 steps: inconclusive; the median over one seed is its escape step
    assert "| model micro, steps 4 | 1 | 0 (0.00-0.79) | 0 | 1 | 4 / - |" in result.stdout
    assert "1 seed pair(s) left out" in result.stdout
    missing = subprocess.run([*search[:2], "--sweep", str(tmp_path / "none")], capture_output=True, text=True)
    assert missing.returncode != 0 and missing.stderr.strip().count("\n") == 0 and "not found" in missing.stderr
