"""The trainer: exact resume, a tiny task learned, budgets, stopping, divergence."""

import json
from itertools import pairwise
from types import SimpleNamespace

import pytest
import torch

from seqlab.checkpoint import CheckpointError
from seqlab.config import ConfigError
from seqlab.data.batching import LMBatch
from seqlab.models.lm import RNNLMConfig
from seqlab.run import load_run_config, train
from seqlab.tasks.lm import LMDataConfig, LMRunConfig
from seqlab.train import TrainConfig, Trainer, TrainingDiverged, lr_at
from seqlab.utils import bf16_problem


def tiny_config(text_file, **train_kwargs) -> LMRunConfig:
    train_cfg = dict(
        batch_size=4,
        lr=1e-2,
        epochs=50,
        eval_every=10,
        progress=False,
        clip_norm=1.0,
        log_every=5,
    )
    train_cfg.update(train_kwargs)
    return LMRunConfig(
        data=LMDataConfig(path=str(text_file), bptt=8, val_fraction=0.2),
        model=RNNLMConfig(cell="lstm", embedding_size=16, hidden_size=32, dropout=0.1),
        train=TrainConfig(**train_cfg),
    )


@pytest.fixture
def pattern_file(tmp_path):
    path = tmp_path / "pattern.txt"
    path.write_text("the cat sat on the mat. " * 60, encoding="utf-8")
    return path


def losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["train_loss"], r["val_loss"]) for r in map(json.loads, lines)]


def test_tiny_lm_learns_a_repeating_pattern(pattern_file, tmp_path):
    summary = train(tiny_config(pattern_file, max_steps=150), tmp_path / "run")
    assert summary["val_loss"] < 0.1  # uniform guessing over 12 symbols: 2.5
    assert summary["stop_reason"] == "max_steps"


@pytest.mark.parametrize("reset_state", [0.0, 0.3])
def test_resume_equals_uninterrupted(pattern_file, tmp_path, reset_state):
    def config(steps):
        return tiny_config(pattern_file, max_steps=steps, reset_state=reset_state)

    full = tmp_path / "full"
    train(config(40), full)
    part = tmp_path / "part"
    train(config(20), part)  # stops mid-epoch, saves
    with open(part / "metrics.jsonl", "a") as f:  # killed after a line, before its save
        f.write('{"step": 30, "train_loss": 9.0, "val_loss": 9.0}\n')
    train(config(40), part, resume=True)
    assert losses(part) == losses(full)  # bitwise: dropout RNG, carried state, Adam
    assert (
        json.loads((part / "summary.json").read_text())["val_loss"]
        == json.loads((full / "summary.json").read_text())["val_loss"]
    )


def test_resume_refuses_another_model(pattern_file, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(pattern_file, max_steps=10), run)
    other = tiny_config(pattern_file, max_steps=20)
    other = other.model_copy(
        update={"model": RNNLMConfig(cell="gru", hidden_size=32, embedding_size=16)}
    )
    with pytest.raises(CheckpointError, match=r"config\.model\.cell"):
        train(other, run, resume=True)


def test_a_second_train_into_the_same_run_dir_is_refused(pattern_file, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(pattern_file, max_steps=5), run)
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_config(pattern_file, max_steps=5), run)


def test_time_budget_stops_cleanly_and_still_evaluates_and_saves(
    pattern_file, tmp_path
):
    run = tmp_path / "run"
    summary = train(tiny_config(pattern_file, max_minutes=0.001, eval_every=None), run)
    assert summary["stop_reason"] == "time_budget"
    assert summary["steps"] >= 1
    assert (run / "checkpoints" / "last" / "COMPLETE").exists()
    assert losses(run)[-1][0] == summary["steps"]  # the final evaluation happened


def test_early_stopping_after_patience_evaluations(pattern_file, tmp_path):
    # lr so small that val loss cannot improve in float32: every evaluation is "bad"
    cfg = tiny_config(pattern_file, lr=1e-12, patience=2, eval_every=2, max_steps=100)
    summary = train(cfg, tmp_path / "run")
    assert summary["stop_reason"] == "early_stopping"
    assert summary["steps"] <= 8


