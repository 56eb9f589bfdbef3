"""Encoder-decoder (seq2seq) on any recurrent cell, with or without attention.

Shapes: B batch, S source length, T target length, V vocabulary, E embedding size,
H hidden size, L ``num_layers``, D encoder directions (2 if bidirectional), K = D*H
the size of an encoder output (what attention reads).

    source ids -> Encoder (embedding, recurrent layers) -> memory (B, S, K), final state
    final state -> bridge -> the decoder's initial state; context c = its top layer's h
    target ids -> Decoder -> logits (B, T, V)

Decoder variants (``decoder``), from Deep Learning from Scratch 2 ch. 7-8 and the
seeds:

- ``plain``: c is the initial state only (the book's baseline ``Seq2seq``).
- ``cho``: c is also concatenated to the decoder input at every step (Cho et al. 2014).
- ``peeky``: c is concatenated to every decoder input *and* to the input of the
  output layer (the book's ``PeekySeq2seq``).
- ``attention``: at every step the decoder state scores every encoder output, and a
  softmax-weighted sum of them (a context that differs per step) joins the output
  (Luong et al. 2015; dot, general or additive score). ``attention_placement="top"``
  attends from the last layer and predicts from h̃ = tanh(W_c [context; h]);
  ``"between"`` is seed 000's picture: attention sits between the first and the
  second decoder layer, which reads [h1; context]. ``input_feeding`` also feeds the
  previous step's attentional vector (h̃ for top, the context for between) to the
  first layer.

Bidirectional encoder: the forward and backward final states of each layer are
concatenated and bridged to the decoder's size by h0 = tanh(W [h_fwd; h_bwd]) (the
LSTM's cell state by its own bridge).

Decoding goes through :mod:`seqlab.decode`: ``start(src, src_lengths)`` returns a
:class:`DecoderState` whose tensors are all batch-first, and ``step(tokens, state)``
returns log-probabilities and the next state, with ``state.attention`` holding the
weights of that step. Training feeds the gold previous token (teacher forcing), or the
model's own prediction with probability ``1 - teacher_forcing`` (scheduled sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.attention import Attention
from seqlab.cells import LSTMState
from seqlab.config import Section
from seqlab.data.vocab import Vocab
from seqlab.layers import State, make_recurrent

PAD_ID = Vocab.pad_id


class Seq2SeqConfig(Section):
    kind: Literal["seq2seq"] = "seq2seq"
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    activation: Literal["tanh", "relu", "sigmoid"] = "tanh"  # cell: rnn only
    peephole: bool = False  # cell: lstm only
    # cell: lstm only. Not 0: the forget gate's bias starts at this value (1 in
    # Jozefowicz et al. 2015), so that the cell state is kept early on; 0: torch's init.
    forget_bias: float = 0.0
    # Each gate's block of W_hh: torch's uniform, orthogonal, or the identity (IRNN).
    recurrent_init: Literal["default", "orthogonal", "identity"] = "default"
    embedding_size: int = Field(64, ge=1)  # source and target embeddings each
    hidden_size: int = Field(256, ge=1)  # encoder (each direction) and decoder
    num_layers: int = Field(1, ge=1)  # of the encoder, and of the decoder
    bidirectional: bool = False  # encoder; final states are bridged to the decoder
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # embeddings, between layers, output
    decoder: Literal["plain", "cho", "peeky", "attention"] = "attention"
    attention: Literal["dot", "general", "additive"] = "general"
    attention_placement: Literal["top", "between"] = "top"  # between needs 2+ layers
    input_feeding: bool = False  # makes training step by step: slower
    # Probability of feeding the gold previous token in training; below 1 the model's
    # own argmax is fed otherwise (scheduled sampling), which runs step by step.
    teacher_forcing: float = Field(1.0, ge=0.0, le=1.0)
    # Training loss only: the target distribution puts 1 - ε on the gold token and ε
    # spread over the vocabulary (Szegedy et al. 2016; the Transformer's 0.1).
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    # A text file of pretrained word vectors (word2vec/GloVe/fastText format, .gz
    # too) that initialises the token embedding's rows of the words it has;
    # freeze_embeddings keeps that embedding fixed (with a tied output layer too).
    embeddings: str | None = None
    freeze_embeddings: bool = False

    @model_validator(mode="after")
    def _check_options(self) -> Seq2SeqConfig:
        attention_only = ("attention", "attention_placement", "input_feeding")
        fields = type(self).model_fields
        changed = [k for k in attention_only if getattr(self, k) != fields[k].default]
        if self.decoder != "attention" and changed:
            raise ValueError(
                f"{', '.join(changed)} apply to decoder 'attention', "
                f"got decoder {self.decoder!r}"
            )
        if self.attention_placement == "between" and self.num_layers < 2:
            raise ValueError(
                "attention_placement 'between' needs num_layers >= 2, "
                f"got {self.num_layers}"
            )
        if (
            self.decoder == "attention"
            and self.attention == "dot"
            and self.bidirectional
        ):
            raise ValueError(
                "attention 'dot' needs encoder outputs of the decoder's size; a "
                "bidirectional encoder doubles them: use 'general' or 'additive'"
            )
        return self


# ---- outputs and state ---------------------------------------------------------------
class EncoderOutput(NamedTuple):
    """memory (B, S, K) encoder outputs, zero at padding; mask (B, S) True at real
    tokens; h, c (B, L, K): final states per layer, directions concatenated (c: LSTM
    only, else None)."""

    memory: Tensor
    mask: Tensor
    h: Tensor
    c: Tensor | None


class DecoderState(NamedTuple):
    """Everything decoding carries from step to step; every tensor is batch-first, so
    beam search reorders it with one ``index_select(0, ...)``.

    h, c: (B, L, H) per decoder layer (c: LSTM only); memory (B, S, K) and src_mask
    (B, S): what attention reads; context (B, H): the fixed context c of the
    cho/peeky decoders; feed (B, F): the last attentional vector (input feeding);
    attention (B, S): the weights of the step just taken (None before any step and
    for decoders without attention).
    """

    # the source: not reordered
    same_across_beams = ("memory", "src_mask", "context", "keys")

    h: Tensor
    c: Tensor | None
    memory: Tensor
    src_mask: Tensor
    context: Tensor
    feed: Tensor | None = None
    attention: Tensor | None = None
    keys: Tensor | None = None


@dataclass
class DecoderOutput:
    """logits (B, T, V); state after the last step; attention (B, T, S) or None."""

    logits: Tensor
    state: DecoderState
    attention: Tensor | None


@dataclass
class Seq2SeqOutput:
    """logits (B, T, V); loss: mean cross-entropy per real target token, or None;
    attention (B, T, S) or None."""

    logits: Tensor
    loss: Tensor | None
    attention: Tensor | None


def to_layer_state(h: Tensor, c: Tensor | None) -> State:
    """Batch-first (B, L, H) states -> what the recurrent layers take, (L, B, H)."""
    h = h.transpose(0, 1).contiguous()
    return h if c is None else LSTMState(h, c.transpose(0, 1).contiguous())


def from_layer_state(state: State) -> tuple[Tensor, Tensor | None]:
    """The recurrent layers' (L, B, H) state -> batch-first h, c (B, L, H)."""
    if isinstance(state, LSTMState):
        return state.h.transpose(0, 1), state.c.transpose(0, 1)
    return state.transpose(0, 1), None


