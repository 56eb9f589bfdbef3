"""Experiments write their three outputs, and a report states only what results hold.

Each experiment runs in smoke mode (smaller than --quick: a few steps per model), so
the whole set checks the plumbing in about a minute; the --quick runs themselves
are timed by hand (docs/EXPERIMENTS.md).
"""

import json
import os
import pathlib
import re

import pytest

from seqlab.cli import main
from seqlab.config import ConfigError, save_config, validate
from seqlab.experiments import EXPERIMENTS, reverse_peeky, run_experiment, runs
from seqlab.experiments.common import (
    VERDICTS,
    Context,
    render_report,
    separated,
    spread,
)
from seqlab.experiments.runs import Trained
from seqlab.run import train as run_train
from seqlab.tasks.lm import LMRunConfig

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
    "peephole",
    "decoders",
    "bidirectional",
    "teacher-forcing",
    "relu-vanishing",
    "gru-overfitting",
    "dropout-schemes",
    "beam",
]
NEEDS_DATA = {
    "bidirectional",
    "dropout-schemes",
    "gru-vs-lstm",
    "reverse-peeky",
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
    assert saved["verdict"] in VERDICTS and saved["rule"] and saved["budget"]
    assert "minutes" not in saved["budget"] and "max_minutes" not in saved["command"]
    assert f"**Verdict: {saved['verdict']}.**" in report
    assert results["plots"] and all((tmp_path / p).is_file() for p in results["plots"])
    assert all(p.endswith(".png") for p in results["plots"])
    # the report is a function of results.json alone: no figure comes from elsewhere
    assert render_report(saved) == report
    # no f-string left unformatted in the prose
    assert not re.search(r"\{[^}]*\}", saved["reading"] + saved["setup"])
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
    assert "**Verdict: held.**" in render_report(results)


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


def lm_run(text_file, steps: int) -> dict:
    """A tiny experiment run config (a dict, as the experiments build them)."""
    return {
        "task": "lm",
        "data": {"path": str(text_file), "bptt": 8, "val_fraction": 0.2},
        "model": {
            "kind": "rnn_lm",
            "cell": "gru",
            "embedding_size": 8,
            "hidden_size": 16,
        },
        "train": {
            "batch_size": 4,
            "lr": 1e-2,
            "epochs": 50,
            "eval_every": 10,
            "max_steps": steps,
            "progress": False,
        },
    }


def test_resume_reuses_finished_runs_and_continues_a_stopped_one(tmp_path):
    text = tmp_path / "pattern.txt"
    text.write_text("the cat sat on the mat. " * 60, encoding="utf-8")
    logs: list[str] = []
    full = runs.train(
        Context(tmp_path / "full", log=logs.append), "a", lm_run(text, 40)
    )
    # A kill at step 20 of the 40-step run: its config, a last checkpoint, no summary.
    ctx = Context(tmp_path / "exp", log=logs.append, resume=True)
    stopped = ctx.out_dir / "runs" / "a"
    run_train(validate_lm(lm_run(text, 20)), stopped, log=lambda _: None)
    save_config(validate_lm(lm_run(text, 40)), stopped / "config.yaml")
    (stopped / "summary.json").unlink()
    resumed = runs.train(ctx, "a", lm_run(text, 40))
    assert logs[-1] == "  resume a"
    assert losses(resumed) == losses(full)  # exact: the same 40 steps
    again = runs.train(ctx, "a", lm_run(text, 40))
    assert logs[-1] == "  reuse a (finished earlier with this config)"
    assert again.summary == resumed.summary
    summary = stopped / "summary.json"  # a run that diverged is not a result
    summary.write_text(json.dumps({**again.summary, "stop_reason": "diverged"}))
    with pytest.raises(ConfigError, match="diverged"):
        runs.train(ctx, "a", lm_run(text, 40))
    other = runs.train(ctx, "a", lm_run(text, 30))  # another config: trained afresh
    assert logs[-1] == "  train a" and other.summary["steps"] == 30
    fresh = Context(tmp_path / "exp", log=logs.append)  # no --resume: afresh too
    assert runs.train(fresh, "a", lm_run(text, 30)).summary["steps"] == 30
    assert logs[-1] == "  train a"


def losses(trained: Trained) -> list[tuple]:
    return [(r["step"], r["train_loss"], r["val_loss"]) for r in trained.history]


def validate_lm(config: dict):
    return validate(LMRunConfig, config, "test")


def test_spread_of_a_diverged_run_is_infinite_not_an_error():
    assert spread([0.1, float("inf")]) == {"mean": float("inf"), "std": float("inf")}
    assert spread([0.5]) == {"mean": 0.5, "std": 0.0}


def test_separated_needs_more_than_two_standard_errors():
    high, low = {"mean": 0.9, "std": 0.05}, {"mean": 0.8, "std": 0.05}
    assert separated(high, low, 3)  # difference 0.1 > 2 * 0.041
    assert not separated(high, low, 2)  # two seeds: 0.1 is not above 2 * 0.05
    assert not separated({"mean": 0.9, "std": 0.2}, low, 3)  # within the noise
    assert not separated(low, high, 3)
    assert separated(high, low, 1)  # one seed: the plain comparison
    assert separated({"mean": float("inf"), "std": float("inf")}, low, 3)


def test_activations_verdict_agrees_with_its_reading():
    """A run in which the gated cells carry the gradient no further, or in which no
    model learned more than predicting 1, must not be called held."""
    from seqlab.experiments import activations

    probe = {"init": [1e-3, 1.0], "trained": [1e-3, 1.0]}
    probes = {name: dict(probe) for name in activations.CELLS}
    probes["RNN-sigmoid"] = {"init": [1e-5, 1.0], "trained": [1e-5, 1.0]}
    probes["LSTM"] = {"init": [1e-2, 1.0], "trained": [1e-2, 1.0]}
    probes["GRU"] = {"init": [1e-2, 1.0], "trained": [1e-2, 1.0]}

    def curves(tanh, sigmoid, relu=0.01):
        out = {}
        for act, final in (("tanh", tanh), ("sigmoid", sigmoid), ("relu", relu)):
            for clip in ("clip 1.0", "no clip"):
                diverged = [5] if (act == "relu" and clip == "no clip") else [None]
                stats = spread([final] if diverged == [None] else [float("inf")])
                out[f"RNN-{act}, {clip}"] = {
                    "losses": [[final]],
                    "diverged": diverged,
                    "final": stats,
                }
        return out

    ctx = Context(out_dir=None, seeds=1)
    mse = dict.fromkeys(activations.CELLS, 0.1)
    held = activations.summarize(ctx, probes, mse, curves(0.05, 0.1), (2, 1, 1))
    assert held["held"] is True
    probes["LSTM"] = dict(probe)  # no further than RNN-tanh
    held = activations.summarize(ctx, probes, mse, curves(0.05, 0.1), (2, 1, 1))
    assert held["held"] is False and "do not carry it further" in held["reading"]
    probes["LSTM"] = {"init": [1e-2, 1.0], "trained": [1e-2, 1.0]}
    nothing = activations.summarize(
        ctx, probes, mse, curves(0.16, 0.17, 0.15), (2, 1, 1)
    )
    assert nothing["held"] is None


def published() -> dict:
    root = pathlib.Path(__file__).parent.parent / "docs" / "experiments"
    out = {}
    for path in sorted(root.glob("*/results.json")):
        results = json.loads(path.read_text())
        if "verdict" in results:
            out[path.parent.name] = results
    return out


def claims_table(readme: str, header: str) -> dict[str, str]:
    """experiment -> its verdict cell in the README's claims table (the table whose
    header line starts with ``header``)."""
    lines = readme[readme.index(header) :].split("\n\n")[0].splitlines()[2:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {row[0].strip("`"): row[2] for row in rows}


def test_readme_claims_table_matches_the_published_results():
    """The README's verdicts are those of docs/experiments/*/results.json; an
    experiment without a published full run says so."""
    root = pathlib.Path(__file__).parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    table = claims_table(readme, "| experiment | claim | verdict |")
    zh_readme = (root / "README.zh-CN.md").read_text(encoding="utf-8")
    zh = claims_table(zh_readme, "| 实验 | 论断 | 结论 |")
    zh_words = {"held": "成立", "not held": "不成立", "inconclusive": "无定论"}
    runs = published()
    assert set(table) == set(NAMES) == set(zh)
    for name in NAMES:
        if name in runs:
            assert runs[name]["mode"] == "full", name
            assert runs[name]["seeds"] >= (2 if name == "better-rnnlm" else 3), name
            assert table[name] == runs[name]["verdict"], name
            assert zh[name] == zh_words[runs[name]["verdict"]], name
        else:
            assert table[name] == "not run yet", name
            assert zh[name] == "尚未运行", name


def test_beam_verdict_pairs_each_model_with_its_own_greedy_search():
    """Models that differ by 2 BLEU from seed to seed, each gaining 0.5 from the
    beam: held (an unpaired comparison of the means would call it noise); a gain
    whose sign changes from model to model is not."""
    from seqlab.experiments import beam

    def results(gains):
        greedy = [20.0, 22.0, 24.0]
        out = {}
        for p in beam.PENALTIES:
            for w in beam.WIDTHS:
                gain = [d if w > 1 else 0.0 for d in gains]
                out[f"beam {w}, length penalty {p}"] = {
                    "width": w,
                    "length_penalty": p,
                    "bleu": spread([g + d for g, d in zip(greedy, gain, strict=True)]),
                    "gain": spread(gain),
                    "gains": gain,
                    "seconds": spread([1.0, 1.0, 1.0]),
                }
        return out

    ctx = Context(out_dir=None, seeds=3)
    assert beam.summarize(ctx, results([0.5, 0.6, 0.4]), 10)["held"] is True
    assert beam.summarize(ctx, results([1.0, -0.8, 0.4]), 10)["held"] is False


def hold_lock(lock: pathlib.Path, seconds: float, then: str = ""):
    """Another invocation: a process holding ``lock`` for ``seconds``, then running
    the Python ``then`` before it lets go; returned once it holds the lock."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, json, pathlib, time\n"
            f"f = open({str(lock)!r}, 'a'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            f"print('held', flush=True); time.sleep({seconds})\n{then}\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_run_another_process_is_training_is_waited_for_then_reused(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    import time

    text = tmp_path / "pattern.txt"
    text.write_text("the cat sat on the mat. " * 60, encoding="utf-8")
    lock = tmp_path / "exp" / "runs" / "a.lock"
    lock.parent.mkdir(parents=True)
    holder = hold_lock(lock, 3)  # another invocation, busy with run "a"
    logs: list[str] = []
    ctx = Context(tmp_path / "exp", log=logs.append, resume=True)
    start = time.perf_counter()
    trained = runs.train(ctx, "a", lm_run(text, 10))
    assert time.perf_counter() - start > 1.0  # it waited for the holder
    assert logs[:2] == ["  wait: another process is training a", "  train a"]
    assert trained.summary["steps"] == 10 and holder.wait() == 0
    with open(lock, "a") as f:  # released: nobody holds it now
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_cached_part_is_reused_only_with_resume_and_the_same_config(tmp_path):
    calls, logs = [], []

    def compute(progress):
        calls.append(1)
        return {"accuracy": 0.5 + len(calls), "lengths": (3, 8)}

    ctx = Context(tmp_path, log=logs.append, resume=True)
    first = runs.cached(ctx, "toy-seed0", {"steps": 10, "lengths": (3, 8)}, compute)
    again = runs.cached(ctx, "toy-seed0", {"steps": 10, "lengths": (3, 8)}, compute)
    assert first == {"accuracy": 1.5, "lengths": (3, 8)} and len(calls) == 1
    assert again == {"accuracy": 1.5, "lengths": [3, 8]}  # as JSON keeps it
    assert logs == ["  reuse toy-seed0 (finished earlier with this config)"]
    other = runs.cached(ctx, "toy-seed0", {"steps": 20, "lengths": (3, 8)}, compute)
    assert other["accuracy"] == 2.5
    fresh = Context(tmp_path, resume=False)  # no --resume: computed again
    assert runs.cached(fresh, "toy-seed0", {"steps": 20}, compute)["accuracy"] == 3.5
    (tmp_path / "runs" / "toy-seed0.json").write_text('{"config": {"ste')  # cut short
    assert runs.cached(ctx, "toy-seed0", {"steps": 20}, compute)["accuracy"] == 4.5


def test_attention_length_resumed_reuses_its_toy_models_and_redraws_the_map(tmp_path):
    logs: list[str] = []
    first = run_experiment(
        EXPERIMENTS["attention-length"], tmp_path, smoke=True, log=lambda m: None
    )
    (tmp_path / "attention_longest.png").unlink()
    again = run_experiment(
        EXPERIMENTS["attention-length"],
        tmp_path,
        smoke=True,
        log=logs.append,
        resume=True,
    )
    from seqlab.experiments import attention_length

    reused = [m for m in logs if m.startswith("  reuse reverse-")]
    assert len(reused) == len(attention_length.DECODERS)  # one seed in smoke mode
    assert (tmp_path / "attention_longest.png").is_file()
    assert again["plots"] == first["plots"] and again["reading"] == first["reading"]


def test_a_part_another_process_is_computing_is_waited_for_then_reused(tmp_path):
    pytest.importorskip("fcntl")
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    saved = {"config": {"steps": 10}, "result": {"accuracy": 0.9}}
    holder = hold_lock(  # another invocation, computing part "toy-seed0"
        runs_dir / "toy-seed0.lock",
        1.5,
        then=f"pathlib.Path({str(runs_dir / 'toy-seed0.json')!r})"
        f".write_text(json.dumps({saved!r}))",
    )
    logs: list[str] = []
    ctx = Context(tmp_path, log=logs.append, resume=True)
    result = runs.cached(ctx, "toy-seed0", {"steps": 10}, lambda _: {"accuracy": 0.1})
    assert result == {"accuracy": 0.9} and holder.wait() == 0  # its result, not ours
    assert logs == [
        "  wait: another process is training toy-seed0",
        "  reuse toy-seed0 (finished earlier with this config)",
    ]


def test_a_cached_part_finds_its_own_progress_only_with_resume(tmp_path):
    seen, logs = [], []

    def stopped(progress):  # stopped part-way, leaving progress behind
        seen.append(progress.is_file())
        progress.write_text("step 5")
        raise KeyboardInterrupt

    def finished(progress):
        seen.append(progress.is_file())
        return {"steps": 10}

    ctx = Context(tmp_path, log=logs.append, resume=True)
    with pytest.raises(KeyboardInterrupt):
        runs.cached(ctx, "toy-seed0", {"steps": 10}, stopped)
    assert runs.cached(ctx, "toy-seed0", {"steps": 10}, finished) == {"steps": 10}
    assert seen == [False, True]
    assert logs == ["  resume toy-seed0 (stopped part-way earlier)"]
    assert not list((tmp_path / "runs").glob("*.progress"))  # done: removed
    with pytest.raises(KeyboardInterrupt):
        runs.cached(ctx, "toy-seed0", {"steps": 20}, stopped)
    with pytest.raises(KeyboardInterrupt):  # another config: not its progress
        runs.cached(ctx, "toy-seed0", {"steps": 30}, stopped)
    fresh = Context(tmp_path, resume=False)  # no --resume: starts over
    runs.cached(fresh, "toy-seed0", {"steps": 20}, finished)
    assert seen[2:] == [False, False, False]


def test_a_toy_training_stopped_part_way_continues_to_the_same_weights(tmp_path):
    import torch

    from seqlab.experiments import toyseq

    def trained(stop_at=None, checkpoint=None):
        taken = []

        def forcing(step):  # the model's own 1.0; a stop (Ctrl-C) at stop_at
            if step == stop_at:
                raise KeyboardInterrupt
            taken.append(step)
            return 1.0

        net = toyseq.model(0, hidden_size=16)
        run = toyseq.train(
            net,
            "reverse",
            (3, 6),
            steps=12,
            seed=0,
            teacher_forcing=forcing,
            every=2,
            checkpoint=checkpoint,
            save_every=0.0,
        )
        return net, run, taken

    straight, run, _ = trained()
    checkpoint = tmp_path / "toy.progress"
    with pytest.raises(KeyboardInterrupt):
        trained(stop_at=8, checkpoint=checkpoint)
    assert checkpoint.is_file()  # saved after step 7
    resumed, again, taken = trained(checkpoint=checkpoint)
    assert taken == list(range(8, 13))  # it went on from step 8
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert again.losses == run.losses and len(run.losses) == 6
    assert not checkpoint.exists()  # done: removed
