"""The classifier: pooling never sees padding; attention weights are a distribution."""

import pytest
import torch

from seqlab.models.classifier import Classifier, ClassifierConfig

V = 30


def make(cell="lstm", pooling="attention", bidirectional=True) -> Classifier:
    torch.manual_seed(0)
    cfg = ClassifierConfig(
        cell=cell,
        pooling=pooling,
        bidirectional=bidirectional,
        embedding_size=8,
        hidden_size=6,
        attention_size=5,
        dropout=0.0,
    )
    return Classifier(cfg, vocab_size=V, num_classes=3).eval()


def padded_batch(lengths):
    torch.manual_seed(1)
    T = max(lengths)
    input = torch.randint(1, V, (len(lengths), T))
    for b, n in enumerate(lengths):
        input[b, n:] = 0
    return input, torch.tensor(lengths)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_gives_the_predictions_of_unpadded_singles(
    pooling, cell, bidirectional
):
    model = make(cell, pooling, bidirectional)
    lengths = [5, 1, 3, 7]
    input, lens = padded_batch(lengths)
    batch = model(input, lens).logits
    for b, n in enumerate(lengths):
        single = model(input[b : b + 1, :n], lens[b : b + 1]).logits
        torch.testing.assert_close(batch[b : b + 1], single, atol=1e-5, rtol=1e-5)


def test_attention_weights_sum_to_one_and_are_zero_at_padding():
    model = make()
    input, lens = padded_batch([4, 2, 6])
    weights = model(input, lens).attention
    assert weights.shape == (3, 6)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert (weights[0, 4:] == 0).all() and (weights[1, 2:] == 0).all()
    assert (weights[2] > 0).all()


def test_only_attention_pooling_returns_weights():
    input, lens = padded_batch([3, 2])
    assert make(pooling="mean")(input, lens).attention is None


def test_loss_is_the_cross_entropy_of_the_logits():
    model = make()
    input, lens = padded_batch([3, 2])
    targets = torch.tensor([2, 0])
    out = model(input, lens, targets=targets)
    expected = torch.nn.functional.cross_entropy(out.logits, targets)
    torch.testing.assert_close(out.loss, expected)


def test_multi_hot_targets_give_binary_cross_entropy():
    model = make()
    input, lengths = padded_batch([4, 2])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    out = model(input, lengths, targets=targets)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, targets)
    assert torch.allclose(out.loss, expected)


@pytest.mark.parametrize("pooling", ["mean", "max", "attention"])
def test_transformer_classifier_ignores_padding(pooling):
    """A padded batch gives every row the logits it gets alone (keys masked)."""
    from seqlab.models.transformer_classifier import (
        TransformerClassifier,
        TransformerClassifierConfig,
    )

    torch.manual_seed(0)
    cfg = TransformerClassifierConfig(
        d_model=8, num_heads=2, num_layers=2, d_ff=16, dropout=0.0, pooling=pooling
    )
    model = TransformerClassifier(cfg, vocab_size=V, num_classes=3).eval()
    input, lengths = padded_batch([5, 2, 4])
    batch = model(input, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(input[b : b + 1, :n], lengths[b : b + 1])
        torch.testing.assert_close(batch.logits[b], alone.logits[0])
    if pooling == "attention":
        assert batch.attention[1, 2:].abs().sum() == 0  # no weight on padding
        torch.testing.assert_close(batch.attention.sum(-1), torch.ones(3))
    else:
        assert batch.attention is None
