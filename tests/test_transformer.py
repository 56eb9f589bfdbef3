"""The Transformer: causal masking, KV-cache decoding, learning a tiny task."""

import pytest
import torch

from seqlab.decode import generate
from seqlab.models.transformer import (
    MultiHeadAttention,
    TransformerLM,
    TransformerLMConfig,
    sinusoidal_positions,
)

V = 17


def small(**kw) -> TransformerLM:
    cfg = dict(d_model=16, num_heads=2, num_layers=2, max_len=64)
    cfg.update(kw)
    torch.manual_seed(0)
    return TransformerLM(TransformerLMConfig(**cfg), V).eval()


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_causal_mask_outputs_at_t_ignore_later_inputs(norm):
    model = small(norm=norm)
    x = torch.randint(0, V, (2, 10))
    y = x.clone()
    y[:, 6:] = torch.randint(0, V, (2, 4))
    a, b = model(x).logits, model(y).logits
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_kv_cache_step_equals_full_recomputation():
    model = small()
    x = torch.randint(0, V, (3, 9))
    full = torch.log_softmax(model(x).logits, -1)
    state = model.start(x[:, :4])
    for t in range(4, 9):
        log_probs, state = model.step(x[:, t], state)
        torch.testing.assert_close(log_probs, full[:, t], atol=1e-5, rtol=1e-5)


def test_greedy_generation_with_cache_equals_recomputing_the_prefix():
    model = small()
    prefix = torch.randint(0, V, (2, 3))
    cached = generate(model, prefix, 20, greedy=True)
    for row, out in zip(prefix, cached, strict=True):
        seq = row.tolist()
        for _ in range(20):
            logits = model(torch.tensor([seq])).logits[0, -1]
            seq.append(int(logits.argmax()))
        assert seq[3:] == out


def test_attention_padding_mask_gives_padded_keys_no_weight():
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2).eval()
    x = torch.randn(1, 3, 8)
    memory = torch.randn(1, 5, 8)
    mask = torch.tensor([True, True, True, False, False]).view(1, 1, 1, 5)
    out, _, _ = attn(x, memory, mask=mask)
    garbage = memory.clone()
    garbage[:, 3:] = 1e3 * torch.randn(1, 2, 8)
    out2, _, _ = attn(x, garbage, mask=mask)
    torch.testing.assert_close(out, out2)


def test_positions_are_the_paper_sinusoids():
    pe = sinusoidal_positions(50, 8)
    assert pe[0, 0] == 0 and pe[0, 1] == 1
    torch.testing.assert_close(pe[7, 2], torch.sin(torch.tensor(7 / 10000 ** (2 / 8))))


def test_learns_a_repeating_pattern():
    model = small(num_layers=1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    pattern = torch.arange(8).repeat(6).unsqueeze(0).repeat(4, 1)  # (4, 48)
    for _ in range(150):
        loss = model(pattern[:, :-1], targets=pattern[:, 1:]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


def test_config_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TransformerLMConfig(d_model=10, num_heads=3)
    with pytest.raises(ValueError, match=r"longer than model\.max_len=64"):
        small()(torch.zeros(1, 65, dtype=torch.long))


def seq2seq(**kw):
    from seqlab.models.transformer import Transformer, TransformerConfig

    cfg = dict(
        d_model=16,
        num_heads=2,
        encoder_layers=2,
        decoder_layers=2,
        d_ff=32,
        dropout=0.0,
        max_len=64,
    )
    cfg.update(kw)
    torch.manual_seed(0)
    return Transformer(TransformerConfig(**cfg), V).eval()


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_seq2seq_cached_steps_equal_the_teacher_forced_pass(norm):
    model = seq2seq(norm=norm)
    src = torch.randint(4, V, (2, 7))
    lengths = torch.tensor([7, 4])
    tgt = torch.randint(4, V, (2, 6))
    full = torch.log_softmax(model(src, lengths, tgt).logits, -1)
    state = model.start(src, lengths)
    for t in range(6):
        log_probs, state = model.step(tgt[:, t], state)
        torch.testing.assert_close(log_probs, full[:, t], atol=1e-5, rtol=1e-5)
    assert state.attention.shape == (2, 7)
    torch.testing.assert_close(state.attention.sum(-1), torch.ones(2))
    assert state.attention[1, 4:].abs().max() == 0  # padded source positions


def test_seq2seq_padding_of_the_source_changes_nothing():
    model = seq2seq()
    src = torch.randint(4, V, (1, 4))
    padded = torch.cat([src, torch.randint(4, V, (1, 3))], 1)
    tgt = torch.randint(4, V, (1, 5))
    a = model(src, torch.tensor([4]), tgt).logits
    b = model(padded, torch.tensor([4]), tgt).logits
    torch.testing.assert_close(a, b)


def test_seq2seq_beam_one_equals_greedy_and_cross_attention_shape():
    from seqlab.decode import beam_search, greedy_search

    model = seq2seq()
    src = torch.randint(4, V, (3, 5))
    lengths = torch.tensor([5, 3, 2])
    greedy = greedy_search(
        model, model.start(src, lengths), bos_id=2, eos_id=3, max_len=8
    )
    beam = beam_search(
        model, model.start(src, lengths), bos_id=2, eos_id=3, max_len=8, beam_size=1
    )
    assert [h.tokens for h in greedy] == [h.tokens for h in beam]
    maps = model.cross_attention(src, lengths, torch.randint(4, V, (3, 4)))
    assert maps.shape == (2, 3, 2, 4, 5)


def test_seq2seq_learns_to_copy():
    model = seq2seq(encoder_layers=1, decoder_layers=1, d_model=32, d_ff=64).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        src = torch.randint(4, V, (32, 6), generator=gen)
        tgt_in = torch.cat([torch.full((32, 1), 2), src], 1)
        targets = torch.cat([src, torch.full((32, 1), 3)], 1)
        loss = model(src, torch.full((32,), 6), tgt_in, targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    from seqlab.decode import greedy_search

    src = torch.randint(4, V, (20, 6), generator=gen)
    hyps = greedy_search(
        model, model.start(src, torch.full((20,), 6)), bos_id=2, eos_id=3, max_len=10
    )
    correct = sum(h.tokens == row.tolist() for h, row in zip(hyps, src, strict=True))
    assert correct >= 15  # an untrained model copies none
