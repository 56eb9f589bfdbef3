"""Decoding options shared by every encoder-decoder (decode.search): n-best lists,
n-gram blocking in greedy and beam search, sampling with temperature and top-p."""

import pytest
import torch

from seqlab.decode import (
    Sampler,
    SearchOptions,
    beam_search,
    block_repeats,
    greedy_search,
    nbest_search,
    search,
)
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig

BOS, EOS, V = 2, 3, 12
ENDS = dict(bos_id=BOS, eos_id=EOS, max_len=24)


@pytest.fixture
def seq2seq():
    torch.manual_seed(1)
    cfg = Seq2SeqConfig(embedding_size=8, hidden_size=16, decoder="attention")
    model = Seq2Seq(cfg, V).double().eval()
    src = torch.randint(4, V, (6, 5))
    lengths = torch.tensor([5, 3, 4, 1, 5, 2])
    src[torch.arange(5) >= lengths.unsqueeze(1)] = 0
    return model, src, lengths


def ngrams(tokens, n):
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def repeats(tokens, n):
    grams = ngrams(tokens, n)
    return len(grams) - len(set(grams))


def test_block_repeats_bans_the_tokens_that_complete_a_seen_ngram():
    A, B, C = 4, 5, 6
    log_probs = torch.zeros(2, 8)
    history = torch.tensor([[A, B, C, B, A], [C, C, C, C, A]])
    out = block_repeats(log_probs, history, 2)
    # row 0 ends with A; "A B" was seen (and "C B" ends in B too, without A first)
    assert torch.isinf(out[0]).nonzero().flatten().tolist() == [B]
    assert not torch.isinf(out[1]).any()  # "A ?" never seen in row 1
    banned = torch.isinf(block_repeats(log_probs, history, 1))
    assert banned[0].nonzero().flatten().tolist() == [A, B, C]
    assert torch.equal(block_repeats(log_probs, history, 0), log_probs)
    assert torch.equal(block_repeats(log_probs, history[:, :1], 2), log_probs)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_no_repeat_ngram_leaves_no_repeated_ngram(seq2seq, beam_size):
    model, src, lengths = seq2seq

    def decode(block):
        state = model.start(src, lengths)
        if beam_size == 1:
            return greedy_search(model, state, no_repeat_ngram=block, **ENDS)
        return beam_search(
            model, state, beam_size=beam_size, no_repeat_ngram=block, **ENDS
        )

    plain = decode(0)
    assert sum(repeats(h.tokens, 2) for h in plain) > 0  # the untrained model loops
    for h in decode(2):
        assert repeats(h.tokens, 2) == 0


def test_nbest_is_best_first_and_its_first_is_the_beam_output(seq2seq):
    model, src, lengths = seq2seq
    options = dict(beam_size=4, length_penalty=1.0, **ENDS)
    lists = nbest_search(model, model.start(src, lengths), nbest=4, **options)
    best = beam_search(model, model.start(src, lengths), **options)
    for found, one in zip(lists, best, strict=True):
        assert len(found) == 4
        assert found[0].tokens == one.tokens
        assert found[0].score == pytest.approx(one.score)
        per_token = [h.score / (len(h.tokens) + 1) for h in found]  # <eos> counted
        assert per_token == sorted(per_token, reverse=True)
        assert len({tuple(h.tokens) for h in found}) == 4
    # search(): --nbest K with --beam 1 searches with a beam of K
    via_options = search(
        model, model.start(src, lengths), SearchOptions(nbest=4), **ENDS
    )
    assert [[h.tokens for h in r] for r in via_options] == [
        [h.tokens for h in r] for r in lists
    ]


def sample(model, src, lengths, seed, **sampler):
    generator = torch.Generator().manual_seed(seed)
    options = SearchOptions(sampler=Sampler(generator=generator, **sampler), nbest=2)
    rows = search(model, model.start(src, lengths), options, **ENDS)
    return [[h.tokens for h in row] for row in rows]


def test_sampling_is_reproducible_with_a_seed_and_differs_across_seeds(seq2seq):
    model, src, lengths = seq2seq
    first = sample(model, src, lengths, 0, temperature=1.5)
    assert first == sample(model, src, lengths, 0, temperature=1.5)
    assert first != sample(model, src, lengths, 1, temperature=1.5)
    assert all(len(row) == 2 for row in first)


def test_top_p_near_zero_is_greedy(seq2seq):
    model, src, lengths = seq2seq
    greedy = greedy_search(model, model.start(src, lengths), **ENDS)
    drawn = sample(model, src, lengths, 3, temperature=2.0, top_p=1e-9)
    assert drawn == [[h.tokens, h.tokens] for h in greedy]  # both samples of a row


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(nbest=0), "nbest must be >= 1"),
        (dict(no_repeat_ngram=-1), "no_repeat_ngram must be >= 0"),
        (dict(beam_size=3, sampler=Sampler()), "no beam"),
    ],
)
def test_search_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        SearchOptions(**options)
