"""The trainer every seqlab task uses; it knows nothing about which model it trains.

It talks to a model through one call, ``out = model(**batch.inputs(),
targets=batch.targets)``, and reads ``out.loss``. A batch whose class sets
``carries_state = True`` (the contiguous streams of truncated BPTT) also gets
``state=`` the detached ``out.state`` of the previous batch, reset at every epoch
and, with ``reset_state`` p > 0, before a batch with probability p (drawn from the
seed and the step, so a resume or another rank draws the same).

What it does: optimizer and learning-rate schedule, gradient clipping, evaluation
every epoch or every N steps, early stopping, a time budget that stops cleanly and
still evaluates and saves, a progress bar, ``metrics.jsonl`` plus TensorBoard, and
checkpoints that resume exactly (weights, optimizer, schedule, RNG, position in the
epoch, carried state).

Under ``torchrun`` (see ``seqlab.distributed``) the model is wrapped in
``DistributedDataParallel``; each rank trains on its share of every batch's rows,
the logged loss is the mean over ranks, the clock is the slowest rank's (so all
ranks stop at the same step), and rank 0 alone writes logs and checkpoints.
Precision options: bf16/fp16 autocast (fp16 with a gradient scaler), TF32 matmuls
and ``torch.compile``, all off by default.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from seqlab import distributed
from seqlab.checkpoint import (
    check_compatible,
    load_checkpoint,
    load_model_weights,
    prune_step_checkpoints,
    save_checkpoint,
    step_name,
)
from seqlab.config import Section
from seqlab.utils import (
    clip_grad_norm,
    detach,
    json_safe,
    map_state,
    seed_everything,
)


class TrainConfig(Section):
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)  # sgd only
    betas: tuple[float, float] = (0.9, 0.999)
    # LR over the run's progress p in [0, 1] (steps or time, whichever ends first):
    # constant, cosine or linear decay to min_lr_ratio * lr, after linear warm-up;
    # inverse_sqrt is the Transformer's: lr * min(step / warmup, sqrt(warmup / step)).
    schedule: Literal["constant", "cosine", "linear", "inverse_sqrt"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    # Multiply the LR by this factor after an evaluation that does not improve the
    # monitored metric (the book divides by 4); 1 turns it off.
    plateau_factor: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)
    # Time budget of the whole run, from data preparation to the final evaluations
    # (training stops early enough to leave those their share; see Trainer).
    max_minutes: float | None = Field(None, gt=0)
    # Save checkpoints/last on this clock too, between evaluations (an interrupted
    # or killed run then loses at most this much); null: at evaluations only.
    save_every_minutes: float | None = Field(5.0, gt=0)
    clip_norm: float | None = Field(1.0, gt=0)  # global-norm clipping; null: none
    eval_every: int | None = Field(None, ge=1)  # steps; null: at the end of each epoch
    patience: int | None = Field(None, ge=1)  # evaluations without improvement
    # Truncated BPTT: the chance that a batch starts from a zero state instead of
    # the one carried from the last batch. A stateful LM that never starts from
    # nothing can fail where generation starts: from zeros and a short prompt.
    reset_state: float = Field(0.0, ge=0, le=1)
    # Gradient accumulation: one optimizer step per N batches of batch_size, with
    # the gradients of one N-times larger batch; steps count optimizer steps.
    accumulate: int = Field(1, ge=1)
    # Also keep the weights of the N most recent evaluations, as
    # checkpoints/step-000040/ ... (what `seqlab average` averages); 0: none.
    keep_last: int = Field(0, ge=0)
    # Start from another run's weights (its best, else its last checkpoint) with
    # a fresh optimizer; tokens are mapped when the vocabularies differ.
    init_from: str | None = None
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    log_every: int = Field(50, ge=1)  # steps between TensorBoard/progress updates
    progress: bool = True  # the progress bar (on stderr)
    # Autocast dtype of the forward pass; fp16 (CUDA only) adds a gradient scaler.
    # Weights and optimizer stay fp32. bf16 also runs on CPU: faster on CPUs with
    # AVX-512 BF16 (1.4-1.7x per step measured on Multi30k); others emulate it.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False  # torch.compile the model (first steps are slow)
    tf32: bool = False  # TF32 matmuls/convolutions on Ampere+ GPUs


@dataclass
class TrainState:
    """Everything besides weights and optimizer that an exact resume needs."""

    step: int = 0
    epoch: int = 0
    batch_index: int = 0  # batches of the current epoch already trained on
    tokens: int = 0
    elapsed: float = 0.0  # seconds in the training loop, summed over resumes
    step_seconds: float = 0.0  # of which in training steps (not evaluating, saving)
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    lr_scale: float = 1.0
    last_eval_step: int = -1
    stop_reason: str | None = None
    train_loss_sum: float = 0.0  # since the last evaluation
    train_loss_count: int = 0
    history: list[dict] = field(default_factory=list)
    eval_seconds: float = 0.0  # how long the last evaluation took
    saved_at: float = 0.0  # elapsed at the last save of 'last'
    finished: str | None = None  # the stop reason, in the save after the run ended


@dataclass
class TrainResult:
    """What ``Trainer.fit`` reports; the caller adds test metrics."""

    steps: int
    epochs: int
    train_seconds: float  # wall-clock of the run (run.train: from data preparation)
    tokens_per_second: float  # training steps only
    stop_reason: str
    best_step: int | None
    best_metric: float | None
    last_metrics: dict[str, float]
    # a resumed run that was already complete: nothing was trained
    already_complete: bool = False
    # where a non-finite loss or validation metric stopped it: step, what, value
    diverged: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


Evaluate = Callable[[nn.Module], dict[str, float]]
# called before the final evaluation: (seconds left in the budget or None, seconds
# the last evaluation took, 0 if none)
BeforeFinal = Callable[[float | None, float], None]
BatchesForEpoch = Callable[[int], Iterator[Any]]
CHECKPOINTS = "checkpoints"
# the key whose limit ended a run, as a resumed run names it
LIMITS = {
    "max_steps": "train.max_steps",
    "epochs": "train.epochs",
    "early_stopping": "train.patience",
    "time_budget": "train.max_minutes",
}


class TrainingDiverged(RuntimeError):
    """A non-finite loss or validation metric stopped training; the message names
    the step, the value and the last good checkpoint."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training after 'last' was saved at the current
    step; ``exit_code`` is 128 + the signal's number (130, 143)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW/Adam/SGD; weight decay only on matrices (not biases, norms, gains)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr, betas=cfg.betas)


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """The scheduled learning rate at ``step`` (1-based) and run progress in [0, 1]."""
    if cfg.schedule == "inverse_sqrt":
        warmup = max(cfg.warmup_steps, 1)
        return cfg.lr * min(step / warmup, math.sqrt(warmup / max(step, 1)))
    warm = min(1.0, step / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    floor = cfg.min_lr_ratio
    p = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "cosine":
        scale = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))
    elif cfg.schedule == "linear":
        scale = floor + (1 - floor) * (1 - p)
    else:
        scale = 1.0
    return cfg.lr * warm * scale


