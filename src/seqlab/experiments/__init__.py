"""``seqlab experiment``: every claim of the articles, measured, plotted, reported.

``EXPERIMENTS`` maps a name to its :class:`~seqlab.experiments.common.Experiment`;
``run_experiment`` runs one and writes report.md, results.json and PNG plots.
"""

from __future__ import annotations

from seqlab.experiments import activations, long_memory, reverse_peeky
from seqlab.experiments.common import Experiment, run_experiment

EXPERIMENTS: dict[str, Experiment] = {
    exp.name: exp
    for exp in (
        Experiment("activations", activations.CLAIM, activations.run, 8, 1),
        Experiment("long-memory", long_memory.CLAIM, long_memory.run, 20, 1),
        Experiment("reverse-peeky", reverse_peeky.CLAIM, reverse_peeky.run, 40, 1.5),
    )
}

__all__ = ["EXPERIMENTS", "Experiment", "run_experiment"]
