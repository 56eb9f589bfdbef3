"""Runs: a config file becomes a trained model in a run directory, and back.

RUN_DIR layout::

    config.yaml          the resolved config (every default written out)
    vocab.json           the vocabulary (+ tokenizer.model for subword runs)
    checkpoints/best/    weights of the best evaluation (what inference loads)
    checkpoints/last/    weights + optimizer/RNG/position state, for --resume
    metrics.jsonl        one line per evaluation
    summary.json         final metrics: val/test loss and perplexity, timing, size
    tb/                  TensorBoard events (with the tensorboard extra)

Under ``torchrun`` every process runs ``train`` with the same arguments; rank 0
alone writes the run directory (the others prepare their data in a scratch
directory) and all return the same summary.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab import distributed
from seqlab.checkpoint import CheckpointError, load_checkpoint, load_model_weights
from seqlab.config import ConfigError, apply_overrides, load_yaml, save_config, validate
from seqlab.models import build_model
from seqlab.tasks import TASKS
from seqlab.train import CHECKPOINTS, Trainer, resolve_device
from seqlab.utils import seed_everything
from seqlab.warmstart import start_weights


def load_run_config(path: str | Path, overrides: tuple[str, ...] = ()):
    """Read, override and validate a run config; the ``task`` key picks the schema."""
    data = apply_overrides(load_yaml(path), list(overrides))
    source = str(path) + (f" with --set {' '.join(overrides)}" if overrides else "")
    task = data.get("task", "lm")
    if task not in TASKS:
        raise ConfigError(
            f"task: unknown task {task!r}; choose one of {', '.join(TASKS)} "
            f"(in {source})"
        )
    return validate(TASKS[task][0], data, source)


def as_run_config(config, overrides: tuple[str, ...] = ()):
    """A validated run config from a YAML path, a dict or a run config."""
    if isinstance(config, (str, Path)):
        return load_run_config(config, overrides)
    if not isinstance(config, dict):
        if not overrides:
            return config
        config = config.model_dump(mode="json")
    data = apply_overrides(dict(config), list(overrides))
    task = data.get("task", "lm")
    if task not in TASKS:
        raise ConfigError(
            f"task: unknown task {task!r}; choose one of {', '.join(TASKS)}"
        )
    return validate(TASKS[task][0], data, "<dict>")


def train(
    config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    data_dir: str | Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Train the run ``config`` describes into ``run_dir``; returns the summary.

    ``config`` is a validated run config or a path to a YAML file.
    """
    cfg = config if not isinstance(config, (str, Path)) else load_run_config(config)
    run_dir = Path(run_dir)
    _check_run_dir(run_dir, resume)
    owned = distributed.setup(resolve_device(cfg.train.device))
    try:
        return _train(cfg, run_dir, resume, data_dir, log)
    finally:
        if owned:
            distributed.teardown()


def _train(cfg, run_dir: Path, resume: bool, data_dir, log) -> dict[str, Any]:
    main = distributed.is_main()
    distributed.barrier()  # every rank has checked run_dir before rank 0 writes
    with ExitStack() as stack:
        # ranks but 0 write what prepare saves (vocabulary ...) to a scratch dir
        prep_dir = run_dir if main else Path(stack.enter_context(_scratch()))
        prep_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.train.seed)
        task = TASKS[cfg.task][1].prepare(cfg, data_dir, prep_dir)
        if main:
            save_config(cfg, run_dir / "config.yaml")
        model = build_model(cfg.model, **task.model_sizes)
        start_weights(
            model, cfg, task.vocab.tokens, resume=resume, log=log if main else _quiet
        )
        trainer = Trainer(
            model,
            cfg.train,
            run_dir=run_dir,
            evaluate=lambda m: task.evaluate(m, "val"),
            meta=_meta(cfg, task),
            monitor=task.monitor,
            maximize=task.maximize,
            perplexity=cfg.task == "lm",
            log=log if main else _quiet,
        )
        steps = task.steps_per_epoch()
        result = trainer.fit(task.train_batches, steps, resume=resume)
        summary = summarize(trainer.model, task, result, run_dir)
    if main:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _scratch():
    return tempfile.TemporaryDirectory(prefix="seqlab-rank-")


def _quiet(message: str) -> None:
    del message


def summarize(model: nn.Module, task, result, run_dir: Path) -> dict[str, Any]:
    """Metrics of the best weights on every split but train, and the run's facts."""
    best = run_dir / CHECKPOINTS / "best"
    if best.exists():
        load_model_weights(
            model, load_checkpoint(run_dir / CHECKPOINTS, "best").model_state
        )
    summary: dict[str, Any] = {}
    for split in task.splits():
        if split != "train":
            summary.update(task.evaluate(model, split))
    summary.update(
        train_seconds=result.train_seconds,
        tokens_per_second=round(result.tokens_per_second, 1),
        parameters=count_parameters(model),
        steps=result.steps,
        epochs=result.epochs,
        stop_reason=result.stop_reason,
        best_step=result.best_step,
    )
    return summary


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, tied weights counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _meta(cfg, task) -> dict[str, Any]:
    return {
        "config": cfg.model_dump(mode="json"),
        "vocab": task.vocab.tokens,
        "seqlab_task": cfg.task,
    }


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    has_run = (run_dir / CHECKPOINTS).exists()
    if resume and not (run_dir / CHECKPOINTS / "last").exists():
        raise FileNotFoundError(f"--resume: no checkpoint to resume in {run_dir}")
    if not resume and has_run:
        raise FileExistsError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose "
            "another --out (nothing was changed)"
        )


@dataclass
class LoadedRun:
    """A trained run ready for inference: its config, task (vocab...) and model."""

    cfg: Any
    task: Any
    model: nn.Module
    run_dir: Path


def load_run(run_dir: str | Path, device: str = "auto") -> LoadedRun:
    """Config, vocabulary and best weights of a trained run, in eval mode."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a seqlab run: no config.yaml in it")
    cfg = load_run_config(config_path)
    task = TASKS[cfg.task][1].load(cfg, run_dir)
    model = build_model(cfg.model, **task.model_sizes)
    name = "best" if (run_dir / CHECKPOINTS / "best").exists() else "last"
    ckpt = load_checkpoint(run_dir / CHECKPOINTS, name)
    if ckpt.meta.get("vocab") != task.vocab.tokens:
        raise CheckpointError(
            f"{ckpt.path} was saved with another vocabulary than "
            f"{run_dir / 'vocab.json'}"
        )
    load_model_weights(model, ckpt.model_state)
    model.to(resolve_device(device)).eval()
    return LoadedRun(cfg, task, model, run_dir)


def generator_for(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)
