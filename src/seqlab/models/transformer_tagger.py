"""Transformer sequence tagger: ``model.kind: transformer`` of the tag task.

    word embedding [+ character BiLSTM (2*Hc)] [+ feature embedding (F)]
    -> linear to d_model -> TransformerEncoder (positions + encoder blocks)
    -> linear (D -> C): emission scores -> softmax per token, or the CRF

The same inputs, output and ``decode`` as the recurrent :class:`Tagger`; the
character encoder and the CRF are the recurrent tagger's.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.config import Section
from seqlab.data.vocab import Vocab
from seqlab.models.tagger import (
    CRF,
    CharEncoder,
    TaggerOutput,
    _check_sizes,
    _required,
    padding_mask,
)
from seqlab.models.transformer import TransformerEncoder


class TransformerTaggerConfig(Section):
    kind: Literal["transformer"] = "transformer"
    d_model: int = Field(128, ge=1)
    num_heads: int = Field(4, ge=1)
    num_layers: int = Field(2, ge=1)
    d_ff: int = Field(256, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    word_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # training: ids -> <unk>
    norm: Literal["pre", "post"] = "pre"
    max_len: int = Field(512, ge=1)  # longest sentence in tokens
    embedding_size: int = Field(128, ge=1)  # words
    # the recurrent tagger's character encoder (cell over each word's characters)
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    forget_bias: float = 0.0
    recurrent_init: Literal["default", "orthogonal", "identity"] = "default"
    char_embedding_size: int = Field(25, ge=1)
    char_hidden_size: int = Field(0, ge=0)  # per direction; 0: no character encoder
    feature_embedding_size: int = Field(0, ge=0)  # the extra column (POS); 0: unused
    head: Literal["softmax", "crf"] = "crf"

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerTaggerConfig:
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got {self.d_model} and "
                f"{self.num_heads}"
            )
        return self


class TransformerTagger(nn.Module):
    """Inputs: input (B, T) word ids, lengths (B,), optional targets (B, T), chars
    (B, T, W), features (B, T). Outputs: TaggerOutput(emissions (B, T, C), loss)."""

    def __init__(
        self,
        cfg: TransformerTaggerConfig,
        vocab_size: int,
        num_tags: int,
        num_chars: int = 0,
        num_features: int = 0,
    ) -> None:
        super().__init__()
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
        self.project = nn.Linear(input_size, cfg.d_model)
        self.encoder = TransformerEncoder(
            vocab_size=1,  # its own embedding is unused: the tokens come projected
            d_model=cfg.d_model,
            num_heads=cfg.num_heads,
            num_layers=cfg.num_layers,
            d_ff=cfg.d_ff,
            dropout=cfg.dropout,
            pre_norm=cfg.norm == "pre",
            max_len=cfg.max_len,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(cfg.d_model, num_tags)
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
            mask = padding_mask(lengths.to(input.device), input.shape[1])
            if self.crf is not None:
                loss = self.crf.nll(emissions, targets, mask).sum() / mask.sum()
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
        if self.training and self.cfg.word_dropout > 0:
            drop = torch.rand(input.shape, device=input.device) < self.cfg.word_dropout
            input = input.masked_fill(drop & (input != 0), Vocab.unk_id)
        parts = [self.embedding(input)]  # (B, T, E)
        if self.chars is not None:
            parts.append(self.chars(_required(chars, "chars")))
        if self.features is not None:
            parts.append(self.features(_required(features, "features")))
        x = self.project(self.drop(torch.cat(parts, dim=-1)))  # (B, T, D)
        states = self.encoder.encode(x, lengths)  # unit scale: no sqrt(D)
        return self.output(self.drop(states))

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
