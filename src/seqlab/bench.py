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


# ---- seqlab bench scan: MinGRU's parallel scan vs the recurrences it replaces -----

SCAN_STEPS = (64, 128, 256, 512, 1024, 2048, 4096)
SCAN_BATCH, SCAN_HIDDEN = 8, 128
# MinGRU's sequential mode is a Python loop of T steps forward and T backward; above
# this length the default run skips it to stay within a couple of minutes on 2 cores.
SEQUENTIAL_MAX_STEPS = 1024


@dataclass(frozen=True)
class ScanRow:
    model: str  # "MinGRU", "torch.nn.GRU", "seqlab GRU", "Transformer layer"
    mode: str  # parallel | parallel-log | sequential | fused | causal attention
    steps: int  # T
    batch: int
    hidden: int
    params: int
    device: str
    ms: float  # median forward+backward time

    def to_dict(self) -> dict:
        return asdict(self)


class CausalTransformerLayer(nn.Module):
    """torch.nn.TransformerEncoderLayer with a causal mask, (B, T, H) -> (B, T, H).

    4 heads and a feed-forward width of H give ~6 H² weights, as many as a GRU layer
    (MinGRU has 2 H²); no dropout, as in the recurrent layers it is timed against.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(
            hidden_size, 4, dim_feedforward=hidden_size, dropout=0.0, batch_first=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], x.device)
        return self.layer(x, src_mask=mask, is_causal=True)


def scan_models(hidden: int) -> dict[tuple[str, str], nn.Module]:
    """(model, mode) -> one batch-first layer of width ``hidden``, in table order."""
    from seqlab.minrnn import MinGRU

    return {
        ("MinGRU", "parallel"): MinGRU(hidden, hidden, batch_first=True),
        ("MinGRU", "parallel-log"): MinGRU(
            hidden, hidden, batch_first=True, scan="log"
        ),
        ("MinGRU", "sequential"): MinGRU(hidden, hidden, batch_first=True, impl="loop"),
        ("torch.nn.GRU", "fused"): nn.GRU(hidden, hidden, batch_first=True),
        ("seqlab GRU", "fused"): GRU(hidden, hidden, batch_first=True),
        ("Transformer layer", "causal attention"): CausalTransformerLayer(hidden),
    }


def bench_scan(
    steps: tuple[int, ...] = SCAN_STEPS,
    batch: int = SCAN_BATCH,
    hidden: int = SCAN_HIDDEN,
    repeats: int = 3,
    sequential_max_steps: int = SEQUENTIAL_MAX_STEPS,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ScanRow]:
    """Forward+backward time of every scan_models layer at every length in ``steps``,
    run round-robin on the same input; MinGRU sequential only up to
    ``sequential_max_steps``."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    models = {key: m.to(device) for key, m in scan_models(hidden).items()}
    rows = []
    for t in steps:
        if progress:
            progress(f"T={t}")
        timed = {
            key: m
            for key, m in models.items()
            if key[1] != "sequential" or t <= sequential_max_steps
        }
        x = torch.randn(batch, t, hidden, device=device, requires_grad=True)
        steps_fns = [forward_backward(m, x) for m in timed.values()]
        for ((model, mode), m), seconds in zip(
            timed.items(), time_round_robin(steps_fns, repeats), strict=True
        ):
            params = sum(p.numel() for p in m.parameters())
            rows.append(
                ScanRow(model, mode, t, batch, hidden, params, device, 1e3 * seconds)
            )
    return rows


