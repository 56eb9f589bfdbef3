"""Export a trained run to ONNX, so that inference needs onnxruntime and no seqlab.

Each exportable kind becomes one graph (two for seq2seq) with plain tensor inputs
and outputs and dynamic batch and length axes (a ``transformer`` model is exported
as its task's kind: ``transformer_classifier``, ``transformer_tagger``):

- classifier, transformer_classifier: ``input`` (B, T) ids, ``lengths`` (B,) ->
  ``logits`` (B, C).
- tagger, transformer_tagger: ``input``, ``lengths`` (+ ``chars`` (B, T, W),
  ``features`` (B, T) when the model reads them) -> ``emissions`` (B, T, C). A CRF
  head's Viterbi decoding is a post-step on the emissions with the transition matrix
  (``crf.*`` weights).
- rnn_lm: ``input`` (B, T), ``h`` (L, B, H) [, ``c`` for LSTM] -> ``logits``
  (B, T, V), ``h_out`` [, ``c_out``]; start from zeros, feed the outputs back.
- transformer_lm: one step: ``input`` (B, 1) and per layer ``past_key_i``/
  ``past_value_i`` (B, nh, P, hs), P >= 0 cached positions -> ``logits`` (B, 1, V)
  and ``key_i``/``value_i`` (B, nh, P + 1, hs), the grown KV cache.
- seq2seq: ``<name>-encoder.onnx``: ``src`` (B, S), ``src_lengths`` -> the decoder's
  first state; ``<name>-decoder.onnx``: ``tokens`` (B, 1) and that state ->
  ``logits`` (B, V) and the next state (names listed by the graphs).

The legacy TorchScript-based exporter (``dynamo=False``) is used: it needs only
the ``onnx`` package, not onnxscript.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from seqlab.cells import LSTMState

OPSET = 17
EXPORTABLE = (
    "classifier",
    "transformer_classifier",
    "tagger",
    "transformer_tagger",
    "rnn_lm",
    "transformer_lm",
    "seq2seq",
)
# model.kind "transformer" is one per task: its graph is named by the task
TRANSFORMER_KINDS = {"classify": "transformer_classifier", "tag": "transformer_tagger"}


def graph_kind(task: str, kind: str) -> str:
    """The exported kind of a ``task`` run whose ``model.kind`` is ``kind``."""
    if kind == "transformer":
        return TRANSFORMER_KINDS.get(task, f"transformer ({task})")
    return kind


class ExportError(ValueError):
    """A model that cannot be exported (its kind, or a missing package)."""


def export_run(run_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """Export the best weights of the run in ``run_dir``; returns the files written.

    ``out`` defaults to ``RUN_DIR/model.onnx``; seq2seq writes ``<stem>-encoder.onnx``
    and ``<stem>-decoder.onnx`` beside it.
    """
    from seqlab.run import load_run

    loaded = load_run(run_dir, device="cpu")
    out = Path(out) if out is not None else Path(run_dir) / "model.onnx"
    kind = graph_kind(loaded.cfg.task, loaded.cfg.model.kind)
    return export_model(loaded.model, kind, out)


def export_model(model: nn.Module, kind: str, out: Path) -> list[Path]:
    """Write ``model`` (of kind ``kind``: :func:`graph_kind`) as ONNX graph(s) at
    ``out``."""
    if kind not in EXPORTABLE:
        raise ExportError(
            f"model kind {kind!r} cannot be exported to ONNX; exportable kinds: "
            f"{', '.join(EXPORTABLE)}"
        )
    try:
        import onnx  # noqa: F401  (torch.onnx needs it)
    except ImportError as err:
        raise ExportError(
            "ONNX export needs the onnx package: pip install 'seqlab[export]'"
        ) from err
    model = model.cpu().eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "seq2seq":
        encoder, decoder = Seq2SeqEncoderGraph(model), Seq2SeqDecoderGraph(model)
        enc_path = out.with_name(f"{out.stem}-encoder.onnx")
        dec_path = out.with_name(f"{out.stem}-decoder.onnx")
        _export(encoder, encoder.example(), enc_path)
        _export(decoder, decoder.example(), dec_path)
        return [enc_path, dec_path]
    graph = GRAPHS[kind](model)
    _export(graph, graph.sample(), out)
    return [out]


def _export(graph: nn.Module, example: tuple[Tensor, ...], path: Path) -> None:
    inputs, outputs, axes = graph.input_names, graph.output_names, graph.axes
    graph.eval()  # export restores the wrapper's mode, recursively: keep it eval
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent code
        torch.onnx.export(
            graph,
            example,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _tokens(vocab_size: int, B: int = 2, T: int = 5) -> Tensor:
    return torch.randint(4, vocab_size, (B, T))


def _lengths(B: int, T: int) -> Tensor:
    """Lengths from T down to about T/2: padded rows, the longest one full."""
    return torch.linspace(T, max(1, T // 2), B).round().long()


# ---- one wrapper per kind: flat tensors in, flat tensors out ------------------------
class ClassifierGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.input_names = ("input", "lengths")
        self.output_names = ("logits",)
        self.axes = {"input": {0: "batch", 1: "length"}, "lengths": {0: "batch"}}
        self.axes["logits"] = {0: "batch"}

    def forward(self, input: Tensor, lengths: Tensor) -> Tensor:
        return self.model(input, lengths).logits

    def sample(self, batch: int = 2, length: int = 5) -> tuple[Tensor, ...]:
        V = self.model.embedding.num_embeddings
        return _tokens(V, batch, length), _lengths(batch, length)


class TaggerGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.chars = model.chars is not None
        self.features = model.features is not None
        self.input_names = ("input", "lengths") + ("chars",) * self.chars
        self.input_names += ("features",) * self.features
        self.output_names = ("emissions",)
        bt = {0: "batch", 1: "length"}
        self.axes = {"input": bt, "lengths": {0: "batch"}, "emissions": bt}
        if self.chars:
            self.axes["chars"] = {0: "batch", 1: "length", 2: "word_length"}
        if self.features:
            self.axes["features"] = bt

    def forward(self, input: Tensor, lengths: Tensor, *extra: Tensor) -> Tensor:
        """``emissions`` in eval mode, with an exportable character encoder."""
        m, rest = self.model, iter(extra)
        parts = [m.embedding(input)]  # (B, T, E)
        if self.chars:
            parts.append(_char_features(m.chars, next(rest)))  # (B, T, 2*Hc)
        if self.features:
            parts.append(m.features(next(rest)))  # (B, T, F)
        return m.scores(torch.cat(parts, dim=-1), lengths)

    def sample(self, batch: int = 2, length: int = 5) -> tuple[Tensor, ...]:
        V = self.model.embedding.num_embeddings
        inputs = [_tokens(V, batch, length), _lengths(batch, length)]
        if self.chars:
            n = self.model.chars.embedding.num_embeddings
            inputs.append(torch.randint(1, n, (batch, length, 4)))
        if self.features:
            n = self.model.features.num_embeddings
            inputs.append(torch.randint(1, n, (batch, length)))
        return tuple(inputs)


def _char_features(encoder: nn.Module, chars: Tensor) -> Tensor:
    """``CharEncoder`` without its de-duplication (torch.unique has no dynamic-shape
    export): every word is read; padded words (length 0) come out as zeros."""
    B, T, W = chars.shape
    words = chars.reshape(B * T, W)  # (B*T, W)
    lengths = (words != 0).sum(1)  # (B*T,)
    x = encoder.embedding(words)  # (B*T, W, Ec)
    _, final = encoder.rnn(x, lengths=lengths.clamp(min=1))
    h = final.h if isinstance(final, LSTMState) else final  # (2, B*T, Hc)
    encoded = torch.cat([h[0], h[1]], dim=-1)  # (B*T, 2*Hc)
    encoded = encoded * (lengths > 0).unsqueeze(-1).to(encoded.dtype)
    return encoded.view(B, T, -1)  # (B, T, 2*Hc)


class RNNLMGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.lstm = model.cfg.cell == "lstm"
        states = ("h", "c") if self.lstm else ("h",)
        self.input_names = ("input", *states)
        self.output_names = ("logits", *(f"{s}_out" for s in states))
        bt = {0: "batch", 1: "length"}
        self.axes = {"input": bt, "logits": bt}
        for name in states:
            self.axes[name] = self.axes[f"{name}_out"] = {1: "batch"}

    def forward(self, input: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        carried = LSTMState(*state) if self.lstm else state[0]
        out = self.model(input, state=carried)
        if self.lstm:
            return out.logits, out.state.h, out.state.c
        return out.logits, out.state

    def sample(self, batch: int = 2, length: int = 5) -> tuple[Tensor, ...]:
        """``length`` new tokens after a random state."""
        cfg = self.model.cfg
        V = self.model.embedding.num_embeddings
        states = [
            torch.randn(cfg.num_layers, batch, cfg.hidden_size).tanh()
            for _ in range(2 if self.lstm else 1)
        ]
        return (_tokens(V, batch, length), *states)


class TransformerLMGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        n = model.cfg.num_layers
        past = [f"past_{kv}_{i}" for i in range(n) for kv in ("key", "value")]
        now = [f"{kv}_{i}" for i in range(n) for kv in ("key", "value")]
        self.input_names = ("input", *past)
        self.output_names = ("logits", *now)
        # one token per step (B, 1): prefill a prompt by stepping through it
        self.axes = {"input": {0: "batch"}, "logits": {0: "batch"}}
        for name in past:
            self.axes[name] = {0: "batch", 2: "past"}
        for name in now:
            self.axes[name] = {0: "batch", 2: "total"}

    def forward(self, input: Tensor, *past: Tensor) -> tuple[Tensor, ...]:
        from seqlab.models.transformer import KVCache, TransformerState

        caches = tuple(
            KVCache(k, v) for k, v in zip(past[::2], past[1::2], strict=True)
        )
        logits, state = self.model.run(input, TransformerState(caches))
        return logits, *(t for cache in state.caches for t in cache)

    def sample(self, batch: int = 2, length: int = 3) -> tuple[Tensor, ...]:
        """One new token after ``length`` cached positions."""
        cfg = self.model.cfg
        hs = cfg.d_model // cfg.num_heads
        V = self.model.embedding.num_embeddings
        past = [
            torch.randn(batch, cfg.num_heads, length, hs)
            for _ in range(2 * cfg.num_layers)
        ]
        return (_tokens(V, batch, 1), *past)


# DecoderState fields in order; those a model leaves None are not graph inputs.
STATE_FIELDS = ("h", "c", "memory", "src_mask", "context", "feed")
STATE_AXES = {
    "h": {0: "batch"},
    "c": {0: "batch"},
    "memory": {0: "batch", 1: "src_length"},
    "src_mask": {0: "batch", 1: "src_length"},
    "context": {0: "batch"},
    "feed": {0: "batch"},
}


def _example_state(model: nn.Module):
    V = model.encoder.embedding.num_embeddings
    return model.start(_tokens(V, 2, 6), torch.tensor([6, 4]))


class Seq2SeqEncoderGraph(nn.Module):
    """src, src_lengths -> the decoder's first state (its non-None fields)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            state = _example_state(model)
        self.fields = [f for f in STATE_FIELDS if getattr(state, f) is not None]
        self.input_names = ("src", "src_lengths")
        self.output_names = tuple(self.fields)
        self.axes = {"src": {0: "batch", 1: "src_length"}, "src_lengths": {0: "batch"}}
        self.axes.update({f: STATE_AXES[f] for f in self.fields})

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        state = self.model.start(src, src_lengths)
        return tuple(getattr(state, f) for f in self.fields)

    def example(self) -> tuple[Tensor, ...]:
        V = self.model.encoder.embedding.num_embeddings
        return _tokens(V, 2, 6), torch.tensor([6, 4])


