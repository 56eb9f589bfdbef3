"""Layers vs torch.nn on copied weights; fast paths vs the step-by-step path."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqlab import GRU, LSTM, RNN, LSTMState
from seqlab.cells import GRUCell, LSTMCell

TORCH = {"lstm": nn.LSTM, "gru": nn.GRU, "tanh": nn.RNN, "relu": nn.RNN}
I, H, T, B = 5, 7, 6, 4


def make_pair(kind, num_layers, bidirectional, batch_first, bias=True):
    torch_kwargs = dict(
        num_layers=num_layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
    )
    if kind in ("tanh", "relu"):
        ref = nn.RNN(I, H, nonlinearity=kind, **torch_kwargs)
        ours = RNN(I, H, activation=kind, **torch_kwargs)
    else:
        ref = TORCH[kind](I, H, **torch_kwargs)
        ours = {"lstm": LSTM, "gru": GRU}[kind](I, H, **torch_kwargs)
    ours.load_torch(ref)
    return ours, ref


def run_torch(ref, x, state, lengths, batch_first):
    if lengths is None:
        return ref(x, state)
    packed = pack_padded_sequence(x, lengths, batch_first, enforce_sorted=False)
    out, final = ref(packed, state)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first, total_length=T)
    return out, final


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


CASES = list(
    itertools.product(
        ["lstm", "gru", "tanh", "relu"],
        [1, 2, 3],
        [False, True],
        [False, True],
        [False, True],
    )
)


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first,ragged", CASES)
def test_equals_torch_nn(kind, num_layers, bidirectional, batch_first, ragged):
    torch.manual_seed(0)
    ours, ref = make_pair(kind, num_layers, bidirectional, batch_first)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, requires_grad=True)
    d = 2 if bidirectional else 1
    h0 = torch.randn(num_layers * d, B, H, requires_grad=True)
    state = (h0, torch.randn_like(h0).requires_grad_()) if kind == "lstm" else h0
    lengths = torch.tensor([T, 2, 5, 1]) if ragged else None

    out, final = ours(x, state, lengths=lengths)
    out_ref, final_ref = run_torch(ref, x, state, lengths, batch_first)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(flat(final), flat(final_ref), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)

    grads = torch.randn_like(out)
    inputs = [x, *flat(state), *ours.parameters()]
    ref_inputs = [x, *flat(state), *ref.parameters()]
    loss = (out * grads).sum() + sum(s.sum() for s in flat(final))
    loss_ref = (out_ref * grads).sum() + sum(s.sum() for s in flat(final_ref))
    got = torch.autograd.grad(loss, inputs)
    want = torch.autograd.grad(loss_ref, ref_inputs)
    assert len(got) == len(want)
    # parameters are in the same order: per layer and direction, ih, hh, b_ih, b_hh
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh", "relu"])
def test_fused_equals_loop(kind):
    torch.manual_seed(1)
    ours, _ = make_pair(kind, 2, True, False)
    loop, _ = make_pair(kind, 2, True, False)
    loop.load_state_dict(ours.state_dict())
    loop.impl = "loop"
    x = torch.randn(T, B, I)
    lengths = torch.tensor([3, T, 1, 4])
    out, final = ours(x, lengths=lengths)
    out_loop, final_loop = loop(x, lengths=lengths)
    torch.testing.assert_close(out, out_loop, atol=1e-5, rtol=1e-5)
    for a, b in zip(flat(final), flat(final_loop), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
def test_one_step_without_gradients_equals_torch_nn(num_layers, bidirectional):
    """A single CPU step under no_grad (sampling) takes the cells' path for the LSTM:
    the same numbers as torch.nn, with and without lengths."""
    torch.manual_seed(2)
    for kind in ("lstm", "gru"):
        ours, ref = make_pair(kind, num_layers, bidirectional, True)
        x = torch.randn(B, 1, I)
        h0 = torch.randn(num_layers * (2 if bidirectional else 1), B, H)
        state = LSTMState(h0, torch.randn_like(h0)) if kind == "lstm" else h0
        with torch.no_grad():
            for lengths in (None, torch.ones(B, dtype=torch.long)):
                out, final = ours(x, state, lengths=lengths)
                out_ref, final_ref = ref(x, tuple(state) if kind == "lstm" else state)
                torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
                for a, b in zip(flat(final), flat(final_ref), strict=True):
                    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
            assert ours._fused(x.transpose(0, 1)) == (kind == "gru")
        assert ours._fused(x.transpose(0, 1))  # training steps stay fused


def peephole_reference(cell: LSTMCell, x, h, c):
    """Straightforward peephole LSTM, written here independently of seqlab.cells."""
    outs = []
    for t in range(x.shape[0]):
        z = x[t] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
        zi, zf, zg, zo = z.chunk(4, -1)
        i = torch.sigmoid(zi + cell.weight_ci * c)
        f = torch.sigmoid(zf + cell.weight_cf * c)
        c = f * c + i * torch.tanh(zg)
        o = torch.sigmoid(zo + cell.weight_co * c)
        h = o * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs), h, c


def sigmoid_reference(cell, x, h):
    outs = []
    for t in range(x.shape[0]):
        pre = x[t] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T
        h = torch.sigmoid(pre + cell.bias_hh)
        outs.append(h)
    return torch.stack(outs), h


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_peephole_fast_path_equals_reference(dtype, tol):
    torch.manual_seed(2)
    layer = LSTM(I, H, peephole=True).to(dtype)
    x = torch.randn(T, B, I, dtype=dtype, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=dtype)
    c0 = torch.randn(1, B, H, dtype=dtype)
    out, (h, c) = layer(x, LSTMState(h0, c0))
    ref, h_ref, c_ref = peephole_reference(layer.cells[0], x, h0[0], c0[0])
    torch.testing.assert_close(out, ref, atol=tol, rtol=tol)
    torch.testing.assert_close(h[0], h_ref, atol=tol, rtol=tol)
    torch.testing.assert_close(c[0], c_ref, atol=tol, rtol=tol)
    g = torch.randn_like(out)
    params = [x, *layer.parameters()]
    got = torch.autograd.grad((out * g).sum() + c.sum(), params)
    want = torch.autograd.grad((ref * g).sum() + c_ref.sum(), params)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_sigmoid_fast_path_equals_reference(dtype, tol):
    torch.manual_seed(3)
    layer = RNN(I, H, activation="sigmoid").to(dtype)
    x = torch.randn(T, B, I, dtype=dtype, requires_grad=True)
    h0 = torch.rand(1, B, H, dtype=dtype)
    out, h = layer(x, h0)
    ref, h_ref = sigmoid_reference(layer.cells[0], x, h0[0])
    torch.testing.assert_close(out, ref, atol=tol, rtol=tol)
    torch.testing.assert_close(h[0], h_ref, atol=tol, rtol=tol)
    g = torch.randn_like(out)
    params = [x, *layer.parameters()]
    got = torch.autograd.grad((out * g).sum(), params)
    want = torch.autograd.grad((ref * g).sum(), params)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize(
    "make",
    [
        lambda: LSTM(I, H, num_layers=2, bidirectional=True, peephole=True),
        lambda: RNN(I, H, num_layers=2, bidirectional=True, activation="sigmoid"),
        lambda: RNN(I, H, bias=False, activation="sigmoid"),
        lambda: LSTM(I, H, bias=False, peephole=True, batch_first=True),
    ],
)
def test_variant_fast_paths_equal_loop_with_lengths(make):
    torch.manual_seed(4)
    fast = make().double()
    loop = make().double()
    loop.load_state_dict(fast.state_dict())
    loop.impl = "loop"
    shape = (B, T, I) if fast.batch_first else (T, B, I)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([2, T, 1, 5])
    out, final = fast(x, lengths=lengths)
    out_loop, final_loop = loop(x, lengths=lengths)
    torch.testing.assert_close(out, out_loop, atol=1e-10, rtol=1e-10)
    for a, b in zip(flat(final), flat(final_loop), strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    g = torch.randn_like(out)
    loss = (out * g).sum() + sum(s.sum() for s in flat(final))
    loss_loop = (out_loop * g).sum() + sum(s.sum() for s in flat(final_loop))
    got = torch.autograd.grad(loss, [x, *fast.parameters()])
    want = torch.autograd.grad(loss_loop, [x, *loop.parameters()])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize(
    "make",
    [
        lambda: LSTM(I, H, peephole=True),
        lambda: RNN(I, H, activation="sigmoid"),
        lambda: GRU(I, H, bidirectional=True),
    ],
)
def test_padding_changes_nothing(make):
    """A sequence padded with garbage gives the outputs and state of the unpadded."""
    torch.manual_seed(5)
    layer = make()
    short = torch.randn(3, 1, I)
    padded = torch.cat([short, 100 * torch.randn(T - 3, 1, I)])
    out_short, final_short = layer(short)
    out_pad, final_pad = layer(padded, lengths=torch.tensor([3]))
    torch.testing.assert_close(out_pad[:3], out_short)
    assert out_pad[3:].abs().max() == 0
    for a, b in zip(flat(final_pad), flat(final_short), strict=True):
        torch.testing.assert_close(a, b)


def test_packed_sequence_input_gives_packed_output():
    layer = GRU(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    lengths = torch.tensor([T, 3, 2, 1])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h = layer(packed)
    assert isinstance(out, nn.utils.rnn.PackedSequence)
    out_padded, h2 = layer(x, lengths=lengths)
    unpacked, _ = nn.utils.rnn.pad_packed_sequence(
        out, batch_first=True, total_length=T
    )
    torch.testing.assert_close(unpacked, out_padded)
    torch.testing.assert_close(h, h2)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(6)
    layer = LSTM(I, H, num_layers=2, dropout=0.5)
    x = torch.randn(T, B, I)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    torch.testing.assert_close(a, b)
    layer.train()
    c, _ = layer(x)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: RNN(I, H, activation="softplus"), "unknown activation 'softplus'"),
        (lambda: RNN(I, H)(torch.randn(T, B, I + 1)), "expected input_size=5"),
        (
            lambda: GRU(I, H)(
                torch.randn(T, B, I), lengths=torch.tensor([T + 1, 1, 1, 1])
            ),
            "lengths must be <= the sequence length 6",
        ),
        (
            lambda: GRU(I, H)(torch.randn(T, B, I), lengths=torch.tensor([0, 1, 1, 1])),
            "lengths must be >= 1",
        ),
        (lambda: GRU(I, H)(torch.randn(T, 0, I)), "empty batch"),
        (
            lambda: GRU(I, H)(torch.randn(T, B, I), lengths=torch.tensor([1, 2])),
            r"lengths must have shape \(4,\)",
        ),
        (lambda: GRU(I, H, peephole=True), "only LSTM has peepholes, not GRU"),
        (lambda: GRUCell(I, H, peephole=True), "only LSTMCell has peepholes"),
        (lambda: RNN(I, H, peephole=True), "only LSTM has peepholes, not RNN"),
        (
            lambda: LSTM(I, H)(torch.randn(T, B, I), torch.zeros(1, B, H)),
            r"pair \(h, c\)",
        ),
        (lambda: GRU(I, H)(torch.randn(T, B, I), torch.zeros(2, B, H)), "expected"),
        (lambda: LSTM(I, H, dropout=1.5), "dropout must be in"),
        (lambda: LSTM(I, H, impl="cuda"), "unknown impl 'cuda'"),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_load_torch_rejects_mismatch():
    with pytest.raises(ValueError, match="does not match"):
        LSTM(I, H).load_torch(nn.LSTM(I, H + 1))
    with pytest.raises(TypeError, match=r"loads a torch\.nn\.GRU"):
        GRU(I, H).load_torch(nn.LSTM(I, H))


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_state_is_named_on_every_path(peephole):
    _, state = LSTM(I, H, peephole=peephole)(torch.randn(T, B, I))
    assert isinstance(state, LSTMState)
    assert state.h.shape == state.c.shape == (1, B, H)