def sequence_loss(
    logits: Tensor, targets: Tensor, label_smoothing: float = 0.0
) -> Tensor:
    """Mean cross-entropy over the real target tokens: logits (B, T, V), targets
    (B, T) padded with PAD_ID, which is ignored (and gets no smoothed mass)."""
    return nn.functional.cross_entropy(
        logits.flatten(0, 1),
        targets.flatten(),
        ignore_index=PAD_ID,
        label_smoothing=label_smoothing,
    )


def _recurrent(cfg: Seq2SeqConfig, input_size: int, num_layers: int, **kwargs):
    return make_recurrent(
        cfg.cell,
        input_size,
        cfg.hidden_size,
        num_layers=num_layers,
        dropout=cfg.dropout,
        activation=cfg.activation,
        peephole=cfg.peephole,
        forget_bias=cfg.forget_bias,
        recurrent_init=cfg.recurrent_init,
        **kwargs,
    )


# ---- encoder -------------------------------------------------------------------------
class Encoder(nn.Module):
    """Embedding -> recurrent layers over the source (optionally bidirectional).

    Inputs: src (B, S) token ids, src_lengths (B,) real lengths (>= 1).
    Outputs: EncoderOutput(memory (B, S, K), mask (B, S), h, c (B, L, K)).
    """

    def __init__(self, cfg: Seq2SeqConfig, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_size, PAD_ID)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = _recurrent(
            cfg, cfg.embedding_size, cfg.num_layers, bidirectional=cfg.bidirectional
        )
        self.num_directions = 2 if cfg.bidirectional else 1

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        x = self.drop(self.embedding(src))  # (B, S, E)
        memory, state = self.rnn(x, lengths=src_lengths)  # (B, S, K)
        positions = torch.arange(src.shape[1], device=src.device)  # (S,)
        mask = positions < src_lengths.to(src.device).unsqueeze(1)  # (B, S)
        h, c = from_layer_state(state)  # (B, L*D, H)
        return EncoderOutput(memory, mask, self._join(h), self._join(c))

    def _join(self, s: Tensor | None) -> Tensor | None:
        """(B, L*D, H) -> (B, L, D*H): each layer's directions side by side."""
        if s is None:
            return None
        B, LD, H = s.shape
        return s.reshape(B, LD // self.num_directions, self.num_directions * H)


class Bridge(nn.Module):
    """Encoder final states (B, L, K) -> decoder initial states (B, L, H).

    Identity for a unidirectional encoder (K == H); tanh(W [h_fwd; h_bwd] + b) for a
    bidirectional one, with a separate W for the LSTM cell state.
    """

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        k = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.h = nn.Linear(k, cfg.hidden_size) if cfg.bidirectional else None
        lstm = cfg.bidirectional and cfg.cell == "lstm"
        self.c = nn.Linear(k, cfg.hidden_size) if lstm else None

    def forward(self, enc: EncoderOutput) -> tuple[Tensor, Tensor | None]:
        if self.h is None:
            return enc.h, enc.c
        c = None if self.c is None else torch.tanh(self.c(enc.c))
        return torch.tanh(self.h(enc.h)), c


# ---- decoders ------------------------------------------------------------------------
class ContextDecoder(nn.Module):
    """A decoder that sees the source only through the fixed context c.

    ``plain``: c is the initial state. ``cho``: also x_t = [embed(y_{t-1}); c].
    ``peeky``: also logits_t = W_out [h_t; c] + b.

    Inputs: tokens (B, T) previous target tokens, state DecoderState.
    Outputs: DecoderOutput(logits (B, T, V), state, attention None).
    """

    def __init__(self, cfg: Seq2SeqConfig, vocab_size: int) -> None:
        super().__init__()
        H = cfg.hidden_size
        self.context_in_input = cfg.decoder in ("cho", "peeky")
        self.context_in_output = cfg.decoder == "peeky"
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_size, PAD_ID)
        self.drop = nn.Dropout(cfg.dropout)
        input_size = cfg.embedding_size + (H if self.context_in_input else 0)
        self.rnn = _recurrent(cfg, input_size, cfg.num_layers)
        self.output = nn.Linear(H * (2 if self.context_in_output else 1), vocab_size)

    def forward(self, tokens: Tensor, state: DecoderState) -> DecoderOutput:
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        context = state.context.unsqueeze(1).expand(-1, x.shape[1], -1)  # (B, T, H)
        if self.context_in_input:
            x = torch.cat([x, context], dim=-1)  # (B, T, E+H)
        out, layer_state = self.rnn(x, to_layer_state(state.h, state.c))  # (B, T, H)
        out = self.drop(out)
        if self.context_in_output:
            out = torch.cat([out, context], dim=-1)  # (B, T, 2H)
        h, c = from_layer_state(layer_state)
        return DecoderOutput(self.output(out), state._replace(h=h, c=c), None)

    def initial_feed(self, batch: int, like: Tensor) -> None:
        return None

    def project(self, memory: Tensor) -> None:
        return None


