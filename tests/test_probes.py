"""The gradient probe against the analytic answer of a linear RNN."""

import pytest
import torch

from seqlab.cells import LSTMCell
from seqlab.probes import gradient_norms


@pytest.mark.parametrize("w", [0.5, 0.9, 1.3])
def test_linear_rnn_gradient_scales_as_w_to_the_distance(w):
    """h_t = w h_{t-1} + x_t and L = h_T give dL/dh_t = w^(T - t) exactly."""
    T = 12
    x = torch.randn(1, T, 1)
    norms = gradient_norms(
        lambda x_t, h: w * h + x_t, x, torch.zeros(1, 1), lambda h: h.sum()
    )
    expected = torch.tensor([w ** (T - 1 - t) for t in range(T)])
    torch.testing.assert_close(norms, expected)


def test_lstm_state_probe_reads_h():
    cell = LSTMCell(3, 4)
    x = torch.randn(2, 5, 3)
    state = (torch.zeros(2, 4), torch.zeros(2, 4))
    norms = gradient_norms(cell, x, state, lambda s: s[0].sum())
    assert norms.shape == (5,)
    assert norms[-1] == pytest.approx(2.0)  # dL/dh_T = 1 per unit: norm 2 (H=4)
