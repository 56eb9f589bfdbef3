"""Decoding, in one place: every model is seen only through ``start`` and ``step``.

Protocol (language models)::

    state = model.start(prefix)               # prefix (B, P) token ids, P may be 0
    log_probs, state = model.step(tokens, state)   # tokens (B,) -> (B, V)

Shapes: B batch, V vocabulary, P prefix length, N new tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def filter_logits(
    logits: Tensor, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Set to -inf every logit outside the top k and outside the nucleus of mass p.

    logits (B, V). The most likely token always survives.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(-1) - probs  # mass of the tokens ranked above each one
        drop_sorted = before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def choose(
    log_probs: Tensor,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The next token for each row of ``log_probs`` (B, V): argmax, or a sample."""
    if greedy or temperature == 0:
        return log_probs.argmax(-1)
    logits = filter_logits(log_probs / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.no_grad()
def generate(
    model: nn.Module,
    prefix: Tensor,
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Continue each row of ``prefix`` (B, P >= 1) by up to ``max_new_tokens`` tokens.

    The last prefix token is fed to the first ``step``; the others go to ``start``.
    Returns the new tokens per row, cut after ``eos_id`` (which is kept).
    """
    _check_generate_args(prefix, max_new_tokens, temperature, top_k, top_p)
    was_training = model.training
    model.eval()
    state = model.start(prefix[:, :-1])
    tokens = prefix[:, -1]
    rows: list[list[int]] = [[] for _ in range(prefix.shape[0])]
    finished = torch.zeros(prefix.shape[0], dtype=torch.bool, device=prefix.device)
    for _ in range(max_new_tokens):
        log_probs, state = model.step(tokens, state)
        tokens = choose(
            log_probs,
            greedy=greedy,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            generator=generator,
        )
        for row, token, done in zip(
            rows, tokens.tolist(), finished.tolist(), strict=True
        ):
            if not done:
                row.append(token)
        if eos_id is not None:
            finished |= tokens == eos_id
            if bool(finished.all()):
                break
    model.train(was_training)
    return rows


def _check_generate_args(prefix, max_new_tokens, temperature, top_k, top_p) -> None:
    if prefix.dim() != 2 or prefix.shape[1] < 1:
        raise ValueError(
            f"prefix must be (B, P) with P >= 1 token ids, got {tuple(prefix.shape)}"
        )
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
