"""Sequence tagger: one tag per token (synchronised many to many, seed 002).

Shapes: B batch, T time (padded sentence length), W characters per word, E word
embedding size, H hidden size, D directions, C tags.

    word embedding (E) [+ character BiLSTM (2*Hc)] [+ feature embedding (F)]
    -> dropout -> BiLSTM -> dropout -> linear (D*H -> C): emission scores
    -> softmax per token, or a linear-chain CRF over the whole tag sequence

The character encoder (Lample et al. 2016) reads each word's characters with a
bidirectional recurrent layer and keeps both final states, so unseen words still get
a representation from their spelling. The feature embedding takes one extra input
column per token (the POS tags of the CoNLL files).

The CRF scores a whole tag sequence y for the emissions e (B, T, C)::

    score(y) = start[y_1] + Σ_t e[t, y_t] + Σ_{t>1} trans[y_{t-1}, y_t] + end[y_T]
    log p(y | x) = score(y) - log Z,   log Z = logsumexp over all C^T sequences

log Z comes from the forward algorithm, the best y from Viterbi (the same recursion
with max instead of logsumexp, plus back-pointers); both are tested against brute
enumeration. The loss is the negative log-likelihood summed over sentences and divided
by the number of real tokens, so it is on the per-token scale of the softmax head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from seqlab.cells import LSTMState
from seqlab.config import Section
from seqlab.data.vocab import Vocab
from seqlab.layers import make_recurrent


class TaggerConfig(Section):
    kind: Literal["tagger"] = "tagger"
    cell: Literal["rnn", "lstm", "gru"] = "lstm"  # words and characters alike
    # cell: lstm only. Not 0: the forget gate's bias starts at this value (1 in
    # Jozefowicz et al. 2015), so that the cell state is kept early on; 0: torch's init.
    forget_bias: float = 0.0
    # Each gate's block of W_hh: torch's uniform, orthogonal, or the identity (IRNN).
    recurrent_init: Literal["default", "orthogonal", "identity"] = "default"
    embedding_size: int = Field(100, ge=1)
    hidden_size: int = Field(128, ge=1)  # per direction
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = True
    dropout: float = Field(0.5, ge=0.0, lt=1.0)  # on inputs, between layers, output
    # Training only: each word id becomes <unk> with this probability, so that the
    # model learns what to do with words it has never seen (Lample et al. use 0.5 on
    # singletons; this is the same idea applied to every word).
    word_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    char_embedding_size: int = Field(25, ge=1)
    char_hidden_size: int = Field(0, ge=0)  # per direction; 0: no character encoder
    feature_embedding_size: int = Field(0, ge=0)  # the extra column (POS); 0: unused
    head: Literal["softmax", "crf"] = "crf"
    # A text file of pretrained word vectors (word2vec/GloVe/fastText format, .gz
    # too) that initialises the token embedding's rows of the words it has;
    # freeze_embeddings keeps that embedding fixed (with a tied output layer too).
    embeddings: str | None = None
    freeze_embeddings: bool = False


@dataclass
class TaggerOutput:
    """emissions (B, T, C) per-token tag scores; loss per real token, or None."""

    emissions: Tensor
    loss: Tensor | None


class TaggerBase(nn.Module):
    """What every tagger shares around its encoder: word (+ character, + feature)
    inputs, the per-token head, the loss and ``decode``. A subclass builds its
    encoder between ``_build_inputs`` and ``_build_head`` and writes ``scores``, the
    encoder and head on the joint input vectors (which ONNX export reuses).
    """

    cfg: TaggerConfig
    embedding: nn.Embedding
    chars: CharEncoder | None
    features: nn.Embedding | None
    drop: nn.Dropout
    output: nn.Linear
    crf: CRF | None

    def _build_inputs(
        self, cfg, vocab_size: int, num_chars: int, num_features: int
    ) -> int:
        """Word, character and feature embeddings; returns their joint width."""
        _check_sizes(cfg, num_chars, num_features)
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_size, padding_idx=0)
        input_size = cfg.embedding_size
        self.chars = None
        if cfg.char_hidden_size:
            self.chars = CharEncoder(cfg, num_chars)
            input_size += 2 * cfg.char_hidden_size
        self.features = None
        if cfg.feature_embedding_size:
            self.features = nn.Embedding(num_features, cfg.feature_embedding_size)
            input_size += cfg.feature_embedding_size
        self.drop = nn.Dropout(cfg.dropout)
        return input_size

    def _build_head(self, cfg, size: int, num_tags: int) -> None:
        self.output = nn.Linear(size, num_tags)
        self.crf = CRF(num_tags) if cfg.head == "crf" else None

    def forward(
        self,
        input: Tensor,
        lengths: Tensor,
        targets: Tensor | None = None,
        chars: Tensor | None = None,
        features: Tensor | None = None,
    ) -> TaggerOutput:
        emissions = self.emissions(input, lengths, chars, features)  # (B, T, C)
        loss = None
        if targets is not None:
            mask = padding_mask(lengths.to(input.device), input.shape[1])  # (B, T)
            if self.crf is not None:
                nll = self.crf.nll(emissions, targets, mask)  # (B,)
                loss = nll.sum() / mask.sum()
            else:
                loss = nn.functional.cross_entropy(emissions[mask], targets[mask])
        return TaggerOutput(emissions, loss)

    def emissions(
        self,
        input: Tensor,
        lengths: Tensor,
        chars: Tensor | None = None,
        features: Tensor | None = None,
    ) -> Tensor:
        """Per-token tag scores (B, T, C)."""
        return self.scores(self.drop(self.embed(input, chars, features)), lengths)

    def scores(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Per-token tag scores (B, T, C) of the joint input vectors x (B, T, I)."""
        raise NotImplementedError

    def embed(
        self, input: Tensor, chars: Tensor | None, features: Tensor | None
    ) -> Tensor:
        """The joint input vectors (B, T, I), with word dropout in training."""
        if self.training and self.cfg.word_dropout > 0:
            drop = torch.rand(input.shape, device=input.device) < self.cfg.word_dropout
            input = input.masked_fill(drop & (input != 0), Vocab.unk_id)
        parts = [self.embedding(input)]  # (B, T, E)
        if self.chars is not None:
            parts.append(self.chars(_required(chars, "chars")))  # (B, T, 2*Hc)
        if self.features is not None:
            parts.append(self.features(_required(features, "features")))  # (B, T, F)
        return torch.cat(parts, dim=-1)

    @torch.no_grad()
    def decode(
        self,
        input: Tensor,
        lengths: Tensor,
        chars: Tensor | None = None,
        features: Tensor | None = None,
    ) -> list[list[int]]:
        """The best tag ids of each sentence, exactly ``lengths[b]`` of them."""
        emissions = self.emissions(input, lengths, chars, features)
        mask = padding_mask(lengths.to(input.device), input.shape[1])
        if self.crf is not None:
            return self.crf.decode(emissions, mask)
        best = emissions.argmax(-1)  # (B, T)
        return [row[:n].tolist() for row, n in zip(best, lengths.tolist(), strict=True)]


