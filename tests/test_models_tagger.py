"""The tagger and its CRF: forward algorithm and Viterbi against brute enumeration."""

import itertools

import pytest
import torch

from seqlab.models.tagger import CRF, Tagger, TaggerConfig, padding_mask

C = 3  # tags


def random_crf(seed: int) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(C)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


@torch.no_grad()
def brute_scores(crf: CRF, emissions: torch.Tensor, length: int) -> dict:
    """score(y) of every tag sequence of one sentence, by the CRF's definition."""
    e = emissions[:length]
    scores = {}
    for y in itertools.product(range(C), repeat=length):
        s = crf.start[y[0]] + crf.end[y[-1]] + sum(e[t, y[t]] for t in range(length))
        s = s + sum(crf.transitions[y[t - 1], y[t]] for t in range(1, length))
        scores[y] = float(s)
    return scores


@pytest.mark.parametrize("seed", range(3))
def test_crf_log_partition_and_viterbi_equal_brute_force(seed):
    crf = random_crf(seed)
    lengths = torch.tensor([4, 1, 3, 2])
    emissions = torch.randn(4, 4, C)
    mask = padding_mask(lengths, 4)
    log_z = crf.log_partition(emissions, mask)
    best = crf.decode(emissions, mask)
    for b, n in enumerate(lengths.tolist()):
        scores = brute_scores(crf, emissions[b], n)
        expected = torch.logsumexp(torch.tensor(list(scores.values())), dim=0)
        assert log_z[b].item() == pytest.approx(expected.item(), abs=1e-4)
        assert tuple(best[b]) == max(scores, key=scores.get)


def test_crf_score_and_nll_match_the_enumeration():
    crf = random_crf(7)
    emissions = torch.randn(2, 3, C)
    mask = padding_mask(torch.tensor([3, 2]), 3)
    tags = torch.tensor([[0, 2, 1], [1, 1, 0]])  # the 0 of row 2 is padding
    nll = crf.nll(emissions, tags, mask)
    for b, n in enumerate([3, 2]):
        scores = brute_scores(crf, emissions[b], n)
        y = tuple(tags[b, :n].tolist())
        assert crf.score(emissions, tags, mask)[b].item() == pytest.approx(scores[y])
        log_z = torch.logsumexp(torch.tensor(list(scores.values())), 0).item()
        assert nll[b].item() == pytest.approx(log_z - scores[y], abs=1e-4)


def tiny_tagger(**overrides) -> Tagger:
    cfg = dict(embedding_size=8, hidden_size=6, char_embedding_size=4, dropout=0.0)
    cfg.update(overrides)
    return Tagger(TaggerConfig(**cfg), vocab_size=20, num_tags=5, num_chars=12)


def batch_for(lengths: list[int], words: int = 20, chars: int = 12):
    torch.manual_seed(sum(lengths))
    B, T = len(lengths), max(lengths)
    mask = padding_mask(torch.tensor(lengths), T)
    input = torch.randint(1, words, (B, T)) * mask
    char_ids = torch.randint(1, chars, (B, T, 4)) * mask.unsqueeze(-1)
    return input, torch.tensor(lengths), char_ids


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_tagger_gives_one_tag_per_token_for_any_length(head):
    model = tiny_tagger(head=head, char_hidden_size=3).eval()
    lengths = [1, 7, 2, 13, 5]
    input, lens, chars = batch_for(lengths)
    tags = model.decode(input, lens, chars=chars)
    assert [len(t) for t in tags] == lengths
    assert all(0 <= t < 5 for row in tags for t in row)


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_padding_does_not_change_the_tags(head):
    model = tiny_tagger(head=head, char_hidden_size=3).eval()
    lengths = [3, 6, 1]
    input, lens, chars = batch_for(lengths)
    together = model.decode(input, lens, chars=chars)
    for b, n in enumerate(lengths):
        alone = model.decode(
            input[b : b + 1, :n], lens[b : b + 1], chars[b : b + 1, :n]
        )
        assert alone[0] == together[b]


def test_loss_ignores_padded_targets():
    model = tiny_tagger(head="softmax").eval()
    input, lens, _ = batch_for([2, 4])
    targets = torch.randint(0, 5, (2, 4))
    other = targets.clone()
    other[0, 2:] = (other[0, 2:] + 1) % 5  # only padding positions differ
    torch.testing.assert_close(
        model(input, lens, targets).loss, model(input, lens, other).loss
    )


def test_crf_tagger_learns_a_tag_that_depends_on_the_previous_word():
    """Tag 1 iff the previous word is 1: the BiLSTM sees it, a CRF must not break it."""
    torch.manual_seed(0)
    model = tiny_tagger(head="crf", hidden_size=12)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    input = torch.randint(1, 4, (32, 6))
    targets = torch.zeros_like(input)
    targets[:, 1:] = (input[:, :-1] == 1).long()
    lengths = torch.full((32,), 6)
    for _ in range(60):
        opt.zero_grad()
        model(input, lengths, targets).loss.backward()
        opt.step()
    model.eval()
    assert model.decode(input, lengths) == targets.tolist()


def test_missing_chars_is_an_error():
    model = tiny_tagger(char_hidden_size=3)
    input, lens, _ = batch_for([2])
    with pytest.raises(ValueError, match="chars"):
        model(input, lens)


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_transformer_tagger_reads_each_sentence_as_if_alone(head):
    """Padding is masked: a batch tags (and scores) each row as it does alone."""
    from seqlab.models.transformer_tagger import (
        TransformerTagger,
        TransformerTaggerConfig,
    )

    torch.manual_seed(0)
    cfg = TransformerTaggerConfig(
        d_model=8,
        num_heads=2,
        num_layers=2,
        d_ff=16,
        dropout=0.0,
        embedding_size=6,
        char_hidden_size=3,
        char_embedding_size=4,
        feature_embedding_size=2,
        head=head,
    )
    model = TransformerTagger(
        cfg, vocab_size=20, num_tags=C, num_chars=9, num_features=5
    ).eval()
    lengths = torch.tensor([4, 2])
    input = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    chars = torch.randint(1, 9, (2, 4, 3)) * (input > 0).unsqueeze(-1)
    features = torch.tensor([[1, 2, 3, 4], [2, 3, 0, 0]])
    batch = model(input, lengths, chars=chars, features=features)
    alone = model(
        input[1:, :2], lengths[1:], chars=chars[1:, :2], features=features[1:, :2]
    )
    torch.testing.assert_close(batch.emissions[1, :2], alone.emissions[0])
    tags = model.decode(input, lengths, chars=chars, features=features)
    assert [len(t) for t in tags] == [4, 2]
    targets = torch.tensor([[0, 1, 2, 0], [1, 1, 0, 0]])
    loss = model(input, lengths, targets, chars=chars, features=features).loss
    loss.backward()
    assert torch.isfinite(loss) and model.project.weight.grad is not None
