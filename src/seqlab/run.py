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
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab import distributed
from seqlab.checkpoint import (
    CheckpointError,
    has_checkpoint,
    load_checkpoint,
    load_model_weights,
)
from seqlab.config import ConfigError, apply_overrides, load_yaml, save_config, validate
from seqlab.models import build_model
from seqlab.tasks import TASKS
from seqlab.train import CHECKPOINTS, Trainer, TrainingDiverged, resolve_device
from seqlab.utils import bf16_problem, json_safe, seed_everything
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
    started = time.perf_counter()  # train.max_minutes counts from here
    cfg = config if not isinstance(config, (str, Path)) else load_run_config(config)
    run_dir = Path(run_dir)
    check_precision(cfg.train)
    resume = _check_run_dir(run_dir, resume, cfg, log)
    owned = distributed.setup(resolve_device(cfg.train.device))
    try:
        return _train(cfg, run_dir, resume, data_dir, log, started)
    finally:
        if owned:
            distributed.teardown()


def _train(
    cfg, run_dir: Path, resume: bool, data_dir, log, started: float
) -> dict[str, Any]:
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
        validation = Validation(task, log if main else _quiet)
        trainer = Trainer(
            model,
            cfg.train,
            run_dir=run_dir,
            evaluate=validation,
            meta=_meta(cfg, task),
            monitor=task.monitor,
            maximize=task.maximize,
            perplexity=cfg.task == "lm",
            log=log if main else _quiet,
            final_evals=validation.load,
            before_final=validation.before_final,
            started=started,
            time_evaluation=validation.time_whole,
        )
        steps = task.steps_per_epoch()
        result = trainer.fit(task.train_batches, steps, resume=resume)
        if result.already_complete and (run_dir / "summary.json").is_file():
            return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        if result.diverged is not None:
            summary = _facts(trainer.model, result)
        else:
            summary = summarize(trainer.model, task, result, run_dir, validation)
    if main:
        text = json.dumps(json_safe(summary), indent=2, allow_nan=False)
        (run_dir / "summary.json").write_text(text + "\n")
    if result.diverged is not None:
        raise TrainingDiverged(_divergence_message(cfg, run_dir, result.diverged))
    return summary


class Validation:
    """The trainer's ``evaluate``: the task's metrics on val. When the final
    evaluations of a run with a time budget do not fit in what is left (as the
    last evaluation took; untimed: assumed not to), a task that searches (its
    capabilities say ``beam``) does so greedily, and one that can cut a split
    (``partial_eval``: ``fraction=``) evaluates the first part of each split that
    fits, timed on 2% of val."""

    PROBE = 0.02  # of val, timed to see how much fits

    def __init__(self, task, log) -> None:
        self.task = task
        self.log = log
        self.options: dict[str, Any] = {}  # for task.evaluate, e.g. {"beam": 1}
        self.used: dict[str, Any] | None = None  # options of the last call
        self.deadline: float | None = None  # perf_counter the final ones end by
        self.can = task.capabilities  # partial_eval: fraction=; beam: beam=
        self.load = _final_load(task)  # the final evaluations but val's, in vals

    def __call__(self, model: nn.Module) -> dict[str, float]:
        self.used = self.final_options(model)
        return self.task.evaluate(model, "val", **self.used)

    def time_whole(self, model: nn.Module) -> float | None:
        """Seconds a whole val evaluation takes, timed on 2% of it (None: the task
        cannot evaluate a part)."""
        if not self.can.partial_eval:
            return None
        start = time.perf_counter()
        self.task.evaluate(model, "val", **self.options, fraction=self.PROBE)
        return (time.perf_counter() - start) / self.PROBE

    def before_final(self, seconds_left: float | None, eval_seconds: float) -> None:
        if seconds_left is None:
            return
        need = eval_seconds * (1 + self.load)
        if eval_seconds > 0 and need <= seconds_left:
            return
        if self.can.partial_eval:
            self.deadline = time.perf_counter() + max(seconds_left, 0.0)
        if self.can.beam:
            self.options = {"beam": 1}
            self.log(
                f"final evaluation: greedy search, to end within train.max_minutes "
                f"({max(seconds_left, 0):.0f} s left); for the configured beam: "
                "seqlab evaluate RUN_DIR --split test --beam N"
            )

    def final_options(self, model: nn.Module) -> dict[str, Any]:
        """The options of an evaluation (the same for every final one)."""
        if self.deadline is not None:
            whole = self.time_whole(model)  # one split, all of it
            left = (self.deadline - time.perf_counter()) / (1 + self.load)
            self.deadline = None  # timed once: the same cut for every split
            if left < whole:
                self.options["fraction"] = max(left / whole, self.PROBE)
                self.log(
                    f"final evaluation: the first {self.options['fraction']:.0%} of "
                    "each split, what fits in train.max_minutes"
                )
        return dict(self.options)

    def note(self) -> str | None:
        """What the summary says about cut final evaluations."""
        if not self.options:
            return None
        parts = ["greedy search"] if self.options.get("beam") == 1 else []
        if "fraction" in self.options:
            parts.append(f"the first {self.options['fraction']:.1%} of each split")
        return ", ".join(parts) + ": what fitted in train.max_minutes"


def _final_splits(task) -> list[str]:
    return [s for s in task.splits() if s not in ("train", "val")]


