"""Many-to-one text classifier: one label for a whole sequence (seed 002's sentiment).

Shapes: B batch, T time (padded length), E embedding size, H hidden size, D
directions (2 if bidirectional), C classes.

    embedding (V -> E) -> dropout -> encoder: RNN/LSTM/GRU, uni- or bidirectional
    -> pooling over time: last | mean | max | attention -> dropout -> linear (D*H -> C)

Pooling sees only the real steps of each sequence (``lengths``), so padding never
changes a prediction:

- last: the final state of each direction (forward at the last real token, backward
  at the first), concatenated;
- mean / max: over the real steps only;
- attention (Yang et al. 2016): u_t = tanh(W h_t + b), e_t = v · u_t,
  a = softmax(e) over the real steps, pooled = Σ_t a_t h_t; the weights a come back
  in the output so that users can see which tokens decided the label.

The encoder is built in ``__init__`` and run in ``Classifier.encode``; that is where a
Transformer encoder plugs in (a new ``cell`` value) once ``models/transformer.py`` has
an encoder stack (it has only the decoder-only LM so far). Pooling and the head take
any (B, T, N) states.
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


class ClassifierConfig(Section):
    kind: Literal["classifier"] = "classifier"
    cell: Literal["rnn", "lstm", "gru"] = "lstm"  # the encoder (see module docstring)
    activation: Literal["tanh", "relu", "sigmoid"] = "tanh"  # cell: rnn only
    peephole: bool = False  # cell: lstm only
    # cell: lstm only. Not 0: the forget gate's bias starts at this value (1 in
    # Jozefowicz et al. 2015), so that the cell state is kept early on; 0: torch's init.
    forget_bias: float = 0.0
    # Each gate's block of W_hh: torch's uniform, orthogonal, or the identity (IRNN).
    recurrent_init: Literal["default", "orthogonal", "identity"] = "default"
    embedding_size: int = Field(128, ge=1)
    hidden_size: int = Field(128, ge=1)  # per direction
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = True
    # On the embeddings, between recurrent layers and before the output layer; the
    # literature's random-embedding models on MR need about 0.5.
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    # Training only: each token id becomes <unk> with this probability (word dropout),
    # so that the model learns to read past the many words it saw once or never.
    word_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    pooling: Literal["last", "mean", "max", "attention"] = "attention"
    attention_size: int = Field(64, ge=1)  # pooling: attention only
    # A text file of pretrained word vectors (word2vec/GloVe/fastText format, .gz
    # too) that initialises the token embedding's rows of the words it has;
    # freeze_embeddings keeps that embedding fixed (with a tied output layer too).
    embeddings: str | None = None
    freeze_embeddings: bool = False


@dataclass
class ClassifierOutput:
    """logits (B, C); loss: mean cross-entropy or None; attention (B, T) or None.

    ``attention`` holds the pooling weights (0 at padding, rows sum to 1) when the
    pooling is "attention".
    """

    logits: Tensor
    loss: Tensor | None
    attention: Tensor | None


class Classifier(nn.Module):
    """Embedding -> recurrent encoder -> pooling -> linear; see the module docstring.

    Inputs: input (B, T) token ids, lengths (B,) real lengths (>= 1), optional
    targets (B,) class ids, or (B, C) multi-hot floats for multi-label data (loss:
    binary cross-entropy of each class's sigmoid).
    Outputs: ClassifierOutput(logits (B, C), loss, attention (B, T) or None).
    """

    def __init__(self, cfg: ClassifierConfig, vocab_size: int, num_classes: int):
        super().__init__()
        self.cfg = cfg
        directions = 2 if cfg.bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_size, padding_idx=0)
        self.rnn = make_recurrent(
            cfg.cell,
            cfg.embedding_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
            bidirectional=cfg.bidirectional,
            activation=cfg.activation,
            peephole=cfg.peephole,
            forget_bias=cfg.forget_bias,
            recurrent_init=cfg.recurrent_init,
        )
        self.pool = Pooling(cfg.pooling, directions * cfg.hidden_size, cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(directions * cfg.hidden_size, num_classes)

    def forward(
        self, input: Tensor, lengths: Tensor, targets: Tensor | None = None
    ) -> ClassifierOutput:
        states, last = self.encode(input, lengths)  # (B, T, D*H), (B, D*H)
        pooled, weights = self.pool(states, last, lengths)  # (B, D*H), (B, T)
        logits = self.output(self.drop(pooled))  # (B, C)
        loss = None
        if targets is not None and targets.dim() == 2:  # (B, C) multi-hot: labels
            loss = nn.functional.binary_cross_entropy_with_logits(logits, targets)
        elif targets is not None:
            loss = nn.functional.cross_entropy(logits, targets)
        return ClassifierOutput(logits, loss, weights)

    def encode(self, input: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-step states (B, T, D*H), zero at padding; final states (B, D*H)."""
        if self.training and self.cfg.word_dropout > 0:
            drop = torch.rand(input.shape, device=input.device) < self.cfg.word_dropout
            input = input.masked_fill(drop & (input != 0), Vocab.unk_id)
        x = self.drop(self.embedding(input))  # (B, T, E)
        states, final = self.rnn(x, lengths=lengths)
        h = final.h if isinstance(final, LSTMState) else final  # (L*D, B, H)
        directions = 2 if self.cfg.bidirectional else 1
        last = torch.cat(list(h[-directions:]), dim=-1)  # (B, D*H), top layer
        return states, last


class Pooling(nn.Module):
    """Sequence states (B, T, N) -> one vector (B, N), ignoring padded steps.

    Returns (pooled (B, N), weights (B, T) for attention pooling, else None).
    """

    def __init__(self, kind: str, size: int, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.kind = kind
        if kind == "attention":
            self.project = nn.Linear(size, cfg.attention_size)  # W, b
            self.score = nn.Linear(cfg.attention_size, 1, bias=False)  # v

    def forward(
        self, states: Tensor, last: Tensor, lengths: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        mask = padding_mask(lengths, states.shape[1])  # (B, T), True at real steps
        if self.kind == "last":
            return last, None
        if self.kind == "mean":
            total = (states * mask.unsqueeze(-1)).sum(1)  # (B, N)
            return total / lengths.unsqueeze(-1).to(states.dtype), None
        if self.kind == "max":
            masked = states.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            return masked.max(dim=1).values, None
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)  # (B, T)
        weights = masked_softmax(scores, mask)  # (B, T)
        return (weights.unsqueeze(1) @ states).squeeze(1), weights  # (B, N)


def padding_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) bool, True at the first ``lengths[b]`` steps of row b."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim where ``mask`` is True; masked entries get 0."""
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights.masked_fill(~mask, 0.0)
