"""The quickstart end to end at a toy budget (the real budget is measured in benchmarks/RESULTS.md)."""

import json
import subprocess
import sys


def test_quickstart_trains_both_runs_compares_and_resumes(tmp_path):
    command = [sys.executable, "-m", "interp.quickstart", "--out", str(tmp_path), "--steps", "12", "--device", "cpu",
               "--eval-count", "4", "--analysis-count", "4", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for run in ("add8_carry", "add8_only"):
        config = json.loads((tmp_path / run / "config.json").read_text())
        assert config["model_preset"] == "small" and config["training"]["steps"] == 12
        assert (tmp_path / run / "eval" / "step_000012.json").is_file()
    assert "lengths 9-16 (window)" in result.stdout and "verdict:" in result.stdout
    assert "mean|A-B|" in result.stdout  # the head-reuse summary
    assert (tmp_path / "add8_carry" / "analysis" / "report.html").is_file()
    again = subprocess.run(command, capture_output=True, text=True)  # everything is done: nothing retrains
    assert again.returncode == 0 and "nothing to do" in again.stderr
