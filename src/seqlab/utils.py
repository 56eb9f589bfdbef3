"""Small helpers shared by every task: seeding, clipping, detaching state, and the
Markdown tables the benchmarks print."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor


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


def detach(state):
    """Cut the autograd graph behind a recurrent state (a tensor or a tuple of them).

    Truncated BPTT: the state's values flow into the next batch, its history does not.
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, dict):
        return {k: detach(v) for k, v in state.items()}
    parts = [detach(s) for s in state]
    return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)


def markdown_table(header: str, rows: Iterable[Iterable[object]], left: int = 1) -> str:
    """A Markdown table: ``header`` ("name | name | ..."), then one line per row of
    cells; the first ``left`` columns are aligned left, the others (numbers) right."""
    width = len(header.split("|"))
    lines = [f"| {header} |", "|" + "---|" * left + "---:|" * (width - left)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