# the final evaluations' reserve over what they need (Trainer.final_reserve)
RESERVE_MARGIN = 1.2


class Trainer:
    """Trains ``model`` on batches, evaluating, checkpointing and logging to run_dir.

    Args:
        model: any nn.Module whose forward takes the batch's inputs and ``targets``
            and returns an object with ``.loss`` (and ``.state`` for stateful batches).
        cfg: the ``train`` section of the run config.
        run_dir: where checkpoints, ``metrics.jsonl`` and TensorBoard logs go.
        evaluate: model -> metrics on the validation data, e.g. {"val_loss": ...}.
        meta: JSON facts saved with every checkpoint (config, vocabulary ...);
            resuming checks ``compatible_keys`` of it against the saved ones.
        monitor: the metric that picks the best checkpoint and drives early
            stopping (lower is better unless ``maximize``).
        perplexity: show exp(loss) in the progress bar (token-level losses).
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        *,
        run_dir: str | Path,
        evaluate: Evaluate,
        meta: dict,
        monitor: str = "val_loss",
        maximize: bool = False,
        perplexity: bool = False,
        compatible_keys: tuple[str, ...] = ("config.model", "config.data", "vocab"),
        log: Callable[[str], None] = print,
        final_evals: float = 0,
        before_final: BeforeFinal | None = None,
        started: float | None = None,
        time_evaluation: Callable[[nn.Module], float | None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = distributed.local_device(resolve_device(cfg.device))
        if cfg.precision == "fp16" and self.device.type != "cuda":
            raise ValueError(
                "train.precision 'fp16' needs a CUDA device; use 'bf16' on CPU"
            )
        self.model = model.to(self.device)
        self.forward = _wrap(self.model, cfg, self.device)  # DDP / compiled view
        self.optimizer = make_optimizer(model, cfg)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=cfg.precision == "fp16"
        )
        self.run_dir = Path(run_dir)
        self.evaluate = evaluate
        self.meta = meta
        self.monitor = monitor
        self.maximize = maximize
        self.perplexity = perplexity
        self.compatible_keys = compatible_keys
        self.log = log
        self.state = TrainState()
        self.carry = None  # recurrent state handed from batch to batch (TBPTT)
        self.planned_steps = 0
        self._clock_start = 0.0
        self._elapsed_before = 0.0
        self._writer = None
        self._bar = None
        # evaluations the caller runs after fit besides val's, in val evaluations
        # (a test split 4x val's size: 4.0)
        self.final_evals = final_evals
        # time.perf_counter() when the run began (data preparation ...): the clock
        # of the time budget starts there; None: when fit starts
        self.started = started
        # seconds one evaluation would take, timed on a part (None: cannot say);
        # sizes the time budget's reserve before the first evaluation
        self.time_evaluation = time_evaluation
        self.before_final = before_final
        self.diverged: dict | None = None
        self._saved_train: dict = {}  # the train section 'last' was saved with
        self._signal = 0  # SIGINT/SIGTERM received, acted on after the step
        self._session = (0, 0.0)  # (step, elapsed) where this process started

    # ---- the loop --------------------------------------------------------------
    def fit(
        self, batches: BatchesForEpoch, steps_per_epoch: int, resume: bool = False
    ) -> TrainResult:
        """Train until epochs, max_steps, the time budget or early stopping end it."""
        if resume:
            self.restore()
        else:
            seed_everything(self.cfg.seed)
        self.planned_steps = self._plan(steps_per_epoch)
        if resume and (reason := self.complete_reason()) is not None:
            self.state.stop_reason = reason
            self.log(
                f"{self.run_dir} is complete ({reason} at step {self.state.step}): "
                f"nothing to train; raise {LIMITS[reason]} to continue it"
            )
            return self._result(already_complete=True)
        self._open_logs()
        self._elapsed_before, self._clock_start = (
            self.state.elapsed,
            self.started if self.started is not None else time.perf_counter(),
        )
        self._session = (self.state.step, self.state.elapsed)
        if self.cfg.max_minutes is not None and not self.state.eval_seconds:
            self._time_evaluation()
        try:
            with self._stop_signals():
                if self._evaluation_missed():
                    self.evaluate_and_save()
                while self.state.stop_reason is None:
                    self._run_epoch(batches, steps_per_epoch)
                self._finish()
        finally:
            self._close_logs()
        return self._result()

    def _time_evaluation(self) -> None:
        if self.time_evaluation is None:
            return
        self.model.eval()
        with torch.no_grad():
            seconds = self.time_evaluation(self.model)
        self.state.eval_seconds = distributed.maximum(seconds or 0.0, self.device)

    def _finish(self) -> None:
        """The final evaluation and save; none after a divergence ('last' keeps
        the weights of the last finite evaluation)."""
        if self.state.stop_reason == "diverged":
            return
        if self.before_final is not None:
            self.before_final(self.seconds_left(), self.state.eval_seconds)
        if self.state.last_eval_step != self.state.step:
            self.evaluate_and_save()

    def complete_reason(self) -> str | None:
        """Why a restored run is already complete under the current config (a
        raised limit continues it), or None."""
        s, cfg = self.state, self.cfg
        if cfg.max_steps is not None and s.step >= cfg.max_steps:
            return "max_steps"
        if s.epoch >= cfg.epochs:
            return "epochs"
        if cfg.patience is not None and s.bad_evals >= cfg.patience:
            return "early_stopping"
        saved_budget = self._saved_train.get("max_minutes")
        if (
            s.finished == "time_budget"
            and cfg.max_minutes is not None
            and saved_budget is not None
            and cfg.max_minutes <= saved_budget
        ):
            return "time_budget"
        return None

    def _run_epoch(self, batches: BatchesForEpoch, steps_per_epoch: int) -> None:
        skip = self.state.batch_index
        rest = islice(batches(self.state.epoch), skip, None)
        for group in _groups(rest, self.cfg.accumulate):
            self.train_step(*group)
            self._after_step()
            if self.state.stop_reason is not None:
                return
        self.state.epoch += 1
        self.state.batch_index = 0
        self.carry = None
        # a run stopped on an epoch's last step evaluated it then: not again on resume
        if self.cfg.eval_every is None and self.state.last_eval_step != self.state.step:
            self.evaluate_and_save()
        if self.state.epoch >= self.cfg.epochs and self.state.stop_reason is None:
            self.state.stop_reason = "epochs"

    def train_step(self, *batches: Any) -> float:
        """One optimizer step on one batch, or on several (``train.accumulate``)
        whose gradients add up to those of one batch holding them all: each loss
        is weighted by its batch's share of the loss terms (tokens or examples).
        Returns the loss of the whole."""
        start = time.perf_counter()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, num_tokens = 0.0, 0
        for i, (batch, weight) in enumerate(
            zip(batches, _shares(batches), strict=True)
        ):
            num_tokens += int(getattr(batch, "num_tokens", 0))  # of the global batch
            loss += weight * self._backward(batch, weight, i)
            if not math.isfinite(loss):
                self._diverge("loss", loss)
                return loss
        self.scaler.unscale_(self.optimizer)
        clip_grad_norm(self.model.parameters(), self.cfg.clip_norm)
        self._set_lr()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.state.step_seconds += time.perf_counter() - start
        self._count(num_tokens, loss, len(batches))
        return loss

    def _backward(self, batch: Any, weight: float, index: int = 0) -> float:
        """Forward and backward of one batch, its loss scaled by ``weight``; returns
        the loss, the mean over ranks (what one process on the global batch logs)."""
        batch = distributed.shard(batch).to(self.device)
        inputs = batch.inputs()
        stateful = getattr(batch, "carries_state", False)
        if stateful:
            inputs["state"] = None if self._resets(index) else detach(self.carry)
        with self._autocast():
            out = self.forward(**inputs, targets=batch.targets)
        loss = distributed.mean(out.loss.detach().item(), self.device)
        if math.isfinite(loss):
            self.scaler.scale(out.loss * weight if weight != 1 else out.loss).backward()
            self.carry = out.state if stateful else None
        return loss

    def _resets(self, index: int = 0) -> bool:
        """Whether this step's ``index``-th batch starts from a zero state
        (``reset_state``): a draw of its own, the same on a resume and every rank."""
        p = self.cfg.reset_state
        key = f"{self.cfg.seed}:{self.state.step}" + (f":{index}" if index else "")
        return p > 0 and random.Random(key).random() < p

    def _autocast(self):
        if self.cfg.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _count(self, num_tokens: int, loss: float, num_batches: int = 1) -> None:
        s = self.state
        s.step += 1
        s.batch_index += num_batches
        s.tokens += num_tokens
        s.train_loss_sum += loss
        s.train_loss_count += 1
        if s.step % self.cfg.log_every == 0 or s.step == 1:
            self._log_train(loss)
        if self._bar is not None:
            if s.step % self.cfg.log_every == 0 or s.step <= 10:
                self._bar.total = self._expected_steps()
            self._bar.update(s.step - self._bar.n)

    def _expected_steps(self) -> int:
        """The step the run ends at: the planned one, or where the time budget
        (less its reserve) ends it sooner at this process's pace so far."""
        if self.cfg.max_minutes is None:
            return self.planned_steps
        step0, elapsed0 = self._session
        now = self._elapsed_before + time.perf_counter() - self._clock_start
        pace = (now - elapsed0) / max(self.state.step - step0, 1)  # s per step
        left = self._training_seconds() - now
        return min(self.planned_steps, self.state.step + max(int(left / pace), 0))

    def _set_lr(self) -> None:
        lr = lr_at(self.cfg, self.state.step + 1, self.progress()) * self.state.lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def progress(self) -> float:
        """How far the run is, 0..1, by steps or by time, whichever is further."""
        done = self.state.step / max(self.planned_steps, 1)
        if self.cfg.max_minutes is not None:
            done = max(done, self.elapsed() / self._training_seconds())
        return done

    def _training_seconds(self) -> float:
        """The part of the time budget for training: the rest is the reserve."""
        return max(60 * self.cfg.max_minutes - self.final_reserve(), 1e-9)

    def final_reserve(self) -> float:
        """Seconds of the time budget kept for the evaluations after training: as
        long as the last evaluation took (or would take, timed on a part before
        training), and ``final_evals`` times more for the other splits, with a
        margin of RESERVE_MARGIN: training stops a step past its line, and the
        final evaluations check what is left against the bare need (20% of the
        budget when no evaluation was timed); at most half of the budget."""
        budget = 60 * self.cfg.max_minutes
        if self.state.eval_seconds > 0:
            need = RESERVE_MARGIN * self.state.eval_seconds * (1 + self.final_evals)
        else:
            need = 0.2 * budget
        return min(need, 0.5 * budget)

    def seconds_left(self) -> float | None:
        """Seconds left in the time budget (None without one)."""
        if self.cfg.max_minutes is None:
            return None
        return 60 * self.cfg.max_minutes - self.elapsed()

    def elapsed(self) -> float:
        """Seconds in the training loop; under DDP the slowest rank's, so that the
        schedule and the time budget agree on every rank (a collective call)."""
        own = self._elapsed_before + time.perf_counter() - self._clock_start
        return distributed.maximum(own, self.device)

    def _plan(self, steps_per_epoch: int) -> int:
        planned = self.cfg.epochs * math.ceil(steps_per_epoch / self.cfg.accumulate)
        if self.cfg.max_steps is not None:
            planned = min(planned, self.cfg.max_steps)
        return planned

    def _after_step(self) -> None:
        """Signals, budgets, evaluation and the save clock, after a step."""
        if self.state.stop_reason == "diverged":
            return
        now = self.elapsed()
        if self._signalled():  # every rank stops at the same step
            self._save_last(now)
            raise self._interrupted()
        self._check_budgets(now)
        if self._eval_due():
            self.evaluate_and_save()
        elif self._save_due(now):
            self._save_last(now)

    def _check_budgets(self, now: float | None = None) -> None:
        if self.state.stop_reason is not None:
            return
        if self.cfg.max_steps is not None and self.state.step >= self.cfg.max_steps:
            self.state.stop_reason = "max_steps"
        elif self.cfg.max_minutes is not None:
            now = self.elapsed() if now is None else now
            if now >= self._training_seconds():
                self.state.stop_reason = "time_budget"

    def _save_due(self, now: float) -> bool:
        every = self.cfg.save_every_minutes
        return every is not None and now - self.state.saved_at >= 60 * every

    def _save_last(self, now: float) -> None:
        """Save 'last' (weights, optimizer, position) without evaluating."""
        self.state.elapsed = self.state.saved_at = now
        carries = distributed.gather(self.carry)  # every rank's streams' state
        if distributed.is_main():
            self.save("last", carries=carries)
        distributed.barrier()

    # ---- signals and divergence ---------------------------------------------------
    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM set a flag the loop acts on after the step in flight
        (save 'last', raise Interrupted); a second one acts at once, as the
        handlers from before are back. Signals ignored before stay ignored."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous: dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            del frame
            self._signal = signum
            for sig, old in previous.items():
                signal.signal(sig, old)
            os.write(2, b"\nstopping: saving checkpoints/last after this step\n")

        for sig in (signal.SIGINT, signal.SIGTERM):
            old = signal.getsignal(sig)
            if old not in (signal.SIG_IGN, None):
                previous[sig] = old
                signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _signalled(self) -> bool:
        agreed = int(distributed.maximum(float(self._signal), self.device))
        self._signal = self._signal or agreed
        return agreed > 0

    def _interrupted(self) -> Interrupted:
        name = signal.Signals(self._signal).name
        where = self.run_dir / CHECKPOINTS / "last"
        return Interrupted(
            f"{name}: stopped at step {self.state.step}, saved in {where}; "
            "continue with --resume",
            128 + self._signal,
        )

    def _diverge(self, what: str, value: float) -> None:
        self.state.stop_reason = "diverged"
        step = self.state.step + (1 if what == "loss" else 0)
        self.diverged = {"step": step, "what": what, "value": str(value)}

    def _evaluation_missed(self) -> bool:
        """A run stopped by a signal right after a step whose evaluation was due
        saved 'last' without it: the resumed run makes it up first."""
        s = self.state
        return s.step > 0 and self._eval_due() and s.last_eval_step != s.step

    def _eval_due(self) -> bool:
        every = self.cfg.eval_every
        return every is not None and self.state.step % every == 0

    # ---- evaluation, early stopping, checkpoints -----------------------------------
    def evaluate_and_save(self) -> dict[str, float]:
        """Evaluate, log a metrics.jsonl line, save 'last' (and 'best' if improved)."""
        s = self.state
        s.elapsed = self.elapsed()
        self.model.eval()
        with torch.no_grad():
            metrics = dict(self.evaluate(self.model))
        s.eval_seconds = self.elapsed() - s.elapsed
        record = self._record(metrics)
        improved = self._update_best(metrics)
        s.last_eval_step = s.step
        s.history.append(record)
        self._write_metrics(record)
        value = metrics.get(self.monitor)
        if isinstance(value, float) and not math.isfinite(value):
            self._diverge(self.monitor, value)  # weights gone bad: not saved
            return metrics
        s.saved_at = s.elapsed
        carries = distributed.gather(self.carry)  # every rank's streams' state
        if distributed.is_main():
            if improved:
                self.save("best", with_trainer_state=False)
            self.save("last", carries=carries)
            if self.cfg.keep_last:
                self.save(step_name(s.step), with_trainer_state=False)
                prune_step_checkpoints(self.run_dir / CHECKPOINTS, self.cfg.keep_last)
        distributed.barrier()  # the checkpoint is complete before anyone goes on
        return metrics

    def _record(self, metrics: dict[str, float]) -> dict:
        s = self.state
        train_loss = (
            s.train_loss_sum / s.train_loss_count if s.train_loss_count else None
        )
        s.train_loss_sum, s.train_loss_count = 0.0, 0
        return {
            "step": s.step,
            "epoch": s.epoch,
            "elapsed": round(s.elapsed, 3),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            **metrics,
        }

    def _update_best(self, metrics: dict[str, float]) -> bool:
        s = self.state
        value = metrics.get(self.monitor)
        if value is None or not math.isfinite(value):
            return False
        better = s.best_metric is None or (
            value > s.best_metric if self.maximize else value < s.best_metric
        )
        if better:
            s.best_metric, s.best_step, s.bad_evals = value, s.step, 0
            return True
        s.bad_evals += 1
        s.lr_scale *= self.cfg.plateau_factor
        if self.cfg.patience is not None and s.bad_evals >= self.cfg.patience:
            s.stop_reason = s.stop_reason or "early_stopping"
        return False

    def save(
        self, name: str, with_trainer_state: bool = True, carries: list | None = None
    ) -> None:
        trainer_state = self._trainer_state(carries) if with_trainer_state else None
        save_checkpoint(
            self.run_dir / CHECKPOINTS,
            name,
            model_state=self.model.state_dict(),
            meta={**self.meta, "step": self.state.step},
            trainer_state=trainer_state,
        )

    def _trainer_state(self, carries: list | None = None) -> dict:
        state = asdict(self.state)
        state["finished"] = state["stop_reason"]  # set when the run has ended
        state["stop_reason"] = None  # a resumed run decides afresh when to stop
        carries = carries if carries is not None else [self.carry]
        return {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "train": state,
            # one process: its carry; under DDP each rank's, in rank order
            "carry": carries[0] if len(carries) == 1 else None,
            "carry_by_rank": carries if len(carries) > 1 else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all()
                if torch.cuda.is_available()
                else [],
                "python": random.getstate(),
                "numpy": np.random.get_state(),
            },
        }

    def restore(self) -> None:
        """Continue from the 'last' checkpoint in run_dir, exactly where it stopped."""
        ckpt = load_checkpoint(self.run_dir / CHECKPOINTS, "last")
        check_compatible(ckpt.meta, self.meta, self.compatible_keys, where=ckpt.path)
        load_model_weights(self.model, ckpt.model_state)
        saved = ckpt.trainer_state
        self.optimizer.load_state_dict(saved["optimizer"])
        self.state = TrainState(**saved["train"])
        self._saved_train = ckpt.meta.get("config", {}).get("train", {})
        if saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        self.carry = map_state(lambda t: t.to(self.device), self._saved_carry(saved))
        rng = saved["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        if distributed.is_main():  # a kill between a metrics line and its checkpoint
            records = [json_safe(r) for r in self.state.history]
            (self.run_dir / "metrics.jsonl").write_text(
                "".join(json.dumps(r, allow_nan=False) + "\n" for r in records),
                encoding="utf-8",
            )
        self.log(f"resumed from {ckpt.path} at step {self.state.step}")

    def _saved_carry(self, saved: dict):
        """This rank's carried state; reset when the number of processes changed."""
        by_rank = saved.get("carry_by_rank") or [saved.get("carry")]
        if len(by_rank) != distributed.world_size():
            self.log(
                f"resuming on {distributed.world_size()} process(es) a run saved on "
                f"{len(by_rank)}: the carried recurrent state starts afresh"
            )
            return None
        return by_rank[distributed.rank()]

    def _result(self, already_complete: bool = False) -> TrainResult:
        s = self.state
        return TrainResult(
            steps=s.step,
            epochs=s.epoch,
            train_seconds=round(s.elapsed, 3),
            tokens_per_second=s.tokens / s.step_seconds if s.step_seconds else 0.0,
            stop_reason=s.stop_reason or "epochs",
            best_step=s.best_step,
            best_metric=s.best_metric,
            last_metrics=dict(s.history[-1]) if s.history else {},
            already_complete=already_complete,
            diverged=self.diverged,
        )

    # ---- logs --------------------------------------------------------------------
    def _open_logs(self) -> None:
        if not distributed.is_main():
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._writer = _tensorboard_writer(self.run_dir / "tb")
        if self.cfg.progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.planned_steps,
                initial=self.state.step,
                unit="step",
                dynamic_ncols=True,
                leave=True,
                # a log file gets a line every 30 s, a terminal ten updates a second
                mininterval=0.1 if sys.stderr.isatty() else 30,
            )

    def _close_logs(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._writer is not None:
            self._writer.close()

    def _log_train(self, loss: float) -> None:
        s = self.state
        tokens_per_s = s.tokens / max(s.step_seconds, 1e-9)
        if self._writer is not None:
            self._writer.add_scalar("train/loss", loss, s.step)
            self._writer.add_scalar(
                "train/lr", self.optimizer.param_groups[0]["lr"], s.step
            )
            self._writer.add_scalar("train/tokens_per_second", tokens_per_s, s.step)
        if self._bar is not None:
            post = {"loss": f"{loss:.3f}"}
            if self.perplexity:
                post["ppl"] = f"{math.exp(min(loss, 50)):.2f}"
            post["tok/s"] = f"{tokens_per_s:,.0f}"
            self._bar.set_postfix(post, refresh=False)

    def _write_metrics(self, record: dict) -> None:
        if not distributed.is_main():
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self._writer.add_scalar(f"eval/{key}", value, record["step"])
        shown = ", ".join(
            f"{k} {v:.4f}"
            for k, v in record.items()
            if isinstance(v, float) and k not in ("elapsed", "lr")
        )
        message = f"step {record['step']} (epoch {record['epoch']}): {shown}"
        if self._bar is not None:
            self._bar.write(message)
        else:
            self.log(message)


def _wrap(model: nn.Module, cfg: TrainConfig, device: torch.device) -> nn.Module:
    """What the training step calls: the model, in DDP under torchrun, compiled
    on request. Weights are saved from and evaluated with the plain model."""
    if cfg.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    forward = model
    if distributed.available():
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        forward = DistributedDataParallel(model, device_ids=ids)
    return torch.compile(forward) if cfg.compile else forward


def _groups(batches: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` batches (the last may be shorter)."""
    while group := list(islice(batches, size)):
        yield group


def _shares(batches: tuple[Any, ...]) -> list[float]:
    """Each batch's share of the loss terms of all (1.0 for a single batch)."""
    if len(batches) == 1:
        return [1.0]
    counts = [int(b.num_targets) for b in batches]
    return [c / sum(counts) for c in counts]


def _tensorboard_writer(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(path))
