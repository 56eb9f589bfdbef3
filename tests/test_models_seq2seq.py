"""Seq2seq models: every decoder variant learns, decodes step by step as it trains,
Peeky and Cho feed the context at every step, options are checked."""

import pytest
import torch

from seqlab.config import ConfigError, validate
from seqlab.data.batching import pad_sequences
from seqlab.decode import greedy_search
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig

BOS, EOS, V = 2, 3, 10
VARIANTS = {
    "plain": dict(decoder="plain"),
    "cho": dict(decoder="cho"),
    "peeky": dict(decoder="peeky"),
    "attention": dict(decoder="attention"),
    "attention-between-bi-gru": dict(
        decoder="attention",
        cell="gru",
        attention="additive",
        bidirectional=True,
        num_layers=2,
        attention_placement="between",
        input_feeding=True,
    ),
}


def reverse_task(n: int, gen: torch.Generator):
    """Sources of 2-4 symbols (ids 4..9); the target is the source reversed."""
    lengths = torch.randint(2, 5, (n,), generator=gen)
    seqs = [torch.randint(4, V, (int(k),), generator=gen).tolist() for k in lengths]
    src, src_lengths = pad_sequences(seqs, 0)
    tgt_in, _ = pad_sequences([[BOS, *s[::-1]] for s in seqs], 0)
    tgt_out, _ = pad_sequences([[*s[::-1], EOS] for s in seqs], 0)
    return src, src_lengths, tgt_in, tgt_out, seqs


def model_for(seed: int = 0, hidden_size: int = 16, **options) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(embedding_size=8, hidden_size=hidden_size, **options)
    return Seq2Seq(cfg, V)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_decoder_variant_learns_to_reverse(name):
    model = model_for(hidden_size=32, **VARIANTS[name])
    gen = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(200):
        src, src_lengths, tgt_in, tgt_out, _ = reverse_task(32, gen)
        loss = model(src, src_lengths, tgt_in, tgt_out).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    src, src_lengths, _, _, seqs = reverse_task(200, gen)
    hyps = greedy_search(
        model, model.start(src, src_lengths), bos_id=BOS, eos_id=EOS, max_len=8
    )
    accuracy = sum(h.tokens == s[::-1] for h, s in zip(hyps, seqs, strict=True)) / 200
    assert accuracy >= 0.9  # an untrained model gets ~0


@pytest.mark.parametrize("name", list(VARIANTS))
def test_decoding_step_by_step_equals_the_teacher_forced_pass(name):
    model = model_for(**VARIANTS[name]).double().eval()
    src, src_lengths, tgt_in, tgt_out, _ = reverse_task(5, torch.Generator())
    full = model(src, src_lengths, tgt_in, tgt_out)
    state, logits = model.start(src, src_lengths), []
    for t in range(tgt_in.shape[1]):
        log_probs, state = model.step(tgt_in[:, t], state)
        logits.append(log_probs)
    torch.testing.assert_close(
        torch.stack(logits, 1), torch.log_softmax(full.logits, -1)
    )
    assert (full.attention is None) == (name in ("plain", "cho", "peeky"))


@torch.no_grad()
def test_additive_attention_projects_the_source_once_per_decoding():
    model = model_for(**VARIANTS["attention-between-bi-gru"]).double().eval()
    src, src_lengths, *_ = reverse_task(5, torch.Generator().manual_seed(1))
    calls = []
    model.decoder.attention.w_keys.register_forward_hook(lambda *a: calls.append(1))
    state = model.start(src, src_lengths)
    hyps = greedy_search(model, state, bos_id=BOS, eos_id=EOS, max_len=6)
    assert len(calls) == 1  # in start(), not at each of the up to 6 steps
    unprojected = greedy_search(  # what attention computes from W_k itself
        model, state._replace(keys=None), bos_id=BOS, eos_id=EOS, max_len=6
    )
    for a, b in zip(hyps, unprojected, strict=True):
        assert a.tokens == b.tokens and a.score == pytest.approx(b.score, abs=1e-12)
        torch.testing.assert_close(a.attention, b.attention)


@torch.no_grad()
def _logits_with_context(model, tokens, state, context):
    return model.decode_step(tokens, state._replace(context=context)).logits