class Seq2SeqDecoderGraph(nn.Module):
    """tokens (B, 1) and the state -> logits (B, V), the next state, attention."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            state = _example_state(model)
            out = model.decode_step(_tokens(4 + 1, 2, 1), state)
        self.fields = [f for f in STATE_FIELDS if getattr(state, f) is not None]
        self.attention = out.attention is not None
        self.input_names = ("tokens", *self.fields)
        self.output_names = ("logits", *(f"{f}_out" for f in self.fields))
        self.output_names += ("attention",) * self.attention
        self.axes = {"tokens": {0: "batch"}, "logits": {0: "batch"}}
        for f in self.fields:
            self.axes[f] = self.axes[f"{f}_out"] = STATE_AXES[f]
        if self.attention:
            self.axes["attention"] = {0: "batch", 1: "src_length"}

    def forward(self, tokens: Tensor, *fields: Tensor) -> tuple[Tensor, ...]:
        state = _state(self.fields, fields)
        out = self.model.decode_step(tokens, state)
        new = [getattr(out.state, f) for f in self.fields]
        extra = [out.attention[:, -1]] if self.attention else []
        return out.logits[:, -1], *new, *extra

    def example(self) -> tuple[Tensor, ...]:
        with torch.no_grad():
            state = _example_state(self.model)
        tokens = torch.randint(4, 5, (2, 1))
        return tokens, *(getattr(state, f) for f in self.fields)


def _state(fields: list[str], values: tuple[Tensor, ...]):
    from seqlab.models.seq2seq import DecoderState

    given = dict(zip(fields, values, strict=True))
    return DecoderState(**{f: given.get(f) for f in STATE_FIELDS})


GRAPHS = {
    "classifier": ClassifierGraph,
    "transformer_classifier": ClassifierGraph,
    "tagger": TaggerGraph,
    "transformer_tagger": TaggerGraph,
    "rnn_lm": RNNLMGraph,
    "transformer_lm": TransformerLMGraph,
}
