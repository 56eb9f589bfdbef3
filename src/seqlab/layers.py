"""Recurrent layers: a cell unrolled over time, stacked and optionally bidirectional.

Shapes: T sequence length, B batch, I input size, H hidden size, L ``num_layers``,
D directions (2 if ``bidirectional``). Inputs are (T, B, I), or (B, T, I) with
``batch_first=True``; outputs are (T, B, D*H) (or batch-first); states are
(L*D, B, H) with index ``layer * D + direction``, as in ``torch.nn``.

Variable lengths: pass ``lengths`` (B,) or a PackedSequence. Padded steps change
neither the state nor the outputs of the real steps, padded outputs are zero, the final
state is each sequence's state at its own last real step, and the backward direction
starts at that step.

Which kernel runs is the layer's business, not the user's: torch's fused kernels for
tanh/relu RNN, LSTM and GRU; the fused tanh kernel with rescaled weights for the
sigmoid RNN; a hand-written BPTT kernel for the peephole LSTM (see
:mod:`seqlab.kernels`). ``impl="loop"`` runs the cells step by step instead: the
plain reference the fast paths are tested against. One exception to the fused LSTM:
a single step on the CPU without gradients (sampling from a language model, one token
at a time) runs the cells, because oneDNN's LSTM costs about three of the cell's own
steps there (hidden 512: 2.3 against 0.75 ms per token, BENCHMARKS.md section 1).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab import kernels
from seqlab.cells import GRUCell, LSTMCell, LSTMState, RNNCell, check_activation

State = Tensor | LSTMState
IMPLS = ("auto", "loop")
RECURRENT_INITS = ("default", "orthogonal", "identity")


class RecurrentOutput(NamedTuple):
    """``output`` (T, B, D*H) or batch-first; ``state``: h (L*D, B, H), or LSTMState."""

    output: Tensor | PackedSequence
    state: State


class _Recurrent(nn.Module):
    """Shared unrolling logic; RNN, LSTM and GRU below only choose the cell."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        impl: str = "auto",
        peephole: bool = False,
        recurrent_init: str = "default",
        weight_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if peephole:  # LSTM takes this option itself and never passes it here
            raise ValueError(
                f"peephole=True needs a cell state: only LSTM has peepholes, "
                f"not {type(self).__name__}"
            )
        _check_options(num_layers, dropout, impl, recurrent_init)
        if not 0.0 <= weight_drop < 1.0:
            raise ValueError(f"weight_drop must be in [0, 1), got {weight_drop}")
        needs_hh = {
            "recurrent_init": recurrent_init != "default",
            "weight_drop": weight_drop,
        }
        for option, asked in needs_hh.items():
            if asked and not self.has_recurrent_weights:
                raise ValueError(
                    f"{option} needs recurrent weights W_hh; the gates of "
                    f"{type(self).__name__} read x_t only"
                )
        self.weight_drop = float(weight_drop)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.impl = impl
        self.num_directions = 2 if bidirectional else 1
        self.cells = nn.ModuleList(
            self.make_cell(
                input_size if layer == 0 else hidden_size * self.num_directions
            )
            for layer in range(num_layers)
            for _ in range(self.num_directions)
        )
        self.recurrent_init = recurrent_init
        if recurrent_init != "default":
            for cell in self.cells:
                init_recurrent_weight(cell.weight_hh, cell.num_gates, recurrent_init)

    # Whether the cells have W_hh (minGRU/minLSTM do not): recurrent_init needs it.
    has_recurrent_weights = True

    def make_cell(self, input_size: int) -> nn.Module:
        raise NotImplementedError

    # The kernel torch fuses for this configuration, or None.
    fused_mode: str | None = None

    def forward(
        self,
        input: Tensor | PackedSequence,
        state: State | None = None,
        lengths: Tensor | None = None,
    ) -> RecurrentOutput:
        """Run all layers over ``input`` from ``state`` (zeros if None)."""
        packed_in = isinstance(input, PackedSequence)
        if packed_in:
            input, lengths = pad_packed_sequence(input, self.batch_first)
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        self._check_input(x, lengths)
        if lengths is not None:
            lengths = lengths.to(x.device)
        state = self._initial_state(x, state)
        output, state = self._run(x, state, lengths)
        if self.batch_first:
            output = output.transpose(0, 1)
        if packed_in:
            output = pack_padded_sequence(
                output, lengths.cpu(), self.batch_first, enforce_sorted=False
            )
        return RecurrentOutput(output, state)

    def _fused(self, x: Tensor) -> bool:
        if self.impl != "auto" or self.fused_mode is None:
            return False
        one_cpu_step = x.shape[0] == 1 and x.device.type == "cpu"
        return not (
            self.fused_mode == "LSTM" and one_cpu_step and not torch.is_grad_enabled()
        )

    def _run(self, x: Tensor, state: State, lengths: Tensor | None):
        if self._fused(x):
            weights = [p for cell in self.cells for p in self.cell_weights(cell)]
            return kernels.fused_rnn(
                self.fused_mode,
                x,
                state,
                weights,
                has_biases=self.bias,
                num_layers=self.num_layers,
                dropout=self.dropout,
                training=self.training,
                bidirectional=self.bidirectional,
                lengths=lengths,
            )
        return self._run_layers(x, state, lengths)

    def _run_layers(self, x: Tensor, state: State, lengths: Tensor | None):
        """Layer by layer, with dropout between layers as torch.nn applies it."""
        finals = []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            x, final = self.run_layer(
                layer, x, self._layer_state(state, layer), lengths
            )
            finals.append(final)
        return x, self._stack_states(finals)

    def run_layer(self, layer: int, x: Tensor, state: State, lengths: Tensor | None):
        """Both directions of one layer: state (D, B, H) -> (T, B, D*H), (D, B, H)."""
        outputs, finals = [], []
        for d in range(self.num_directions):
            cell = self.cells[layer * self.num_directions + d]
            s = self._direction_state(state, d)
            xd = kernels.reverse_padded(x, lengths) if d == 1 else x
            out, final = self.run_direction(cell, xd, s, lengths)
            outputs.append(kernels.reverse_padded(out, lengths) if d == 1 else out)
            finals.append(final)
        return torch.cat(outputs, -1), self._stack_states(finals)

    def cell_weights(self, cell: nn.Module, with_none: bool = False) -> list:
        """[W_ih, W_hh, b_ih, b_hh] of a cell for one forward pass (Nones left out
        unless ``with_none``). In training with ``weight_drop`` p, W_hh is
        DropConnect'ed (Wan et al. 2013; AWD-LSTM, Merity et al. 2017): each weight
        is 0 with probability p, the rest scaled by 1/(1-p), one mask for every step
        of the pass, so the fused kernels run it at the cost of one mask per layer."""
        weights = _cell_weights(cell, with_none)
        if self.weight_drop and self.training:
            weights[1] = nn.functional.dropout(weights[1], self.weight_drop)
        return weights

    def run_direction(self, cell: nn.Module, x: Tensor, state, lengths: Tensor | None):
        """One cell over time, step by step: the plain reference path."""
        mask = None if lengths is None else kernels.step_mask(lengths, x.shape[0])
        step = cell
        if self.weight_drop and self.training:  # one W_hh mask for all the steps
            dropped = {"weight_hh": self.cell_weights(cell)[1]}
            step = lambda *args: torch.func.functional_call(cell, dropped, args)  # noqa: E731
        outputs = []
        for t in range(x.shape[0]):
            new = step(x[t], state)
            if mask is not None:
                keep = mask[t].unsqueeze(1)  # (B, 1)
                new = _where(keep, new, state)
            state = new
            h = state.h if isinstance(state, LSTMState) else state
            outputs.append(h if mask is None else h * keep)
        return torch.stack(outputs), state

    # ---- states -------------------------------------------------------------------
    def _initial_state(self, x: Tensor, state: State | None) -> State:
        shape = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        if state is None:
            return x.new_zeros(shape)
        _check_state(state, shape, "state")
        return state

    def _layer_state(self, state: State, layer: int) -> State:
        d = self.num_directions
        return state[layer * d : (layer + 1) * d]

    @staticmethod
    def _direction_state(state: State, d: int):
        return state[d]

    @staticmethod
    def _stack_states(states: list) -> State:
        return torch.cat(states) if states[0].dim() == 3 else torch.stack(states)

    # ---- checks and interop ------------------------------------------------------
    def _check_input(self, x: Tensor, lengths: Tensor | None) -> None:
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        if x.dim() != 3:
            raise ValueError(
                f"expected a 3-D input {layout}, got shape {tuple(x.shape)}"
            )
        if x.shape[0] == 0 or x.shape[1] == 0:
            shape = tuple(x.transpose(0, 1).shape if self.batch_first else x.shape)
            raise ValueError(f"empty batch: input {layout} has shape {shape}")
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"input has size {x.shape[2]} in its last dimension, "
                f"expected input_size={self.input_size}"
            )
        if lengths is not None:
            _check_lengths(lengths, batch=x.shape[1], steps=x.shape[0])

    def load_torch(self, module: nn.RNNBase) -> None:
        """Copy the weights of the matching torch.nn.RNN/LSTM/GRU into this layer."""
        _check_torch_match(self, module)
        suffixes = ["", "_reverse"][: self.num_directions]
        with torch.no_grad():
            for layer in range(self.num_layers):
                for d, suffix in enumerate(suffixes):
                    cell = self.cells[layer * self.num_directions + d]
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        if getattr(cell, name) is not None:
                            src = getattr(module, f"{name}_l{layer}{suffix}")
                            getattr(cell, name).copy_(src)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.recurrent_init != "default":
            s += f", recurrent_init={self.recurrent_init!r}"
        if self.weight_drop:
            s += f", weight_drop={self.weight_drop}"
        return s


