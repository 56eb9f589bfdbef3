"""Seeding, clipping and detaching: the utilities every training loop uses."""

import math

import pytest
import torch
from torch import nn

from seqlab import LSTM, LSTMState, clip_grad_norm, detach, seed_everything


def train_a_little(seed: int) -> torch.Tensor:
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        x = torch.randn(8, 4)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_same_seed_gives_bitwise_the_same_training():
    assert torch.equal(train_a_little(3), train_a_little(3))
    assert not torch.equal(train_a_little(3), train_a_little(4))


def test_clip_grad_norm_scales_to_the_threshold_and_returns_the_old_norm():
    a = nn.Parameter(torch.zeros(2))
    b = nn.Parameter(torch.zeros(1))
    a.grad = torch.tensor([3.0, 0.0])
    b.grad = torch.tensor([4.0])
    norm = clip_grad_norm([a, b], max_norm=1.0)
    assert norm == pytest.approx(5.0)
    total = math.sqrt(float(a.grad.pow(2).sum() + b.grad.pow(2).sum()))
    assert total == pytest.approx(1.0, rel=1e-4)
    assert a.grad[0] / b.grad[0] == pytest.approx(3 / 4)  # direction kept


def test_clip_grad_norm_leaves_small_gradients_alone_and_can_only_measure():
    a = nn.Parameter(torch.zeros(2))
    a.grad = torch.tensor([0.3, 0.4])
    assert clip_grad_norm([a], max_norm=None) == pytest.approx(0.5)
    assert clip_grad_norm([a], max_norm=1.0) == pytest.approx(0.5)
    torch.testing.assert_close(a.grad, torch.tensor([0.3, 0.4]))
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        clip_grad_norm([a], max_norm=0)


def test_detach_cuts_the_graph_but_keeps_values_and_type():
    lstm = LSTM(3, 4)
    _, state = lstm(torch.randn(5, 2, 3))
    assert state.h.requires_grad
    cut = detach(state)
    assert isinstance(cut, LSTMState)
    assert not cut.h.requires_grad and not cut.c.requires_grad
    torch.testing.assert_close(cut.h, state.h)
    pair = detach((state.h, state.c))
    assert isinstance(pair, tuple) and not pair[0].requires_grad
    assert detach(None) is None
