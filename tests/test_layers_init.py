"""forget_bias and recurrent_init: on the cells, on the fused path, in every model."""

import pytest
import torch

from seqlab import kernels
from seqlab.cells import LSTMCell
from seqlab.layers import LSTM, make_recurrent
from seqlab.models import (
    RNNLM,
    Captioner,
    CaptionerConfig,
    Classifier,
    ClassifierConfig,
    RNNLMConfig,
    RNNRegressor,
    RNNRegressorConfig,
    Seq2Seq,
    Seq2SeqConfig,
    Tagger,
    TaggerConfig,
)

I, H = 5, 6
KINDS = [  # (cell, options): every cell kind, fused or not
    ("rnn", {}),
    ("rnn", {"activation": "relu"}),
    ("rnn", {"activation": "sigmoid"}),
    ("lstm", {}),
    ("lstm", {"peephole": True}),
    ("gru", {}),
]


def forget_slice(cell: LSTMCell) -> torch.Tensor:
    return cell.bias_ih[H : 2 * H] + cell.bias_hh[H : 2 * H]


@pytest.mark.parametrize("peephole", [False, True])
def test_forget_bias_sets_every_cells_forget_gate(peephole):
    layer = make_recurrent(
        "lstm", I, H, num_layers=2, bidirectional=True, peephole=peephole, forget_bias=1
    )
    for cell in layer.cells:
        assert torch.equal(forget_slice(cell), torch.ones(H))
        # the other gates keep torch's uniform init, within +-1/sqrt(H)
        others = torch.cat([cell.bias_ih[:H], cell.bias_ih[2 * H :]])
        assert 0 < others.abs().max() <= 1 / H**0.5


def test_forget_bias_reaches_the_fused_kernel(monkeypatch):
    torch.manual_seed(0)
    layer = LSTM(I, H, num_layers=2, forget_bias=1.5)
    seen = []
    fused = kernels.fused_rnn
    monkeypatch.setattr(
        kernels, "fused_rnn", lambda *a, **k: seen.append(a[3]) or fused(*a, **k)
    )
    x = torch.randn(4, 3, I)
    out = layer(x).output
    assert len(seen) == 1  # the fused path ran
    for _, _, b_ih, b_hh in zip(*[iter(seen[0])] * 4, strict=True):
        assert torch.equal(b_ih[H : 2 * H] + b_hh[H : 2 * H], torch.full((H,), 1.5))
    layer.impl = "loop"
    torch.testing.assert_close(layer(x).output, out)


def test_forget_bias_zero_keeps_torch_init():
    torch.manual_seed(0)
    a = make_recurrent("lstm", I, H)
    torch.manual_seed(0)
    b = make_recurrent("lstm", I, H, forget_bias=0.0)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("cell,options", KINDS)
def test_orthogonal_blocks(cell, options):
    layer = make_recurrent(
        cell, I, H, num_layers=2, recurrent_init="orthogonal", **options
    )
    for c in layer.cells:
        blocks = c.weight_hh.chunk(c.num_gates, dim=0)
        assert len(blocks) == c.num_gates and blocks[0].shape == (H, H)
        for w in blocks:
            torch.testing.assert_close(w @ w.T, torch.eye(H), atol=1e-5, rtol=0)
        # distinct random blocks, not one matrix repeated
        assert not torch.allclose(blocks[0], blocks[-1]) or c.num_gates == 1


@pytest.mark.parametrize("cell,options", KINDS)
def test_identity_blocks_and_fused_equals_loop(cell, options):
    layer = make_recurrent(cell, I, H, bidirectional=True, recurrent_init="identity")
    for c in layer.cells:
        assert torch.equal(c.weight_hh, torch.eye(H).repeat(c.num_gates, 1))
    x = torch.randn(3, 4, I)
    out = layer(x).output
    layer.impl = "loop"
    torch.testing.assert_close(layer(x).output, out)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: make_recurrent("gru", I, H, forget_bias=1), "needs cell='lstm'"),
        (
            lambda: make_recurrent("mingru", I, H, recurrent_init="orthogonal"),
            "read x_t only",
        ),
        (lambda: make_recurrent("lstm", I, H, recurrent_init="eye"), "identity"),
        (lambda: LSTM(I, H, bias=False, forget_bias=1), "needs bias=True"),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def recurrent_layers(model):
    return [m for m in model.modules() if hasattr(m, "recurrent_init")]


OPTIONS = {"cell": "lstm", "forget_bias": 1.0, "recurrent_init": "identity"}
MODELS = [
    lambda: RNNLM(RNNLMConfig(**OPTIONS, num_layers=2), vocab_size=11),
    lambda: Seq2Seq(Seq2SeqConfig(**OPTIONS, bidirectional=True), vocab_size=11),
    lambda: Classifier(ClassifierConfig(**OPTIONS), vocab_size=11, num_classes=3),
    lambda: Tagger(
        TaggerConfig(**OPTIONS, char_hidden_size=4), 11, num_tags=3, num_chars=7
    ),
    lambda: Captioner(CaptionerConfig(**OPTIONS, channels=(4,)), 11, image_size=8),
    lambda: RNNRegressor(RNNRegressorConfig(**OPTIONS), window=5),
]


@pytest.mark.parametrize("build", MODELS)
def test_every_model_family_applies_the_config(build):
    model = build()
    layers = recurrent_layers(model)
    assert layers
    for layer in layers:
        assert layer.recurrent_init == "identity" and layer.forget_bias == 1.0
        for c in layer.cells:
            h = c.hidden_size
            assert torch.equal(c.weight_hh, torch.eye(h).repeat(4, 1))
            assert torch.equal(
                c.bias_ih[h : 2 * h] + c.bias_hh[h : 2 * h], torch.ones(h)
            )