class Tagger(TaggerBase):
    """Word (+ character, + feature) encoder -> BiLSTM -> softmax or CRF tags.

    Inputs: input (B, T) word ids, lengths (B,), optional targets (B, T) tag ids
    (ignored past each length), chars (B, T, W) when the config has a character
    encoder, features (B, T) when it has a feature embedding.
    Outputs: TaggerOutput(emissions (B, T, C), loss). ``decode`` gives the tags.
    """

    def __init__(
        self,
        cfg: TaggerConfig,
        vocab_size: int,
        num_tags: int,
        num_chars: int = 0,
        num_features: int = 0,
    ) -> None:
        super().__init__()
        input_size = self._build_inputs(cfg, vocab_size, num_chars, num_features)
        self.rnn = make_recurrent(
            cfg.cell,
            input_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
            bidirectional=cfg.bidirectional,
            forget_bias=cfg.forget_bias,
            recurrent_init=cfg.recurrent_init,
        )
        directions = 2 if cfg.bidirectional else 1
        self._build_head(cfg, directions * cfg.hidden_size, num_tags)

    def scores(self, x: Tensor, lengths: Tensor) -> Tensor:
        states, _ = self.rnn(x, lengths=lengths)  # (B, T, D*H)
        return self.output(self.drop(states))


class CharEncoder(nn.Module):
    """Characters of each word -> bidirectional recurrent layer -> both final states.

    Inputs: chars (B, T, W) character ids, 0 at padding (a padded word is all 0).
    Output: (B, T, 2*Hc), zeros at padded words.
    """

    def __init__(self, cfg: TaggerConfig, num_chars: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, cfg.char_embedding_size, padding_idx=0)
        self.rnn = make_recurrent(
            cfg.cell,
            cfg.char_embedding_size,
            cfg.char_hidden_size,
            bidirectional=True,
            forget_bias=cfg.forget_bias,
            recurrent_init=cfg.recurrent_init,
        )

    def forward(self, chars: Tensor) -> Tensor:
        B, T, W = chars.shape
        # each distinct spelling is read once ("the" may be 50 tokens of a batch)
        words, inverse = torch.unique(
            chars.reshape(B * T, W), dim=0, return_inverse=True
        )
        lengths = (words != 0).sum(1)  # (U,) 0 for the padding "word"
        real = (lengths > 0).nonzero().squeeze(1)  # (N,)
        x = self.embedding(words[real])  # (N, W, Ec)
        _, final = self.rnn(x, lengths=lengths[real])
        h = final.h if isinstance(final, LSTMState) else final  # (2, N, Hc)
        encoded = torch.cat([h[0], h[1]], dim=-1)  # (N, 2*Hc)
        out = encoded.new_zeros(len(words), encoded.shape[1]).index_copy(
            0, real, encoded
        )
        return out[inverse].view(B, T, -1)  # (B, T, 2*Hc)


class CRF(nn.Module):
    """Linear-chain CRF: transition scores between tags; see the module docstring.

    Parameters: transitions (C, C), ``transitions[i, j]`` scores tag i followed by
    tag j; start (C,) and end (C,) score the first and last tags.
    All methods take emissions (B, T, C) and mask (B, T) bool, True at real tokens,
    a prefix of each row (right padding), with mask[:, 0] all True.
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """-log p(tags | x) per sentence (B,)."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """score(y) of the given tag sequences (B, T) -> (B,)."""
        m = mask.to(emissions.dtype)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return (
            self.start[tags[:, 0]]
            + (emit * m).sum(1)
            + (trans * m[:, 1:]).sum(1)
            + self.end[last]
        )

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z (B,) by the forward algorithm:
        α_t(j) = logsumexp_i(α_{t-1}(i) + trans[i, j]) + e[t, j]."""
        alpha = self.start + emissions[:, 0]  # (B, C)
        for t in range(1, emissions.shape[1]):
            # (B, C, 1) + (C, C) -> (B, C_prev, C), summed out over the previous tag
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1)
            step = step + emissions[:, t]
            alpha = torch.where(mask[:, t : t + 1], step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor) -> list[list[int]]:
        """Viterbi: the highest-scoring tag sequence of each sentence."""
        score = self.start + emissions[:, 0]  # (B, C)
        keep_tag = torch.arange(emissions.shape[2], device=emissions.device)
        pointers = []  # pointers[t-1][b, j]: best previous tag when tag j is at t
        for t in range(1, emissions.shape[1]):
            best, previous = (score.unsqueeze(2) + self.transitions).max(dim=1)
            real = mask[:, t : t + 1]  # (B, 1)
            score = torch.where(real, best + emissions[:, t], score)
            # past the end of a sentence the pointer keeps the tag, so tracing back
            # from the last column passes unchanged to the sentence's last real token
            pointers.append(torch.where(real, previous, keep_tag))
        tag = (score + self.end).argmax(1)  # (B,)
        path = [tag]
        for previous in reversed(pointers):
            tag = previous.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        tags = torch.stack(path[::-1], dim=1)  # (B, T)
        lengths = mask.sum(1).tolist()
        return [row[:n].tolist() for row, n in zip(tags, lengths, strict=True)]


def padding_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) bool, True at the first ``lengths[b]`` steps of row b."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)


def _required(value: Tensor | None, name: str) -> Tensor:
    if value is None:
        raise ValueError(f"this tagger's config needs {name}= in its input")
    return value


def _check_sizes(cfg: TaggerConfig, num_chars: int, num_features: int) -> None:
    if cfg.char_hidden_size and num_chars < 2:
        raise ValueError(
            f"char_hidden_size={cfg.char_hidden_size} needs a character vocabulary, "
            f"got num_chars={num_chars}"
        )
    if cfg.feature_embedding_size and num_features < 2:
        raise ValueError(
            f"feature_embedding_size={cfg.feature_embedding_size} needs a feature "
            f"vocabulary, got num_features={num_features}"
        )
