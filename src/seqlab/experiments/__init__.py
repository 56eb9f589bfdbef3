"""``seqlab experiment``: every claim of the articles, measured, plotted, reported.

``EXPERIMENTS`` maps a name to its :class:`~seqlab.experiments.common.Experiment`;
``run_experiment`` runs one and writes report.md, results.json and PNG plots.
"""

from __future__ import annotations

from seqlab.experiments import activations, long_memory
from seqlab.experiments.common import Experiment, run_experiment

EXPERIMENTS: dict[str, Experiment] = {
    "activations": Experiment(
        "activations",
        activations.CLAIM,
        activations.run,
        minutes_full=8,
        minutes_quick=1,
    ),
    "long-memory": Experiment(
        "long-memory",
        long_memory.CLAIM,
        long_memory.run,
        minutes_full=20,
        minutes_quick=1,
    ),
}

__all__ = ["EXPERIMENTS", "Experiment", "run_experiment"]
