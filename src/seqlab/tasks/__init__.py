"""Tasks: what turns a run config into data, a model, and evaluation.

``TASKS`` maps the config's ``task`` key to (config schema, task class). Every task
class derives from :class:`seqlab.tasks.base.Task` (the contract: one method per job)
and declares its ``capabilities`` (predicts, beam, generates, images, ...), which the
CLI, serve and export ask instead of probing for methods.
"""

from __future__ import annotations

from seqlab.tasks.base import Capabilities, Task, UnsupportedOption
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
    "Capabilities",
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
    "Task",
    "UnsupportedOption",
]
