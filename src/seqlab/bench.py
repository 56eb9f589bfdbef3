"""Timed benchmarks behind ``seqlab bench``: seqlab against torch, in one process.

Each row times forward + backward of a seqlab layer and of its torch.nn reference on
the same input, alternating the two so that drifting machine load hits both alike, and
reports medians. Variants torch lacks are timed against the torch layer of the same
size (LSTM for the peephole LSTM, tanh RNN for the sigmoid RNN).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from seqlab.layers import GRU, LSTM, RNN


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


def forward_backward(layer: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        for p in layer.parameters():
            p.grad = None
        x.grad = None
        output, _ = layer(x)
        output.sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def time_pair(
    a: Callable[[], None], b: Callable[[], None], repeats: int, warmup: int = 2
):
    """Median seconds of a and of b, run alternately."""
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


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
    header = "| cell | variant | shape | seqlab ms | torch.nn ms | ratio |"
    lines = [header, "|---|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.cell} | {r.variant} | {r.shape} | {r.seqlab_ms:.1f} | "
            f"{r.torch_ms:.1f} | {r.ratio:.2f} |"
        )
    return "\n".join(lines)


def environment() -> str:
    threads = torch.get_num_threads()
    if torch.cuda.is_available():
        where = torch.cuda.get_device_name()
    else:
        where = f"CPU, {threads} threads"
    return f"torch {torch.__version__}, {where}"


@dataclass(frozen=True)
class GenerationRow:
    model: str
    new_tokens: int
    cached_tokens_per_s: float
    recompute_tokens_per_s: float
    speedup: float  # cached / recompute

    def to_dict(self) -> dict:
        return asdict(self)


def bench_generation(new_tokens: int = 256, repeats: int = 3) -> list[GenerationRow]:
    """Greedy decoding of a decoder-only Transformer (nanoGPT CPU size: 4 layers,
    4 heads, d 128): with the KV cache (seqlab.decode) vs recomputing the whole
    prefix for every new token."""
    from seqlab.decode import generate
    from seqlab.models.transformer import TransformerLM, TransformerLMConfig

    torch.manual_seed(0)
    model = TransformerLM(TransformerLMConfig(max_len=new_tokens + 1), 65).eval()
    prefix = torch.zeros(1, 1, dtype=torch.long)

    def cached() -> None:
        generate(model, prefix, new_tokens, greedy=True)

    @torch.no_grad()
    def recompute() -> None:
        seq = prefix
        for _ in range(new_tokens):
            nxt = model(seq).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)

    t_cached, t_full = time_pair(cached, recompute, repeats, warmup=1)
    return [
        GenerationRow(
            "transformer_lm d128 L4",
            new_tokens,
            new_tokens / t_cached,
            new_tokens / t_full,
            t_full / t_cached,
        )
    ]
