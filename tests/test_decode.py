"""Sampling: budgets, reproducibility, filters, greedy; continuous batching of
language models; greedy and beam search."""

import functools
import math
from typing import NamedTuple

import pytest
import torch
from torch import nn

from seqlab.decode import (
    Continuation,
    ContinuousBatch,
    Sampler,
    beam_search,
    cat_states,
    choose,
    choose_each,
    filter_logits,
    generate,
    generate_steps,
    greedy_search,
    map_state,
)
from seqlab.models.lm import RNNLM, RNNLMConfig
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.models.transformer import TransformerLM, TransformerLMConfig

V = 13


@pytest.fixture
def model():
    torch.manual_seed(0)
    return RNNLM(RNNLMConfig(embedding_size=8, hidden_size=16), V)


def test_generation_respects_max_new_tokens(model):
    rows = generate(model, torch.tensor([[1, 2, 3]]), 17)
    assert len(rows[0]) == 17
    assert generate(model, torch.tensor([[1]]), 0) == [[]]


def test_same_seed_same_text_and_other_seed_other_text(model):
    def sample(seed):
        g = torch.Generator().manual_seed(seed)
        return generate(model, torch.tensor([[4]]), 40, temperature=1.5, generator=g)

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_generation_stops_at_eos(model):
    rows = generate(
        model,
        torch.tensor([[4], [5]]),
        30,
        eos_id=3,
        generator=torch.Generator().manual_seed(0),
        temperature=5.0,
    )
    for row in rows:
        assert 3 not in row[:-1]
        assert len(row) == 30 or row[-1] == 3


def test_greedy_is_argmax_and_batched_equals_single(model):
    prefix = torch.tensor([[1, 2], [3, 4]])
    both = generate(model, prefix, 10, greedy=True)
    assert both[1] == generate(model, prefix[1:], 10, greedy=True)[0]
    lp = torch.log_softmax(torch.randn(4, V), -1)
    assert torch.equal(choose(lp, greedy=True), lp.argmax(-1))


