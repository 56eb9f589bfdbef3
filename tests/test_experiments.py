"""Experiments write their three outputs, and a report states only what results hold."""

import json
import re

from seqlab.experiments import EXPERIMENTS, run_experiment
from seqlab.experiments.common import render_report


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+\.\d+(?:e-?\d+)?", text))


def test_quick_run_writes_report_results_and_plots(tmp_path):
    results = run_experiment(
        EXPERIMENTS["long-memory"], tmp_path, quick=True, log=lambda m: None
    )
    assert (tmp_path / "report.md").read_text().startswith("# Experiment `long-memory`")
    assert json.loads((tmp_path / "results.json").read_text())["name"] == "long-memory"
    assert results["plots"] and all((tmp_path / p).is_file() for p in results["plots"])
    # every figure the report states is in results.json
    report = (tmp_path / "report.md").read_text()
    assert numbers(report) <= numbers((tmp_path / "results.json").read_text())


def test_report_is_rendered_from_results_alone():
    results = {
        "name": "x",
        "claim": "c",
        "held": None,
        "setup": "s",
        "mode": "quick",
        "seeds": 1,
        "run_seconds": 1.0,
        "hardware": "h",
        "command": "seqlab experiment x",
        "tables": [{"title": "t", "columns": ["a"], "rows": [["0.123"]]}],
        "reading": "r 0.123",
        "plots": [],
    }
    report = render_report(results)
    assert "inconclusive" in report and "| 0.123 |" in report
    assert numbers(report) <= numbers(json.dumps(results))
