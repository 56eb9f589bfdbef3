"""Transformer text classifier: ``model.kind: transformer`` of the classify task.

    ids (B, T) -> TransformerEncoder (embedding + positions + encoder blocks)
    -> pooling over the real tokens: mean | max | attention -> dropout -> linear -> C

The same interface and output as the recurrent :class:`Classifier` (attention pooling
returns its token weights), so the classify task, predict and serve use either.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.config import Section
from seqlab.data.vocab import Vocab
from seqlab.models.classifier import ClassifierOutput, Pooling
from seqlab.models.transformer import TransformerEncoder


class TransformerClassifierConfig(Section):
    kind: Literal["transformer"] = "transformer"
    d_model: int = Field(128, ge=1)
    num_heads: int = Field(4, ge=1)
    num_layers: int = Field(2, ge=1)
    d_ff: int = Field(256, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)  # in the blocks and before the head
    word_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # training: ids -> <unk>
    norm: Literal["pre", "post"] = "pre"
    pooling: Literal["mean", "max", "attention"] = "mean"
    attention_size: int = Field(64, ge=1)  # pooling: attention only
    max_len: int = Field(512, ge=1)  # longest input in tokens
    # A text file of pretrained word vectors (word2vec/GloVe/fastText format, .gz
    # too) that initialises the token embedding's rows of the words it has;
    # freeze_embeddings keeps that embedding fixed (with a tied output layer too).
    embeddings: str | None = None
    freeze_embeddings: bool = False

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerClassifierConfig:
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got {self.d_model} and "
                f"{self.num_heads}"
            )
        return self


class TransformerClassifier(nn.Module):
    """Inputs: input (B, T) ids, lengths (B,), optional targets (B,) class ids or
    (B, C) multi-hot floats. Outputs: ClassifierOutput(logits, loss, attention)."""

    def __init__(
        self, cfg: TransformerClassifierConfig, vocab_size: int, num_classes: int
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = TransformerEncoder(
            vocab_size,
            cfg.d_model,
            cfg.num_heads,
            cfg.num_layers,
            cfg.d_ff,
            cfg.dropout,
            pre_norm=cfg.norm == "pre",
            max_len=cfg.max_len,
        )
        self.pool = Pooling(cfg.pooling, cfg.d_model, cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(cfg.d_model, num_classes)

    @property
    def embedding(self) -> nn.Embedding:
        """The token embedding (the encoder's), as the recurrent classifier's."""
        return self.encoder.embedding

    def forward(
        self, input: Tensor, lengths: Tensor, targets: Tensor | None = None
    ) -> ClassifierOutput:
        if self.training and self.cfg.word_dropout > 0:
            drop = torch.rand(input.shape, device=input.device) < self.cfg.word_dropout
            input = input.masked_fill(drop & (input != 0), Vocab.unk_id)
        states = self.encoder(input, lengths)  # (B, T, D)
        pooled, weights = self.pool(states, None, lengths.to(states.device))
        logits = self.output(self.drop(pooled))  # (B, C)
        loss = None
        if targets is not None and targets.dim() == 2:  # multi-label
            loss = nn.functional.binary_cross_entropy_with_logits(logits, targets)
        elif targets is not None:
            loss = nn.functional.cross_entropy(logits, targets)
        return ClassifierOutput(logits, loss, weights)
