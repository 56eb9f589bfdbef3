"""The task contract: what every task offers the run, the CLI, serve and export.

A task turns a run config into data, batches and scores. Every task class derives
from :class:`Task` and has one method per job:

- ``read(data_cfg, data_dir)`` (class method): split name -> examples as read (the
  user's files, or the data set's record's loader);
- ``build(cfg, splits, run_dir)`` (class method): what the training split decides
  (tokenizer, vocabulary, labels, scaler), saved into ``run_dir``: a task;
- ``set_data(splits)``: the examples encoded and kept;
- ``prepare(cfg, data_dir, run_dir)`` = read, build, set_data: a task ready to train
  (the skeleton lives here once; tasks write the three steps);
- ``load(cfg, run_dir)`` (class method): what ``build`` saved, no data;
  ``load_data(data_dir)`` = read, ``check_data`` (labels the run lacks ...),
  set_data, for evaluation;
- ``model_sizes``, ``train_batches(epoch)``, ``steps_per_epoch()``, ``splits()``;
- ``evaluate(model, split, **options)``: the metrics of a split (``options`` only
  those the capabilities allow: ``beam`` for tasks that decode with a beam);
- ``predict(model, lines, beam=1, as_json=False)``: one output line per input line
  (tasks whose capabilities say ``predicts``).

``name`` is the config's ``task`` key; ``monitor``/``maximize`` name the metric that
picks the best checkpoint. ``capabilities`` declares what the task can do, and the
CLI, serve and export ask it (never ``hasattr``): an option a task lacks is refused
with :class:`UnsupportedOption`, one line naming the option and the task.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from seqlab import decode
from seqlab.data.vocab import Vocab


@dataclass(frozen=True)
class Capabilities:
    """What a task's runs can do beyond training and evaluation."""

    predicts: bool = False  # seqlab predict / serve /v1/predict: a line per input
    beam: bool = False  # decodes with a beam search (predict/evaluate --beam)
    nbest: bool = False  # returns the n best hypotheses of a search
    sampling: bool = False  # samples its outputs (temperature, top-k/top-p)
    generates: bool = False  # continues a prompt (seqlab generate)
    images: bool = False  # reads pictures (predict/plot-attention --image)
    attention_plot: bool = False  # plot-attention draws its attention
    # evaluate(..., fraction=f) scores the first part of a split: the final
    # evaluations of a run with train.max_minutes cut to what fits
    partial_eval: bool = False

    def names(self) -> list[str]:
        """The capabilities this task has, by name."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]


# What each capability lets a user do, for the message that refuses an option.
CAPABILITY_WORDS = {
    "predicts": "has no predict (seqlab generate continues language models)",
    "beam": "does not decode with a beam search",
    "nbest": "has no n-best list (it does not decode with a search)",
    "sampling": "does not sample its outputs",
    "generates": "does not continue a prompt",
    "images": "does not read pictures",
    "attention_plot": "has no attention to draw",
    "partial_eval": "evaluates whole splits only",
}


def build_vocab(tokens: Any, data: Any) -> Vocab:
    """The vocabulary of the training split's token lists: data.min_freq, and
    data.vocab_size words kept for the word tokenizer (subword models have their
    own size)."""
    word = getattr(data, "tokenizer", None) == "word"
    return Vocab.build(
        tokens,
        min_freq=getattr(data, "min_freq", 1),
        max_size=getattr(data, "vocab_size", None) if word else None,
    )


def model_kind(default: str):
    """The discriminator of a task's ``model`` union: ``model.kind``, else
    ``default`` (the task's first model kind)."""

    def kind(value: Any) -> str:
        if isinstance(value, dict):
            return value.get("kind", default)
        return getattr(value, "kind", default)

    return kind


class UnsupportedOption(ValueError):
    """An option the run's task does not support (one line: option and task)."""


class Task:
    """The base of every task class; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    cfg: Any  # the run config
    capabilities: ClassVar[Capabilities] = Capabilities()
    monitor: str = "val_loss"  # what picks the best checkpoint
    maximize: bool = False

    @classmethod
    def prepare(cls, cfg: Any, data_dir: str | Path | None, run_dir: Path) -> Task:
        """Read the data, build the task from its training split, keep the data."""
        splits = cls.read(cfg.data, data_dir)
        task = cls.build(cfg, splits, run_dir)
        task.set_data(splits)
        return task

    @classmethod
    def read(cls, data: Any, data_dir: str | Path | None) -> Any:
        raise NotImplementedError

    @classmethod
    def build(cls, cfg: Any, splits: Any, run_dir: Path) -> Task:
        raise NotImplementedError

    @classmethod
    def load(cls, cfg: Any, run_dir: Path) -> Task:
        raise NotImplementedError

    def load_data(self, data_dir: str | Path | None) -> None:
        """Read the data again and encode it with this run's vocabulary."""
        splits = self.read(self.cfg.data, data_dir)
        self.check_data(splits)
        self.set_data(splits)

    def check_data(self, splits: Any) -> None:
        """DataError for data this run cannot evaluate (labels it was not trained
        with ...); nothing by default."""

    def set_data(self, splits: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def model_sizes(self) -> dict[str, int]:
        raise NotImplementedError

    def splits(self) -> list[str]:
        raise NotImplementedError

    def split_size(self, split: str) -> int | None:
        """What an evaluation of ``split`` works through (examples, pictures,
        tokens: what ``fraction`` cuts), to size a time budget's reserve for the
        final evaluations; None: unknown (taken as long as val's)."""
        return None

    @classmethod
    def supports(cls, capability: str) -> bool:
        return getattr(cls.capabilities, capability)

    def require(self, capability: str, option: str) -> None:
        """UnsupportedOption naming ``option`` unless the task has ``capability``."""
        if capability not in CAPABILITY_WORDS:
            raise KeyError(f"unknown capability {capability!r}")
        if not self.supports(capability):
            raise UnsupportedOption(
                f"{option}: a {self.name!r} run {CAPABILITY_WORDS[capability]}"
                f"{_others(capability)}"
            )


def _others(capability: str) -> str:
    """'; it applies to seq2seq and caption runs' (the tasks that have it)."""
    from seqlab.tasks import TASKS

    having = [name for name, (_, cls) in TASKS.items() if cls.supports(capability)]
    if not having:
        return ""
    return f"; it applies to {' and '.join(having)} runs"


# ---- what the tasks that decode with a search share (seq2seq, caption) -------------
def search_options(
    decode_cfg: Any, beam: int = 1, options: decode.SearchOptions | None = None
) -> decode.SearchOptions:
    """``options`` (default: a search of ``beam``) with the run's length penalty
    (``decode_cfg``: the run config's ``decode`` section)."""
    options = options or decode.SearchOptions(beam_size=beam)
    return dataclasses.replace(options, length_penalty=decode_cfg.length_penalty)


def nbest_entry(
    index: int, source: dict[str, str], output_key: str, results: list, as_json: bool
) -> str:
    """The n-best outputs (``.text``, ``.score``) of input ``index``: one JSON object
    (``source``'s keys and an "nbest" list of {output_key, score}), or a line each:
    ``index<TAB>score<TAB>text``, best first."""
    if as_json:
        best = [{output_key: r.text, "score": r.score} for r in results]
        return json.dumps({**source, "nbest": best}, ensure_ascii=False)
    return "\n".join(f"{index}\t{r.score}\t{r.text}" for r in results)
