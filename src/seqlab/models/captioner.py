"""Image captioning (one to many): a small CNN encoder and the seq2seq decoder.

Shapes: B batch, C = 3 colour channels, P picture side (``image_size``), G grid side
(P / 2 ** len(channels)), R = G * G regions, T caption length, V vocabulary, H hidden
size, L ``num_layers``, F the last block's channels.

    picture (B, C, P, P) -> CNN blocks (conv 3x3, batch norm, ReLU, 2x2 max pool)
        -> grid (B, F, G, G)
    grid -> mean over the regions -> v (B, F) -> tanh(W_h v) -> decoder's h0 (B, L, H)
        (Show and Tell: the picture as one vector; the LSTM's c0 by its own W_c)
    grid -> regions (B, R, F) -> tanh(W_r region + position embedding) -> memory
        (B, R, H), what the attention decoder reads (Show, Attend and Tell)

The decoder *is* :mod:`seqlab.models.seq2seq`'s: the same ``ContextDecoder``
(plain/cho/peeky) or ``AttentionDecoder`` (dot/general/additive, top or between),
the same ``DecoderState``, and :mod:`seqlab.decode`'s greedy and beam search through
``start(images)`` / ``step(tokens, state)``. Only the encoder differs. The mean over
regions keeps no position, so without attention "above" and "left of" can only be
read from what the CNN's padding leaves; attention reads each region with its
position embedding.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.models.seq2seq import (
    AttentionDecoder,
    ContextDecoder,
    DecoderOutput,
    DecoderState,
    EncoderOutput,
    Seq2SeqConfig,
    Seq2SeqOutput,
    sequence_loss,
)


class CaptionerConfig(Seq2SeqConfig):
    """The seq2seq decoder's options (cell, hidden_size, decoder, attention...) plus
    the CNN's. ``bidirectional`` and ``teacher_forcing`` < 1 do not apply."""

    kind: Literal["captioner"] = "captioner"
    channels: tuple[int, ...] = (32, 64, 64)  # one conv block each; each halves P
    cnn_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # on the regions and the vector

    @model_validator(mode="after")
    def _check_captioner(self) -> CaptionerConfig:
        if self.bidirectional:
            raise ValueError("bidirectional is an option of the text encoder only")
        if self.teacher_forcing != 1.0:
            raise ValueError("teacher_forcing < 1 is not supported by the captioner")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be >= 1 each, got {self.channels}")
        return self


def cnn_blocks(channels: tuple[int, ...], image_size: int) -> tuple[nn.Sequential, int]:
    """The CNN (conv 3x3, batch norm, ReLU, 2x2 max pool per entry of ``channels``)
    and G, the side of the grid it leaves of a (P, P) picture."""
    grid = image_size // 2 ** len(channels)
    if grid < 1 or image_size % 2 ** len(channels):
        raise ValueError(
            f"image_size {image_size} must be a multiple of 2 ** "
            f"{len(channels)} (one halving per entry of model.channels)"
        )
    blocks, previous = [], 3
    for width in channels:
        blocks += [
            nn.Conv2d(previous, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        previous = width
    return nn.Sequential(*blocks), grid


class ImageEncoder(nn.Module):
    """CNN -> one vector (the decoder's initial state) and a grid of regions.

    Args:
        cfg: the captioner's config; image_size: P, the side of its pictures.
    Inputs: images (B, 3, P, P) floats in [0, 1].
    Outputs: EncoderOutput(memory (B, R, H), mask (B, R) all True, h, c (B, L, H);
    c None unless the cell is an LSTM).
    """

    def __init__(self, cfg: CaptionerConfig, image_size: int) -> None:
        super().__init__()
        self.cnn, grid = cnn_blocks(cfg.channels, image_size)
        previous = cfg.channels[-1]
        self.grid_size = grid
        H, L = cfg.hidden_size, cfg.num_layers
        self.num_layers = L
        self.drop = nn.Dropout(cfg.cnn_dropout)
        self.regions = nn.Linear(previous, H)
        self.positions = nn.Parameter(torch.randn(grid * grid, H) * 0.1)  # (R, H)
        self.init_h = nn.Linear(previous, L * H)
        self.init_c = nn.Linear(previous, L * H) if cfg.cell == "lstm" else None

    def forward(self, images: Tensor) -> EncoderOutput:
        grid = self.cnn(images - 0.5)  # (B, F, G, G)
        B = grid.shape[0]
        regions = self.drop(grid.flatten(2).transpose(1, 2))  # (B, R, F)
        memory = torch.tanh(self.regions(regions) + self.positions)  # (B, R, H)
        mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)
        vector = self.drop(grid.mean(dim=(2, 3)))  # (B, F)
        h = torch.tanh(self.init_h(vector)).view(B, self.num_layers, -1)  # (B, L, H)
        c = None
        if self.init_c is not None:
            c = torch.tanh(self.init_c(vector)).view(B, self.num_layers, -1)
        return EncoderOutput(memory, mask, h, c)


class Captioner(nn.Module):
    """ImageEncoder + a seq2seq decoder; see the module docstring.

    Args:
        cfg: the model section of the run config.
        vocab_size: V, of the caption vocabulary.
        image_size: P, the side the pictures are resized to.

    Inputs: images (B, 3, P, P) in [0, 1], tgt_in (B, T) = <bos> y_1 .. y_{T-1},
    optional targets (B, T) = y_1 .. <eos>, padded with <pad> (ignored by the loss).
    Outputs: Seq2SeqOutput(logits (B, T, V), loss, attention (B, T, R) or None).
    """

    def __init__(self, cfg: CaptionerConfig, vocab_size: int, image_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ImageEncoder(cfg, image_size)
        if cfg.decoder == "attention":
            self.decoder = AttentionDecoder(cfg, vocab_size)
        else:
            self.decoder = ContextDecoder(cfg, vocab_size)

    @property
    def grid_size(self) -> int:
        """G: the attention weights of a step reshape to (G, G)."""
        return self.encoder.grid_size

    def forward(
        self, images: Tensor, tgt_in: Tensor, targets: Tensor | None = None
    ) -> Seq2SeqOutput:
        out = self.decoder(tgt_in, self.start(images))
        loss = None
        if targets is not None:
            smoothing = self.cfg.label_smoothing if self.training else 0.0
            loss = sequence_loss(out.logits, targets, smoothing)
        return Seq2SeqOutput(out.logits, loss, out.attention)

    def encode(self, images: Tensor) -> EncoderOutput:
        return self.encoder(images)

    def start(self, images: Tensor) -> DecoderState:
        """Encode the pictures; the decoder's state before its first step."""
        enc = self.encode(images)
        return DecoderState(
            h=enc.h,
            c=enc.c,
            memory=enc.memory,
            src_mask=enc.mask,
            context=enc.h[:, -1],
            feed=self.decoder.initial_feed(images.shape[0], enc.h),
            keys=self.decoder.project(enc.memory),
        )

    def decode_step(self, tokens: Tensor, state: DecoderState) -> DecoderOutput:
        """Run the decoder over tokens (B, T) from ``state`` (T = 1 when decoding)."""
        return self.decoder(tokens, state)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """The decoding protocol: log-probabilities (B, V) of the token after tokens
        (B,), and the next state."""
        out = self.decoder(tokens.unsqueeze(1), state)
        return torch.log_softmax(out.logits[:, -1], dim=-1), out.state
