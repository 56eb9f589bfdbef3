"""Sampling: budgets, reproducibility, filters, greedy."""

import pytest
import torch

from seqlab.decode import choose, filter_logits, generate
from seqlab.models.lm import RNNLM, RNNLMConfig

V = 13


@pytest.fixture
def model():
    torch.manual_seed(0)
    return RNNLM(RNNLMConfig(embedding_size=8, hidden_size=16), V)


def test_generation_respects_max_new_tokens(model):
    rows = generate(model, torch.tensor([[1, 2, 3]]), 17)
    assert len(rows[0]) == 17
    assert generate(model, torch.tensor([[1]]), 0) == [[]]


def test_same_seed_same_text_and_other_seed_other_text(model):
    def sample(seed):
        g = torch.Generator().manual_seed(seed)
        return generate(model, torch.tensor([[4]]), 40, temperature=1.5, generator=g)

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_generation_stops_at_eos(model):
    rows = generate(
        model,
        torch.tensor([[4], [5]]),
        30,
        eos_id=3,
        generator=torch.Generator().manual_seed(0),
        temperature=5.0,
    )
    for row in rows:
        assert 3 not in row[:-1]
        assert len(row) == 30 or row[-1] == 3


def test_greedy_is_argmax_and_batched_equals_single(model):
    prefix = torch.tensor([[1, 2], [3, 4]])
    both = generate(model, prefix, 10, greedy=True)
    assert both[1] == generate(model, prefix[1:], 10, greedy=True)[0]
    lp = torch.log_softmax(torch.randn(4, V), -1)
    assert torch.equal(choose(lp, greedy=True), lp.argmax(-1))


def test_top_k_and_top_p_filters():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert not torch.isinf(filter_logits(logits, top_k=2)[0, :2]).any()
    # probs ~ [0.64, 0.24, 0.09, 0.03]: the nucleus of 0.7 keeps the first two
    kept = ~torch.isinf(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert (~torch.isinf(filter_logits(logits, top_p=0.01))).sum() == 1  # argmax kept


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        generate(model, torch.tensor([[1]]), -1)
    with pytest.raises(ValueError, match="top_p must be in"):
        generate(model, torch.tensor([[1]]), 3, top_p=1.5)
    with pytest.raises(ValueError, match="prefix must be"):
        generate(model, torch.tensor([[]], dtype=torch.long), 3)