def test_divergence_stops_with_an_error_and_strict_json(pattern_file, tmp_path):
    # a ReLU RNN without clipping explodes through the repeated recurrent matrix
    cfg = tiny_config(
        pattern_file, lr=1e3, clip_norm=None, optimizer="sgd", max_steps=200
    )
    relu = RNNLMConfig(cell="rnn", activation="relu", embedding_size=16, hidden_size=32)
    cfg = cfg.model_copy(update={"model": relu})
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+: (val_)?loss"):
        train(cfg, run)

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    summary = json.loads((run / "summary.json").read_text(), parse_constant=refuse)
    assert summary["stop_reason"] == "diverged"
    for path in run.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line, parse_constant=refuse)
    with pytest.raises(ConfigError, match=r"diverged at step .* lower train\.lr"):
        train(cfg, run, resume=True)  # the same config diverges again


def test_schedules():
    cfg = TrainConfig(lr=1.0, schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(cfg, 5, 0.0) == pytest.approx(0.5)  # warming up
    assert lr_at(cfg, 100, 0.5) == pytest.approx(0.55)
    assert lr_at(cfg, 100, 1.0) == pytest.approx(0.1)
    inv = TrainConfig(lr=1.0, schedule="inverse_sqrt", warmup_steps=100)
    assert lr_at(inv, 50, 0) == pytest.approx(0.5)
    assert lr_at(inv, 400, 0) == pytest.approx(0.5)


def test_config_errors_name_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "task: lm\ndata: {dataset: tinyshakespeare}\nmodel: {kind: rnn_lm}\n"
        "train: {clip_norm: -1}\n"
    )
    with pytest.raises(ValueError, match=r"train\.clip_norm.*bad\.yaml"):
        load_run_config(path)
    with pytest.raises(ValueError, match=r"model\.hidden_sise: unknown key"):
        load_run_config(path, ("train.clip_norm=1", "model.hidden_sise=3"))
    with pytest.raises(ValueError, match="tie_weights needs embedding_size"):
        load_run_config(path, ("train.clip_norm=1", "model.tie_weights=true"))
    cfg = load_run_config(path, ("train.clip_norm=1", "train.lr=3e-4"))
    assert cfg.train.lr == pytest.approx(3e-4)
    assert torch.is_tensor(torch.tensor(cfg.train.lr))


@pytest.mark.skipif(bf16_problem() is not None, reason="no bf16 on this CPU")
def test_bf16_autocast_trains_and_resumes_on_cpu(pattern_file, tmp_path):
    run = tmp_path / "run"
    summary = train(tiny_config(pattern_file, max_steps=10, precision="bf16"), run)
    assert summary["steps"] == 10 and summary["val_loss"] < 3.5
    more = tiny_config(pattern_file, max_steps=12, precision="bf16")
    assert train(more, run, resume=True)["steps"] == 12


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU refusal")
def test_fp16_on_cpu_is_refused_clearly(pattern_file, tmp_path):
    cfg = tiny_config(pattern_file, max_steps=2, precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="fp16' needs a CUDA device"):
        train(cfg, tmp_path / "run")


def test_seqlab_train_is_a_plain_function(pattern_file, tmp_path):
    import seqlab

    cfg = tiny_config(pattern_file, max_steps=4).model_dump(mode="json")
    summary = seqlab.train(cfg, tmp_path / "run", overrides=["train.max_steps=3"])
    assert summary["steps"] == 3
    assert (tmp_path / "run" / "summary.json").is_file()


