"""What the server knows of each kind of run: one adapter class per task kind.

``ADAPTERS`` maps a run's ``task`` to its adapter; serving a new kind of model is one
class here and one entry in that dict. An adapter wraps a :class:`LoadedRun` and
offers either ``predict_batch(inputs, beam)`` (the task's own ``predict``, as JSON)
or ``continuation(...)`` (language models: a request as a
``decode.Continuation``, sampled in a ``decode.ContinuousBatch``, and ``text(ids)``).
Adapters do no I/O and know nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from seqlab import decode
from seqlab.data.datasets import DataError
from seqlab.data.images import require_pillow
from seqlab.run import LoadedRun, generator_for


class InputError(ValueError):
    """A request the model cannot take; ``field`` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PredictAdapter:
    """Runs whose task has ``predict``: classify, tag, forecast (one step, no beam).
    Their input is a text, the request's ``input``."""

    endpoint = "predict"
    input_field = "input"  # the request field these models read
    bf16 = False  # whether serving in bf16 (``--precision bf16``) converts its weights

    def __init__(self, loaded: LoadedRun) -> None:
        self.loaded = loaded

    @property
    def beam(self) -> bool:
        """Whether a beam size above 1 means anything: the task says."""
        return self.loaded.task.supports("beam")

    def predict_batch(self, texts: list[str], beam: int = 1) -> list[str | InputError]:
        """The task's JSON record per text (as JSON text: the server puts it into
        its response as it is), computed as one batch (micro-batching); a text the
        task refuses gets an :class:`InputError` in its place."""
        task, model = self.loaded.task, self.loaded.model
        try:
            with torch.inference_mode():  # serving never backpropagates
                return task.predict(model, texts, beam=beam, as_json=True)
        except ValueError as err:  # the task's own check of an input
            if len(texts) == 1:
                return [InputError("input", str(err))]
            return [self.predict_batch([text], beam)[0] for text in texts]

    def example(self) -> str:
        return ""

    def summary(self) -> dict[str, Any]:
        """The config facts shown by ``GET /v1/models``."""
        return config_summary(self.loaded.cfg)


class Seq2SeqAdapter(PredictAdapter):
    """Encoder-decoders: output text, score, tokens and the attention matrix."""

    def example(self) -> str:
        return "May 5, 1999" if "date" in (self.loaded.cfg.data.dataset or "") else ""


class CaptionAdapter(PredictAdapter):
    """Captioners: a picture in (the file's bytes, any format Pillow reads), its
    caption, score, tokens and one attention map (G, G) per token out."""

    input_field = "image"

    def __init__(self, loaded: LoadedRun) -> None:
        require_pillow()  # fail when the server starts, not at the first picture
        super().__init__(loaded)

    def predict_batch(
        self, pictures: list[bytes], beam: int = 1
    ) -> list[str | InputError]:
        """A JSON record per picture, the readable ones captioned as one batch; one
        Pillow cannot read gets an :class:`InputError` naming ``image``."""
        task, model = self.loaded.task, self.loaded.model
        results: list[str | InputError] = []
        readable: dict[int, torch.Tensor] = {}
        for i, raw in enumerate(pictures):
            try:
                readable[i] = task.decode_images([("image", raw)])
            except DataError as err:
                results.append(InputError("image", str(err)))
            else:
                results.append("")
        if readable:
            images = torch.cat(list(readable.values()))
            names = ["image"] * len(readable)
            with torch.inference_mode():
                captions = task.caption_images(model, names, images, beam)
            for i, caption in zip(readable, captions, strict=True):
                results[i] = caption.to_json()
        return results


@dataclass(frozen=True)
class Sampling:
    """The knobs of one ``/v1/generate`` request (None: the run's default)."""

    prompt: str | None = None
    max_new_tokens: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    seed: int | None = None


class GenerateAdapter:
    """Language models: a prompt continued piece by piece. Served in bf16, their
    weights are bfloat16 (sampling still reads float32 log-probabilities)."""

    endpoint = "generate"
    beam = False
    bf16 = True  # their batched steps are matrix products that bfloat16 speeds up

    def __init__(self, loaded: LoadedRun) -> None:
        self.loaded = loaded

    def continuation(self, request: Sampling) -> decode.Continuation:
        """The request as a :class:`seqlab.decode.Continuation`: prompt ids, token
        budget, and its own sampler (and generator, when seeded).

        Raises :class:`InputError` when the request does not fit the model.
        """
        task, model = self.loaded.task, self.loaded.model
        defaults = self.loaded.cfg.generate
        prompt = defaults.prompt if request.prompt is None else request.prompt
        n = _pick(request.max_new_tokens, defaults.max_new_tokens)
        if n < 0:
            raise InputError("max_new_tokens", f"max_new_tokens must be >= 0, got {n}")
        ids = task.encode_prompt(prompt)
        limit = getattr(self.loaded.cfg.model, "max_len", None)
        if limit is not None and len(ids) + n > limit:
            raise InputError(
                "max_new_tokens",
                f"prompt ({len(ids)} tokens) + max_new_tokens ({n}) exceeds this "
                f"model's context of {limit} tokens (model.max_len)",
            )
        device = next(model.parameters()).device
        try:
            sampler = decode.Sampler(
                greedy=request.greedy,
                temperature=_pick(request.temperature, defaults.temperature),
                top_k=_pick(request.top_k, defaults.top_k),
                top_p=_pick(request.top_p, defaults.top_p),
                generator=generator_for(request.seed, device),
            )
        except ValueError as err:
            field = str(err).split(" ", 1)[0]
            raise InputError(field, str(err)) from err
        return decode.Continuation(ids, n, sampler, eos_id=task.stop_id)

    def text(self, ids: list[int]) -> str:
        """The text of generated token ids."""
        return self.loaded.task.decode_tokens(ids)

    def example(self) -> str:
        return self.loaded.cfg.generate.prompt

    def summary(self) -> dict[str, Any]:
        cfg = self.loaded.cfg
        return config_summary(cfg) | {"generate": cfg.generate.model_dump(mode="json")}


# The run's ``task`` -> how the server talks to it. A new kind: one line here.
ADAPTERS: dict[str, type[PredictAdapter] | type[GenerateAdapter]] = {
    "seq2seq": Seq2SeqAdapter,
    "classify": PredictAdapter,
    "tag": PredictAdapter,
    "forecast": PredictAdapter,
    "caption": CaptionAdapter,
    "lm": GenerateAdapter,
}


PRECISIONS = ("fp32", "bf16")


def adapter_for(
    loaded: LoadedRun, precision: str = "fp32"
) -> PredictAdapter | GenerateAdapter:
    """The run's adapter; ``precision`` "bf16" converts the weights of the kinds
    whose adapter says ``bf16`` (language models), the others stay float32."""
    kind = loaded.cfg.task
    if kind not in ADAPTERS:
        raise ValueError(
            f"{loaded.run_dir} is a {kind!r} run, which seqlab serve cannot serve "
            f"yet; it serves {', '.join(ADAPTERS)}"
        )
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    adapter = ADAPTERS[kind](loaded)
    if precision == "bf16" and adapter.bf16:
        loaded.model.to(torch.bfloat16)
    return adapter


def config_summary(cfg) -> dict[str, Any]:
    data = cfg.data
    return {
        "dataset": getattr(data, "dataset", None) or getattr(data, "path", None),
        "model": cfg.model.model_dump(mode="json"),
    }


def _pick(value, default):
    return default if value is None else value
