"""The gradient probe against the analytic answer of a linear RNN."""

import pytest
import torch

from seqlab.cells import LSTMCell
from seqlab.probes import gradient_norms


@pytest.mark.parametrize("w", [0.5, 0.9, 1.3, -0.8])
def test_linear_rnn_gradient_scales_as_w_to_the_distance(w):
    """h_t = w h_{t-1} + x_t and L = h_T give |dL/dh_t| = |w|^(T - t) exactly."""
    T = 12
    x = torch.randn(1, T, 1)
    norms = gradient_norms(
        lambda x_t, h: w * h + x_t, x, torch.zeros(1, 1), lambda h: h.sum()
    )
    expected = torch.tensor([abs(w) ** (T - 1 - t) for t in range(T)])
    torch.testing.assert_close(norms, expected)


def test_linear_rnn_with_a_matrix_scales_as_its_spectral_radius():
    """W = w * Q (Q orthogonal, H = 4): ||dL/dh_t|| = |w|^(T - t) ||dL/dh_T||, the
    rotation changes the gradient's direction but not its length."""
    T, H, w = 10, 4, 0.7
    Q, _ = torch.linalg.qr(torch.randn(H, H, dtype=torch.float64))
    x = torch.randn(3, T, H, dtype=torch.float64)
    norms = gradient_norms(
        lambda x_t, h: h @ (w * Q).T + x_t,
        x,
        torch.zeros(3, H, dtype=torch.float64),
        lambda h: h.sum(),
    )
    last = torch.tensor(H**0.5, dtype=torch.float64)  # dL/dh_T is all ones
    expected = torch.stack([last * w ** (T - 1 - t) for t in range(T)])
    torch.testing.assert_close(norms, expected)


def test_lstm_state_probe_reads_h():
    cell = LSTMCell(3, 4)
    x = torch.randn(2, 5, 3)
    state = (torch.zeros(2, 4), torch.zeros(2, 4))
    norms = gradient_norms(cell, x, state, lambda s: s[0].sum())
    assert norms.shape == (5,)
    assert norms[-1] == pytest.approx(2.0)  # dL/dh_T = 1 per unit: norm 2 (H=4)