class AttentionDecoder(nn.Module):
    """A decoder that attends over the encoder outputs at every step.

    top:      h_t = RNN(x_t, h_{t-1});  a_t, ctx_t = attn(h_t, memory)
              h̃_t = tanh(W_c [ctx_t; h_t]);  logits_t = W_out h̃_t
    between:  h1_t = RNN1(x_t, ...);  a_t, ctx_t = attn(h1_t, memory)
              h2_t = RNN2([h1_t; ctx_t], ...);  logits_t = W_out h2_t
    x_t = embed(y_{t-1}), or [embed(y_{t-1}); feed_{t-1}] with input feeding.

    Without input feeding all T steps run at once (teacher forcing); with it, one step
    at a time. Inputs and outputs as :class:`ContextDecoder`, with attention (B, T, S).
    """

    def __init__(self, cfg: Seq2SeqConfig, vocab_size: int) -> None:
        super().__init__()
        H = cfg.hidden_size
        K = H * (2 if cfg.bidirectional else 1)
        self.between = cfg.attention_placement == "between"
        self.input_feeding = cfg.input_feeding
        self.feed_size = K if self.between else H
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_size, PAD_ID)
        self.drop = nn.Dropout(cfg.dropout)
        input_size = cfg.embedding_size + (self.feed_size if self.input_feeding else 0)
        self.attention = Attention(cfg.attention, H, K)
        if self.between:
            self.rnn = _recurrent(cfg, input_size, 1)
            self.upper = _recurrent(cfg, H + K, cfg.num_layers - 1)
        else:
            self.rnn = _recurrent(cfg, input_size, cfg.num_layers)
            self.combine = nn.Linear(K + H, H)
        self.output = nn.Linear(H, vocab_size)

    def forward(self, tokens: Tensor, state: DecoderState) -> DecoderOutput:
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        if not self.input_feeding:
            return self.run(x, state)
        steps = []
        for t in range(x.shape[1]):
            feed = state.feed.unsqueeze(1)  # (B, 1, F)
            out = self.run(torch.cat([x[:, t : t + 1], feed], dim=-1), state)
            state = out.state
            steps.append(out)
        logits = torch.cat([s.logits for s in steps], dim=1)  # (B, T, V)
        attention = torch.cat([s.attention for s in steps], dim=1)  # (B, T, S)
        return DecoderOutput(logits, state, attention)

    def run(self, x: Tensor, state: DecoderState) -> DecoderOutput:
        """All steps of the rnn inputs x (B, T, I) at once, attention after each."""
        attend = self.attend_between if self.between else self.attend_on_top
        top, feed, weights, (h, c) = attend(x, state)
        new_state = state._replace(h=h, c=c, feed=feed[:, -1], attention=weights[:, -1])
        return DecoderOutput(self.output(self.drop(top)), new_state, weights)

    def attend_on_top(self, x: Tensor, state: DecoderState):
        """Luong: the last layer attends; h̃ feeds the output (and the next step)."""
        out, layer_state = self.rnn(x, to_layer_state(state.h, state.c))  # (B, T, H)
        context, weights = self.attention(out, state.memory, state.src_mask, state.keys)
        h_tilde = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))
        return h_tilde, h_tilde, weights, from_layer_state(layer_state)

    def attend_between(self, x: Tensor, state: DecoderState):
        """Seed 000: layer 1 attends; the layers above read [h1; context]."""
        h, c = state.h, state.c
        h1, lower = self.rnn(x, to_layer_state(*_layers(h, c, 0, 1)))  # (B, T, H)
        context, weights = self.attention(h1, state.memory, state.src_mask, state.keys)
        upper_in = self.drop(torch.cat([h1, context], dim=-1))  # (B, T, H+K)
        top, upper = self.upper(upper_in, to_layer_state(*_layers(h, c, 1, None)))
        layer_states = _cat_layers(from_layer_state(lower), from_layer_state(upper))
        return top, context, weights, layer_states

    def initial_feed(self, batch: int, like: Tensor) -> Tensor | None:
        if not self.input_feeding:
            return None
        return like.new_zeros(batch, self.feed_size)

    def project(self, memory: Tensor) -> Tensor | None:
        """What attention computes from the memory alone, once per source."""
        return self.attention.project(memory)


