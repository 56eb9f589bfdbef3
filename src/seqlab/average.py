"""Checkpoint averaging: a run whose weights are the mean of another run's last N.

A run trained with ``train.keep_last: N`` keeps the weights of its N most recent
evaluations as ``checkpoints/step-000040/`` ... beside ``best`` and ``last``;
``average_run`` writes a new run directory (config, vocabulary, tokenizer, and
``checkpoints/best`` holding the element-wise mean of those weights) that
``seqlab evaluate``, ``predict`` and ``serve`` load like any other run. The mean of
the last few checkpoints of a Transformer is usually a little better than any one
of them (Vaswani et al. 2017 average the last 5 or 20; JoeyNMT and fairseq ship it).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import Tensor

from seqlab.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    step_checkpoints,
)
from seqlab.train import CHECKPOINTS

NOT_COPIED = ("metrics.jsonl", "summary.json")  # facts of the source run's training


def average_run(
    run_dir: str | Path, out: str | Path, last: int | None = None
) -> list[Path]:
    """Write ``out``: ``run_dir``'s files and the mean of its ``last`` kept
    checkpoints (all of them when None) as ``out/checkpoints/best``.

    Returns the checkpoints averaged. Raises ValueError naming ``--last`` when it
    is out of range, FileExistsError when ``out`` already holds a run.
    """
    run_dir, out = Path(run_dir), Path(out)
    chosen = _choose(run_dir, last)
    if (out / CHECKPOINTS).exists():
        raise FileExistsError(f"{out} already holds a run; choose another --out")
    checkpoints = [load_checkpoint(p.parent, p.name) for p in chosen]
    weights = average_weights([c.model_state for c in checkpoints])
    out.mkdir(parents=True, exist_ok=True)
    for path in run_dir.iterdir():
        if path.is_file() and path.name not in NOT_COPIED:
            shutil.copy2(path, out / path.name)
    meta = {**checkpoints[-1].meta, "averaged": [p.name for p in chosen]}
    meta.pop("format_version", None)
    save_checkpoint(out / CHECKPOINTS, "best", model_state=weights, meta=meta)
    return chosen


def average_weights(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """The element-wise mean of model state dicts (Vaswani et al. 2017).

    Floating-point tensors are averaged (in float64, returned in their dtype);
    integer buffers (counters) are taken from the last state. Raises
    CheckpointError when the states do not hold the same keys and shapes.
    """
    if not states:
        raise CheckpointError("no checkpoints to average")
    last = states[-1]
    for state in states[:-1]:
        if state.keys() != last.keys() or any(
            state[k].shape != last[k].shape for k in last
        ):
            raise CheckpointError("cannot average checkpoints of different models")
    mean: dict[str, Tensor] = {}
    for key, value in last.items():
        if value.is_floating_point():
            total = sum(s[key].double() for s in states)
            mean[key] = (total / len(states)).to(value.dtype)
        else:
            mean[key] = value.clone()
    return mean


def _choose(run_dir: Path, last: int | None) -> list[Path]:
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a seqlab run: no config.yaml in it")
    kept = step_checkpoints(run_dir / CHECKPOINTS)
    if not kept:
        raise ValueError(
            f"{run_dir} keeps no step checkpoints (checkpoints/step-*); train it "
            "with --set train.keep_last=N"
        )
    if last is None:
        return kept
    if not 1 <= last <= len(kept):
        raise ValueError(
            f"--last {last}: {run_dir} keeps {len(kept)} checkpoint(s) "
            f"({kept[0].name} .. {kept[-1].name}); choose 1 to {len(kept)}"
        )
    return kept[-last:]
