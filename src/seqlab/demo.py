"""``seqlab demo``: seq2seq with attention learns to normalise dates, in ~2 minutes.

Task (many to many, different lengths): read a date as people write it ("Tuesday,
August 19, 2003", "aug 19, 2003", "8/19/03") and write it as 2003-08-19. The pairs
come from :func:`seqlab.data.dates.generate_dates`, the recipe of the book's
``date.txt`` with dates from 1950 to 2049, so nothing is downloaded. The model is the
book's chapter 8: an LSTM encoder, an LSTM decoder attending over the encoder's
states at every step. The demo is an ordinary seqlab run: ``seqlab predict RUN_DIR``,
``seqlab plot-attention RUN_DIR`` and ``seqlab evaluate RUN_DIR`` work on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from seqlab.config import apply_overrides, validate

CONFIG = {
    "task": "seq2seq",
    "data": {
        "dataset": "generated_dates",
        "size": 30_000,
        "first_date": "1950-01-01",
        "last_date": "2049-12-31",
        "tokenizer": "char",
    },
    "model": {
        "kind": "seq2seq",
        "cell": "lstm",
        "embedding_size": 32,
        "hidden_size": 128,
        "decoder": "attention",
        "attention": "general",
    },
    "train": {
        "optimizer": "adam",
        "lr": 5e-3,
        "schedule": "cosine",
        "warmup_steps": 100,
        "min_lr_ratio": 0.02,
        "batch_size": 128,
        "epochs": 30,
        "max_minutes": 2.0,
    },
    "decode": {"max_length": 12},
}
EXAMPLES = (
    "saturday, march 7, 2020",
    "September 27, 1994",
    "AUG 19, 2003",
    "12/31/49",
    "Jun 1, 1961",
)


@dataclass
class DemoResult:
    """The run directory, its test accuracy, the converted dates and the heat map."""

    run_dir: Path
    test_accuracy: float
    conversions: list[tuple[str, str]]
    heatmap: Path | None


def demo_config(overrides: Sequence[str] = ()):
    """The demo's run config, with ``--set``-style overrides applied."""
    data = apply_overrides(CONFIG, list(overrides))
    from seqlab.tasks.seq2seq import Seq2SeqRunConfig

    return validate(Seq2SeqRunConfig, data, "the demo config")


def run(
    out: str | Path = "runs/demo-dates",
    dates: Sequence[str] = EXAMPLES,
    overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Train (or reuse) the demo run in ``out``, convert ``dates``, draw a heat map."""
    from seqlab import run as runs

    out = Path(out)
    if (out / "summary.json").is_file():
        log(f"reusing the demo trained in {out} (delete it to train again)")
    else:
        cfg = demo_config(overrides)
        budget = cfg.train.max_minutes
        log(
            f"training seq2seq with attention on {cfg.data.size:,} generated dates"
            + (f" for up to {budget:g} minutes" if budget else "")
            + f" (run directory {out})"
        )
        runs.train(cfg, out, log=log)
    loaded = runs.load_run(out)
    summary = _summary(out)
    conversions = convert(loaded, dates)
    heatmap = draw_heatmap(loaded, dates[0], out / "attention.png") if dates else None
    return DemoResult(out, summary["test_accuracy"], conversions, heatmap)


def convert(loaded, dates: Sequence[str]) -> list[tuple[str, str]]:
    """(date as typed, the model's ISO date) for each date."""
    outputs = loaded.task.predict(loaded.model, list(dates))
    return list(zip(dates, outputs, strict=True))


def draw_heatmap(loaded, date: str, path: Path) -> Path | None:
    """The attention heat map of ``date``, or None without matplotlib."""
    from seqlab import plots

    result = loaded.task.translate(loaded.model, [date])[0]
    try:
        return plots.attention_heatmap(
            result.source_tokens,
            result.output_tokens,
            result.attention,
            path,
            title=f"{result.source} -> {result.text}",
        )
    except ImportError:
        return None


def _summary(out: Path) -> dict:
    import json

    return json.loads((out / "summary.json").read_text(encoding="utf-8"))