def _layers(h: Tensor, c: Tensor | None, start: int, stop: int | None):
    return h[:, start:stop], None if c is None else c[:, start:stop]


def _cat_layers(lower, upper) -> tuple[Tensor, Tensor | None]:
    h = torch.cat([lower[0], upper[0]], dim=1)  # (B, L, H)
    c = None if lower[1] is None else torch.cat([lower[1], upper[1]], dim=1)
    return h, c


# ---- the model -----------------------------------------------------------------------
class Seq2Seq(nn.Module):
    """Encoder, bridge and one decoder variant; see the module docstring.

    Args:
        cfg: the model section of the run config.
        vocab_size: V, of the (joint) source and target vocabulary.

    Inputs: src (B, S), src_lengths (B,), tgt_in (B, T) = <bos> y_1 .. y_{T-1},
    optional targets (B, T) = y_1 .. <eos>, padded with <pad> (ignored by the loss).
    Outputs: Seq2SeqOutput(logits (B, T, V), loss, attention (B, T, S) or None).
    """

    def __init__(self, cfg: Seq2SeqConfig, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg, vocab_size)
        self.bridge = Bridge(cfg)
        if cfg.decoder == "attention":
            self.decoder = AttentionDecoder(cfg, vocab_size)
        else:
            self.decoder = ContextDecoder(cfg, vocab_size)

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        targets: Tensor | None = None,
    ) -> Seq2SeqOutput:
        state = self.start(src, src_lengths)
        if self.training and self.cfg.teacher_forcing < 1.0:
            out = self.scheduled_sampling(tgt_in, state)
        else:
            out = self.decoder(tgt_in, state)
        loss = None
        if targets is not None:
            smoothing = self.cfg.label_smoothing if self.training else 0.0
            loss = sequence_loss(out.logits, targets, smoothing)
        return Seq2SeqOutput(out.logits, loss, out.attention)

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        return self.encoder(src, src_lengths)

    def start(self, src: Tensor, src_lengths: Tensor) -> DecoderState:
        """Encode the source; the decoder's state before its first step."""
        enc = self.encode(src, src_lengths)
        h, c = self.bridge(enc)
        return DecoderState(
            h=h,
            c=c,
            memory=enc.memory,
            src_mask=enc.mask,
            context=h[:, -1],
            feed=self.decoder.initial_feed(src.shape[0], h),
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

    def scheduled_sampling(self, tgt_in: Tensor, state: DecoderState) -> DecoderOutput:
        """Step by step; each next input is the gold token with probability
        ``teacher_forcing``, else the model's own most likely token."""
        tokens, steps = tgt_in[:, :1], []
        for t in range(tgt_in.shape[1]):
            out = self.decoder(tokens, state)
            state = out.state
            steps.append(out)
            if t + 1 < tgt_in.shape[1]:
                gold = tgt_in[:, t + 1 : t + 2]
                own = out.logits[:, -1:].argmax(-1)  # (B, 1)
                use_gold = torch.rand(gold.shape, device=gold.device)
                tokens = torch.where(use_gold < self.cfg.teacher_forcing, gold, own)
        logits = torch.cat([s.logits for s in steps], dim=1)  # (B, T, V)
        attention = None
        if steps[0].attention is not None:
            attention = torch.cat([s.attention for s in steps], dim=1)
        return DecoderOutput(logits, state, attention)
