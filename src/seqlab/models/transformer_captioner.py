"""Transformer captioner: ``model.kind: transformer`` of the caption task.

    picture (B, 3, P, P) -> the captioner's CNN -> grid (B, F, G, G)
    -> regions (B, R, F) -> linear to d_model + a learned position per region
    -> memory (B, R, D), which every decoder layer attends to
    caption so far -> embedding + sinusoidal positions -> Transformer decoder
    blocks (causal self-attention, attention over the regions, feed-forward) -> V

The decoder blocks are models/transformer.py's; decoding keeps their KV caches
(``start(images)`` / ``step(tokens, state)``), so seqlab.decode's searches serve it.
The last layer's attention over the regions, averaged over heads, is each step's
attention map (G, G), as the recurrent captioner's.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.config import Section
from seqlab.models.captioner import cnn_blocks
from seqlab.models.seq2seq import Seq2SeqOutput, sequence_loss
from seqlab.models.transformer import (
    DecoderBlock,
    KVCache,
    TransformerDecoderState,
    sinusoidal_positions,
)


class TransformerCaptionerConfig(Section):
    kind: Literal["transformer"] = "transformer"
    channels: tuple[int, ...] = (32, 64, 64)  # the CNN: one conv block each
    cnn_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # on the regions
    d_model: int = Field(128, ge=1)
    num_heads: int = Field(4, ge=1)
    num_layers: int = Field(2, ge=1)  # decoder blocks
    d_ff: int = Field(256, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    norm: Literal["pre", "post"] = "pre"
    tie_output: bool = True  # output layer = token embedding (transposed)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    max_len: int = Field(64, ge=1)  # longest caption in tokens, <eos> included

    @model_validator(mode="after")
    def _check(self) -> TransformerCaptionerConfig:
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads, got {self.d_model} and "
                f"{self.num_heads}"
            )
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be >= 1 each, got {self.channels}")
        return self


class TransformerCaptioner(nn.Module):
    """Inputs: images (B, 3, P, P) in [0, 1], tgt_in (B, T), optional targets (B, T)
    padded with <pad>. Outputs: Seq2SeqOutput(logits (B, T, V), loss, None)."""

    def __init__(
        self, cfg: TransformerCaptionerConfig, vocab_size: int, image_size: int
    ) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.d_model
        self.cnn, self.grid_size = cnn_blocks(cfg.channels, image_size)
        R = self.grid_size**2
        self.regions = nn.Linear(cfg.channels[-1], D)
        self.region_positions = nn.Parameter(torch.randn(R, D) * 0.02)  # (R, D)
        self.cnn_drop = nn.Dropout(cfg.cnn_dropout)
        self.embedding = nn.Embedding(vocab_size, D)
        nn.init.normal_(self.embedding.weight, std=D**-0.5)
        self.register_buffer(
            "positions", sinusoidal_positions(cfg.max_len, D), persistent=False
        )
        self.drop = nn.Dropout(cfg.dropout)
        pre = cfg.norm == "pre"
        self.blocks = nn.ModuleList(
            DecoderBlock(D, cfg.num_heads, cfg.d_ff, cfg.dropout, pre)
            for _ in range(cfg.num_layers)
        )
        self.memory_norm = nn.LayerNorm(D)
        self.norm = nn.LayerNorm(D) if pre else nn.Identity()
        self.output = nn.Linear(D, vocab_size)
        if cfg.tie_output:
            self.output.weight = self.embedding.weight

    def encode(self, images: Tensor) -> Tensor:
        """The regions of the pictures as memory (B, R, D)."""
        grid = self.cnn(images - 0.5)  # (B, F, G, G)
        regions = self.cnn_drop(grid.flatten(2).transpose(1, 2))  # (B, R, F)
        return self.memory_norm(self.regions(regions) + self.region_positions)

    def embed(self, tokens: Tensor, offset: int = 0) -> Tensor:
        T = tokens.shape[1]
        if offset + T > self.cfg.max_len:
            raise ValueError(
                f"caption of {offset + T} tokens is longer than model.max_len="
                f"{self.cfg.max_len}"
            )
        x = self.embedding(tokens) * math.sqrt(self.cfg.d_model)
        return self.drop(x + self.positions[offset : offset + T])

    def forward(
        self, images: Tensor, tgt_in: Tensor, targets: Tensor | None = None
    ) -> Seq2SeqOutput:
        state = self.start(images)
        x = self.embed(tgt_in)
        for block, kv in zip(self.blocks, state.memory_kv, strict=True):
            x, _, _ = block(x, kv, state.src_mask)
        logits = self.output(self.norm(x))  # (B, T, V)
        loss = None
        if targets is not None:
            smoothing = self.cfg.label_smoothing if self.training else 0.0
            loss = sequence_loss(logits, targets, smoothing)
        return Seq2SeqOutput(logits, loss, None)

    # ---- the decoding protocol of seqlab.decode ----------------------------------
    def start(self, images: Tensor) -> TransformerDecoderState:
        """Encode the pictures; empty self-attention caches."""
        memory = self.encode(images)
        B, R, D = memory.shape
        mask = torch.ones(B, 1, 1, R, dtype=torch.bool, device=memory.device)
        empty = memory.new_zeros(B, self.cfg.num_heads, 0, D // self.cfg.num_heads)
        return TransformerDecoderState(
            memory_kv=tuple(b.cross_attn.project_kv(memory) for b in self.blocks),
            src_mask=mask,
            caches=tuple(KVCache(empty, empty) for _ in self.blocks),
        )

    def step(
        self, tokens: Tensor, state: TransformerDecoderState
    ) -> tuple[Tensor, TransformerDecoderState]:
        """Log-probabilities (B, V) of the token after ``tokens`` (B,); the state's
        attention: the last layer's over the regions (B, R), averaged over heads."""
        offset = state.caches[0].keys.shape[2]
        x = self.embed(tokens.unsqueeze(1), offset)
        caches, last = [], len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x, cache, weights = block(
                x, state.memory_kv[i], state.src_mask, state.caches[i], i == last
            )
            caches.append(cache)
        log_probs = torch.log_softmax(self.output(self.norm(x))[:, -1], dim=-1)
        attention = weights[:, :, -1].mean(1)  # (B, R)
        return log_probs, state._replace(caches=tuple(caches), attention=attention)
