"""Small helpers shared by every task: seeding, clipping, detaching state, and the
Markdown tables the benchmarks print."""

from __future__ import annotations

import functools
import math
import os
import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that the same seed gives bitwise the same run.

    On CPU this makes training bitwise reproducible; it also asks torch for
    deterministic algorithms where they exist (warning, not failing, where not).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def clip_grad_norm(parameters: Iterable[Tensor], max_norm: float | None) -> float:
    """Scale gradients so that their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (inf or nan when a gradient overflowed; the
    caller decides what a diverged step means). ``max_norm=None`` only measures.
    """
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    if max_norm is None:
        norms = torch.stack([p.grad.detach().norm() for p in params])
        return float(norms.norm())
    if max_norm <= 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True))


def map_state(fn: Callable[[Tensor], Tensor], state: Any) -> Any:
    """``fn`` applied to every tensor of a state tree (NamedTuples, tuples, lists,
    dicts); other leaves (None, numbers, strings) stay as they are."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {k: map_state(fn, v) for k, v in state.items()}
    if not isinstance(state, (tuple, list)):
        return state
    parts = [map_state(fn, s) for s in state]
    return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)


def detach(state: Any) -> Any:
    """Cut the autograd graph behind a recurrent state (a tensor or a tuple of them).

    Truncated BPTT: the state's values flow into the next batch, its history does not.
    """
    return map_state(Tensor.detach, state)


def markdown_table(header: str, rows: Iterable[Iterable[object]], left: int = 1) -> str:
    """A Markdown table: ``header`` ("name | name | ..."), then one line per row of
    cells; the first ``left`` columns are aligned left, the others (numbers) right."""
    width = len(header.split("|"))
    lines = [f"| {header} |", "|" + "---|" * left + "---:|" * (width - left)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by None: strict
    JSON, which ``json.dumps`` does not write by default."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


@functools.cache
def bf16_problem() -> str | None:
    """Why bfloat16 autocast cannot train on this CPU, or None where it can.

    A probe, not a flag check: a forward and backward under bf16 autocast of the
    fused torch.nn LSTM, GRU and RNN (oneDNN has no bf16 LSTM primitive without
    AVX-512 BF16: "could not create a primitive descriptor"), a linear layer and a
    convolution, on a few numbers. Takes milliseconds, once per process.
    """
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's random numbers stay
            layers = [
                nn.LSTM(8, 8, batch_first=True),
                nn.GRU(8, 8, batch_first=True),
                nn.RNN(8, 8, batch_first=True),
                nn.Linear(8, 8),
            ]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                for layer in layers:
                    out = layer(torch.randn(2, 3, 8))
                    (out[0] if isinstance(out, tuple) else out).float().sum().backward()
                conv = nn.Conv2d(3, 4, 3)
                conv(torch.randn(1, 3, 8, 8)).float().sum().backward()
    except RuntimeError as err:
        return str(err).strip().splitlines()[0][:200]
    return None


def head_count(n: int, fraction: float | None) -> int:
    """How many of ``n`` items the first ``fraction`` of them is (None: all; at
    least one): what an evaluation cut to fit a time budget takes."""
    return n if fraction is None else max(1, min(n, math.ceil(fraction * n)))