def _final_load(task) -> float:
    """The final evaluations besides val's, in val evaluations: each other split
    weighs its size over val's (1 where the task cannot say)."""
    val = task.split_size("val")
    sizes = [task.split_size(s) for s in _final_splits(task)]
    return sum(size / val if size and val else 1.0 for size in sizes)


def _facts(model: nn.Module, result) -> dict[str, Any]:
    return {
        "train_seconds": result.train_seconds,
        "tokens_per_second": round(result.tokens_per_second, 1),
        "parameters": count_parameters(model),
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "best_step": result.best_step,
        "diverged": result.diverged,
    }


def _divergence_message(cfg, run_dir: Path, diverged: dict) -> str:
    last = run_dir / CHECKPOINTS / "last"
    step = _saved_step(last)
    good = (
        f"the last good checkpoint is {last} (step {step})"
        if step is not None
        else "no good checkpoint was saved (no evaluation before it)"
    )
    return (
        f"training diverged at step {diverged['step']}: {diverged['what']} "
        f"{diverged['value']}; {good}; {_what_to_lower(cfg)}"
    )


def _what_to_lower(cfg) -> str:
    advice = f"lower train.lr (now {cfg.train.lr:g})"
    if cfg.train.clip_norm is None:
        advice += " or set train.clip_norm (e.g. 1.0)"
    return advice + ", then train again or --resume"


def _saved_step(path: Path) -> int | None:
    try:
        return json.loads((path / "meta.json").read_text(encoding="utf-8"))["step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _scratch():
    return tempfile.TemporaryDirectory(prefix="seqlab-rank-")


def _quiet(message: str) -> None:
    del message


def summarize(
    model: nn.Module, task, result, run_dir: Path, validation: Validation | None = None
) -> dict[str, Any]:
    """Metrics of the best weights on every split but train, and the run's facts;
    val's are those of the last evaluation when it was of the best weights."""
    best = run_dir / CHECKPOINTS / "best"
    if best.exists():
        load_model_weights(
            model, load_checkpoint(run_dir / CHECKPOINTS, "best").model_state
        )
    options = validation.final_options(model) if validation is not None else {}
    last = result.last_metrics
    reuse = (
        validation is not None
        and validation.used == options
        and last.get("step") == result.best_step
    )
    summary: dict[str, Any] = {}
    for split in task.splits():
        if split == "val" and reuse:
            summary.update({k: v for k, v in last.items() if k.startswith("val_")})
        elif split != "train":
            summary.update(task.evaluate(model, split, **options))
    if validation is not None and validation.note() is not None:
        summary["final_evaluation"] = validation.note()
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


def _check_run_dir(run_dir: Path, resume: bool, cfg, log) -> bool:
    """Whether to resume. A fresh run over a saved one is refused, and so is
    resuming a diverged run with the config it diverged with; a run folder with
    no complete checkpoint (killed before or during its first save) starts afresh."""
    checkpoints = run_dir / CHECKPOINTS
    saved = has_checkpoint(checkpoints, "last") or has_checkpoint(checkpoints, "best")
    if not resume:
        if saved:
            raise FileExistsError(
                f"{run_dir} already holds a run; pass --resume to continue it or "
                "choose another --out (nothing was changed)"
            )
        if checkpoints.exists():
            log(f"{run_dir} holds no complete checkpoint: training from scratch")
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        return False
    if not run_dir.is_dir():
        raise FileNotFoundError(f"--resume: no run in {run_dir} (no such directory)")
    _refuse_same_divergence(run_dir, cfg)
    if not has_checkpoint(checkpoints, "last"):
        log(f"--resume: {run_dir} holds no complete checkpoint: training from scratch")
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        return False
    return True


def _refuse_same_divergence(run_dir: Path, cfg) -> None:
    """A run that diverged resumes only with a changed config."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        before = load_run_config(run_dir / "config.yaml")
    except (OSError, ValueError):
        return
    if summary.get("stop_reason") != "diverged":
        return
    if before.model_dump(mode="json") != cfg.model_dump(mode="json"):
        (run_dir / "summary.json").unlink(missing_ok=True)  # of the diverged try
        return
    at = (summary.get("diverged") or {}).get("step", "?")
    raise ConfigError(
        f"{run_dir} diverged at step {at} with this same config; change it first: "
        f"{_what_to_lower(cfg)}"
    )


def check_precision(cfg) -> None:
    """Refuse ``train.precision: bf16`` where this CPU cannot run it."""
    if cfg.precision != "bf16" or resolve_device(cfg.device).type != "cpu":
        return
    problem = bf16_problem()
    if problem is not None:
        raise ConfigError(
            f"train.precision: bf16 does not run on this CPU ({problem}); "
            "use train.precision=fp32"
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
    name = "best" if has_checkpoint(run_dir / CHECKPOINTS, "best") else "last"
    if not has_checkpoint(run_dir / CHECKPOINTS, name):
        raise CheckpointError(
            f"{run_dir} has no good checkpoint (its training ended before the "
            "first one was saved): train it again"
        )
    ckpt = load_checkpoint(run_dir / CHECKPOINTS, name)
    bad = [k for k, v in ckpt.model_state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"{ckpt.path} holds non-finite weights ({bad[0]}): the run diverged; "
            "train it again with a lower train.lr"
        )
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