@pytest.mark.parametrize("decoder", ["cho", "peeky"])
def test_the_context_enters_every_decoder_step(decoder):
    """At every step t, from the same recurrent state, another context c gives other
    logits: c is fed at t itself, not only through the initial state."""
    model = model_for(decoder=decoder).double().eval()
    src, src_lengths, tgt_in, _, _ = reverse_task(4, torch.Generator())
    state = model.start(src, src_lengths)
    other = torch.randn_like(state.context)
    for t in range(tgt_in.shape[1]):
        tokens = tgt_in[:, t : t + 1]
        same = _logits_with_context(model, tokens, state, state.context)
        changed = _logits_with_context(model, tokens, state, other)
        assert (same - changed).abs().amax(-1).min() > 1e-6, f"step {t}"
        state = model.decode_step(tokens, state).state


def test_peeky_feeds_the_context_to_the_output_layer_and_cho_does_not():
    """With the context's input weights zeroed, only Peeky still hears c."""
    changes = {}
    for decoder in ("cho", "peeky"):
        model = model_for(decoder=decoder).double().eval()
        with torch.no_grad():  # columns E: of the decoder's input weights see c
            model.decoder.rnn.cells[0].weight_ih[:, 8:] = 0
        src, src_lengths, tgt_in, _, _ = reverse_task(4, torch.Generator())
        state = model.start(src, src_lengths)
        other = torch.randn_like(state.context)
        same = _logits_with_context(model, tgt_in, state, state.context)
        changed = _logits_with_context(model, tgt_in, state, other)
        changes[decoder] = float((same - changed).abs().max())
    assert changes["cho"] == 0.0
    assert changes["peeky"] > 1e-6


def test_the_plain_decoder_sees_the_source_only_through_its_initial_state():
    model = model_for(decoder="plain").double().eval()
    src, src_lengths, tgt_in, _, _ = reverse_task(4, torch.Generator())
    state = model.start(src, src_lengths)
    other = torch.randn_like(state.context)
    torch.testing.assert_close(
        _logits_with_context(model, tgt_in, state, state.context),
        _logits_with_context(model, tgt_in, state, other),
    )


def test_teacher_forcing_zero_feeds_the_models_own_predictions():
    model = model_for(decoder="peeky", teacher_forcing=0.0).double()
    src, src_lengths, tgt_in, tgt_out, _ = reverse_task(6, torch.Generator())
    trained = model.train()(src, src_lengths, tgt_in, tgt_out).logits
    model.eval()  # dropout is 0: train and eval compute the same
    state, tokens, logits = model.start(src, src_lengths), tgt_in[:, 0], []
    for _ in range(tgt_in.shape[1]):
        out = model.decode_step(tokens.unsqueeze(1), state)
        state, tokens = out.state, out.logits[:, -1].argmax(-1)
        logits.append(out.logits[:, -1])
    torch.testing.assert_close(trained, torch.stack(logits, 1))
    forced = model(src, src_lengths, tgt_in, tgt_out).logits  # eval: gold inputs
    assert not torch.allclose(forced, trained)


def test_padding_in_the_batch_does_not_change_an_example():
    model = model_for(**VARIANTS["attention-between-bi-gru"]).double().eval()
    src, src_lengths, tgt_in, _, _ = reverse_task(6, torch.Generator())
    i = int(src_lengths.argmin())
    alone = model.decode_step(
        tgt_in[i : i + 1],
        model.start(src[i : i + 1, : src_lengths[i]], src_lengths[i : i + 1]),
    )
    batched = model.decode_step(tgt_in, model.start(src, src_lengths))
    torch.testing.assert_close(batched.logits[i], alone.logits[0])
    assert torch.all(batched.attention[i, :, src_lengths[i] :] == 0)


def test_the_bidirectional_bridge_gives_decoder_sized_states():
    model = model_for(bidirectional=True, num_layers=2, decoder="attention")
    src, src_lengths, _, _, _ = reverse_task(3, torch.Generator())
    enc = model.encode(src, src_lengths)
    assert enc.memory.shape == (3, src.shape[1], 32)  # both directions
    assert enc.h.shape == (3, 2, 32)
    state = model.start(src, src_lengths)
    assert state.h.shape == state.c.shape == (3, 2, 16)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"decoder": "peeky", "attention": "dot"}, "apply to decoder 'attention'"),
        ({"attention_placement": "between"}, "num_layers >= 2"),
        ({"attention": "dot", "bidirectional": True}, "bidirectional"),
        ({"teacher_forcing": 1.5}, "teacher_forcing"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        validate(Seq2SeqConfig, options, "test.yaml")