class RNN(_Recurrent):
    """Elman RNN layer: h_t = act(W x_t + U h_{t-1} + b), act in tanh | relu | sigmoid.

    Args: as torch.nn.RNN (``input_size, hidden_size, num_layers, bias, batch_first,
    dropout, bidirectional``) plus ``activation`` (torch calls it ``nonlinearity`` and
    lacks sigmoid) and ``impl``.
    Inputs: input (T, B, I), optional state h_0 (L*D, B, H), optional lengths (B,).
    Outputs: RecurrentOutput(output (T, B, D*H), state h_n (L*D, B, H)).
    """

    def __init__(self, *args, activation: str = "tanh", **kwargs) -> None:
        self.activation = check_activation(activation)
        super().__init__(*args, **kwargs)
        self.fused_mode = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(activation)

    def make_cell(self, input_size: int) -> nn.Module:
        return RNNCell(input_size, self.hidden_size, self.bias, self.activation)

    def run_layer(self, layer, x, state, lengths):
        if self.impl == "loop" or self.activation != "sigmoid":
            return super().run_layer(layer, x, state, lengths)
        cells = self.cells[
            layer * self.num_directions : (layer + 1) * self.num_directions
        ]
        weights = [w for cell in cells for w in self.cell_weights(cell, with_none=True)]
        return kernels.sigmoid_rnn(
            x, state, weights, bidirectional=self.bidirectional, lengths=lengths
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


class LSTM(_Recurrent):
    """LSTM layer (gates i, f, g, o as in :class:`seqlab.cells.LSTMCell`).

    Args: as torch.nn.LSTM plus ``peephole`` (gates also see the cell state),
    ``impl``, ``recurrent_init`` (see :func:`init_recurrent_weight`) and
    ``forget_bias``: when not 0, the forget gate's bias b_ih_f + b_hh_f starts at this
    value (b_ih_f = forget_bias, b_hh_f = 0) so that f = σ(... + 1) keeps the cell
    state early in training (Gers et al. 2000; Jozefowicz et al. 2015 use 1); 0 keeps
    torch's uniform initialisation.
    Inputs: input (T, B, I), optional state LSTMState(h_0, c_0) each (L*D, B, H),
    optional lengths (B,).
    Outputs: RecurrentOutput(output (T, B, D*H), state LSTMState(h_n, c_n)).
    """

    def __init__(
        self, *args, peephole: bool = False, forget_bias: float = 0.0, **kwargs
    ) -> None:
        self.peephole = peephole
        super().__init__(*args, **kwargs)
        self.fused_mode = None if peephole else "LSTM"
        self.forget_bias = float(forget_bias)
        if forget_bias and not self.bias:
            raise ValueError(f"forget_bias={forget_bias} needs bias=True")
        if forget_bias:
            for cell in self.cells:
                set_forget_bias(cell, forget_bias)

    def make_cell(self, input_size: int) -> nn.Module:
        return LSTMCell(input_size, self.hidden_size, self.bias, self.peephole)

    def _run(self, x, state, lengths):
        output, (h, c) = super()._run(x, state, lengths)
        return output, LSTMState(h, c)

    def run_direction(self, cell, x, state, lengths):
        if self.impl == "loop" or not self.peephole:
            return super().run_direction(cell, x, state, lengths)
        weights = (*self.cell_weights(cell, with_none=True), *_peepholes(cell))
        out, (h, c) = kernels.peephole_lstm(x, state, weights, lengths)
        return out, LSTMState(h, c)

    def _initial_state(self, x: Tensor, state: State | None) -> LSTMState:
        shape = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        if state is None:
            zeros = x.new_zeros(shape)
            return LSTMState(zeros, zeros)
        if not isinstance(state, tuple) or len(state) != 2:
            raise ValueError("LSTM state must be a pair (h, c), e.g. an LSTMState")
        _check_state(state[0], shape, "state.h")
        _check_state(state[1], shape, "state.c")
        return LSTMState(*state)

    def _layer_state(self, state: LSTMState, layer: int) -> LSTMState:
        d = self.num_directions
        return LSTMState(
            state.h[layer * d : (layer + 1) * d], state.c[layer * d : (layer + 1) * d]
        )

    @staticmethod
    def _direction_state(state: LSTMState, d: int) -> LSTMState:
        return LSTMState(state.h[d], state.c[d])

    @staticmethod
    def _stack_states(states: list[LSTMState]) -> LSTMState:
        stack = torch.cat if states[0].h.dim() == 3 else torch.stack
        return LSTMState(stack([s.h for s in states]), stack([s.c for s in states]))

    def extra_repr(self) -> str:
        s = f"{super().extra_repr()}, peephole={self.peephole}"
        return s + (f", forget_bias={self.forget_bias}" if self.forget_bias else "")


class GRU(_Recurrent):
    """GRU layer (update gate z, reset gate r as in :class:`seqlab.cells.GRUCell`).

    Args, inputs and outputs as :class:`RNN` (state h only).
    """

    fused_mode = "GRU"

    def make_cell(self, input_size: int) -> nn.Module:
        return GRUCell(input_size, self.hidden_size, self.bias)


def init_recurrent_weight(weight: Tensor, num_gates: int, scheme: str) -> None:
    """Set each gate's (H, H) block of a W_hh (G*H, H) in place.

    "orthogonal": a random orthogonal matrix per block, W W^T = I (Saxe et al. 2014),
    so that repeated multiplication by W_hh neither grows nor shrinks h at the start;
    "identity": I per block (Le et al. 2015's IRNN, for relu RNNs). "default" leaves
    torch's uniform initialisation. The biases and W_ih keep theirs.
    """
    if scheme == "default":
        return
    with torch.no_grad():
        for block in weight.chunk(num_gates, dim=0):  # each (H, H)
            if scheme == "orthogonal":
                nn.init.orthogonal_(block)
            else:
                block.copy_(torch.eye(*block.shape))


def set_forget_bias(cell: LSTMCell, value: float) -> None:
    """b_ih_f = value, b_hh_f = 0: the forget gate's total bias is ``value``."""
    H = cell.hidden_size
    with torch.no_grad():
        cell.bias_ih[H : 2 * H].fill_(value)  # gates i, f, g, o: f is rows H..2H
        cell.bias_hh[H : 2 * H].zero_()


def _cell_weights(cell: nn.Module, with_none: bool = False) -> list[Tensor | None]:
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    weights = [getattr(cell, n) for n in names]
    return weights if with_none else [w for w in weights if w is not None]


def _peepholes(cell: LSTMCell) -> tuple[Tensor, Tensor, Tensor]:
    return cell.weight_ci, cell.weight_cf, cell.weight_co


def _where(keep: Tensor, new: State, old: State) -> State:
    if isinstance(new, LSTMState):
        return LSTMState(
            torch.where(keep, new.h, old.h), torch.where(keep, new.c, old.c)
        )
    return torch.where(keep, new, old)


def _check_options(
    num_layers: int, dropout: float, impl: str, recurrent_init: str
) -> None:
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
    if recurrent_init not in RECURRENT_INITS:
        choices = ", ".join(RECURRENT_INITS)
        raise ValueError(
            f"unknown recurrent_init {recurrent_init!r}; choose one of {choices}"
        )


def _check_state(state: Tensor, shape: tuple[int, ...], name: str) -> None:
    if tuple(state.shape) != shape:
        raise ValueError(
            f"{name} has shape {tuple(state.shape)}, expected {shape} "
            "(num_layers * num_directions, batch, hidden_size)"
        )


def _check_lengths(lengths: Tensor, batch: int, steps: int) -> None:
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"lengths must have shape ({batch},), one per sequence, "
            f"got {tuple(lengths.shape)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype}")
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1:
        raise ValueError(f"lengths must be >= 1, got a length of {low}")
    if high > steps:
        raise ValueError(
            f"lengths must be <= the sequence length {steps}, got a length of {high}"
        )