class StateCounter(torch.nn.Module):
    """A stateful toy: its state counts the batches since it last started from
    nothing, and it records that count for every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[int] = []

    def forward(self, input, targets, state=None):
        count = 0 if state is None else int(state)
        self.seen.append(count)
        loss = (self.w - 1).pow(2).sum()
        return SimpleNamespace(loss=loss, state=torch.tensor(count + 1))


def counts_seen(tmp_path, reset_state: float, n: int = 200) -> list[int]:
    model = StateCounter()
    cfg = TrainConfig(epochs=1, progress=False, reset_state=reset_state, seed=3)
    trainer = Trainer(
        model,
        cfg,
        run_dir=tmp_path,
        evaluate=lambda m: {"val_loss": 0.0},
        meta={},
        log=lambda line: None,
    )
    batch = LMBatch(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3), 6)
    trainer.fit(lambda epoch: iter([batch] * n), steps_per_epoch=n)
    return model.seen


def test_reset_state_starts_some_batches_from_nothing(tmp_path):
    assert counts_seen(tmp_path / "a", 0.0) == list(range(200))  # carried throughout
    assert counts_seen(tmp_path / "b", 1.0) == [0] * 200  # never carried
    seen = counts_seen(tmp_path / "c", 0.25)
    resets = sum(count == 0 for count in seen[1:])
    assert 30 <= resets <= 70  # about a quarter of 199
    assert all(b in (0, a + 1) for a, b in pairwise(seen))  # carried, or reset
    assert counts_seen(tmp_path / "d", 0.25) == seen  # the same draws every time


def tagger_trainer(tmp_path, accumulate: int) -> Trainer:
    from seqlab.models.tagger import Tagger, TaggerConfig

    torch.manual_seed(0)
    cfg = TaggerConfig(head="softmax", embedding_size=4, hidden_size=5, dropout=0.0)
    model = Tagger(cfg, vocab_size=9, num_tags=3)
    train_cfg = TrainConfig(
        optimizer="sgd", lr=0.5, clip_norm=None, accumulate=accumulate, progress=False
    )
    return Trainer(model, train_cfg, run_dir=tmp_path, evaluate=lambda m: {}, meta={})


def tag_batch(lengths, seed):
    from seqlab.data.batching import TagBatch

    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    ids = torch.randint(1, 9, (len(lengths), T), generator=g) * mask
    tags = torch.randint(0, 3, (len(lengths), T), generator=g) * mask
    return TagBatch(ids, torch.tensor(lengths), tags, sum(lengths))


def concat(batches, T):
    """One TagBatch holding the rows of ``batches``, padded to length T."""

    def pad(t):
        return torch.nn.functional.pad(t, (0, T - t.shape[1]))

    return type(batches[0])(
        torch.cat([pad(b.input) for b in batches]),
        torch.cat([b.lengths for b in batches]),
        torch.cat([pad(b.target) for b in batches]),
        sum(b.num_tokens for b in batches),
    )


def test_accumulation_gives_the_gradients_of_the_large_batch(tmp_path):
    small = [tag_batch([5, 1], 1), tag_batch([2, 6, 6], 2)]  # 6 and 14 tokens
    big = concat(small, 6)
    a, b = tagger_trainer(tmp_path / "a", 2), tagger_trainer(tmp_path / "b", 1)
    loss_a, loss_b = a.train_step(*small), b.train_step(big)
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    for (name, p), q in zip(
        a.model.named_parameters(), b.model.parameters(), strict=True
    ):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    # the plain mean of the two micro-batch losses would not be the large batch's
    c = tagger_trainer(tmp_path / "c", 2)
    losses = [c._backward(x, 0.5) for x in small]
    assert sum(losses) / 2 != pytest.approx(loss_b, rel=1e-3)


def test_accumulation_counts_optimizer_steps(tmp_path):
    trainer = tagger_trainer(tmp_path, 3)
    batches = [tag_batch([3, 2], i) for i in range(7)]
    result = trainer.fit(lambda epoch: iter(batches), steps_per_epoch=7)
    assert result.steps == 3 * 10  # ceil(7 / 3) optimizer steps a epoch, 10 epochs
    assert trainer.planned_steps == 30