def format_scan_table(rows: list[ScanRow]) -> str:
    """One line per (model, mode), one column per T, in ms; '-' where not timed."""
    steps = sorted({r.steps for r in rows})
    ms = {(r.model, r.mode, r.steps): r.ms for r in rows}
    params = {(r.model, r.mode): r.params for r in rows}
    lines = [
        "| model | mode | params | " + " | ".join(f"T={t}" for t in steps) + " |",
        "|---|---|---:|" + "---:|" * len(steps),
    ]
    for (model, mode), n in params.items():
        cells = [_ms(ms.get((model, mode, t))) for t in steps]
        lines.append(f"| {model} | {mode} | {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def scan_ratios(rows: list[ScanRow], steps: int = 512) -> list[str]:
    """How many times faster MinGRU parallel is than the others at T = ``steps``."""
    at = {(r.model, r.mode): r.ms for r in rows if r.steps == steps}
    parallel = at.get(("MinGRU", "parallel"))
    if parallel is None:
        return []
    return [
        f"T={steps}: MinGRU parallel is {ms / parallel:.1f}x as fast as {model} {mode}"
        for (model, mode), ms in at.items()
        if (model, mode) != ("MinGRU", "parallel")
    ]


def plot_scan(rows: list[ScanRow], path: str) -> None:
    """Time vs T on log-log axes, one line per (model, mode), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key in dict.fromkeys((r.model, r.mode) for r in rows):
        mine = [r for r in rows if (r.model, r.mode) == key]
        steps, ms = [r.steps for r in mine], [r.ms for r in mine]
        ax.plot(steps, ms, "o-", label=" ".join(key))
    first = rows[0]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="sequence length T",
        ylabel="forward + backward (ms)",
        title=f"B={first.batch} H={first.hidden} ({environment()})",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- seqlab bench export: onnxruntime against PyTorch eager on the same graph -------

EXPORT_SHAPES = {  # kind -> (batch, length) pairs; length: tokens in, or cached
    "classifier": ((1, 32), (32, 32)),
    "tagger": ((1, 32), (32, 32)),
    "rnn_lm": ((1, 1), (32, 1)),  # one step with the recurrent state
    "transformer_lm": ((1, 64), (32, 64)),  # one step after 64 cached positions
}


@dataclass(frozen=True)
class ExportRow:
    run: str
    kind: str
    batch: int
    length: int
    threads: int
    torch_ms: float
    onnxruntime_ms: float
    speedup: float  # torch / onnxruntime: above 1 means onnxruntime is faster
    max_abs_diff: float

    def to_dict(self) -> dict:
        return asdict(self)


def bench_export(run_dir: str, repeats: int = 50) -> list[ExportRow]:
    """Latency of one inference call of a run's best weights: PyTorch eager (the
    module that ``seqlab export`` traces, under inference mode) against the exported
    ONNX graph in onnxruntime, each with ``torch.get_num_threads()`` threads, alternated
    and reported as medians. Classifier and tagger: one batch of sequences; language
    models: one decoding step (``EXPORT_SHAPES``)."""
    import tempfile
    from pathlib import Path

    from seqlab.export import GRAPHS, ExportError, export_model
    from seqlab.run import load_run

    loaded = load_run(run_dir, device="cpu")
    kind = loaded.cfg.model.kind
    if kind not in EXPORT_SHAPES:
        raise ExportError(
            f"seqlab bench export times {', '.join(EXPORT_SHAPES)} runs; "
            f"{run_dir} is a {kind} run"
        )
    model = loaded.model.eval()
    graph = GRAPHS[kind](model).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = export_model(model, kind, Path(tmp) / "model.onnx")
        session = _ort_session(path, torch.get_num_threads())
        for batch, length in EXPORT_SHAPES[kind]:
            torch.manual_seed(0)
            t_torch, t_ort, diff = _time_both(
                graph, session, graph.sample(batch, length), repeats
            )
            rows.append(
                ExportRow(
                    Path(run_dir).name,
                    kind,
                    batch,
                    length,
                    torch.get_num_threads(),
                    t_torch * 1e3,
                    t_ort * 1e3,
                    t_torch / t_ort,
                    diff,
                )
            )
    return rows


def _ort_session(path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _time_both(graph: nn.Module, session, inputs: tuple, repeats: int):
    """Median seconds of the eager graph and of the onnxruntime session on
    ``inputs``, and the largest difference between their outputs."""
    names = [i.name for i in session.get_inputs()]
    feed = {n: t.numpy() for n, t in zip(names, inputs, strict=True)}

    @torch.inference_mode()
    def eager():
        return graph(*inputs)

    def onnx():
        return session.run(None, feed)

    want, got = eager(), onnx()
    want = want if isinstance(want, tuple) else (want,)
    diff = max(
        float((w - torch.from_numpy(g)).abs().max())
        for w, g in zip(want, got, strict=True)
    )
    t_torch, t_ort = time_pair(eager, onnx, repeats, warmup=5)
    return t_torch, t_ort, diff


def format_export_table(rows: list[ExportRow]) -> str:
    lines = [
        "| run | kind | B | T | torch ms | onnxruntime ms | speed-up | max diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.run} | {r.kind} | {r.batch} | {r.length} | {r.torch_ms:.3f} | "
            f"{r.onnxruntime_ms:.3f} | {r.speedup:.2f}x | {r.max_abs_diff:.1e} |"
        )
    return "\n".join(lines)