def test_top_k_and_top_p_filters():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert not torch.isinf(filter_logits(logits, top_k=2)[0, :2]).any()
    # probs ~ [0.64, 0.24, 0.09, 0.03]: the nucleus of 0.7 keeps the first two
    kept = ~torch.isinf(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert (~torch.isinf(filter_logits(logits, top_p=0.01))).sum() == 1  # argmax kept


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        generate(model, torch.tensor([[1]]), -1)
    with pytest.raises(ValueError, match="top_p must be in"):
        generate(model, torch.tensor([[1]]), 3, top_p=1.5)
    with pytest.raises(ValueError, match="prefix must be"):
        generate(model, torch.tensor([[]], dtype=torch.long), 3)


# ---- greedy and beam search (encoder-decoder protocol) ---------------------------
BOS, EOS = 2, 3
A, B, C = 4, 5, 6


class Scripted(nn.Module):
    """A 'model' whose next-token distribution depends only on the previous token:
    greedy takes A (0.6) then C (0.6) = 0.36; B (0.4) then <eos> is more likely."""

    def __init__(self) -> None:
        super().__init__()
        probs = torch.zeros(7, 7)
        probs[BOS, A], probs[BOS, B] = 0.6, 0.4
        probs[A, C], probs[A, EOS] = 0.6, 0.4
        probs[B, EOS] = probs[C, EOS] = probs[EOS, EOS] = 1.0
        self.log_probs = probs.log()

    def step(self, tokens, state):
        return self.log_probs[tokens], state  # state: (B, 1), carried unchanged


def test_beam_search_finds_what_greedy_misses_and_length_penalty_chooses():
    state = torch.zeros(2, 1)
    greedy = greedy_search(Scripted(), state, bos_id=BOS, eos_id=EOS, max_len=5)
    assert greedy[0].tokens == [A, C]
    assert greedy[0].score == pytest.approx(math.log(0.36))
    raw = beam_search(
        Scripted(),
        state,
        bos_id=BOS,
        eos_id=EOS,
        max_len=5,
        beam_size=2,
        length_penalty=0.0,
    )
    assert [h.tokens for h in raw] == [[B], [B]]
    assert raw[0].score == pytest.approx(math.log(0.4))
    # per token (with <eos>): log(0.36) / 3 = -0.34 beats log(0.4) / 2 = -0.46
    mean = beam_search(
        Scripted(),
        state,
        bos_id=BOS,
        eos_id=EOS,
        max_len=5,
        beam_size=2,
        length_penalty=1.0,
    )
    assert mean[0].tokens == [A, C]


def test_search_stops_at_max_len():
    state = torch.zeros(1, 1)
    for search in (greedy_search, beam_search):
        options = {} if search is greedy_search else {"beam_size": 3}
        hyp = search(Scripted(), state, bos_id=BOS, eos_id=EOS, max_len=1, **options)
        assert len(hyp[0].tokens) == 1 and EOS not in hyp[0].tokens


class Countdown(nn.Module):
    """Row i emits A until its count (the state, (B, 1)) runs out, then <eos>; it
    records the batch size of every step."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes = []

    def step(self, tokens, state):
        self.batch_sizes.append(len(tokens))
        log_probs = torch.full((len(tokens), 7), -9.0)
        log_probs[:, A] = torch.where(state[:, 0] > 1, -0.1, -9.0)
        log_probs[:, EOS] = torch.where(state[:, 0] > 1, -2.0, 0.0)
        return log_probs, state - 1


@pytest.mark.parametrize("beam_size", [None, 1])
def test_rows_that_ended_leave_the_batch(beam_size):
    counts = torch.tensor([[1.0], [4.0], [2.0]])
    options = dict(bos_id=BOS, eos_id=EOS, max_len=3)
    if beam_size is None:
        search = greedy_search
    else:
        search = functools.partial(beam_search, beam_size=beam_size)
    model = Countdown()
    hyps = search(model, counts, **options)
    assert model.batch_sizes == [3, 2, 1]  # row 0 ends at step 1, row 2 at step 2
    assert [h.tokens for h in hyps] == [[], [A, A, A], [A]]  # row 1 cut by max_len
    for row, hyp in zip(counts, hyps, strict=True):
        alone = search(Countdown(), row.unsqueeze(0), **options)[0]
        assert alone.tokens == hyp.tokens and alone.score == pytest.approx(hyp.score)


@pytest.fixture(params=["attention", "peeky"])
def seq2seq(request):
    torch.manual_seed(1)
    cfg = Seq2SeqConfig(embedding_size=8, hidden_size=16, decoder=request.param)
    model = Seq2Seq(cfg, 12).double().eval()
    src = torch.randint(4, 12, (5, 7))
    lengths = torch.tensor([7, 3, 5, 1, 6])
    src[torch.arange(7) >= lengths.unsqueeze(1)] = 0
    return model, src, lengths


def test_beam_size_one_equals_greedy(seq2seq):
    model, src, lengths = seq2seq
    options = dict(bos_id=BOS, eos_id=EOS, max_len=9)
    greedy = greedy_search(model, model.start(src, lengths), **options)
    beam = beam_search(model, model.start(src, lengths), beam_size=1, **options)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    for b, g in zip(beam, greedy, strict=True):
        assert b.score == pytest.approx(g.score)
        if g.attention is not None:
            torch.testing.assert_close(b.attention, g.attention)


def test_batched_beam_search_equals_one_sentence_at_a_time(seq2seq):
    model, src, lengths = seq2seq
    options = dict(bos_id=BOS, eos_id=EOS, max_len=9, beam_size=4)
    batched = beam_search(model, model.start(src, lengths), **options)
    for i, hyp in enumerate(batched):
        one_src, one_len = src[i : i + 1, : lengths[i]], lengths[i : i + 1]
        alone = beam_search(model, model.start(one_src, one_len), **options)[0]
        assert hyp.tokens == alone.tokens
        assert hyp.score == pytest.approx(alone.score)
        if hyp.attention is not None:  # padded source positions get no weight
            assert torch.all(hyp.attention[:, lengths[i] :] == 0)
            torch.testing.assert_close(hyp.attention[:, : lengths[i]], alone.attention)


def test_map_state_keeps_the_tree_and_its_nones():
    class State(NamedTuple):
        h: torch.Tensor
        extra: torch.Tensor | None

    state = State(torch.arange(3).view(3, 1), None)
    picked = map_state(lambda t: t.index_select(0, torch.tensor([2, 0])), state)
    assert isinstance(picked, State) and picked.extra is None
    assert picked.h.flatten().tolist() == [2, 0]


def test_generate_steps_streams_what_generate_returns(model):
    prefix = torch.tensor([[1, 2]])
    steps = generate_steps(model, prefix, 12, greedy=True)
    assert [int(t[0]) for t in steps] == generate(model, prefix, 12, greedy=True)[0]


def test_generate_steps_checks_eagerly_and_restores_training_when_closed(model):
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        generate_steps(model, torch.tensor([[1]]), -1)
    model.train()
    steps = generate_steps(model, torch.tensor([[1]]), 50)
    next(steps)
    assert not model.training
    steps.close()  # a client that went away
    assert model.training


# ---- continuous batching of language models ------------------------------------------
def _seeded(seed: int, **options) -> Sampler:
    return Sampler(generator=torch.Generator().manual_seed(seed), **options)


def test_choose_each_gives_every_row_its_own_draws():
    torch.manual_seed(3)
    log_probs = torch.log_softmax(torch.randn(5, V) * 2, -1)
    samplers = [
        _seeded(1, temperature=1.5),
        Sampler(greedy=True),
        _seeded(2, top_k=3),
        Sampler(temperature=0.7, top_p=0.9),  # the global generator
        _seeded(1, temperature=1.5),  # the same seed as row 0
    ]
    tokens = choose_each(log_probs, samplers)
    for row in (0, 2, 4):
        fresh = Sampler(
            temperature=samplers[row].temperature,
            top_k=samplers[row].top_k,
            generator=torch.Generator().manual_seed(1 if row != 2 else 2),
        )
        assert tokens[row] == fresh(log_probs[row : row + 1])[0]
    assert tokens[1] == log_probs[1].argmax()
    assert 0 <= tokens[3] < V
    with pytest.raises(ValueError, match="top_p must be in"):
        Sampler(top_p=0.0)


def _lm(kind: str) -> nn.Module:
    torch.manual_seed(4)
    if kind == "transformer":
        cfg = TransformerLMConfig(d_model=16, num_heads=2, num_layers=2, max_len=64)
        return TransformerLM(cfg, V).double().eval()
    cfg = RNNLMConfig(cell=kind, embedding_size=8, hidden_size=16, num_layers=2)
    return RNNLM(cfg, V).double().eval()


def _alone(model, c: Continuation, sampler: Sampler) -> list[int]:
    prefix = torch.tensor([c.prefix])
    steps = generate_steps(model, prefix, c.max_new_tokens, **vars(sampler))
    return [int(t[0]) for t in steps]


@pytest.mark.parametrize("kind", ["lstm", "gru", "transformer"])
def test_continuous_batch_gives_what_each_gives_alone(kind):
    """Sequences join at different steps with prompts of different lengths, one
    leaves early; each gets exactly its own greedy or seeded tokens."""
    model = _lm(kind)
    settings = [
        ([1, 2, 3], 9, dict(greedy=True)),
        ([4], 6, dict(temperature=1.5, seed=11)),
        ([5, 6, 7], 12, dict(top_k=4, seed=12)),
        ([8, 9], 7, dict(greedy=True)),
        ([1, 2, 3], 10, dict(top_p=0.8, temperature=2.0, seed=13)),
    ]

    def sampler(options):
        options = dict(options)
        seed = options.pop("seed", None)
        return _seeded(seed, **options) if seed is not None else Sampler(**options)

    continuations = [Continuation(p, n, sampler(o)) for p, n, o in settings]
    batch = ContinuousBatch(model)
    batch.add(continuations[:2])
    batch.step()
    batch.step()
    batch.add(continuations[2:])
    sizes = []
    while len(batch):
        sizes.append(len(batch))
        batch.step()
        if len(continuations[3].tokens) == 4:
            batch.remove([continuations[3]])  # its client went away
    assert max(sizes) == 5
    for c, (_, n, options) in zip(continuations, settings, strict=True):
        expected = _alone(model, c, sampler(options))
        if c is continuations[3]:
            assert c.tokens == expected[:4]
        else:
            assert len(c.tokens) == n and c.tokens == expected


def test_states_stack_in_one_group_for_rnns_and_by_position_for_transformers():
    rnn, transformer = ContinuousBatch(_lm("gru")), ContinuousBatch(_lm("transformer"))
    for batch in (rnn, transformer):
        batch.add([Continuation([1, 2], 5), Continuation([3, 4], 5)])
        batch.add([Continuation([5], 5)])
    assert [len(g.members) for g in rnn.groups] == [3]
    assert [len(g.members) for g in transformer.groups] == [2, 1]
    transformer.step()  # the pair now reads position 2, the single one position 1
    transformer.add([Continuation([6, 7], 5)])  # joins the single one
    assert [len(g.members) for g in transformer.groups] == [2, 2]


def test_a_continuation_ends_at_eos_and_the_batch_empties():
    batch = ContinuousBatch(_lm("lstm"))
    hot = Continuation([1], 50, _seeded(0, temperature=50.0), eos_id=3)
    batch.add([hot, Continuation([2], 4)])
    while len(batch):
        batch.step()
    assert hot.done and (hot.tokens[-1] == 3 or len(hot.tokens) == 50)
    assert 3 not in hot.tokens[:-1]
    assert batch.groups == []
    with pytest.raises(ValueError, match="eval mode"):
        ContinuousBatch(_lm("gru").train())


def test_cat_states_stacks_rows_of_each_tensor():
    class State(NamedTuple):
        h: torch.Tensor
        extra: torch.Tensor | None

    a, b = State(torch.zeros(2, 3), None), State(torch.ones(1, 3), None)
    both = cat_states([a, b])
    assert isinstance(both, State) and both.extra is None
    assert both.h.sum(1).tolist() == [0, 0, 3]


def test_beam_search_leaves_the_encoded_source_in_place_with_the_same_result(
    seq2seq, monkeypatch
):
    from seqlab.models.seq2seq import DecoderState
    from seqlab.models.transformer import (
        Transformer,
        TransformerConfig,
        TransformerDecoderState,
    )

    torch.manual_seed(2)
    cfg = TransformerConfig(d_model=16, num_heads=2, d_ff=32, dropout=0.0)
    transformer = Transformer(cfg, 12).double().eval()
    rnn, src, lengths = seq2seq
    options = dict(bos_id=BOS, eos_id=EOS, max_len=9, beam_size=4)
    for model, cls in ((rnn, DecoderState), (transformer, TransformerDecoderState)):
        kept = beam_search(model, model.start(src, lengths), **options)
        monkeypatch.setattr(cls, "same_across_beams", ())  # reorder everything
        moved = beam_search(model, model.start(src, lengths), **options)
        monkeypatch.undo()
        assert [h.tokens for h in kept] == [h.tokens for h in moved]
        for a, b in zip(kept, moved, strict=True):
            assert a.score == b.score
            if a.attention is not None:
                torch.testing.assert_close(a.attention, b.attention, rtol=0, atol=0)
