"""Time-series regressors: the next value of a series from a window of past values.

Shapes: B batch, W window (past values), H hidden size.

Two models see the same windows, for seed 001's claim that a recurrent network beats
a fully-connected one of about the same size on a sequence:

- ``RNNRegressor``: the window as W time steps of one value -> RNN/LSTM/GRU -> the
  last hidden state -> linear -> the next value. The same weights read every step.
  With ``loss: every_step`` (many to many) step t is also trained to forecast value
  t+1 of the window, so each window gives W training targets instead of one.
- ``MLPRegressor``: the window as one vector of W values -> fully-connected layers
  -> the next value. Every position has its own weights.

Values are whatever scale the task feeds (it standardises the series); the loss is
the mean squared error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from seqlab.config import Section
from seqlab.layers import make_recurrent


class RNNRegressorConfig(Section):
    kind: Literal["rnn_regressor"] = "rnn_regressor"
    cell: Literal["rnn", "lstm", "gru"] = "gru"
    # cell: lstm only. Not 0: the forget gate's bias starts at this value (1 in
    # Jozefowicz et al. 2015), so that the cell state is kept early on; 0: torch's init.
    forget_bias: float = 0.0
    # Each gate's block of W_hh: torch's uniform, orthogonal, or the identity (IRNN).
    recurrent_init: Literal["default", "orthogonal", "identity"] = "default"
    hidden_size: int = Field(32, ge=1)
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # between layers and before the head
    # last: only the forecast after the whole window is trained (many to one);
    # every_step: each step also forecasts the window's next value (many to many).
    loss: Literal["last", "every_step"] = "last"


class MLPRegressorConfig(Section):
    kind: Literal["mlp_regressor"] = "mlp_regressor"
    hidden_sizes: tuple[int, ...] = (64,)  # one ReLU layer per entry
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # after each hidden layer


@dataclass
class RegressionOutput:
    """prediction (B,) the next value; loss: mean squared error, or None."""

    prediction: Tensor
    loss: Tensor | None


class RNNRegressor(nn.Module):
    """Window (B, W) -> recurrent layers over its W steps -> linear -> (B,).

    ``window`` is accepted for the common model interface and not needed: the same
    weights read a window of any length.
    """

    def __init__(self, cfg: RNNRegressorConfig, window: int) -> None:
        super().__init__()
        del window
        self.cfg = cfg
        self.rnn = make_recurrent(
            cfg.cell,
            1,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
            forget_bias=cfg.forget_bias,
            recurrent_init=cfg.recurrent_init,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(cfg.hidden_size, 1)

    def forward(self, input: Tensor, targets: Tensor | None = None) -> RegressionOutput:
        states, _ = self.rnn(input.unsqueeze(-1))  # input as (B, W, 1) -> (B, W, H)
        forecasts = self.output(self.drop(states)).squeeze(-1)  # (B, W): value t+1
        prediction = forecasts[:, -1]  # (B,) after the whole window
        if targets is None or self.cfg.loss == "last":
            return RegressionOutput(prediction, _mse(prediction, targets))
        following = torch.cat([input[:, 1:], targets.unsqueeze(1)], dim=1)  # (B, W)
        return RegressionOutput(prediction, _mse(forecasts, following))


class MLPRegressor(nn.Module):
    """Window (B, W) -> [linear -> ReLU -> dropout] per hidden size -> linear."""

    def __init__(self, cfg: MLPRegressorConfig, window: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = window
        for hidden in cfg.hidden_sizes:
            layers += [nn.Linear(size, hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            size = hidden
        layers.append(nn.Linear(size, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, input: Tensor, targets: Tensor | None = None) -> RegressionOutput:
        prediction = self.net(input).squeeze(-1)  # (B,)
        return RegressionOutput(prediction, _mse(prediction, targets))


def _mse(prediction: Tensor, targets: Tensor | None) -> Tensor | None:
    if targets is None:
        return None
    return nn.functional.mse_loss(prediction, targets)
