"""Dropout schemes of the recurrent LM: locked (variational) dropout, embedding
(word-type) dropout and weight drop on W_hh, on every kernel path; exact resume."""

import json

import pytest
import torch

from seqlab import kernels
from seqlab.layers import make_recurrent
from seqlab.models.lm import RNNLM, RNNLMConfig, locked_dropout
from seqlab.run import train
from seqlab.tasks.lm import LMDataConfig, LMRunConfig
from seqlab.train import TrainConfig

V = 20


def test_a_locked_mask_is_the_same_at_every_time_step():
    x = torch.ones(3, 9, 16)
    torch.manual_seed(0)
    out = locked_dropout(x, 0.5, training=True)
    assert torch.equal(out, out[:, :1].expand_as(out))  # (B, 1, D) broadcast over T
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(out[0], out[1])  # one mask per sequence
    assert locked_dropout(x, 0.5, training=False) is x


def rnn_inputs(model, input):
    """What the recurrent layers read: the embeddings after every dropout."""
    seen = []
    handle = model.rnn.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    model(input)
    handle.remove()
    return seen[0]


def test_embedding_dropout_zeroes_whole_word_types():
    torch.manual_seed(0)
    model = RNNLM(
        RNNLMConfig(embedding_size=8, hidden_size=8, embedding_dropout=0.5), V
    )
    input = torch.randint(0, 6, (4, 30))  # 6 types, each many times
    torch.manual_seed(1)
    x = rnn_inputs(model.train(), input)
    embedded = model.embedding(input)
    dropped = set()
    for w in input.unique().tolist():
        rows, scaled = x[input == w], embedded[input == w]
        if torch.all(rows == 0):
            dropped.add(w)
        else:
            torch.testing.assert_close(rows, 2 * scaled)  # kept: all scaled by 1/(1-p)
    assert 0 < len(dropped) < 6
    torch.testing.assert_close(rnn_inputs(model.eval(), input), embedded)


PATHS = [  # (cell, options): the fused LSTM/GRU/tanh, sigmoid and peephole kernels
    ("lstm", {}),
    ("gru", {}),
    ("rnn", {}),
    ("rnn", {"activation": "sigmoid"}),
    ("lstm", {"peephole": True}),
]


@pytest.mark.parametrize("cell,options", PATHS)
def test_weight_drop_changes_w_hh_only_in_training(cell, options):
    torch.manual_seed(0)
    layer = make_recurrent(cell, 5, 6, num_layers=2, weight_drop=0.5, **options)
    x = torch.randn(3, 7, 5)
    w_hh = layer.cells[0].weight_hh.detach().clone()
    torch.manual_seed(1)
    a = layer(x).output
    torch.manual_seed(2)
    b = layer(x).output
    assert not torch.allclose(a, b)  # a new mask per pass
    assert torch.equal(layer.cells[0].weight_hh, w_hh)  # the parameter is untouched
    layer.impl = "loop"  # the step-by-step reference draws the same masks
    torch.manual_seed(1)
    torch.testing.assert_close(layer(x).output, a)
    a.sum().backward()
    assert layer.cells[0].weight_hh.grad is not None
    layer.impl = "auto"
    layer.eval()
    plain = make_recurrent(cell, 5, 6, num_layers=2, **options).eval()
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x).output, plain(x).output)
    torch.testing.assert_close(layer(x).output, layer(x).output)


def test_weight_drop_reaches_the_fused_kernel(monkeypatch):
    layer = make_recurrent("lstm", 5, 64, weight_drop=0.5)
    seen = []
    fused = kernels.fused_rnn
    monkeypatch.setattr(
        kernels, "fused_rnn", lambda *a, **k: seen.append(a[3]) or fused(*a, **k)
    )
    layer(torch.randn(2, 3, 5))
    zeros = float((seen[0][1] == 0).float().mean())
    assert 0.45 < zeros < 0.55  # half of W_hh (4*64 x 64) dropped
    assert torch.equal(seen[0][0], layer.cells[0].weight_ih)  # W_ih kept


def test_min_cells_have_no_w_hh_to_drop():
    with pytest.raises(ValueError, match="weight_drop needs recurrent weights"):
        make_recurrent("minlstm", 5, 6, weight_drop=0.3)


def test_every_scheme_resumes_exactly(tmp_path):
    text = tmp_path / "pattern.txt"
    text.write_text("the cat sat on the mat. " * 60, encoding="utf-8")

    def config(steps):
        model = RNNLMConfig(
            embedding_size=16,
            hidden_size=16,
            num_layers=2,
            locked_dropout=0.3,
            embedding_dropout=0.1,
            weight_drop=0.3,
        )
        return LMRunConfig(
            data=LMDataConfig(path=str(text), bptt=8, val_fraction=0.2),
            model=model,
            train=TrainConfig(
                batch_size=4,
                max_steps=steps,
                eval_every=10,
                log_every=5,
                progress=False,
            ),
        )

    def losses(run_dir):
        rows = (run_dir / "metrics.jsonl").read_text().splitlines()
        return [
            (r["step"], r["train_loss"], r["val_loss"]) for r in map(json.loads, rows)
        ]

    train(config(20), tmp_path / "full")
    train(config(10), tmp_path / "part")
    train(config(20), tmp_path / "part", resume=True)
    assert losses(tmp_path / "part") == losses(tmp_path / "full")
