"""Time-series forecasting as a task: the next value from a window of past values.

The series is the yearly mean sunspot number 1700-2008 (309 values) that statsmodels
ships (the ``forecast`` extra). Splits are the held-out tail: the last
``data.test_size`` years are test, the ``data.val_size`` before them val, the rest
train. Every target gets the ``data.window`` true values before it (one-step-ahead
forecasts; a val or test window may reach back into earlier splits, never forward).
Values are standardised with the training part's mean and deviation (saved as
``scaler.json``); RMSE is reported in the series' own units, beside two baselines that
need no training: the naive seasonal forecast y(t - season) with the ~11-year solar
cycle, and persistence y(t - 1).
"""

from __future__ import annotations

import json
import random
import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.config import Section
from seqlab.data import datasets, readers, records
from seqlab.data.batching import WindowBatch
from seqlab.data.owndata import OwnData
from seqlab.data.vocab import Vocab
from seqlab.metrics import rmse
from seqlab.models.forecaster import MLPRegressorConfig, RNNRegressorConfig
from seqlab.tasks.base import Capabilities, Task
from seqlab.train import TrainConfig

SCALER_FILE = "scaler.json"


class ForecastDataConfig(OwnData):
    # the sunspots series, or yours: data.path, a file of numbers (one a line, or the
    # CSV column data.column), read instead of the data set and split in time order:
    # the last data.test_fraction test, the data.val_fraction before it val
    dataset: records.names("forecast") = "sunspots"
    column: str | None = None  # data.path as CSV: the column to forecast
    window: int = Field(22, ge=1)  # past values per forecast: two solar cycles
    test_size: int = Field(40, ge=1)  # the held-out tail, in time steps (years)
    val_size: int = Field(30, ge=1)  # just before the test tail
    season: int = Field(11, ge=1)  # period of the naive seasonal baseline
    eval_batch_size: int = Field(256, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ForecastDataConfig:
        self.check_own_files()
        if self.train_path is not None:
            raise ValueError(
                "a forecast reads one series: give it as data.path (its end is the "
                "val and test part), not data.train_path"
            )
        if self.season > self.window:
            raise ValueError(
                f"data.season ({self.season}) must be <= data.window ({self.window}): "
                "the baseline reads its value from the window"
            )
        return self


RegressorConfig = Annotated[
    RNNRegressorConfig | MLPRegressorConfig, Field(discriminator="kind")
]


class ForecastRunConfig(Section):
    task: Literal["forecast"] = "forecast"
    data: ForecastDataConfig = ForecastDataConfig()
    model: RegressorConfig
    train: TrainConfig = TrainConfig()


def read_series(cfg: ForecastDataConfig) -> list[float]:
    """The user's numbers (data.path), else the sunspots series."""
    if cfg.path is not None:
        return readers.read_number_file(cfg.path, cfg.column, cfg.max_line_chars)
    return [v for _, v in readers.read_sunspots()]


def split_series(values: list[float], cfg: ForecastDataConfig) -> dict[str, range]:
    """Split name -> the positions whose value is a target of that split."""
    n = len(values)
    test_size, val_size = cfg.test_size, cfg.val_size
    if cfg.own_files():  # in time order: a forecast is tested on the future
        test_size = max(1, round(cfg.test_fraction * n))
        val_size = max(1, round(cfg.val_fraction * n))
    test_start = n - test_size
    val_start = test_start - val_size
    if val_start - cfg.window < 1:
        raise datasets.DataError(
            f"a series of {n} values is too short for window {cfg.window}, "
            f"{val_size} val and {test_size} test values"
        )
    return {
        "train": range(cfg.window, val_start),
        "val": range(val_start, test_start),
        "test": range(test_start, n),
    }


class ForecastTask(Task):
    """Windows, scaling, evaluation against baselines, and prediction."""

    name = "forecast"
    capabilities = Capabilities(predicts=True)

    monitor = "val_rmse"  # what picks the best checkpoint; lower is better
    maximize = False

    def __init__(self, cfg: ForecastRunConfig, mean: float, std: float) -> None:
        self.cfg = cfg
        self.mean = mean
        self.std = std
        # The run machinery keys checkpoints on a vocabulary; a series has no tokens,
        # so this is the empty one (the four specials).
        self.vocab = Vocab()
        self.values: list[float] = []
        self.targets: dict[str, range] = {}

    @classmethod
    def read(cls, data: ForecastDataConfig, data_dir: str | Path | None) -> list:
        del data_dir  # the series ships with statsmodels, or is data.path
        return read_series(data)

    @classmethod
    def build(cls, cfg: ForecastRunConfig, values: list, run_dir: Path) -> ForecastTask:
        """Fit the scaler on the train part of the series and save it."""
        targets = split_series(values, cfg.data)
        train_part = values[: targets["train"].stop]
        task = cls(cfg, statistics.fmean(train_part), statistics.pstdev(train_part))
        (run_dir / SCALER_FILE).write_text(
            json.dumps({"mean": task.mean, "std": task.std}) + "\n"
        )
        return task

    @classmethod
    def load(cls, cfg: ForecastRunConfig, run_dir: Path) -> ForecastTask:
        scaler = json.loads((run_dir / SCALER_FILE).read_text())
        return cls(cfg, scaler["mean"], scaler["std"])

    def set_data(self, splits: list[float]) -> None:
        """The whole series; its splits are ranges of target positions in it."""
        self.values = splits
        self.targets = split_series(splits, self.cfg.data)

    @property
    def model_sizes(self) -> dict[str, int]:
        return {"window": self.cfg.data.window}

    def windows(self, positions: list[int]) -> WindowBatch:
        """Standardised windows before each target position, and the targets."""
        w = self.cfg.data.window
        x = [self.values[t - w : t] for t in positions]
        y = [self.values[t] for t in positions]
        return WindowBatch(self.scale(x), self.scale(y))  # (B, W), (B,)

    def scale(self, values: list) -> Tensor:
        """Standardised float32 tensor of ``values`` (the training part's scaler)."""
        return (torch.tensor(values, dtype=torch.float32) - self.mean) / self.std

    # ---- training and evaluation ----------------------------------------------------
    def train_batches(self, epoch: int) -> Iterator[WindowBatch]:
        positions = list(self.targets["train"])
        random.Random(self.cfg.train.seed + epoch).shuffle(positions)
        size = self.cfg.train.batch_size
        for start in range(0, len(positions), size):
            yield self.windows(positions[start : start + size])

    def steps_per_epoch(self) -> int:
        return -(-len(self.targets["train"]) // self.cfg.train.batch_size)

    def splits(self) -> list[str]:
        return list(self.targets)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "val") -> dict[str, float]:
        """RMSE of the model and of the two baselines, in the series' units."""
        positions = list(self.targets[split])
        gold = [self.values[t] for t in positions]
        seasonal = [self.values[t - self.cfg.data.season] for t in positions]
        persistence = [self.values[t - 1] for t in positions]
        return {
            f"{split}_rmse": rmse(self.forecast(model, positions), gold),
            f"{split}_rmse_naive_seasonal": rmse(seasonal, gold),
            f"{split}_rmse_persistence": rmse(persistence, gold),
        }

    def forecast(self, model: nn.Module, positions: list[int]) -> list[float]:
        """The model's forecasts for ``positions``, in the series' units."""
        device = next(model.parameters()).device
        model.eval()
        out: list[float] = []
        size = self.cfg.data.eval_batch_size
        for start in range(0, len(positions), size):
            batch = self.windows(positions[start : start + size]).to(device)
            scaled = model(**batch.inputs()).prediction.cpu()
            out += (scaled * self.std + self.mean).tolist()
        return out

    # ---- seqlab predict -------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self, model: nn.Module, lines: list[str], beam: int = 1, as_json: bool = False
    ) -> list[str]:
        """Each line: the last ``window`` values (spaces or commas) -> the next one."""
        if beam != 1:
            raise ValueError("--beam applies to seq2seq runs; a forecast is one value")
        rows = [self._parse_line(line, i) for i, line in enumerate(lines, 1)]
        if not rows:
            return []
        device = next(model.parameters()).device
        model.eval()
        scaled = model(input=self.scale(rows).to(device)).prediction.cpu()
        values = (scaled * self.std + self.mean).tolist()
        if as_json:
            return [
                json.dumps({"input": row, "forecast": round(v, 4)})
                for row, v in zip(rows, values, strict=True)
            ]
        return [f"{v:.4f}" for v in values]

    def _parse_line(self, line: str, lineno: int) -> list[float]:
        fields = [f for f in re.split(r"[\s,]+", line.strip()) if f]
        w = self.cfg.data.window
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise ValueError(
                f"input line {lineno}: expected numbers, got {line!r}"
            ) from None
        if len(values) != w:
            raise ValueError(
                f"input line {lineno}: expected the last {w} values of the series "
                f"(data.window), got {len(values)}"
            )
        return values
