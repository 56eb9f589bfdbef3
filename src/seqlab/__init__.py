"""seqlab: sequence models from the plain RNN to the Transformer.

The recurrent core::

    from seqlab import LSTM
    lstm = LSTM(input_size=32, hidden_size=64, num_layers=2, peephole=True)
    output, (h, c) = lstm(x, lengths=lengths)

Training as a plain function (what ``seqlab train`` and each ``torchrun`` process
call; Ray Train, Accelerate or a user's own launcher can call it too)::

    import seqlab
    summary = seqlab.train("configs/shakespeare-char-lstm.yaml", "runs/bar",
                           overrides=["train.max_minutes=1"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import seqlab.train as _trainer  # noqa: F401  (loaded first: ``train`` below wins)
from seqlab.cells import GRUCell, LSTMCell, LSTMState, RNNCell
from seqlab.layers import GRU, LSTM, RNN, RecurrentOutput
from seqlab.utils import clip_grad_norm, detach, seed_everything

__version__ = "0.1.0"


def train(
    config: Any,
    out: str | Path | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    resume: bool = False,
    data_dir: str | Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Train the run ``config`` describes and return its summary (the metrics).

    Args:
        config: a YAML path, a plain dict, or a validated run config.
        out: the run directory (default ``runs/<config file name>``, else
            ``runs/run``).
        overrides: dotted ``key=value`` settings, as ``--set`` takes them.
        resume: continue the run in ``out`` from its last checkpoint.

    Under ``torchrun`` every process calls this; rank 0 writes ``out``.
    """
    from seqlab import run

    cfg = run.as_run_config(config, tuple(overrides))
    if out is None:
        stem = Path(config).stem if isinstance(config, (str, Path)) else "run"
        out = Path("runs") / stem
    return run.train(cfg, out, resume=resume, data_dir=data_dir, log=log)


__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "RNNCell",
    "RecurrentOutput",
    "clip_grad_norm",
    "detach",
    "seed_everything",
    "train",
]
