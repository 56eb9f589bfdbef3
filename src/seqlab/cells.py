"""Recurrent cells: one time step ``(x_t, state) -> state``, written as in the textbook.

Shapes: B batch, I input size, H hidden size.

The parameters carry torch.nn's names (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``) and gate order, so a cell can take the weights of the matching
``torch.nn.RNNCell`` / ``LSTMCell`` / ``GRUCell`` with ``load_state_dict``. The layers
in :mod:`seqlab.layers` run these cells over time (or a fused kernel that computes
the same thing); the cells themselves are the readable definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
}


class LSTMState(NamedTuple):
    """The two states an LSTM carries: hidden state ``h`` and cell state ``c``."""

    h: Tensor
    c: Tensor


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        choices = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {activation!r}; choose one of {choices}")
    return activation


class _Cell(nn.Module):
    """Holds ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)`` and the two biases."""

    num_gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        peephole: bool = False,
    ) -> None:
        super().__init__()
        if peephole:  # LSTMCell takes this option itself and never passes it here
            raise ValueError(
                f"peephole=True needs a cell state: only LSTMCell has peepholes, "
                f"not {type(self).__name__}"
            )
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                "input_size and hidden_size must be >= 1, "
                f"got input_size={input_size}, hidden_size={hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))
            self.bias_hh = nn.Parameter(torch.empty(rows))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)), as torch.nn initialises its RNNs."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def gates(self, x: Tensor, h: Tensor) -> Tensor:
        """W x + b_ih + U h + b_hh for all gates at once: (B, G*H)."""
        out = nn.functional.linear(x, self.weight_ih, self.bias_ih)
        return out + nn.functional.linear(h, self.weight_hh, self.bias_hh)

    def check_input(self, x: Tensor) -> None:
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"input has size {x.shape[-1]} in its last dimension, "
                f"expected input_size={self.input_size}"
            )

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RNNCell(_Cell):
    """Elman RNN step: h' = act(W x + b_ih + U h + b_hh), act in tanh | relu | sigmoid.

    tanh is zero-centred with tanh' <= 1; sigmoid' <= 0.25 shrinks gradients faster
    over time; relu' is 0 or 1, so repeated multiplication by U can explode.

    Inputs: x (B, I), h (B, H). Returns h' (B, H).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        activation: str = "tanh",
        peephole: bool = False,
    ) -> None:
        self.activation = check_activation(activation)
        super().__init__(input_size, hidden_size, bias, peephole)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return ACTIVATIONS[self.activation](self.gates(x, h))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


class LSTMCell(_Cell):
    """LSTM step, gates in torch's order i, f, g, o::

        i = σ(W_i x + U_i h + p_i ⊙ c)      input gate
        f = σ(W_f x + U_f h + p_f ⊙ c)      forget gate
        g = tanh(W_g x + U_g h)             candidate
        c' = f ⊙ c + i ⊙ g
        o = σ(W_o x + U_o h + p_o ⊙ c')     output gate
        h' = o ⊙ tanh(c')

    The peephole terms p ⊙ c (Gers & Schmidhuber 2000; diagonal weights ``weight_ci``,
    ``weight_cf``, ``weight_co``) exist only with ``peephole=True``; biases are left
    out of the equations above for brevity.

    Inputs: x (B, I), state (h, c) each (B, H). Returns the new LSTMState(h, c).
    """

    num_gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        peephole: bool = False,
    ) -> None:
        self.peephole = peephole
        super().__init__(input_size, hidden_size, bias)
        if peephole:
            bound = 1.0 / math.sqrt(hidden_size)
            for name in ("weight_ci", "weight_cf", "weight_co"):
                weight = torch.empty(hidden_size).uniform_(-bound, bound)
                self.register_parameter(name, nn.Parameter(weight))

    def forward(self, x: Tensor, state: LSTMState) -> LSTMState:
        h, c = state
        i, f, g, o = self.gates(x, h).chunk(4, dim=-1)  # each (B, H)
        if self.peephole:
            i = i + self.weight_ci * c
            f = f + self.weight_cf * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.peephole:
            o = o + self.weight_co * c
        return LSTMState(torch.sigmoid(o) * torch.tanh(c), c)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, peephole={self.peephole}"


class GRUCell(_Cell):
    """GRU step, gates in torch's order r, z, n::

        r = σ(W_r x + U_r h)                reset gate
        z = σ(W_z x + U_z h)                update gate
        n = tanh(W_n x + r ⊙ (U_n h + b_hn)) candidate
        h' = (1 - z) ⊙ n + z ⊙ h

    One gate z does the LSTM's two jobs (forget = z, input = 1 - z) and there is no
    separate cell state: three weight blocks instead of four, so 3/4 the parameters.

    Inputs: x (B, I), h (B, H). Returns h' (B, H).
    """

    num_gates = 3

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        xr, xz, xn = nn.functional.linear(x, self.weight_ih, self.bias_ih).chunk(3, -1)
        hr, hz, hn = nn.functional.linear(h, self.weight_hh, self.bias_hh).chunk(3, -1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h
