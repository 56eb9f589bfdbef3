"""Cells against torch.nn's cells on copied weights, and the equations they document."""

import pytest
import torch
from torch import nn

from seqlab.cells import GRUCell, LSTMCell, LSTMState, RNNCell

I, H, B = 5, 7, 3


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_rnn_cell_equals_torch(activation):
    ref = nn.RNNCell(I, H, nonlinearity=activation)
    cell = RNNCell(I, H, activation=activation)
    cell.load_state_dict(ref.state_dict())
    x, h = torch.randn(B, I), torch.randn(B, H)
    torch.testing.assert_close(cell(x, h), ref(x, h))


def test_sigmoid_rnn_cell_is_sigmoid_of_the_affine_map():
    cell = RNNCell(I, H, activation="sigmoid")
    x, h = torch.randn(B, I), torch.randn(B, H)
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    torch.testing.assert_close(cell(x, h), torch.sigmoid(pre))


def test_lstm_cell_equals_torch():
    ref = nn.LSTMCell(I, H)
    cell = LSTMCell(I, H)
    cell.load_state_dict(ref.state_dict())
    x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
    h2, c2 = ref(x, (h, c))
    out = cell(x, LSTMState(h, c))
    torch.testing.assert_close(out.h, h2)
    torch.testing.assert_close(out.c, c2)


def test_peephole_with_zero_peepholes_is_the_plain_lstm():
    plain = LSTMCell(I, H)
    peep = LSTMCell(I, H, peephole=True)
    peep.load_state_dict(plain.state_dict(), strict=False)
    for name in ("weight_ci", "weight_cf", "weight_co"):
        nn.init.zeros_(getattr(peep, name))
    state = LSTMState(torch.randn(B, H), torch.randn(B, H))
    x = torch.randn(B, I)
    torch.testing.assert_close(peep(x, state), plain(x, state))
    nn.init.ones_(peep.weight_cf)  # and the peepholes do matter
    assert not torch.allclose(peep(x, state).c, plain(x, state).c)


def test_gru_cell_equals_torch():
    ref = nn.GRUCell(I, H)
    cell = GRUCell(I, H)
    cell.load_state_dict(ref.state_dict())
    x, h = torch.randn(B, I), torch.randn(B, H)
    torch.testing.assert_close(cell(x, h), ref(x, h))


def test_gru_has_three_quarters_of_the_lstm_parameters():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(GRUCell(I, H)) * 4 == count(LSTMCell(I, H)) * 3


def test_cells_without_bias():
    cell = LSTMCell(I, H, bias=False)
    assert cell.bias_ih is None and len(list(cell.parameters())) == 2
    out = cell(torch.zeros(B, I), LSTMState(torch.zeros(B, H), torch.zeros(B, H)))
    assert out.h.abs().max() == 0


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: RNNCell(I, H, activation="gelu"), "unknown activation 'gelu'"),
        (lambda: RNNCell(0, H), "input_size and hidden_size must be >= 1"),
        (lambda: GRUCell(I, H, peephole=True), "only LSTMCell has peepholes"),
    ],
)
def test_cell_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
