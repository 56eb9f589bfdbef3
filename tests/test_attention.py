"""Attention: masks give padding zero weight, rows sum to 1, scores match formulas."""

import pytest
import torch

from seqlab.attention import (
    Attention,
    additive_score,
    dot_score,
    general_score,
    masked_softmax,
)

B, T, S, D = 3, 4, 6, 5


@pytest.fixture
def inputs():
    torch.manual_seed(0)
    lengths = torch.tensor([6, 3, 1])
    mask = torch.arange(S) < lengths.unsqueeze(1)  # (B, S)
    return torch.randn(B, T, D), torch.randn(B, S, D), mask


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_padding_gets_zero_weight_and_rows_sum_to_one(inputs, score):
    query, keys, mask = inputs
    context, weights = Attention(score, D, D)(query, keys, mask)
    assert weights.shape == (B, T, S)
    assert torch.all(weights[~mask.unsqueeze(1).expand(B, T, S)] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))
    torch.testing.assert_close(context, weights @ keys)
    # the third row has one real key: all weight on it, context = that key
    torch.testing.assert_close(context[2], keys[2, :1].expand(T, D))


def test_padded_values_do_not_change_the_context(inputs):
    query, keys, mask = inputs
    attention = Attention("general", D, D)
    changed = keys.clone()
    changed[~mask] = 100.0
    torch.testing.assert_close(
        attention(query, keys, mask).context, attention(query, changed, mask).context
    )


def test_masked_softmax_of_a_fully_masked_row_is_zeros_not_nan():
    weights = masked_softmax(
        torch.randn(2, 3), torch.tensor([[1, 1, 0], [0, 0, 0]]) > 0
    )
    assert torch.all(weights[1] == 0)
    torch.testing.assert_close(weights[0].sum(), torch.tensor(1.0))


def test_scores_follow_their_formulas(inputs):
    query, keys, _ = inputs
    q, k = query[0, 1], keys[0, 2]
    w = torch.randn(D, D)
    w_q, w_k, v = torch.randn(7, D), torch.randn(7, D), torch.randn(7)
    torch.testing.assert_close(dot_score(query, keys)[0, 1, 2], q @ k)
    torch.testing.assert_close(general_score(query, keys, w)[0, 1, 2], q @ (w @ k))
    additive = additive_score(query, keys, w_q, w_k, v)[0, 1, 2]
    torch.testing.assert_close(additive, v @ torch.tanh(w_q @ q + w_k @ k))


def test_dot_score_refuses_different_sizes():
    with pytest.raises(ValueError, match="general"):
        Attention("dot", 4, 8)
    with pytest.raises(ValueError, match="choose one of"):
        Attention("cosine", 4, 4)


@pytest.mark.parametrize("steps", [1, 9])  # fewer queries than keys, and more
def test_general_score_either_order_follows_its_formula(steps):
    torch.manual_seed(0)
    query, keys, w = torch.randn(2, steps, 3), torch.randn(2, 5, 4), torch.randn(3, 4)
    scores = general_score(query, keys, w)
    assert scores.shape == (2, steps, 5)
    expected = torch.einsum("btq,qk,bsk->bts", query, w, keys)
    torch.testing.assert_close(scores, expected)
