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

from seqlab.tasks.lm import LMRunConfig, LMTask

TASKS = {
    "lm": (LMRunConfig, LMTask),
}

__all__ = ["TASKS", "LMRunConfig", "LMTask"]
