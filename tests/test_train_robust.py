"""Runs that survive: signals, finished and broken runs, divergence, bf16, budgets."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
import yaml
from tests.test_train import losses, tiny_config

from seqlab import cli, run
from seqlab.checkpoint import CheckpointError, load_checkpoint
from seqlab.config import ConfigError
from seqlab.run import Validation, _final_load, load_run, train
from seqlab.tasks.base import Capabilities
from seqlab.train import TrainConfig, Trainer


@pytest.fixture
def pattern_file(tmp_path):
    path = tmp_path / "pattern.txt"
    path.write_text("the cat sat on the mat. " * 60, encoding="utf-8")
    return path


def saved_step(run_dir, name="last") -> int:
    return load_checkpoint(run_dir / "checkpoints", name).meta["step"]


# ---------------------------------------------------------------- signals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_last_at_the_current_step_and_resume_is_exact(
    pattern_file, tmp_path, sig
):
    """The signal comes while training between evaluations; the run saves 'last'
    at the step it reached, exits 128 + signal, and a resume equals a run that was
    never stopped."""
    config = tiny_config(pattern_file, max_steps=100_000, eval_every=5)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    part = tmp_path / "part"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "seqlab", "train", str(path), "--out", str(part)]
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (part / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # some steps past the evaluation at step 5
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert f"{signal.Signals(sig).name}: stopped at step" in err.splitlines()[-1]
    assert "Traceback" not in err
    stopped = saved_step(part)
    assert stopped > 5  # not the evaluation's step: the one it reached
    steps = stopped + 3
    train(tiny_config(pattern_file, max_steps=steps, eval_every=5), part, resume=True)
    full = tmp_path / "full"
    train(tiny_config(pattern_file, max_steps=steps, eval_every=5), full)
    assert losses(part) == losses(full)


def test_last_is_saved_on_a_clock_between_evaluations(pattern_file, tmp_path):
    cfg = tiny_config(
        pattern_file, max_steps=6, eval_every=1000, save_every_minutes=1e-9
    )
    trainer, fit = tiny_trainer(cfg, tmp_path / "run")
    saves = []
    trainer.save = lambda name, **kw: saves.append((name, trainer.state.step))
    fit()
    assert saves[:5] == [("last", step) for step in range(1, 6)]


def tiny_trainer(cfg, run_dir):
    """A Trainer on the run config's LM task, and a call that fits it."""
    from seqlab.models import build_model
    from seqlab.tasks import TASKS

    run_dir.mkdir()
    task = TASKS["lm"][1].prepare(cfg, None, run_dir)
    model = build_model(cfg.model, **task.model_sizes)
    trainer = Trainer(
        model,
        cfg.train,
        run_dir=run_dir,
        evaluate=lambda m: task.evaluate(m, "val"),
        meta={},
        log=lambda message: None,
    )
    return trainer, lambda: trainer.fit(task.train_batches, task.steps_per_epoch())


# --------------------------------------------------- finished and broken runs


