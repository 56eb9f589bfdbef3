"""``seqlab experiment``: every claim of the articles, measured, plotted, reported.

``EXPERIMENTS`` maps a name to its :class:`~seqlab.experiments.common.Experiment`;
``run_experiment`` runs one and writes report.md, results.json and PNG plots.
Expected minutes (full, quick) are for 2 CPU cores with the default seeds.
"""

from __future__ import annotations

from seqlab.experiments import (
    activations,
    attention_length,
    better_rnnlm,
    fc_vs_rnn,
    gru_vs_lstm,
    long_memory,
    parallel_rnn,
    reverse_peeky,
    transformer_speed,
)
from seqlab.experiments.common import Experiment, run_experiment

EXPERIMENTS: dict[str, Experiment] = {
    exp.name: exp
    for exp in (
        Experiment("activations", activations.CLAIM, activations.run, 8, 0.5),
        Experiment("long-memory", long_memory.CLAIM, long_memory.run, 20, 0.5),
        Experiment("gru-vs-lstm", gru_vs_lstm.CLAIM, gru_vs_lstm.run, 12, 0.5),
        Experiment("fc-vs-rnn", fc_vs_rnn.CLAIM, fc_vs_rnn.run, 3, 0.5),
        Experiment("reverse-peeky", reverse_peeky.CLAIM, reverse_peeky.run, 42, 1.5),
        Experiment(
            "attention-length", attention_length.CLAIM, attention_length.run, 25, 1.5
        ),
        Experiment("better-rnnlm", better_rnnlm.CLAIM, better_rnnlm.run, 160, 1.5),
        Experiment(
            "transformer-speed", transformer_speed.CLAIM, transformer_speed.run, 30, 0.5
        ),
        Experiment("parallel-rnn", parallel_rnn.CLAIM, parallel_rnn.run, 50, 1.5),
    )
}

__all__ = ["EXPERIMENTS", "Experiment", "run_experiment"]
