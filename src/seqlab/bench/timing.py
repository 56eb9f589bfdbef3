"""What every benchmark of ``seqlab bench`` times with: one forward + backward call,
medians of functions run in turn (so that drifting machine load hits all alike), and
a line naming torch and the device."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn


def forward_backward(layer: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One timed call: forward, then backward of the output's sum (a layer may return
    a tensor or an (output, state) pair)."""

    def step() -> None:
        for p in layer.parameters():
            p.grad = None
        x.grad = None
        out = layer(x)
        (out[0] if isinstance(out, tuple) else out).sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def time_pair(
    a: Callable[[], None], b: Callable[[], None], repeats: int, warmup: int = 2
) -> tuple[float, float]:
    """Median seconds of a and of b, run alternately."""
    time_a, time_b = time_round_robin([a, b], repeats, warmup)
    return time_a, time_b


def time_round_robin(
    fns: list[Callable[[], None]], repeats: int, warmup: int = 1
) -> list[float]:
    """Median seconds of each function, run in turn, so that drifting load hits all."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, fn_times in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            fn_times.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def environment() -> str:
    threads = torch.get_num_threads()
    if torch.cuda.is_available():
        where = torch.cuda.get_device_name()
    else:
        where = f"CPU, {threads} threads"
    return f"torch {torch.__version__}, {where}"
