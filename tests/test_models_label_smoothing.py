"""model.label_smoothing: every seq2seq and caption model smooths its training loss
as torch's cross_entropy(label_smoothing=) does, ignoring padding; eval is plain NLL."""

import pytest
import torch

from seqlab.data.batching import pad_sequences
from seqlab.models import Captioner, CaptionerConfig, Seq2Seq, Seq2SeqConfig

V, EPS = 12, 0.1


def smoothed_nll(logits, targets, eps):
    """(1 - ε) (-log p_gold) + ε mean_v(-log p_v) averaged over non-pad targets."""
    logp = torch.log_softmax(logits, -1)  # (B, T, V)
    real = targets != 0
    gold = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    uniform = -logp.mean(-1)  # (B, T)
    per_token = (1 - eps) * gold + eps * uniform
    return per_token[real].mean()


def targets_with_padding():
    tgt_in, _ = pad_sequences([[2, 5, 6, 7], [2, 8]], 0)  # (2, 4): row 2 padded
    tgt_out, _ = pad_sequences([[5, 6, 7, 3], [8, 3]], 0)
    return tgt_in, tgt_out


def seq2seq(eps, **options):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(
        embedding_size=8, hidden_size=16, label_smoothing=eps, **options
    )
    model = Seq2Seq(cfg, V)
    src, src_lengths = pad_sequences([[4, 5, 6], [7, 8]], 0)
    tgt_in, tgt_out = targets_with_padding()
    return model, (src, src_lengths, tgt_in, tgt_out)


def captioner(eps, **options):
    torch.manual_seed(0)
    cfg = CaptionerConfig(hidden_size=16, channels=(4,), label_smoothing=eps, **options)
    model = Captioner(cfg, V, image_size=8)
    images = torch.rand(2, 3, 8, 8)
    return model, (images, *targets_with_padding())


@pytest.mark.parametrize("build", [seq2seq, captioner])
@pytest.mark.parametrize("decoder", ["plain", "attention"])
def test_training_loss_is_smoothed_cross_entropy(build, decoder):
    model, batch = build(EPS, decoder=decoder)
    model.train()
    out = model(*batch)
    targets = batch[-1]
    expected = smoothed_nll(out.logits, targets, EPS)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(
        out.loss,
        torch.nn.functional.cross_entropy(
            out.logits.flatten(0, 1),
            targets.flatten(),
            ignore_index=0,
            label_smoothing=EPS,
        ),
    )
    plain = smoothed_nll(out.logits, targets, 0.0)
    assert not torch.allclose(out.loss, plain)  # smoothing changed the loss
    model.eval()
    with torch.no_grad():
        out = model(*batch)
    torch.testing.assert_close(out.loss, smoothed_nll(out.logits, targets, 0.0))


def test_default_is_no_smoothing():
    model, batch = seq2seq(0.0)
    out = model.train()(*batch)
    torch.testing.assert_close(out.loss, smoothed_nll(out.logits, batch[-1], 0.0))
