"""The Transformer (Vaswani et al. 2017), read top to bottom: attention, blocks, models.

Shapes: B batch, T target length, S source length, D d_model, nh heads, hs = D / nh
head size, V vocabulary.

Every position attends to every other at once (self-attention), so a whole sequence
is computed in parallel over time, unlike an RNN whose step t waits for step t-1.
Order comes from sinusoidal position encodings added to the embeddings. Decoding
keeps a cache of each layer's keys and values, so a new token costs one position's
work instead of recomputing the prefix.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn
from torch.nn import functional as F

from seqlab.config import Section
from seqlab.models.lm import LMOutput
from seqlab.models.seq2seq import Seq2SeqOutput, sequence_loss


class KVCache(NamedTuple):
    """Keys and values of one attention layer so far: each (B, nh, T_cached, hs)."""

    keys: Tensor
    values: Tensor


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(hs)) V over nh heads, via F.scaled_dot_product_attention.

    Inputs: x (B, T, D) queries; memory (B, S, D) keys/values (None: self-attention);
    mask broadcastable to (B, nh, T, S), True = may attend; causal; cache (keys and
    values of earlier positions, self-attention only). Returns (output (B, T, D), the
    new cache or None).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def split_heads(self, x: Tensor) -> Tensor:
        B, T, D = x.shape
        return x.view(B, T, self.num_heads, D // self.num_heads).transpose(1, 2)

    def project_kv(self, memory: Tensor) -> KVCache:
        """Keys and values of ``memory`` (B, S, D), once for cross-attention."""
        k, v = self.kv(memory).chunk(2, dim=-1)
        return KVCache(self.split_heads(k), self.split_heads(v))  # (B, nh, S, hs)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        causal: bool = False,
        cache: KVCache | None = None,
        static_kv: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, KVCache | None, Tensor | None]:
        """Also returns the attention weights (B, nh, T, S) when ``need_weights``."""
        B, T, D = x.shape
        q = self.split_heads(self.q(x))  # (B, nh, T, hs)
        if static_kv is None:
            k, v = self.project_kv(x if memory is None else memory)
        else:
            k, v = static_kv
        if cache is not None:
            k = torch.cat([cache.keys, k], dim=2)
            v = torch.cat([cache.values, v], dim=2)
            cache = KVCache(k, v)
        # a single new query attends to the whole cache: no causal mask needed
        is_causal = bool(causal and T > 1)  # bool: a constant when traced
        weights = None
        if need_weights:
            y, weights = attend_with_weights(q, k, v, mask, is_causal)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                is_causal=is_causal,
                dropout_p=self.dropout if self.training else 0.0,
            )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, D)
        return self.out(y), cache, weights


def attend_with_weights(q, k, v, mask, causal: bool) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(hs)) v written out, to return the weights (B, nh, T, S)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, nh, T, S)
    if causal:
        T, S = scores.shape[-2:]
        allowed = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)
        scores = scores.masked_fill(~allowed, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


class FeedForward(nn.Sequential):
    """Position-wise Linear(D, d_ff) -> ReLU -> Dropout -> Linear(d_ff, D)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(d_model, d_ff),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(d_ff, d_model),
        )


