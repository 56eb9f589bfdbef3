"""Parallel-in-time recurrent layers: MinGRU and MinLSTM (Feng et al. 2024).

Shapes: T sequence length, B batch, I input size, H hidden size, L ``num_layers``,
D directions, C chunk length, n chunks (T padded up to n*C).

An RNN cannot run in parallel over time because its gates read h_{t-1}. minGRU and
minLSTM ("Were RNNs All We Needed?", Feng et al. 2024) let the gates read only x_t,
which turns every step into a linear recurrence

    h_t = a_t ⊙ h_{t-1} + b_t,    0 <= a_t <= 1,  b_t >= 0,

whose coefficients come from the whole input at once (one matmul), and whose states
h_1..h_T come from a prefix scan in a few dependent steps instead of T:

    minGRU:   z = σ(W_z x + b_z),  h̃ = g(W_h x + b_h)
              h_t = (1 - z) ⊙ h_{t-1} + z ⊙ h̃                 a = 1 - z,  b = z ⊙ h̃
    minLSTM:  f = σ(W_f x + b_f),  i = σ(W_i x + b_i),  h̃ = g(W_h x + b_h)
              f' = f / (f + i),  i' = i / (f + i)
              h_t = f' ⊙ h_{t-1} + i' ⊙ h̃                      a = f',    b = i' ⊙ h̃

with g(v) = v + 1/2 for v >= 0 and σ(v) below, the paper's choice: it keeps h̃ > 0 so
that the scan can also run on logarithms. minLSTM has no separate cell state: its c is
its h.

Two scans compute the same states. Both cut time into n chunks of C steps, scan all
chunks at once, then carry the state across chunks with :func:`linear_scan`
(Hillis-Steele, ceil(log2 n) rounds).
- ``scan="linear"`` (default, :func:`parallel_scan`) composes the steps themselves,
  h -> a ⊙ h + b, one step at a time within the chunks: C - 1 + ceil(log2 n) dependent
  steps (23 at T = 4096) instead of T. Products of numbers in [0, 1] can only
  underflow to 0 and b stays a weighted mean of the h̃, so nothing overflows and the
  rounding error is that of the loop. Its backward pass is the same scan run
  backwards in time (:class:`_LinearRecurrence`).
- ``scan="log"`` (:func:`log_space_scan`) is Heinsen's (2023) log-space scan, the
  paper's, log h_t = a*_t + logcumsumexp(log b - a*)_t with a*_t = Σ_{s<=t} log a_s.
  It never overflows either, but a*_t and log b_s - a*_s are large numbers whose
  difference is small, so its error grows with |a*|. Measured in float32 against the
  loop: over whole 1000-step sequences, ~4e-5 on outputs and ~4e-4 on weight
  gradients (relative); within chunks of C steps, ~1e-6; with saturated gates
  (pre-activations ~1e4) its gradients are wrong by orders of magnitude even within
  chunks, while the linear scan stays within 1e-3. On CPU it is ~3x slower than the
  linear scan (``logcumsumexp`` and its backward dominate; ``seqlab bench scan``).

``impl="auto"`` (parallel mode) runs a scan over whole sequences; ``impl="loop"``
(sequential mode) runs the cells one step at a time, the recurrence the scans are
tested against.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqlab import kernels
from seqlab.layers import _Recurrent

SCANS = ("linear", "log")
# Steps per chunk: short chunks keep the log-space scan precise (see above); on CPU
# the linear scan ran alike with 8 to 32, slower with 4 or 64.
CHUNK = 16


def g(v: Tensor) -> Tensor:
    """v + 1/2 for v >= 0, σ(v) below: positive, continuous, linear for large v."""
    return torch.relu(v) + torch.sigmoid(v.clamp(max=0))  # σ(0) = 1/2


def log_g(v: Tensor) -> Tensor:
    """log g(v), finite for every finite v."""
    return torch.where(v >= 0, (v.clamp(min=0) + 0.5).log(), F.logsigmoid(v))


def parallel_scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """All states of h_t = a_t ⊙ h_{t-1} + b_t, from a, b (T, B, H) and h0 (B, H).

    Returns h_1..h_T (T, B, H); a in [0, 1], b and h0 of any sign. Differentiable:
    the gradient flows back through the same recurrence in reverse time (see
    :class:`_LinearRecurrence`), computed by the same scan.
    """
    return _LinearRecurrence.apply(a, b, h0)


def scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """:func:`parallel_scan` without autograd: one step at a time within chunks of C
    steps, all chunks at once, then :func:`linear_scan` across the n chunks."""
    steps = a.shape[0]
    a, b = _chunks(a, 1.0), _chunks(b, 0.0)  # (C, n, B, H), fresh copies
    for c in range(1, a.shape[0]):  # a, b become those of steps 1..c of each chunk
        b[c].addcmul_(a[c], b[c - 1])
        a[c].mul_(a[c - 1])
    return _join_chunks(a, b, h0, steps)


class _LinearRecurrence(torch.autograd.Function):
    """h = :func:`scan` (a, b, h0), with the backward pass written out. The gradient
    of a linear recurrence is a linear recurrence in reverse time,

        λ_t = ∂L/∂h_t + a_{t+1} ⊙ λ_{t+1},  ∂L/∂b_t = λ_t,  ∂L/∂a_t = λ_t ⊙ h_{t-1},

    so it is a scan too (Martin & Cundy 2018), and autograd keeps only a, h0 and h
    instead of every round of the forward scan.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        h = scan(a, b, h0)
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor):
        a, h0, h = ctx.saved_tensors
        a_next = torch.cat([a[1:], torch.zeros_like(a[:1])])  # a_{t+1}; none after T
        lam = scan(a_next.flip(0), grad_h.flip(0), torch.zeros_like(h0)).flip(0)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])  # (T, B, H)
        return lam * h_prev, lam, a[0] * lam[0]


def log_space_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """:func:`parallel_scan` from log a, log b (T, B, H): Heinsen's scan per chunk."""
    steps = log_a.shape[0]
    log_a, log_b = _chunks(log_a, 0.0), _chunks(log_b, 0.0)  # (C, n, B, H)
    a_star = log_a.cumsum(0)  # log of a_{chunk start} ⊙ .. ⊙ a_t
    b = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, 0))  # from h = 0
    return _join_chunks(a_star.exp(), b, h0, steps)


def linear_scan(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Inclusive scan of the steps h -> a_k ⊙ h + b_k along dim 0 (Hillis-Steele).

    Returns (a_1 ⊙ .. ⊙ a_k, the state after step k from h = 0) for every k, in
    ceil(log2 K) rounds; round r composes each step with the one 2^r before it.
    """
    shift = 1
    while shift < a.shape[0]:
        b = torch.cat([b[:shift], a[shift:] * b[:-shift] + b[shift:]])
        a = torch.cat([a[:shift], a[shift:] * a[:-shift]])
        shift *= 2
    return a, b


def _chunks(x: Tensor, pad_value: float) -> Tensor:
    """(T, B, H) -> (C, n, B, H), step c of chunk k at [c, k]; the padded tail steps
    are scanned and cut off (pad_value makes them identity steps)."""
    chunk = min(CHUNK, x.shape[0])
    x = F.pad(x, (0, 0, 0, 0, 0, -x.shape[0] % chunk), value=pad_value)
    x = x.unflatten(0, (-1, chunk)).transpose(0, 1)
    return x.clone(memory_format=torch.contiguous_format)


def _join_chunks(a: Tensor, b: Tensor, h0: Tensor, steps: int) -> Tensor:
    """States (T, B, H) from each chunk's running products a and states from h = 0 b,
    (C, n, B, H), and the state h0 (B, H) before the first chunk."""
    ends_a, ends_b = linear_scan(a[-1], b[-1])  # chunks 1..k as one step: (n, B, H)
    ends = ends_a * h0 + ends_b
    starts = torch.cat([h0.unsqueeze(0), ends[:-1]])  # (n, B, H)
    h = a * starts + b  # (C, n, B, H)
    return h.transpose(0, 1).flatten(0, 1)[:steps]


class _MinCell(nn.Module):
    """Input projections only: ``weight_ih (G*H, I)``, ``bias_ih (G*H,)``; no h -> h."""

    num_gates = 2

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
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
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))
        else:
            self.register_parameter("bias_ih", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(I), 1/sqrt(I)), as torch.nn.Linear initialises itself."""
        bound = 1.0 / math.sqrt(self.input_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: x (B, I), h (B, H) -> h' = a ⊙ h + b (B, H)."""
        a, b = self.coefficients(x)
        return a * h + b

    def gates(self, x: Tensor) -> tuple[Tensor, ...]:
        """W x + b split into the G gates, each (..., H)."""
        return F.linear(x, self.weight_ih, self.bias_ih).chunk(self.num_gates, -1)

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """a, b of h_t = a_t ⊙ h_{t-1} + b_t for every x_t (..., I)."""
        raise NotImplementedError

    def log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """log a, log b of the same recurrence, finite for finite x."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class MinGRUCell(_MinCell):
    """One minGRU step: z = σ(W_z x + b_z), h̃ = g(W_h x + b_h), h' = (1-z) ⊙ h + z ⊙ h̃.

    Inputs: x (B, I), h (B, H). Returns h' (B, H). Rows of ``weight_ih``: z, then h̃.
    """

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.gates(x)
        return torch.sigmoid(-k), torch.sigmoid(k) * g(v)  # 1 - z, z ⊙ h̃

    def log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.gates(x)
        return F.logsigmoid(-k), F.logsigmoid(k) + log_g(v)


class MinLSTMCell(_MinCell):
    """One minLSTM step: f' = f / (f + i), i' = i / (f + i), h' = f' ⊙ h + i' ⊙ h̃.

    f = σ(W_f x + b_f), i = σ(W_i x + b_i), h̃ = g(W_h x + b_h). Computed as
    f' = σ(log f - log i) and i' = σ(log i - log f), which never divide 0 by 0.
    Inputs: x (B, I), h (B, H). Returns h' (B, H). Rows of ``weight_ih``: f, i, h̃.
    """

    num_gates = 3

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        d, v = self._log_ratio(x)
        return torch.sigmoid(-d), torch.sigmoid(d) * g(v)  # f', i' ⊙ h̃

    def log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        d, v = self._log_ratio(x)
        return F.logsigmoid(-d), F.logsigmoid(d) + log_g(v)

    def _log_ratio(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """d = log i - log f, and the candidate's pre-activation v."""
        k_f, k_i, v = self.gates(x)
        return F.logsigmoid(k_i) - F.logsigmoid(k_f), v


class _MinRecurrent(_Recurrent):
    """seqlab's recurrent layer (stacking, directions, lengths, dropout) over min cells;
    parallel mode replaces each direction's step-by-step loop by a scan."""

    has_recurrent_weights = False  # the gates read x_t only

    def __init__(self, *args, scan: str = "linear", **kwargs) -> None:
        if scan not in SCANS:
            raise ValueError(f"unknown scan {scan!r}; choose one of {', '.join(SCANS)}")
        self.scan = scan
        super().__init__(*args, **kwargs)

    def run_direction(self, cell: _MinCell, x: Tensor, state: Tensor, lengths):
        if self.impl == "loop":
            return super().run_direction(cell, x, state, lengths)
        if self.scan == "log":
            h = log_space_scan(*cell.log_coefficients(x), state)  # (T, B, H)
        else:
            h = parallel_scan(*cell.coefficients(x), state)  # (T, B, H)
        if lengths is None:
            return h, h[-1]
        # Steps past a length come after every real step, so they cannot change one.
        last = (lengths - 1).view(1, -1, 1).expand(1, *h.shape[1:])  # (1, B, H)
        mask = kernels.step_mask(lengths, h.shape[0]).unsqueeze(-1)  # (T, B, 1)
        return h * mask, h.gather(0, last).squeeze(0)

    def load_torch(self, module: nn.Module) -> None:
        raise TypeError(f"{type(self).__name__} has no torch.nn counterpart to load")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scan={self.scan!r}"


class MinGRU(_MinRecurrent):
    """minGRU layer: h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t, gates from x_t only.

    Args: as :class:`seqlab.layers.GRU` (``input_size, hidden_size, num_layers, bias,
    batch_first, dropout, bidirectional``), plus ``impl``: "auto" runs a parallel scan
    over time (``scan``: "linear" or "log", see the module docstring), "loop" one step
    at a time.
    Inputs: input (T, B, I), optional state h_0 (L*D, B, H), optional lengths (B,).
    Outputs: RecurrentOutput(output (T, B, D*H), state h_n (L*D, B, H)).
    """

    def make_cell(self, input_size: int) -> nn.Module:
        return MinGRUCell(input_size, self.hidden_size, self.bias)


class MinLSTM(_MinRecurrent):
    """minLSTM layer: h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t, gates from x_t only.

    Args, inputs and outputs as :class:`MinGRU`: the state is h alone (minLSTM's cell
    state is its hidden state), not an LSTMState.
    """

    def make_cell(self, input_size: int) -> nn.Module:
        return MinLSTMCell(input_size, self.hidden_size, self.bias)
