"""Experiments write their three outputs, and a report states only what results hold.

Each experiment runs in smoke mode (smaller than --quick: a few steps per model), so
the whole set checks the plumbing in about a minute; the --quick runs themselves
are timed by hand (docs/EXPERIMENTS.md).
"""

import json
import os
import re

import pytest

from seqlab.cli import main
from seqlab.experiments import EXPERIMENTS, reverse_peeky, run_experiment
from seqlab.experiments.common import Context, render_report, spread
from seqlab.experiments.runs import Trained

NAMES = [
    "activations",
    "long-memory",
    "gru-vs-lstm",
    "fc-vs-rnn",
    "reverse-peeky",
    "attention-length",
    "better-rnnlm",
    "transformer-speed",
    "parallel-rnn",
]
NEEDS_DATA = {
    "gru-vs-lstm",
    "reverse-peeky",
    "attention-length",
    "better-rnnlm",
    "transformer-speed",
    "parallel-rnn",
}


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+\.\d+(?:e-?\d+)?", text))


def test_list_names_every_experiment(capsys):
    assert main(["experiment", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == NAMES == list(EXPERIMENTS)


@pytest.mark.parametrize("name", NAMES)
def test_smoke_run_writes_report_results_and_plots(name, tmp_path):
    if name in NEEDS_DATA and "SEQLAB_DATA" not in os.environ:
        pytest.skip("needs the data sets (SEQLAB_DATA)")
    results = run_experiment(
        EXPERIMENTS[name], tmp_path, smoke=True, log=lambda m: None
    )
    report = (tmp_path / "report.md").read_text()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert report.startswith(f"# Experiment `{name}`")
    assert saved["name"] == name and saved["mode"] == "smoke"
    assert results["plots"] and all((tmp_path / p).is_file() for p in results["plots"])
    assert all(p.endswith(".png") for p in results["plots"])
    # the report is a function of results.json alone: no figure comes from elsewhere
    assert render_report(saved) == report
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
    results["held"] = True
    assert "the claim held" in render_report(results)


def fake_addition_runs(accuracy: dict[str, float]) -> dict:
    summary = {"parameters": 1, "steps": 1}
    return {
        name: [Trained({**summary, "test_accuracy": acc}, [], "")]
        for name, acc in accuracy.items()
    }


@pytest.mark.parametrize(
    "accuracy, held",
    [
        ((0.10, 0.50, 0.12, 0.99, 0.99), True),  # the book's figures
        ((0.50, 0.10, 0.12, 0.99, 0.99), False),  # reverse hurts
        ((0.01, 0.02, 0.01, 0.05, 0.03), None),  # nothing learned yet
    ],
)
def test_reverse_peeky_verdict_is_computed_from_the_accuracies(accuracy, held):
    names = list(reverse_peeky.VARIANTS)
    trained = fake_addition_runs(dict(zip(names, accuracy, strict=True)))
    stats = {n: spread([a]) for n, a in zip(names, accuracy, strict=True)}
    ctx = Context(out_dir=None, seeds=1)
    results = reverse_peeky.summarize(ctx, trained, stats, 100, None)
    assert results["held"] is held


def test_spread_of_a_diverged_run_is_infinite_not_an_error():
    assert spread([0.1, float("inf")]) == {"mean": float("inf"), "std": float("inf")}
    assert spread([0.5]) == {"mean": 0.5, "std": 0.0}
