"""Figures (matplotlib, the ``plots`` extra): attention heat maps, learning curves.

Nothing in seqlab's models or trainer imports this module.
"""

from __future__ import annotations

import json
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
    return _save(plt, fig, path)


def attention_grid(
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    maps,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw a Transformer's cross-attention, one heat map per layer (rows) and head
    (columns): ``maps`` is (layers, heads, output tokens, source tokens)."""
    maps = maps.numpy() if hasattr(maps, "numpy") else maps  # a tensor, or an array
    layers, heads, T, S = maps.shape
    if len(output_tokens) != T or len(source_tokens) != S:
        raise ValueError(
            f"maps must be (layers, heads, {len(output_tokens)} output tokens, "
            f"{len(source_tokens)} source tokens), got {tuple(maps.shape)}"
        )
    plt = _pyplot()
    cell_w, cell_h = max(2.0, 0.25 * S + 0.8), max(1.8, 0.25 * T + 0.8)
    fig, axes = plt.subplots(
        layers, heads, figsize=(cell_w * heads, cell_h * layers), squeeze=False
    )
    xs, ys = [_label(t) for t in source_tokens], [_label(t) for t in output_tokens]
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer][head]
            ax.imshow(
                maps[layer, head], cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto"
            )
            ax.set_xticks(range(S), xs, fontsize=6)
            ax.set_yticks(range(T), ys, fontsize=6)
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def image_attention(
    picture,
    tokens: Sequence[str],
    maps: Sequence,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw a captioner's attention over its picture: the picture, then one panel
    per generated token with that step's (G, G) weights stretched over the picture
    (brighter = more weight). ``picture`` is (P, P, 3) uint8; ``maps`` one (G, G)
    grid per token."""
    import numpy as np

    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3 or len(maps) != len(tokens):
        raise ValueError(
            f"maps must be {len(tokens)} (G, G) grids, one per token, "
            f"got shape {maps.shape}"
        )
    plt = _pyplot()
    columns = min(6, len(tokens) + 1)
    rows = -(-(len(tokens) + 1) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(2.0 * columns, 2.2 * rows), squeeze=False
    )
    P = picture.shape[0]
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k > len(tokens):
            continue
        ax.imshow(picture, extent=(0, P, P, 0))
        if k == 0:
            ax.set_title("picture", fontsize=9)
            continue
        weights = maps[k - 1] / max(maps[k - 1].max(), 1e-9)
        ax.imshow(
            weights,
            cmap="gray",
            alpha=0.6,
            extent=(0, P, P, 0),
            vmin=0,
            vmax=1,
            interpolation="bilinear",
        )
        ax.set_title(_label(tokens[k - 1]), fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path, dpi=100)


def read_curves(run_dir: str | Path) -> list[dict]:
    """The evaluation records of a run (its ``metrics.jsonl``), in order.

    Raises FileNotFoundError naming the run when it has no metrics, ValueError
    naming file and line when a line is not a JSON object.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no metrics.jsonl (not a trained run?)")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            record = []
        if record is not None and not isinstance(record, dict):
            raise ValueError(f"{path}, line {n}: not a JSON object")
        records += [record] if record else []
    if not records:
        raise ValueError(f"{path}: no evaluations recorded yet")
    return records


def learning_curves(curves: dict[str, list[dict]], path: str | Path) -> Path:
    """Train and validation loss of each run (one colour per run: dashed train,
    solid validation) against steps and against minutes; a second row draws the
    first validation metric besides the loss (accuracy, BLEU ...) when runs have one.

    ``curves`` maps a run's label to its ``metrics.jsonl`` records (read_curves).
    """
    plt = _pyplot()
    metric = _metric_of(curves)
    rows = 2 if metric else 1
    fig, axes = plt.subplots(rows, 2, figsize=(10, 3.6 * rows), squeeze=False)
    for colour, (name, records) in enumerate(curves.items()):
        for col, x_key in enumerate(("step", "minutes")):
            xs = [r["step"] if col == 0 else r.get("elapsed", 0) / 60 for r in records]
            style = {"color": f"C{colour}"}
            _line(axes[0][col], xs, records, "train_loss", f"{name} train", "--", style)
            _line(axes[0][col], xs, records, "val_loss", f"{name} val", "-", style)
            if metric:
                _line(axes[1][col], xs, records, metric, name, "-", style)
            for row in range(rows):
                axes[row][col].set_xlabel(x_key)
    axes[0][0].set_ylabel("loss")
    if metric:
        axes[1][0].set_ylabel(metric)
    for ax in (a for row in axes for a in row):
        if ax.lines:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def _metric_of(curves: dict[str, list[dict]]) -> str | None:
    """The first validation metric besides loss and perplexity in the records."""
    for records in curves.values():
        for key in records[0]:
            if key.startswith("val_") and key not in ("val_loss", "val_ppl"):
                return key
    return None


def _line(ax, xs, records, key, label, linestyle, style) -> None:
    points = [
        (x, r[key]) for x, r in zip(xs, records, strict=True) if r.get(key) is not None
    ]
    if points:
        ax.plot(*zip(*points, strict=True), linestyle, label=label, marker=".", **style)


def _save(plt, fig, path: str | Path, dpi: int = 120) -> Path:
    """Lay out, write (format from the suffix) and close a figure."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
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
