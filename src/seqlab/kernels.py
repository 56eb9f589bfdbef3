"""Fast paths behind :mod:`seqlab.layers`: each computes exactly what the cells do.

Shapes: T time, B batch, I input size, H hidden size, L layers, D directions.
Everything here is time-major.

- :func:`fused_rnn` calls torch's own fused kernels (oneDNN on CPU, cuDNN on GPU) for
  the configurations torch implements: tanh/relu RNN, LSTM, GRU.
- :func:`sigmoid_rnn` runs a sigmoid RNN on the fused tanh kernel, using
  σ(a) = (1 + tanh(a/2)) / 2: with u = 2h - 1 the recurrence
  h' = σ(W x + U h + b) becomes u' = tanh(W/2 x + U/4 u + (b + U·1/2)/2), a tanh RNN
  with rescaled weights (gradients flow back to W, U, b through the rescaling).
- :class:`PeepholeLSTMFunction` is a hand-written LSTM with peepholes: the input
  projection is one matmul over all steps, each step is one matmul plus in-place
  elementwise work, and backpropagation through time is written out so that no
  autograd graph is built per step; the weight gradients are single large matmuls.
"""

from __future__ import annotations

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

FUSED_MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")


def fused_rnn(
    mode: str,
    x: Tensor,
    hx: Tensor | tuple[Tensor, Tensor],
    weights: list[Tensor],
    *,
    has_biases: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
    lengths: Tensor | None = None,
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """Run torch's fused kernel for ``mode`` on time-major x (T, B, I).

    ``weights`` are [w_ih, w_hh, (b_ih, b_hh)] for each layer and direction, in torch's
    order. With ``lengths`` the batch is packed, so padded steps are skipped and each
    backward direction starts at its own last real step. Returns (output (T, B, D*H),
    final state): padded output steps are zero.
    """
    is_lstm = mode == "LSTM"
    states = list(hx) if is_lstm else [hx]
    if lengths is None:
        args = (
            weights,
            has_biases,
            num_layers,
            dropout,
            training,
            bidirectional,
            False,
        )
        result = _call_vf(mode, x, states, args, is_lstm)
        return result[0], _final(result, is_lstm)
    packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    states = [s.index_select(1, packed.sorted_indices) for s in states]
    args = (weights, has_biases, num_layers, dropout, training, bidirectional)
    result = _call_vf(mode, packed.data, states, args, is_lstm, packed.batch_sizes)
    out = PackedSequence(
        result[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
    )
    output, _ = pad_packed_sequence(out, total_length=x.shape[0])
    final = [s.index_select(1, packed.unsorted_indices) for s in result[1:]]
    return output, (final[0], final[1]) if is_lstm else final[0]


def _call_vf(mode, data, states, args, is_lstm, batch_sizes=None):
    fn = {"RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu, "GRU": _VF.gru}.get(mode)
    extra = () if batch_sizes is None else (batch_sizes,)
    if is_lstm:
        return _VF.lstm(data, *extra, states, *args)
    return fn(data, *extra, states[0], *args)


def _final(result, is_lstm):
    return (result[1], result[2]) if is_lstm else result[1]


def sigmoid_rnn(
    x: Tensor,
    h0: Tensor,
    weights: list[Tensor],
    *,
    bidirectional: bool,
    lengths: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One sigmoid-RNN layer (both directions if bidirectional) on the tanh kernel.

    x (T, B, I); h0 (D, B, H); weights [w_ih, w_hh, b_ih, b_hh] per direction (biases
    may be None). Returns output (T, B, D*H) with zeros at padded steps, and h_n
    (D, B, H).
    """
    rescaled = []
    for d in range(2 if bidirectional else 1):
        w_ih, w_hh, b_ih, b_hh = weights[4 * d : 4 * d + 4]
        shift = w_hh.sum(1) / 4  # U·1/2, halved
        rescaled += [
            w_ih / 2,
            w_hh / 4,
            shift if b_ih is None else b_ih / 2 + shift,
            torch.zeros_like(shift) if b_hh is None else b_hh / 2,
        ]
    u, u_n = fused_rnn(
        "RNN_TANH",
        x,
        2 * h0 - 1,
        rescaled,
        has_biases=True,
        num_layers=1,
        dropout=0.0,
        training=False,
        bidirectional=bidirectional,
        lengths=lengths,
    )
    output = (u + 1) / 2
    if lengths is not None:
        output = output * step_mask(lengths, x.shape[0]).unsqueeze(-1).to(output.dtype)
    return output, (u_n + 1) / 2


def step_mask(lengths: Tensor, steps: int) -> Tensor:
    """(T, B) bool: True where step t < length of sequence b."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(1)
    return t < lengths.unsqueeze(0)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (T, B, F) within its own length; padding stays put."""
    if lengths is None:
        return x.flip(0)
    steps = x.shape[0]
    t = torch.arange(steps, device=x.device).unsqueeze(1)  # (T, 1)
    lengths = lengths.to(x.device).unsqueeze(0)  # (1, B)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (T, B)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


class _Linear:
    """y = x @ weight.T with the weight packed once for oneDNN when that is available.

    The recurrent matmul runs T times with the same weight; on x86 CPUs oneDNN's
    prepacked kernels are markedly faster for these small-batch products than the
    BLAS behind ``torch.mm``. Elsewhere (GPU, float64, older torch) it is ``torch.mm``.
    """

    def __init__(self, weight: Tensor, batch_size: int) -> None:
        self.weight = weight
        self.packed = None
        if weight.device.type == "cpu" and weight.dtype == torch.float32:
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(
                    weight, batch_size
                )
            except (AttributeError, RuntimeError):
                self.packed = None

    def __call__(self, x: Tensor, add: Tensor | None = None) -> Tensor:
        """x @ weight.T (+ add)."""
        if self.packed is None:
            out = torch.mm(x, self.weight.t())
            return out if add is None else out.add_(add)
        if add is None:
            return torch.ops.mkldnn._linear_pointwise(
                x, self.packed, None, "none", [], ""
            )
        return torch.ops.mkldnn._linear_pointwise.binary(
            x, add, self.packed, None, "add"
        )


class PeepholeLSTMFunction(torch.autograd.Function):
    """Peephole LSTM over a batch sorted by length, with hand-written BPTT.

    Inputs: xw (T, B, 4H) = W x + b_ih + b_hh precomputed for all steps; h0, c0 (B, H);
    w_hh (4H, H); peephole weights w_ci, w_cf, w_co (H,); batch_sizes: a list with the
    number of sequences still running at each step (non-increasing, as in a
    PackedSequence). Returns Y (T, B, H) hidden states (zero past each length) and
    C (T, B, H) cell states.
    """

    @staticmethod
    def forward(ctx, xw, h0, c0, w_hh, w_ci, w_cf, w_co, batch_sizes):
        steps, batch, _ = xw.shape
        hidden = h0.shape[1]
        recurrent = _Linear(w_hh, batch)
        k = _Constants(xw)
        w_cif = torch.stack([w_ci, w_cf])  # (2, H)
        # Past a sequence's end nothing is written: zeros there, when there is a there.
        alloc = torch.empty if batch_sizes[-1] == batch else torch.zeros
        acts = alloc(xw.shape, dtype=xw.dtype, device=xw.device)  # i, f, g, o
        ys, cs, tanh_cs = (
            alloc(steps, batch, hidden, dtype=xw.dtype, device=xw.device)
            for _ in range(3)
        )
        for t, bs in enumerate(batch_sizes):
            h_prev = h0[:bs] if t == 0 else ys[t - 1, :bs]
            c_prev = c0[:bs] if t == 0 else cs[t - 1, :bs]
            gates = acts[t, :bs]
            gates.copy_(recurrent(h_prev, add=xw[t, :bs]))
            i, f, g, o = gates.chunk(4, 1)
            sig = gates[:, : 2 * hidden]
            sig.view(bs, 2, hidden).addcmul_(c_prev.unsqueeze(1), w_cif)
            sig.sigmoid_()
            _tanh_(g, k)
            c = torch.mul(f, c_prev, out=cs[t, :bs]).addcmul_(i, g)
            o.addcmul_(c, w_co).sigmoid_()
            tanh_c = _tanh_(torch.mul(c, k.two, out=tanh_cs[t, :bs]), k, doubled=True)
            torch.mul(o, tanh_c, out=ys[t, :bs])
        ctx.save_for_backward(h0, c0, w_hh, w_ci, w_cf, w_co, acts, ys, cs, tanh_cs)
        ctx.batch_sizes = batch_sizes
        return ys, cs

    @staticmethod
    def backward(ctx, grad_ys, grad_cs):
        h0, c0, w_hh, w_ci, w_cf, w_co, acts, _, cs, tanh_cs = ctx.saved_tensors
        batch_sizes = ctx.batch_sizes
        full = batch_sizes[-1] == h0.shape[0]
        grad_gates = torch.empty_like(acts) if full else torch.zeros_like(acts)
        dh = torch.zeros_like(h0)
        dc = torch.zeros_like(c0)
        with_grad_cs = bool(grad_cs.any())  # usually only c_n is used, often not at all
        recurrent = _Linear(w_hh.t().contiguous(), h0.shape[0])
        ones = torch.ones_like(h0)
        for t in range(len(batch_sizes) - 1, -1, -1):
            bs = batch_sizes[t]
            c_prev = c0[:bs] if t == 0 else cs[t - 1, :bs]
            i, f, g, o = acts[t, :bs].chunk(4, 1)
            tanh_c = tanh_cs[t, :bs]
            dh_t = dh[:bs].add_(grad_ys[t, :bs])
            dc_t = dc[:bs]
            if with_grad_cs:
                dc_t.add_(grad_cs[t, :bs])
            one = ones[:bs]
            step = grad_gates[t, :bs]  # (bs, 4H): written gate by gate below
            di, df, dg, do = step.chunk(4, 1)
            # (python scalars in these expressions would cost a tensor each)
            torch.mul(dh_t, tanh_c, out=do).mul_(torch.addcmul(o, o, o, value=-1))
            dc_t.addcmul_(dh_t * o, torch.addcmul(one, tanh_c, tanh_c, value=-1))
            dc_t.addcmul_(do, w_co)
            torch.mul(dc_t, g, out=di).mul_(torch.addcmul(i, i, i, value=-1))
            torch.mul(dc_t, c_prev, out=df).mul_(torch.addcmul(f, f, f, value=-1))
            torch.mul(dc_t, i, out=dg).mul_(torch.addcmul(one, g, g, value=-1))
            dc_t.mul_(f).addcmul_(di, w_ci).addcmul_(df, w_cf)
            dh[:bs] = recurrent(step)
        return (grad_gates, dh, dc, *_weight_grads(ctx, grad_gates), None)


class _Constants:
    """0-dim 2 and 1 on the device and dtype of ``like``: python scalars in in-place
    ops would each be wrapped into a new tensor, step after step."""

    def __init__(self, like: Tensor) -> None:
        self.two = like.new_tensor(2.0)
        self.one = like.new_tensor(1.0)


def _tanh_(x: Tensor, k: _Constants, doubled: bool = False) -> Tensor:
    """In-place tanh(x) = 2σ(2x) - 1 (``doubled``: x already holds 2x).

    torch's CPU tanh is many times slower than its sigmoid on small tensors with
    several threads; this is exact to float rounding.
    """
    if not doubled:
        x.mul_(k.two)
    return x.sigmoid_().mul_(k.two).sub_(k.one)


def _weight_grads(ctx, grad_gates):
    """Gradients of w_hh and the peepholes, as single matmuls / sums over all steps."""
    h0, c0, _, _, _, _, _, ys, cs, _ = ctx.saved_tensors
    steps, batch, gates = grad_gates.shape
    h_prev = torch.cat([h0.unsqueeze(0), ys[:-1]])  # (T, B, H)
    c_prev = torch.cat([c0.unsqueeze(0), cs[:-1]])
    grad_w_hh = grad_gates.reshape(steps * batch, gates).t().mm(h_prev.flatten(0, 1))
    di, df, _, do = grad_gates.chunk(4, 2)
    return (
        grad_w_hh,
        (di * c_prev).sum((0, 1)),
        (df * c_prev).sum((0, 1)),
        (do * cs).sum((0, 1)),
    )


def peephole_lstm(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    cell_weights: tuple[Tensor, ...],
    lengths: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One direction of one peephole-LSTM layer.

    x (T, B, I); state (h0, c0) each (B, H); cell_weights = (w_ih, w_hh, b_ih, b_hh,
    w_ci, w_cf, w_co), biases may be None. Returns output (T, B, H), zero past each
    length, and the state (h, c) at each sequence's last real step.
    """
    w_ih, w_hh, b_ih, b_hh, w_ci, w_cf, w_co = cell_weights
    steps, batch, _ = x.shape
    bias = None if b_ih is None else b_ih + b_hh
    xw = torch.nn.functional.linear(x, w_ih, bias)  # (T, B, 4H)
    h0, c0 = state
    if lengths is None:
        ys, cs = PeepholeLSTMFunction.apply(
            xw, h0, c0, w_hh, w_ci, w_cf, w_co, [batch] * steps
        )
        return ys, (ys[-1], cs[-1])
    order = torch.argsort(lengths.cpu(), descending=True, stable=True)
    sorted_lengths = lengths.cpu()[order]
    batch_sizes = [int((sorted_lengths > t).sum()) for t in range(steps)]
    order_d = order.to(x.device)
    ys, cs = PeepholeLSTMFunction.apply(
        xw.index_select(1, order_d),
        h0.index_select(0, order_d),
        c0.index_select(0, order_d),
        w_hh,
        w_ci,
        w_cf,
        w_co,
        batch_sizes,
    )
    last = (sorted_lengths - 1).to(x.device)
    rows = torch.arange(batch, device=x.device)
    h_n, c_n = ys[last, rows], cs[last, rows]
    inverse = torch.argsort(order_d)
    return ys.index_select(1, inverse), (h_n[inverse], c_n[inverse])
