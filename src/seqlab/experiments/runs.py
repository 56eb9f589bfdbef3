"""Experiments that train real seqlab runs: a config built in code, the trainer.

The experiments on real data (addition, dates, Tiny Shakespeare, Brown) build a run
config as the files in configs/ do, with a smaller budget (steps or minutes), and
train it with :func:`seqlab.run.train` into ``DIR/runs/NAME``: the same task, model
and trainer as ``seqlab train``, so a figure here is a figure of seqlab itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab import run
from seqlab.checkpoint import has_checkpoint
from seqlab.config import validate
from seqlab.data import datasets, readers
from seqlab.experiments.common import Context
from seqlab.tasks import TASKS
from seqlab.train import CHECKPOINTS


@dataclass
class Trained:
    """A finished run: summary.json, the metrics.jsonl records, its directory."""

    summary: dict[str, Any]
    history: list[dict[str, Any]]
    run_dir: str

    def curve(self, metric: str) -> list[list[float]]:
        """[[step, value], ...] of ``metric`` over the run's evaluations."""
        return [[r["step"], r[metric]] for r in self.history if metric in r]

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary, "history": self.history}


def train(ctx: Context, name: str, config: dict[str, Any]) -> Trained:
    """Validate ``config`` (a run config as a dict) and train it into runs/NAME.

    A run directory left by an earlier call is replaced: an experiment rerun into
    the same DIR starts afresh rather than refusing. With ``ctx.resume`` (``seqlab
    experiment --resume``) a run that finished with this same config is reused, and
    one stopped part-way (a kill, Ctrl-C, the machine going away) continues from its
    last checkpoint; a run whose saved config differs is trained again.

    A run is trained under a lock (runs/NAME.lock): a second invocation into the
    same DIR (another core working through the runs in another order) waits for
    the run the first is training, then reuses it with --resume.
    """
    cfg = validate(TASKS[config["task"]][0], config, f"experiment run {name!r}")
    run_dir = ctx.out_dir / "runs" / name
    with _exclusive(run_dir.with_name(f"{name}.lock"), name, ctx.log):
        summary, resumable = _earlier(run_dir, cfg) if ctx.resume else (None, False)
        if summary is not None:
            ctx.log(f"  reuse {name} (finished earlier with this config)")
        else:
            if not resumable:
                shutil.rmtree(run_dir, ignore_errors=True)
            ctx.log(f"  {'resume' if resumable else 'train'} {name}")
            summary = run.train(cfg, run_dir, resume=resumable, log=lambda _: None)
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return Trained(summary, [json.loads(line) for line in lines], str(run_dir))


def cached(
    ctx: Context, name: str, config: dict[str, Any], compute: Callable[[Path], Any]
) -> Any:
    """``compute(progress)`` for a part of an experiment that is no seqlab run (a
    model trained in memory), its JSON result saved as runs/NAME.json beside
    ``config``: with ``ctx.resume`` the result an earlier invocation saved for this
    same config is reused, so a stopped experiment does not redo its finished parts.
    ``progress`` is a file (named after NAME and ``config``) where ``compute`` may
    keep its progress to continue from: with ``ctx.resume`` an earlier invocation's
    is left for it, else it is removed first. Like ``train``, it computes under a
    lock (runs/NAME.lock), so a second invocation into the same DIR waits for the
    part the first is computing and reuses it."""
    path = ctx.out_dir / "runs" / f"{name}.json"
    config = json.loads(json.dumps(config))  # tuples as lists, as it is saved
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()
    progress = path.with_name(f"{name}-{digest[:10]}.progress")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(path.with_suffix(".lock"), name, ctx.log):
        if ctx.resume:
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                saved = None
            if saved is not None and saved.get("config") == config:
                ctx.log(f"  reuse {name} (finished earlier with this config)")
                return saved["result"]
            if progress.is_file():
                ctx.log(f"  resume {name} (stopped part-way earlier)")
        else:
            progress.unlink(missing_ok=True)
        result = compute(progress)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps({"config": config, "result": result}) + "\n")
        partial.replace(path)  # whole or not at all
        progress.unlink(missing_ok=True)
    return result


@contextlib.contextmanager
def _exclusive(path: Path, name: str, log: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (POSIX; elsewhere no lock), waiting
    for another process that holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: one invocation per DIR
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"  wait: another process is training {name}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _earlier(run_dir, cfg) -> tuple[dict | None, bool]:
    """What an earlier invocation left in ``run_dir`` for this same config: the
    summary of a run that finished without diverging, else whether a last checkpoint
    is there to resume; (None, False) for nothing or another config (train afresh).
    The config is the run's identity: data files it names are not read, so an
    experiment names a derived file by what it holds (see dropout_schemes)."""
    try:
        before = run.load_run_config(run_dir / "config.yaml")
    except (OSError, ValueError):
        return None, False
    if before.model_dump(mode="json") != cfg.model_dump(mode="json"):
        return None, False
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or cut short while being written
        summary = None
    if summary is not None and summary.get("stop_reason") != "diverged":
        return summary, False  # a diverged run raised in its own invocation
    return None, has_checkpoint(run_dir / CHECKPOINTS, "last")


def budget(
    steps: int | None = None, minutes: float | None = None, **train: Any
) -> dict[str, Any]:
    """A train section ending at ``steps`` or ``minutes`` (whichever comes first),
    with cosine decay over it, no progress bar (the experiment logs its own)."""
    return {
        "optimizer": "adamw",
        "schedule": "cosine",
        "min_lr_ratio": 0.05,
        "epochs": 1000,  # the budget ends the run, not epochs
        "max_steps": steps,
        "max_minutes": minutes,
        "clip_norm": 1.0,
        "progress": False,
        **train,
    }


def char_lm(model: dict[str, Any], train: dict[str, Any], bptt: int = 64) -> dict:
    """A Tiny Shakespeare character LM run config (configs/shakespeare-char-*.yaml)."""
    return {
        "task": "lm",
        "data": {"dataset": "tinyshakespeare", "tokenizer": "char", "bptt": bptt},
        "model": model,
        "train": train,
    }


def shakespeare_train_chars() -> int:
    """Characters in Tiny Shakespeare's train split: one epoch of the char LM."""
    path = datasets.locate("tinyshakespeare", None, download=True)
    return len(readers.read_tinyshakespeare(path)[0])


def seconds_per_epoch(trained: Trained, tokens_per_epoch: int) -> float:
    """One epoch at the run's measured speed (training steps only, no evaluation)."""
    return tokens_per_epoch / trained.summary["tokens_per_second"]


def all_threads() -> int:
    """The CPU threads a process may use here (the affinity mask where Linux has
    one: ``taskset -c 1`` gives 1)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def throughput(ctx: Context, name: str, config: dict[str, Any], threads: int) -> float:
    """Training tokens/s of ``config`` (a short run: its own step budget) with torch
    on ``threads`` threads; the experiment's own thread count is restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return train(ctx, f"{name}-threads{threads}", config).summary[
            "tokens_per_second"
        ]
    finally:
        torch.set_num_threads(before)


def time_to(trained: Trained, metric: str, target: float) -> float | None:
    """Seconds of the run (its records' ``elapsed``) until ``metric`` first fell to
    ``target`` or below; None if it never did."""
    for record in trained.history:
        if metric in record and record[metric] <= target:
            return record.get("elapsed")
    return None
