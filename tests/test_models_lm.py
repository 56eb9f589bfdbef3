"""The recurrent language model: shapes, tying, carried state, the decode protocol."""

import math

import pytest
import torch

from seqlab.models.lm import RNNLM, RNNLMConfig

V = 11


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_logits_loss_and_state(cell):
    model = RNNLM(
        RNNLMConfig(cell=cell, embedding_size=8, hidden_size=12, num_layers=2), V
    )
    x = torch.randint(0, V, (3, 5))
    y = torch.randint(0, V, (3, 5))
    out = model(x, targets=y)
    assert out.logits.shape == (3, 5, V)
    ce = torch.nn.functional.cross_entropy(out.logits.reshape(-1, V), y.reshape(-1))
    torch.testing.assert_close(out.loss, ce)


def test_perplexity_is_exp_of_mean_cross_entropy():
    from seqlab.tasks.lm import LMTask  # noqa: F401  (the task reports exp(loss))

    model = RNNLM(RNNLMConfig(embedding_size=8, hidden_size=8), V)
    x = torch.randint(0, V, (2, 4))
    loss = model(x, targets=x).loss
    probs = torch.softmax(model(x).logits, -1)
    picked = probs.gather(-1, x.unsqueeze(-1)).squeeze(-1)
    assert math.exp(loss.item()) == pytest.approx(
        (picked.prod() ** (-1 / 8)).item(), rel=1e-5
    )


def test_carried_state_equals_one_long_sequence():
    torch.manual_seed(0)
    model = RNNLM(RNNLMConfig(embedding_size=8, hidden_size=8, num_layers=2), V).eval()
    x = torch.randint(0, V, (2, 10))
    whole = model(x).logits
    first = model(x[:, :4])
    second = model(x[:, 4:], state=first.state)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), whole)


def test_tied_weights_are_one_tensor():
    model = RNNLM(RNNLMConfig(embedding_size=8, hidden_size=8, tie_weights=True), V)
    assert model.output.weight is model.embedding.weight
    untied = RNNLM(RNNLMConfig(embedding_size=8, hidden_size=8), V)
    n = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in untied.parameters()) - n == V * 8


def test_start_and_step_continue_the_forward_pass():
    torch.manual_seed(1)
    model = RNNLM(RNNLMConfig(cell="gru", embedding_size=8, hidden_size=8), V).eval()
    x = torch.randint(0, V, (2, 6))
    full = torch.log_softmax(model(x).logits[:, -1], -1)
    state = model.start(x[:, :-1])
    step, _ = model.step(x[:, -1], state)
    torch.testing.assert_close(step, full)
    assert state.h.shape == (2, 1, 8) and state.c is None  # batch-first (B, L, H)
    empty = model.start(x[:, :0])  # zeros: what the layers start from
    assert torch.equal(empty.h, torch.zeros(2, 1, 8))
    torch.testing.assert_close(
        model.step(x[:, 0], empty)[0],
        torch.log_softmax(model(x[:, :1]).logits[:, 0], -1),
    )


def test_lstm_decoding_state_is_batch_first_per_layer():
    torch.manual_seed(2)
    cfg = RNNLMConfig(cell="lstm", embedding_size=8, hidden_size=8, num_layers=2)
    model = RNNLM(cfg, V).eval()
    x = torch.randint(0, V, (3, 5))
    state = model.start(x[:, :-1])
    assert state.h.shape == state.c.shape == (3, 2, 8)
    alone = model.step(x[1:2, -1], model.start(x[1:2, :-1]))[0]
    torch.testing.assert_close(model.step(x[:, -1], state)[0][1:2], alone)
    assert model.start(x[:, :0]).c.shape == (3, 2, 8)


def test_peephole_and_sigmoid_options_reach_the_layer():
    lstm = RNNLM(RNNLMConfig(cell="lstm", peephole=True, hidden_size=8), V)
    assert lstm.rnn.peephole
    rnn = RNNLM(RNNLMConfig(cell="rnn", activation="sigmoid", hidden_size=8), V)
    assert rnn.rnn.activation == "sigmoid"
    with pytest.raises(ValueError, match="peephole=True needs cell='lstm'"):
        RNNLM(RNNLMConfig(cell="gru", peephole=True), V)
