"""Timed benchmarks behind ``seqlab bench``: seqlab against torch, in one process.

Each row times forward + backward of a seqlab layer and of its torch.nn reference on
the same input, alternating the two so that drifting machine load hits both alike, and
reports medians. Variants torch lacks are timed against the torch layer of the same
size (LSTM for the peephole LSTM, tanh RNN for the sigmoid RNN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from seqlab.bench.timing import forward_backward, time_pair
from seqlab.layers import GRU, LSTM, RNN
from seqlab.utils import markdown_table


@dataclass(frozen=True)
class Shape:
    steps: int
    batch: int
    hidden: int
    layers: int

    def __str__(self) -> str:
        return f"T={self.steps} B={self.batch} H={self.hidden} L={self.layers}"


RNN_SHAPES = (Shape(35, 32, 256, 2), Shape(100, 64, 512, 1))

# (cell, variant, seqlab layer, torch reference), each built from (hidden, layers)
RNN_VARIANTS: tuple[tuple[str, str, Callable, Callable], ...] = (
    ("LSTM", "standard", lambda h, n: LSTM(h, h, n), lambda h, n: nn.LSTM(h, h, n)),
    ("GRU", "standard", lambda h, n: GRU(h, h, n), lambda h, n: nn.GRU(h, h, n)),
    ("RNN", "tanh", lambda h, n: RNN(h, h, n), lambda h, n: nn.RNN(h, h, n)),
    (
        "LSTM",
        "peephole",
        lambda h, n: LSTM(h, h, n, peephole=True),
        lambda h, n: nn.LSTM(h, h, n),
    ),
    (
        "RNN",
        "sigmoid",
        lambda h, n: RNN(h, h, n, activation="sigmoid"),
        lambda h, n: nn.RNN(h, h, n),
    ),
)


@dataclass(frozen=True)
class BenchRow:
    cell: str
    variant: str
    shape: str
    device: str
    seqlab_ms: float
    torch_ms: float
    ratio: float  # seqlab / torch: below 1 means seqlab is faster

    def to_dict(self) -> dict:
        return asdict(self)


def bench_rnn(
    shapes: tuple[Shape, ...] = RNN_SHAPES,
    repeats: int = 9,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Forward+backward time of every variant at every shape (see module doc)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for shape in shapes:
        for cell, variant, make_ours, make_ref in RNN_VARIANTS:
            if progress:
                progress(f"{cell} {variant} {shape}")
            torch.manual_seed(0)
            ours = make_ours(shape.hidden, shape.layers).to(device)
            ref = make_ref(shape.hidden, shape.layers).to(device)
            x = torch.randn(shape.steps, shape.batch, shape.hidden, device=device)
            x.requires_grad_()
            t_ours, t_ref = time_pair(
                forward_backward(ours, x), forward_backward(ref, x), repeats
            )
            rows.append(
                BenchRow(
                    cell,
                    variant,
                    str(shape),
                    device,
                    1e3 * t_ours,
                    1e3 * t_ref,
                    t_ours / t_ref,
                )
            )
    return rows


def format_table(rows: list[BenchRow]) -> str:
    header = "cell | variant | shape | seqlab ms | torch.nn ms | ratio"
    cells = [
        (
            r.cell,
            r.variant,
            r.shape,
            f"{r.seqlab_ms:.1f}",
            f"{r.torch_ms:.1f}",
            f"{r.ratio:.2f}",
        )
        for r in rows
    ]
    return markdown_table(header, cells, left=3)
