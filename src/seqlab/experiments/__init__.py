"""``seqlab experiment``: every claim of the articles, measured, plotted, reported.

``EXPERIMENTS`` maps a name to its :class:`~seqlab.experiments.common.Experiment`;
``run_experiment`` runs one and writes report.md, results.json and PNG plots.
Expected minutes (full, quick) are for one CPU core with the default seeds: a
published full run's own time (docs/experiments/NAME/results.json) where there is
one, an estimate otherwise.
"""

from __future__ import annotations

from seqlab.experiments import (
    activations,
    attention_length,
    beam,
    better_rnnlm,
    bidirectional,
    decoders,
    dropout_schemes,
    fc_vs_rnn,
    gru_overfitting,
    gru_vs_lstm,
    long_memory,
    parallel_rnn,
    peephole,
    relu_vanishing,
    reverse_peeky,
    teacher_forcing,
    transformer_speed,
)
from seqlab.experiments.common import Experiment, run_experiment

EXPERIMENTS: dict[str, Experiment] = {
    exp.name: exp
    for exp in (
        Experiment("activations", activations.CLAIM, activations.run, 31, 0.5),
        Experiment("long-memory", long_memory.CLAIM, long_memory.run, 75, 0.5),
        Experiment("gru-vs-lstm", gru_vs_lstm.CLAIM, gru_vs_lstm.run, 11, 0.5),
        Experiment("fc-vs-rnn", fc_vs_rnn.CLAIM, fc_vs_rnn.run, 13, 0.5),
        Experiment("reverse-peeky", reverse_peeky.CLAIM, reverse_peeky.run, 40, 1.5),
        Experiment(
            "attention-length", attention_length.CLAIM, attention_length.run, 430, 1.5
        ),
        Experiment(
            "better-rnnlm", better_rnnlm.CLAIM, better_rnnlm.run, 525, 1.5, seeds_full=2
        ),
        Experiment(
            "transformer-speed", transformer_speed.CLAIM, transformer_speed.run, 22, 0.5
        ),
        Experiment("parallel-rnn", parallel_rnn.CLAIM, parallel_rnn.run, 170, 1.5),
        Experiment("peephole", peephole.CLAIM, peephole.run, 10, 0.5),
        Experiment("decoders", decoders.CLAIM, decoders.run, 44, 0.6),
        Experiment("bidirectional", bidirectional.CLAIM, bidirectional.run, 26, 0.6),
        Experiment(
            "teacher-forcing", teacher_forcing.CLAIM, teacher_forcing.run, 49, 0.6
        ),
        Experiment("relu-vanishing", relu_vanishing.CLAIM, relu_vanishing.run, 1, 0.1),
        Experiment(
            "gru-overfitting", gru_overfitting.CLAIM, gru_overfitting.run, 9, 0.3
        ),
        Experiment(
            "dropout-schemes", dropout_schemes.CLAIM, dropout_schemes.run, 290, 0.4
        ),
        Experiment("beam", beam.CLAIM, beam.run, 80, 0.3),
    )
}

__all__ = ["EXPERIMENTS", "Experiment", "run_experiment"]
