"""train.init_from: a run starts from another run's weights, tokens mapped."""

import pytest
import torch

from seqlab.checkpoint import CheckpointError, load_checkpoint
from seqlab.data.vocab import Vocab
from seqlab.models import build_model
from seqlab.models.lm import RNNLMConfig
from seqlab.run import train
from seqlab.tasks.lm import LMDataConfig, LMRunConfig
from seqlab.train import TrainConfig
from seqlab.warmstart import init_from

MODEL = RNNLMConfig(cell="gru", embedding_size=8, hidden_size=16, tie_weights=False)


def config(text_file, model=MODEL, **train_kwargs) -> LMRunConfig:
    return LMRunConfig(
        data=LMDataConfig(path=str(text_file), bptt=8, val_fraction=0.2),
        model=model,
        train=TrainConfig(batch_size=4, eval_every=5, progress=False, **train_kwargs),
    )


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("src")
    text = root / "a.txt"
    text.write_text("the cat sat on the mat. " * 30, encoding="utf-8")
    train(config(text, max_steps=10), root / "run", log=lambda line: None)
    return root / "run"


def test_rows_are_mapped_by_token_and_new_tokens_keep_their_init(source_run):
    old = Vocab.load(source_run / "vocab.json")
    saved = load_checkpoint(source_run / "checkpoints", "best").model_state
    tokens = [*old.tokens[:4], "z", "q", *reversed(old.tokens[4:])]  # new order
    torch.manual_seed(1)
    model = build_model(MODEL, vocab_size=len(tokens))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = init_from(model, source_run, tokens)
    assert f"{len(tokens) - 2} of {len(tokens)} tokens mapped, 2 new" in report
    state = model.state_dict()
    for key in ("embedding.weight", "output.weight", "output.bias"):
        for i, token in enumerate(tokens):
            want = (
                fresh[key][i] if token in "zq" else saved[key][old.token_to_id(token)]
            )
            torch.testing.assert_close(state[key][i], want, msg=f"{key} {token}")
    hidden = [k for k in state if "weight_hh" in k]
    assert hidden and all(torch.equal(state[k], saved[k]) for k in hidden)


def test_another_model_config_is_refused_naming_the_key(source_run):
    model = build_model(MODEL.model_copy(update={"hidden_size": 32}), vocab_size=20)
    with pytest.raises(CheckpointError, match=r"init_from .*: \S+ has shape") as err:
        init_from(model, source_run, [f"t{i}" for i in range(20)])
    assert "\n" not in str(err.value)


def test_a_run_starts_from_another_with_a_different_vocabulary(source_run, tmp_path):
    text = tmp_path / "b.txt"
    text.write_text("the dog ate the hat! " * 30, encoding="utf-8")
    lines = []
    cfg = config(text, max_steps=5, init_from=str(source_run))
    summary = train(cfg, tmp_path / "run", log=lines.append)
    report = next(line for line in lines if line.startswith("init_from"))
    assert "tokens mapped" in report and "0 new" not in report
    assert summary["steps"] == 5  # a fresh optimizer and step count