def _check_torch_match(layer: _Recurrent, module: nn.RNNBase) -> None:
    expected = {RNN: nn.RNN, LSTM: nn.LSTM, GRU: nn.GRU}[type(layer)]
    if not isinstance(module, expected):
        raise TypeError(f"{type(layer).__name__} loads a torch.nn.{expected.__name__}")
    mine = (
        layer.input_size,
        layer.hidden_size,
        layer.num_layers,
        layer.bias,
        layer.bidirectional,
    )
    theirs = (
        module.input_size,
        module.hidden_size,
        module.num_layers,
        module.bias,
        module.bidirectional,
    )
    if mine != theirs or getattr(module, "proj_size", 0):
        raise ValueError(
            "torch module does not match: (input_size, hidden_size, num_layers, bias, "
            f"bidirectional) = {theirs}, this layer has {mine}"
        )
    if isinstance(layer, RNN) and module.nonlinearity != layer.activation:
        raise ValueError(
            f"torch RNN has nonlinearity {module.nonlinearity!r}, "
            f"this layer has activation {layer.activation!r}"
        )


CELLS = ("rnn", "lstm", "gru", "mingru", "minlstm")


def make_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    dropout: float = 0.0,
    bidirectional: bool = False,
    batch_first: bool = True,
    activation: str = "tanh",
    peephole: bool = False,
    forget_bias: float = 0.0,
    recurrent_init: str = "default",
    weight_drop: float = 0.0,
) -> _Recurrent:
    """The recurrent layer a model config names by ``cell``; batch-first by default.

    ``activation`` applies to cell="rnn", ``peephole`` and ``forget_bias`` to
    cell="lstm"; asking for one on another cell is an error, not silently ignored.
    ``recurrent_init`` and ``weight_drop`` apply to every cell with a W_hh (not
    mingru/minlstm).
    """
    common = dict(
        num_layers=num_layers,
        dropout=dropout,
        bidirectional=bidirectional,
        batch_first=batch_first,
        recurrent_init=recurrent_init,
        weight_drop=weight_drop,
    )
    if cell != "lstm" and (peephole or forget_bias):
        option = "peephole=True" if peephole else f"forget_bias={forget_bias}"
        raise ValueError(f"{option} needs cell='lstm', got cell={cell!r}")
    if cell != "rnn" and activation != "tanh":
        raise ValueError(
            f"activation={activation!r} applies to cell='rnn', got cell={cell!r}"
        )
    if cell == "rnn":
        return RNN(input_size, hidden_size, activation=activation, **common)
    if cell == "lstm":
        return LSTM(
            input_size,
            hidden_size,
            peephole=peephole,
            forget_bias=forget_bias,
            **common,
        )
    if cell == "gru":
        return GRU(input_size, hidden_size, **common)
    if cell in ("mingru", "minlstm"):
        from seqlab import minrnn  # minrnn builds on this module: import it late

        layer = minrnn.MinGRU if cell == "mingru" else minrnn.MinLSTM
        return layer(input_size, hidden_size, **common)
    raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
