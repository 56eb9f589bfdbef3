"""Figures (matplotlib, the ``plots`` extra): attention heat maps.

Nothing in seqlab's models or trainer imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def attention_heatmap(
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    weights: Sequence[Sequence[float]],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw attention weights (one row per output token, one column per source token)
    as a heat map and save it to ``path`` (format from its suffix, e.g. .png).

    Source tokens run along the x axis, output tokens down the y axis, as in the
    book's figure 8-26; a darker cell is a larger weight.
    """
    if len(weights) != len(output_tokens) or any(
        len(row) != len(source_tokens) for row in weights
    ):
        raise ValueError(
            f"weights must be {len(output_tokens)} rows (output tokens) of "
            f"{len(source_tokens)} (source tokens)"
        )
    plt = _pyplot()
    width = max(3.0, 0.35 * len(source_tokens) + 1.5)
    height = max(2.5, 0.35 * len(output_tokens) + 1.2)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), [_label(t) for t in source_tokens])
    ax.set_yticks(range(len(output_tokens)), [_label(t) for t in output_tokens])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _label(token: str) -> str:
    """Spaces and sentencepiece's ▁ made visible on an axis."""
    return token.replace("▁", "_") if token.strip() else "␣"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "plots need matplotlib: pip install 'seqlab[plots]'"
        ) from None
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt
