"""``seqlab bench scan``: MinGRU's parallel scan against the recurrences it replaces
and a causal Transformer layer, forward + backward time by sequence length."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from seqlab.bench.timing import environment, forward_backward, time_round_robin
from seqlab.layers import GRU
from seqlab.utils import markdown_table

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
    header = " | ".join(["model", "mode", "params", *(f"T={t}" for t in steps)])
    cells = [
        (model, mode, f"{n:,}", *(_ms(ms.get((model, mode, t))) for t in steps))
        for (model, mode), n in params.items()
    ]
    return markdown_table(header, cells, left=2)


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