class DecoderOnlyBlock(nn.Module):
    """Causal self-attention + feed-forward, each with a residual connection.

    ``norm="pre"``: x + f(LN(x)) (stable without warm-up); ``"post"``: LN(x + f(x)),
    the original paper's arrangement.
    """

    def __init__(
        self, d_model: int, num_heads: int, d_ff: int, dropout: float, norm: str
    ) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.pre_norm = norm == "pre"

    def forward(
        self, x: Tensor, cache: KVCache | None
    ) -> tuple[Tensor, KVCache | None]:
        h = self.norm1(x) if self.pre_norm else x
        a, cache, _ = self.attn(h, causal=True, cache=cache)
        x = x + self.drop(a)
        if not self.pre_norm:
            x = self.norm1(x)
        h = self.norm2(x) if self.pre_norm else x
        x = x + self.drop(self.ff(h))
        return (x if self.pre_norm else self.norm2(x)), cache


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/D)), PE[pos, 2i+1] = cos(...): (max_len, D)."""
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return pe


class TransformerLMConfig(Section):
    kind: Literal["transformer_lm"] = "transformer_lm"
    d_model: int = Field(128, ge=1)
    num_heads: int = Field(4, ge=1)
    num_layers: int = Field(4, ge=1)
    d_ff: int | None = Field(None, ge=1)  # default 4 * d_model
    dropout: float = Field(0.0, ge=0, lt=1)
    max_len: int = Field(1024, ge=1)  # longest context, prompt + generated
    norm: Literal["pre", "post"] = "pre"
    tie_weights: bool = True
    # A text file of pretrained word vectors (word2vec/GloVe/fastText format, .gz
    # too) that initialises the token embedding's rows of the words it has;
    # freeze_embeddings keeps that embedding fixed (with a tied output layer too).
    embeddings: str | None = None
    freeze_embeddings: bool = False

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerLMConfig:
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got {self.d_model} and "
                f"{self.num_heads}"
            )
        return self


class TransformerState(NamedTuple):
    """One KV cache per layer."""

    caches: tuple[KVCache, ...]


class TransformerLM(nn.Module):
    """Decoder-only Transformer language model (a small GPT).

    Inputs: input (B, T), optional targets (B, T). The ``state`` argument is accepted
    for the LM pipeline's sake and ignored: each window is its own context.
    Outputs: LMOutput(logits (B, T, V), loss, state=None).
    """

    def __init__(self, cfg: TransformerLMConfig, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.d_model)
        # N(0, 1/D), so that the sqrt(D)-scaled embeddings have unit variance
        nn.init.normal_(self.embedding.weight, std=cfg.d_model**-0.5)
        self.register_buffer(
            "positions",
            sinusoidal_positions(cfg.max_len, cfg.d_model),
            persistent=False,
        )
        self.drop = nn.Dropout(cfg.dropout)
        d_ff = cfg.d_ff or 4 * cfg.d_model
        self.blocks = nn.ModuleList(
            DecoderOnlyBlock(cfg.d_model, cfg.num_heads, d_ff, cfg.dropout, cfg.norm)
            for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model) if cfg.norm == "pre" else nn.Identity()
        self.output = nn.Linear(cfg.d_model, vocab_size)
        if cfg.tie_weights:
            self.output.weight = self.embedding.weight

    def embed(self, input: Tensor, offset: int) -> Tensor:
        T = input.shape[1]
        if offset + T > self.cfg.max_len:
            raise ValueError(
                f"sequence of {offset + T} tokens is longer than model.max_len="
                f"{self.cfg.max_len}"
            )
        x = self.embedding(input) * math.sqrt(self.cfg.d_model)
        return self.drop(x + self.positions[offset : offset + T])  # (B, T, D)

    def run(
        self, input: Tensor, state: TransformerState | None
    ) -> tuple[Tensor, TransformerState | None]:
        """Logits (B, T, V) of ``input`` after the cached positions of ``state``."""
        offset = 0 if state is None else state.caches[0].keys.shape[2]
        x = self.embed(input, offset)
        caches = []
        for i, block in enumerate(self.blocks):
            x, cache = block(x, None if state is None else state.caches[i])
            caches.append(cache)
        logits = self.output(self.norm(x))
        return logits, None if state is None else TransformerState(tuple(caches))

    def forward(
        self, input: Tensor, targets: Tensor | None = None, state=None
    ) -> LMOutput:
        del state  # no state flows between training windows
        logits, _ = self.run(input, None)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return LMOutput(logits, loss, None)

    # ---- the decoding protocol of seqlab.decode ----------------------------------
    def empty_state(self, batch: int, like: Tensor) -> TransformerState:
        hs = self.cfg.d_model // self.cfg.num_heads
        shape = (batch, self.cfg.num_heads, 0, hs)
        empty = torch.zeros(
            shape, dtype=self.embedding.weight.dtype, device=like.device
        )
        return TransformerState(tuple(KVCache(empty, empty) for _ in self.blocks))

    def start(self, prefix: Tensor) -> TransformerState:
        """KV caches after reading ``prefix`` (B, P), P >= 0."""
        state = self.empty_state(prefix.shape[0], prefix)
        if prefix.shape[1] == 0:
            return state
        return self.run(prefix, state)[1]

    def step(
        self, tokens: Tensor, state: TransformerState
    ) -> tuple[Tensor, TransformerState]:
        """Log-probabilities (B, V) of the token after ``tokens`` (B,)."""
        logits, state = self.run(tokens.unsqueeze(1), state)
        return torch.log_softmax(logits[:, -1], dim=-1), state


# ---- the encoder-decoder Transformer -------------------------------------------------
class Sublayer(nn.Module):
    """x + dropout(f(x)) with LayerNorm before f (pre-norm) or after the sum (post)."""

    def __init__(self, d_model: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, x: Tensor, f) -> tuple:
        """Returns (new x, *whatever else f returned)."""
        out = f(self.norm(x) if self.pre_norm else x)
        y, *rest = out if isinstance(out, tuple) else (out,)
        x = x + self.drop(y)
        return (x if self.pre_norm else self.norm(x), *rest)


class EncoderBlock(nn.Module):
    """Self-attention over the source (padding masked) + feed-forward."""

    def __init__(self, d_model, num_heads, d_ff, dropout, pre_norm) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.sub1 = Sublayer(d_model, dropout, pre_norm)
        self.sub2 = Sublayer(d_model, dropout, pre_norm)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x, _, _ = self.sub1(x, lambda h: self.attn(h, mask=mask))
        return self.sub2(x, self.ff)[0]


class DecoderBlock(nn.Module):
    """Causal self-attention (cached) + attention over the encoder + feed-forward."""

    def __init__(self, d_model, num_heads, d_ff, dropout, pre_norm) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.sub1 = Sublayer(d_model, dropout, pre_norm)
        self.sub2 = Sublayer(d_model, dropout, pre_norm)
        self.sub3 = Sublayer(d_model, dropout, pre_norm)

    def forward(self, x, memory_kv, src_mask, cache=None, need_weights=False):
        """Returns (x, new self-attention cache, cross-attention weights or None)."""
        x, cache, _ = self.sub1(
            x, lambda h: self.self_attn(h, causal=True, cache=cache)
        )
        x, _, weights = self.sub2(
            x,
            lambda h: self.cross_attn(
                h, mask=src_mask, static_kv=memory_kv, need_weights=need_weights
            ),
        )
        return self.sub3(x, self.ff)[0], cache, weights


class TransformerConfig(Section):
    kind: Literal["transformer"] = "transformer"
    d_model: int = Field(256, ge=1)
    num_heads: int = Field(8, ge=1)
    encoder_layers: int = Field(3, ge=1)
    decoder_layers: int = Field(3, ge=1)
    d_ff: int = Field(512, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    norm: Literal["pre", "post"] = "pre"
    share_embeddings: bool = True  # one embedding for source and target tokens
    tie_output: bool = True  # output layer = target embedding (transposed)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    max_len: int = Field(512, ge=1)  # longest source or target, in tokens
    # A text file of pretrained word vectors (word2vec/GloVe/fastText format, .gz
    # too) that initialises the token embedding's rows of the words it has;
    # freeze_embeddings keeps that embedding fixed (with a tied output layer too).
    embeddings: str | None = None
    freeze_embeddings: bool = False

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerConfig:
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got {self.d_model} and "
                f"{self.num_heads}"
            )
        return self


class TransformerDecoderState(NamedTuple):
    """Batch-first decoding state: memory_kv, per decoder layer the cross-attention
    keys and values of the encoded source (B, nh, S, hs); src_mask (B, 1, 1, S); the
    self-attention caches per layer; attention (B, S): the last layer's
    cross-attention weights of the step just taken, averaged over heads."""

    same_across_beams = ("memory_kv", "src_mask")  # the source: never reordered

    memory_kv: tuple[KVCache, ...]
    src_mask: Tensor
    caches: tuple[KVCache, ...]
    attention: Tensor | None = None


class Transformer(nn.Module):
    """Encoder-decoder Transformer with seqlab's seq2seq interface.

    Inputs: src (B, S), src_lengths (B,), tgt_in (B, T) = <bos> y_1 .., optional
    targets (B, T) padded with <pad> = 0 (ignored by the loss, label-smoothed while
    training). Outputs: Seq2SeqOutput(logits (B, T, V), loss, attention=None).
    Decoding goes through ``start``/``step`` with KV caches, so seqlab.decode's greedy
    and beam search serve it unchanged.
    """

    def __init__(self, cfg: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.d_model
        self.src_embedding = nn.Embedding(vocab_size, D)
        self.tgt_embedding = (
            self.src_embedding if cfg.share_embeddings else nn.Embedding(vocab_size, D)
        )
        nn.init.normal_(self.src_embedding.weight, std=D**-0.5)
        nn.init.normal_(self.tgt_embedding.weight, std=D**-0.5)
        self.register_buffer(
            "positions", sinusoidal_positions(cfg.max_len, D), persistent=False
        )
        self.drop = nn.Dropout(cfg.dropout)
        pre = cfg.norm == "pre"
        args = (D, cfg.num_heads, cfg.d_ff, cfg.dropout, pre)
        self.encoder = nn.ModuleList(
            EncoderBlock(*args) for _ in range(cfg.encoder_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderBlock(*args) for _ in range(cfg.decoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(D) if pre else nn.Identity()
        self.decoder_norm = nn.LayerNorm(D) if pre else nn.Identity()
        self.output = nn.Linear(D, vocab_size)
        if cfg.tie_output:
            self.output.weight = self.tgt_embedding.weight

    def embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        T = tokens.shape[1]
        if offset + T > self.cfg.max_len:
            raise ValueError(
                f"sequence of {offset + T} tokens is longer than model.max_len="
                f"{self.cfg.max_len}"
            )
        x = embedding(tokens) * math.sqrt(self.cfg.d_model)
        return self.drop(x + self.positions[offset : offset + T])  # (B, T, D)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """memory (B, S, D) and the key mask (B, 1, 1, S), True at real tokens."""
        S = src.shape[1]
        lengths = src_lengths.to(src.device)
        mask = (torch.arange(S, device=src.device) < lengths[:, None])[:, None, None]
        x = self.embed(self.src_embedding, src)
        for block in self.encoder:
            x = block(x, mask)
        return self.encoder_norm(x), mask

    def decode(self, tgt_in: Tensor, state: TransformerDecoderState, weights=False):
        """Teacher-forced decoder pass: (hidden (B, T, D), cross-attention maps)."""
        x = self.embed(self.tgt_embedding, tgt_in)
        maps = []
        for block, kv in zip(self.decoder, state.memory_kv, strict=True):
            x, _, w = block(x, kv, state.src_mask, need_weights=weights)
            maps.append(w)
        return self.decoder_norm(x), maps

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        targets: Tensor | None = None,
    ) -> Seq2SeqOutput:
        hidden, _ = self.decode(tgt_in, self.start(src, src_lengths))
        logits = self.output(hidden)  # (B, T, V)
        loss = None
        if targets is not None:
            smoothing = self.cfg.label_smoothing if self.training else 0.0
            loss = sequence_loss(logits, targets, smoothing)
        return Seq2SeqOutput(logits, loss, None)

    # ---- the decoding protocol of seqlab.decode ----------------------------------
    def start(self, src: Tensor, src_lengths: Tensor) -> TransformerDecoderState:
        """Encode the source; empty self-attention caches."""
        memory, mask = self.encode(src, src_lengths)
        B, hs = src.shape[0], self.cfg.d_model // self.cfg.num_heads
        empty = memory.new_zeros(B, self.cfg.num_heads, 0, hs)
        return TransformerDecoderState(
            memory_kv=tuple(b.cross_attn.project_kv(memory) for b in self.decoder),
            src_mask=mask,
            caches=tuple(KVCache(empty, empty) for _ in self.decoder),
        )

    def step(
        self, tokens: Tensor, state: TransformerDecoderState
    ) -> tuple[Tensor, TransformerDecoderState]:
        """Log-probabilities (B, V) of the token after ``tokens`` (B,)."""
        offset = state.caches[0].keys.shape[2]
        x = self.embed(self.tgt_embedding, tokens.unsqueeze(1), offset)
        caches, last = [], len(self.decoder) - 1
        for i, block in enumerate(self.decoder):
            x, cache, weights = block(
                x, state.memory_kv[i], state.src_mask, state.caches[i], i == last
            )
            caches.append(cache)
        log_probs = torch.log_softmax(self.output(self.decoder_norm(x))[:, -1], dim=-1)
        attention = weights[:, :, -1].mean(1)  # (B, S), averaged over heads
        return log_probs, state._replace(caches=tuple(caches), attention=attention)

    @torch.no_grad()
    def cross_attention(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor
    ) -> Tensor:
        """Cross-attention weights of every decoder layer and head under teacher
        forcing: (L, B, nh, T, S), for heat maps."""
        _, maps = self.decode(tgt_in, self.start(src, src_lengths), weights=True)
        return torch.stack(maps)


# ---- the encoder alone: a sequence in, a state per token out -------------------------
class TransformerEncoder(nn.Module):
    """Embedding + sinusoidal positions -> encoder blocks -> states (B, T, D).

    What the Transformer classifier and tagger read their input with: every token's
    state sees the whole (unpadded) sequence. Padding is masked as keys, so a padded
    batch gives each row the states it gets alone.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        num_heads: int,
        num_layers: int,
        d_ff: int,
        dropout: float,
        pre_norm: bool = True,
        max_len: int = 512,
    ) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        self.register_buffer(
            "positions", sinusoidal_positions(max_len, d_model), persistent=False
        )
        self.drop = nn.Dropout(dropout)
        args = (d_model, num_heads, d_ff, dropout, pre_norm)
        self.blocks = nn.ModuleList(EncoderBlock(*args) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()

    def forward(self, input: Tensor, lengths: Tensor) -> Tensor:
        """input (B, T) ids, lengths (B,) -> states (B, T, D), zero at padding."""
        return self.encode(self.embedding(input) * math.sqrt(self.d_model), lengths)

    def encode(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Token vectors x (B, T, D), scaled, without positions; lengths (B,) ->
        states (B, T, D), zero at padding."""
        T = x.shape[1]
        if self.max_len < T:
            raise ValueError(
                f"sequence of {T} tokens is longer than model.max_len={self.max_len}"
            )
        real = torch.arange(T, device=x.device) < lengths.to(x.device)[:, None]
        x = self.drop(x + self.positions[:T])
        mask = real[:, None, None]  # (B, 1, 1, T): keys that may be attended to
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x) * real.unsqueeze(-1)
