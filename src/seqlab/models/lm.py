"""Recurrent language model: P(w_t | w_1..w_{t-1}) with an RNN, LSTM or GRU.

Shapes: B batch, T time, V vocabulary, E embedding size, H hidden size.

    embedding (V -> E) -> dropout -> recurrent layers (num_layers, dropout between)
    -> dropout -> output layer (H -> V), optionally sharing the embedding's weights

The "Better RNNLM" of Deep Learning from Scratch 2, ch. 6, is ``num_layers=2``,
``dropout=0.5``, ``tie_weights=True``. State is explicit: ``forward`` takes the state of
the previous batch and returns the new one, so truncated BPTT carries it across
batches (the trainer detaches it between them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.cells import LSTMState
from seqlab.config import Section
from seqlab.layers import State, make_recurrent


class RNNLMConfig(Section):
    kind: Literal["rnn_lm"] = "rnn_lm"
    cell: Literal["rnn", "lstm", "gru", "mingru", "minlstm"] = "lstm"
    activation: Literal["tanh", "relu", "sigmoid"] = "tanh"  # cell: rnn only
    peephole: bool = False  # cell: lstm only
    # cell: lstm only. Not 0: the forget gate's bias starts at this value (1 in
    # Jozefowicz et al. 2015), so that the cell state is kept early on; 0: torch's init.
    forget_bias: float = 0.0
    # Each gate's block of W_hh: torch's uniform, orthogonal, or the identity (IRNN).
    recurrent_init: Literal["default", "orthogonal", "identity"] = "default"
    embedding_size: int = Field(128, ge=1)
    hidden_size: int = Field(256, ge=1)
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # on embeddings, between layers, output
    # AWD-LSTM's schemes (Merity et al. 2017), each 0 = off and applied in training
    # only, on top of ``dropout``. locked_dropout: variational dropout (Gal &
    # Ghahramani 2016) on the embeddings and on the last layer's outputs, one mask per
    # sequence for all its time steps. embedding_dropout: whole word types dropped
    # (every occurrence of a word in the batch gets a zero vector). weight_drop:
    # DropConnect on every layer's W_hh, one mask per batch (runs on the fused kernels).
    locked_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    embedding_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    weight_drop: float = Field(0.0, ge=0.0, lt=1.0)
    tie_weights: bool = False  # needs embedding_size == hidden_size
    # A text file of pretrained word vectors (word2vec/GloVe/fastText format, .gz
    # too) that initialises the token embedding's rows of the words it has;
    # freeze_embeddings keeps that embedding fixed (with a tied output layer too).
    embeddings: str | None = None
    freeze_embeddings: bool = False

    @model_validator(mode="after")
    def _check_tying(self) -> RNNLMConfig:
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(
                "tie_weights needs embedding_size == hidden_size, got "
                f"{self.embedding_size} and {self.hidden_size}"
            )
        return self


@dataclass
class LMOutput:
    """logits (B, T, V); loss: mean cross-entropy per target token, or None; state."""

    logits: Tensor
    loss: Tensor | None
    state: State | None


class RNNLM(nn.Module):
    """Embedding -> recurrent layers -> output layer; see the module docstring.

    Inputs: input (B, T) token ids, optional targets (B, T), optional state.
    Outputs: LMOutput(logits (B, T, V), loss, state).
    """

    def __init__(self, cfg: RNNLMConfig, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_size)
        self.rnn = make_recurrent(
            cfg.cell,
            cfg.embedding_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
            activation=cfg.activation,
            peephole=cfg.peephole,
            forget_bias=cfg.forget_bias,
            recurrent_init=cfg.recurrent_init,
            weight_drop=cfg.weight_drop,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(cfg.hidden_size, vocab_size)
        if cfg.tie_weights:
            self.output.weight = self.embedding.weight

    def forward(
        self, input: Tensor, targets: Tensor | None = None, state: State | None = None
    ) -> LMOutput:
        cfg, training = self.cfg, self.training
        x = self.embedding(input)  # (B, T, E)
        if training and cfg.embedding_dropout:
            V = self.embedding.num_embeddings
            x = x * word_type_mask(input, V, cfg.embedding_dropout).to(x.dtype)
        x = locked_dropout(self.drop(x), cfg.locked_dropout, training)
        hidden, state = self.rnn(x, state)  # (B, T, H)
        hidden = locked_dropout(self.drop(hidden), cfg.locked_dropout, training)
        logits = self.output(hidden)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return LMOutput(logits, loss, state)

    # ---- the decoding protocol of seqlab.decode ----------------------------------
    def start(self, prefix: Tensor) -> RNNLMState:
        """The state after reading ``prefix`` (B, P); zeros when P == 0."""
        if prefix.shape[1] > 0:
            return batch_first(self.forward(prefix).state)
        cfg = self.cfg
        zeros = self.output.weight.new_zeros(
            prefix.shape[0], cfg.num_layers, cfg.hidden_size
        )  # (B, L, H)
        return RNNLMState(zeros, zeros if cfg.cell == "lstm" else None)

    def step(self, tokens: Tensor, state: RNNLMState) -> tuple[Tensor, RNNLMState]:
        """Log-probabilities of the next token (B, V) after ``tokens`` (B,)."""
        out = self.forward(tokens.unsqueeze(1), state=layer_first(state))
        return torch.log_softmax(out.logits[:, -1], dim=-1), batch_first(out.state)


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Variational dropout of x (B, T, D): one mask (B, 1, D) for all T steps, the
    kept units scaled by 1/(1-p)."""
    if not training or p == 0:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * mask


def word_type_mask(input: Tensor, vocab_size: int, p: float) -> Tensor:
    """(B, T, 1): 0 at every occurrence of a word type dropped with probability p,
    1/(1-p) elsewhere (one draw per type per batch: Gal & Ghahramani 2016)."""
    keep = torch.empty(vocab_size, device=input.device).bernoulli_(1 - p) / (1 - p)
    return keep[input].unsqueeze(-1)


class RNNLMState(NamedTuple):
    """The decoding state, batch-first so that decode.py can stack and index rows:
    h, c (B, L, H) (c: LSTM only)."""

    h: Tensor
    c: Tensor | None


def batch_first(state: State) -> RNNLMState:
    """The recurrent layers' (L, B, H) state as an RNNLMState."""
    if isinstance(state, LSTMState):
        return RNNLMState(state.h.transpose(0, 1), state.c.transpose(0, 1))
    return RNNLMState(state.transpose(0, 1), None)


def layer_first(state: RNNLMState) -> State:
    """An RNNLMState as the recurrent layers take it, (L, B, H)."""
    h = state.h.transpose(0, 1).contiguous()
    return h if state.c is None else LSTMState(h, state.c.transpose(0, 1).contiguous())
