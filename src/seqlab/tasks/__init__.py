"""Tasks: what turns a run config into data, a model, and evaluation.

``TASKS`` maps the config's ``task`` key to (config schema, task class); a task class
has ``prepare(cfg, data_dir, run_dir)`` (training) and ``load(cfg, run_dir)``
(inference), ``model_sizes``, ``train_batches(epoch)``, ``steps_per_epoch()``,
``splits()``, ``evaluate(model, split)``, ``load_data(data_dir)`` (evaluation of a
loaded run) and the class attributes ``monitor``/``maximize`` (the metric that picks
the best checkpoint). Tasks whose models map inputs to outputs add
``predict(model, lines, beam=, as_json=) -> list[str]`` for ``seqlab predict``.
"""

from __future__ import annotations

from seqlab.tasks.caption import CaptionRunConfig, CaptionTask
from seqlab.tasks.classify import ClassifyRunConfig, ClassifyTask
from seqlab.tasks.forecast import ForecastRunConfig, ForecastTask
from seqlab.tasks.lm import LMRunConfig, LMTask
from seqlab.tasks.seq2seq import Seq2SeqRunConfig, Seq2SeqTask
from seqlab.tasks.tag import TagRunConfig, TagTask

TASKS = {
    "lm": (LMRunConfig, LMTask),
    "classify": (ClassifyRunConfig, ClassifyTask),
    "tag": (TagRunConfig, TagTask),
    "forecast": (ForecastRunConfig, ForecastTask),
    "seq2seq": (Seq2SeqRunConfig, Seq2SeqTask),
    "caption": (CaptionRunConfig, CaptionTask),
}

__all__ = [
    "TASKS",
    "CaptionRunConfig",
    "CaptionTask",
    "ClassifyRunConfig",
    "ClassifyTask",
    "ForecastRunConfig",
    "ForecastTask",
    "LMRunConfig",
    "LMTask",
    "Seq2SeqRunConfig",
    "Seq2SeqTask",
    "TagRunConfig",
    "TagTask",
]
