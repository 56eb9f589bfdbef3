"""Transformer sequence tagger: ``model.kind: transformer`` of the tag task.

    word embedding [+ character BiLSTM (2*Hc)] [+ feature embedding (F)]
    -> linear to d_model -> TransformerEncoder (positions + encoder blocks)
    -> linear (D -> C): emission scores -> softmax per token, or the CRF

The same inputs, output and ``decode`` as the recurrent :class:`Tagger`; the
character encoder and the CRF are the recurrent tagger's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.config import Section
from seqlab.models.tagger import TaggerBase
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


class TransformerTagger(TaggerBase):
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
        input_size = self._build_inputs(cfg, vocab_size, num_chars, num_features)
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
        self._build_head(cfg, cfg.d_model, num_tags)

    def scores(self, x: Tensor, lengths: Tensor) -> Tensor:
        states = self.encoder.encode(self.project(x), lengths)  # unit scale: no sqrt(D)
        return self.output(self.drop(states))