def test_resuming_a_finished_run_trains_no_further(pattern_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(tiny_config(pattern_file, max_steps=6, eval_every=3), run_dir)
    before = (run_dir / "metrics.jsonl").read_text()
    again = train(
        tiny_config(pattern_file, max_steps=6, eval_every=3), run_dir, resume=True
    )
    assert again["steps"] == 6
    assert (run_dir / "metrics.jsonl").read_text() == before  # not even evaluated
    assert "is complete (max_steps at step 6)" in capsys.readouterr().out
    more = tiny_config(pattern_file, max_steps=9, eval_every=3)
    assert train(more, run_dir, resume=True)["steps"] == 9  # a raised limit goes on


def test_a_run_killed_before_its_first_checkpoint_starts_again(pattern_file, tmp_path):
    run_dir = tmp_path / "run"
    torn = run_dir / "checkpoints" / ".last~tmp-abc123"  # a save cut by SIGKILL
    torn.mkdir(parents=True)
    (torn / "model.safetensors").write_bytes(b"\0" * 10)
    cfg = tiny_config(pattern_file, max_steps=4, eval_every=2)
    assert train(cfg, run_dir, resume=True)["steps"] == 4  # from scratch
    (run_dir / "checkpoints" / "last" / "COMPLETE").unlink()
    (run_dir / "checkpoints" / "best" / "COMPLETE").unlink()
    assert train(cfg, run_dir)["steps"] == 4  # a fresh train is not refused


def test_plateau_decay_resumes_exactly_at_an_epoch_end(pattern_file, tmp_path):
    def config(**kw):
        return tiny_config(
            pattern_file, eval_every=None, plateau_factor=0.5, lr=0.05, **kw
        )

    full = tmp_path / "full"
    train(config(epochs=4), full)
    per_epoch = losses(full)[0][0]
    part = tmp_path / "part"
    train(config(epochs=4, max_steps=2 * per_epoch), part)  # stops on an epoch end
    train(config(epochs=4), part, resume=True)

    def records(run_dir):  # the epoch of step 72 is 1 in the stopped run
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        return [{**json.loads(line), "epoch": 0, "elapsed": 0} for line in lines]

    # a second evaluation of step 72 on resume would count as "no improvement",
    # halve the LR, and change every loss after it
    assert [r["step"] for r in records(part)] == [36, 72, 108, 144]
    assert records(part) == records(full)


# ---------------------------------------------------------------- divergence


class Explodes(torch.nn.Module):
    """Loss w^2 with w growing 10x per step; NaN from step ``at`` on."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.at, self.calls = at, 0

    def forward(self, input, targets):
        self.calls += 1
        loss = self.w**2 * (math.nan if self.calls >= self.at else 1.0)
        return SimpleNamespace(loss=loss)


def test_last_keeps_the_last_finite_weights(tmp_path):
    cfg = TrainConfig(lr=0.1, optimizer="sgd", eval_every=2, progress=False)
    model = Explodes(at=6)
    batch = SimpleNamespace(inputs=lambda: {"input": None}, targets=None, to=None)
    batch.to = lambda device: batch
    trainer = Trainer(
        model,
        cfg,
        run_dir=tmp_path,
        evaluate=lambda m: {"val_loss": float(m.w.detach() ** 2)},
        meta={},
        log=lambda message: None,
    )
    result = trainer.fit(lambda epoch: iter([batch] * 100), steps_per_epoch=100)
    assert result.stop_reason == "diverged"
    assert result.diverged == {"step": 6, "what": "loss", "value": "nan"}
    last = load_checkpoint(tmp_path / "checkpoints", "last")
    assert last.meta["step"] == 4  # the last evaluation's, not the diverged step's
    assert torch.isfinite(last.model_state["w"])


def test_inference_on_a_run_without_a_good_checkpoint_is_refused(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.yaml").write_text(
        "task: lm\ndata: {dataset: tinyshakespeare}\n"
    )
    with pytest.raises((CheckpointError, FileNotFoundError, ValueError)):
        load_run(tmp_path)


# ---------------------------------------------------------------- bf16


def test_bf16_is_refused_before_training_where_the_cpu_lacks_it(
    pattern_file, tmp_path, monkeypatch, capsys
):
    problem = "could not create a primitive descriptor for the LSTM forward"
    monkeypatch.setattr(run, "bf16_problem", lambda: problem)
    cfg = tiny_config(pattern_file, max_steps=2, precision="bf16", device="cpu")
    with pytest.raises(ConfigError, match=r"train\.precision: bf16 .*primitive"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert cli.main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.precision" in err


# ---------------------------------------------------------------- time budget


class Searcher:
    """A task whose evaluation takes a beam; it records the options it got."""

    capabilities = Capabilities(beam=True)

    def __init__(self):
        self.calls = []

    def splits(self):
        return ["train", "val", "test"]

    def split_size(self, split):
        return None  # unknown: test taken as long as val

    def evaluate(self, model, split="val", beam=None):
        self.calls.append((split, beam))
        return {f"{split}_loss": 1.0}


def test_final_evaluations_are_greedy_when_beam_does_not_fit():
    task = Searcher()
    validation = Validation(task, log=lambda message: None)
    validation.before_final(seconds_left=100.0, eval_seconds=20.0)  # 2 x 20 fit
    assert validation.options == {}
    validation.before_final(seconds_left=30.0, eval_seconds=20.0)
    assert validation.options == {"beam": 1}
    validation(None)
    assert task.calls == [("val", 1)]
    fresh = Validation(Searcher(), log=lambda message: None)
    fresh.before_final(seconds_left=100.0, eval_seconds=0.0)  # never timed: greedy
    assert fresh.options == {"beam": 1}
    fresh = Validation(Searcher(), log=lambda message: None)
    fresh.before_final(seconds_left=None, eval_seconds=0.0)  # no budget: as set
    assert fresh.options == {}


def test_training_leaves_the_final_evaluations_their_share():
    cfg = TrainConfig(max_minutes=10)
    trainer = Trainer(
        torch.nn.Linear(1, 1), cfg, run_dir=".", evaluate=dict, meta={}, final_evals=1
    )
    assert trainer.final_reserve() == pytest.approx(120)  # untimed: 20%
    trainer.state.eval_seconds = 30.0
    assert trainer.final_reserve() == pytest.approx(1.2 * 60)  # val again and test
    trainer.state.eval_seconds = 1000.0
    assert trainer.final_reserve() == pytest.approx(300)  # at most half
    timed = Trainer(
        torch.nn.Linear(1, 1),
        cfg,
        run_dir=".",
        evaluate=dict,
        meta={},
        final_evals=1,
        time_evaluation=lambda model: 20.0,  # as a part of val, timed, says
    )
    timed._time_evaluation()  # what fit does first under a time budget
    assert timed.final_reserve() == pytest.approx(1.2 * 40)
    # stopped a second past the line, what is left still holds the whole final
    # evaluations: not cut (as the 08 check's caption run's were, to 67%)
    validation = Validation(Slow(), log=lambda message: None)
    validation.before_final(timed.final_reserve() - 1.0, timed.state.eval_seconds)
    assert validation.deadline is None and validation.options == {}


# ---------------------------------------------------------------- bad inputs


def test_a_classifier_answers_a_blank_input_line_with_a_blank_line(tmp_path, capsys):
    data = tmp_path / "reviews.tsv"
    rows = ["a fine film\tpos", "a dull film\tneg"] * 20
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = run.as_run_config(
        {
            "task": "classify",
            "data": {"path": str(data), "folds": 4},
            "model": {"kind": "classifier", "hidden_size": 8, "embedding_size": 8},
            "train": {"max_steps": 2, "batch_size": 4, "progress": False},
        }
    )
    train(cfg, tmp_path / "run", log=lambda message: None)
    capsys.readouterr()
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("a fine film\n\n  \ndull\n", encoding="utf-8")
    assert cli.main(["predict", str(tmp_path / "run"), "--input", str(inputs)]) == 0
    answers = capsys.readouterr().out.splitlines()
    assert len(answers) == 4 and answers[1:3] == ["", ""]
    assert answers[0].split("\t")[0] in ("pos", "neg")


def test_predict_input_that_is_not_text_is_one_line(tmp_path):
    from seqlab.data.datasets import DataError
    from seqlab.data.readers import read_input_lines

    (tmp_path / "nul.txt").write_bytes(b"fine\nbad\x00\n")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(DataError, match=r"nul\.txt:2: holds a NUL byte"):
        read_input_lines(tmp_path / "nul.txt")
    with pytest.raises(DataError, match=r"latin\.txt:1: not UTF-8"):
        read_input_lines(tmp_path / "latin.txt")
    with pytest.raises(DataError, match=r"is a directory"):
        read_input_lines(tmp_path)
    (tmp_path / "ok.txt").write_text("one\n\nthree\n")
    assert read_input_lines(tmp_path / "ok.txt") == ["one", "", "three"]


def test_the_time_budget_counts_from_the_start_of_the_run(tmp_path):
    """Data preparation spends the budget too: a run whose preparation took longer
    than max_minutes trains one step, then evaluates and saves."""
    cfg = TrainConfig(max_minutes=1, optimizer="sgd", eval_every=1000, progress=False)
    batch = SimpleNamespace(inputs=lambda: {"input": None}, targets=None)
    batch.to = lambda device: batch
    trainer = Trainer(
        Explodes(at=10**9),
        cfg,
        run_dir=tmp_path,
        evaluate=lambda m: {"val_loss": 1.0},
        meta={},
        log=lambda message: None,
        started=time.perf_counter() - 61,  # preparing the data took 61 s
    )
    result = trainer.fit(lambda epoch: iter([batch] * 100), steps_per_epoch=100)
    assert (result.stop_reason, result.steps) == ("time_budget", 1)
    assert result.train_seconds >= 61


def test_the_progress_bar_ends_where_the_time_budget_does():
    cfg = TrainConfig(max_minutes=1, progress=False)
    trainer = Trainer(torch.nn.Linear(1, 1), cfg, run_dir=".", evaluate=dict, meta={})
    trainer.planned_steps = 10_000
    trainer._clock_start = time.perf_counter() - 10.0  # 10 steps in 10 s so far
    trainer.state.step = 10
    # 48 s of the minute train (12 s are the untimed reserve): 38 s, 38 steps left
    assert trainer._expected_steps() in (47, 48)
    trainer.cfg = TrainConfig(progress=False)  # no time budget: the planned steps
    assert trainer._expected_steps() == 10_000


class Slow:
    """A task whose evaluation takes 2 s for a whole val, less for a part, and
    as much more for a bigger split."""

    capabilities = Capabilities(partial_eval=True)

    def __init__(self, sizes=None):
        self.fractions = []
        self.sizes = sizes or {"train": 1000, "val": 100, "test": 100}

    def splits(self):
        return list(self.sizes)

    def split_size(self, split):
        return self.sizes[split]

    def evaluate(self, model, split="val", fraction=None):
        self.fractions.append(fraction)
        time.sleep(2.0 * (fraction or 1.0) * self.sizes[split] / self.sizes["val"])
        return {f"{split}_loss": 1.0}


def test_final_evaluations_are_cut_to_what_fits_in_the_budget():
    task = Slow()
    validation = Validation(task, log=lambda message: None)
    validation.before_final(seconds_left=1.0, eval_seconds=0.0)  # val, test: 0.5 s
    validation(None)
    probe, cut = task.fractions  # 2% timed (0.04 s), then what fits
    assert probe == Validation.PROBE and 0.15 < cut < 0.3
    assert "the first" in validation.note()
    roomy = Validation(Slow(), log=lambda message: None)
    roomy.before_final(seconds_left=100.0, eval_seconds=0.0)
    roomy(None)
    assert roomy.task.fractions == [Validation.PROBE, None]  # the whole splits fit
    assert roomy.note() is None
    whole = Slow()
    whole.capabilities = Capabilities()  # it does not declare partial_eval
    undeclared = Validation(whole, log=lambda message: None)
    undeclared.before_final(seconds_left=1.0, eval_seconds=0.0)
    undeclared(None)
    assert whole.fractions == [None] and undeclared.note() is None


def test_a_bigger_test_split_gets_its_share_of_the_final_evaluations():
    bigger = Slow({"train": 1000, "val": 100, "test": 300})
    assert _final_load(bigger) == 3.0  # test: 3 val evaluations
    assert _final_load(Searcher()) == 1.0  # sizes unknown: as val
    validation = Validation(bigger, log=lambda message: None)
    validation.before_final(seconds_left=1.0, eval_seconds=0.0)  # 1 s for 4 x 2 s
    validation(None)
    probe, cut = bigger.fractions
    assert probe == Validation.PROBE and 0.08 < cut < 0.14  # not the 0.24 of equals
    roomy = Validation(Slow({"val": 100, "test": 300}), log=lambda message: None)
    roomy.before_final(seconds_left=7.0, eval_seconds=2.0)  # 2 + 3 x 2 s: no fit
    assert roomy.deadline is not None


def test_a_run_ended_by_its_time_budget_is_complete_until_the_budget_grows(
    pattern_file, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    done = train(tiny_config(pattern_file, max_minutes=0.001), run_dir)
    assert done["stop_reason"] == "time_budget"
    again = train(tiny_config(pattern_file, max_minutes=0.001), run_dir, resume=True)
    assert again["steps"] == done["steps"]
    assert "is complete (time_budget" in capsys.readouterr().out
    more = tiny_config(pattern_file, max_minutes=10, max_steps=done["steps"] + 2)
    assert train(more, run_dir, resume=True)["steps"] == done["steps"] + 2
