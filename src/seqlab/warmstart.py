"""Warm start: a new run begins from another run's weights (``train.init_from``).

The model config must be the same; the vocabulary may differ (fine-tuning a
Multi30k translator on a user's own pairs): every vocabulary-indexed tensor (token
embeddings, output layers and their biases) is mapped row by row by token, and
the rows of tokens the other run did not have keep their fresh initialisation.
The optimizer, schedule and step count start afresh (the trainer builds them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from seqlab.checkpoint import CheckpointError, load_checkpoint
from seqlab.train import CHECKPOINTS


def init_from(model: nn.Module, run_dir: str | Path, tokens: Sequence[str]) -> str:
    """Load ``run_dir``'s best (else last) weights into ``model``, whose vocabulary
    is ``tokens``; returns the report, e.g. "init_from runs/a: 812 of 830 tokens
    mapped, 18 new".

    Raises CheckpointError naming the first tensor whose shape differs (another
    model config) or that one of the two models lacks.
    """
    where = f"train.init_from {run_dir}"
    ckpt = _load(Path(run_dir), where)
    old_tokens = ckpt.meta.get("vocab") or list(tokens)
    rows = _vocab_keys(model, len(tokens), len(old_tokens))
    state = model.state_dict()
    old_index = {t: i for i, t in enumerate(old_tokens)}
    pairs = [(i, old_index[t]) for i, t in enumerate(tokens) if t in old_index]
    for key, value in state.items():
        saved = ckpt.model_state.get(key)
        if saved is None:
            raise CheckpointError(f"{where}: {key} is not in that run's weights")
        mapped = key in rows and list(old_tokens) != list(tokens)
        if mapped and saved.shape[1:] == value.shape[1:]:
            state[key] = _map_rows(value, saved, pairs)
        elif mapped or saved.shape != value.shape:
            raise CheckpointError(
                f"{where}: {key} has shape {tuple(saved.shape)} there but "
                f"{tuple(value.shape)} here; init_from needs the same model config"
            )
        else:
            state[key] = saved
    extra = sorted(set(ckpt.model_state) - set(state))
    if extra:
        raise CheckpointError(f"{where}: {extra[0]} is not a weight of this model")
    model.load_state_dict(state)
    new = len(tokens) - len(pairs)
    step = ckpt.meta.get("step")
    source = f"{ckpt.path.name}" + (f", step {step}" if step is not None else "")
    return (
        f"init_from {run_dir} ({source}): {len(pairs):,} of {len(tokens):,} tokens "
        f"mapped, {new:,} new"
    )


def _load(run_dir: Path, where: str):
    for name in ("best", "last"):
        if (run_dir / CHECKPOINTS / name).exists():
            return load_checkpoint(run_dir / CHECKPOINTS, name)
    raise CheckpointError(f"{where}: no {CHECKPOINTS}/best or last in it")


def _vocab_keys(model: nn.Module, size: int, old_size: int) -> set[str]:
    """Names of the tensors with one row per token: embeddings and output layers
    of ``size`` rows, and any tensor with ``size`` rows here and ``old_size`` there."""
    keys = set()
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Embedding) and module.num_embeddings == size:
            keys.add(prefix + "weight")
        if isinstance(module, nn.Linear) and module.out_features == size:
            keys |= {prefix + "weight", prefix + "bias"}
    if size != old_size:
        keys |= {k for k, v in model.state_dict().items() if v.dim() and len(v) == size}
    return keys


def _map_rows(fresh: Tensor, saved: Tensor, pairs: list[tuple[int, int]]) -> Tensor:
    """``fresh`` with row i replaced by ``saved`` row j for each (i, j)."""
    out = fresh.clone()
    if pairs:
        new, old = (torch.tensor(ix) for ix in zip(*pairs, strict=True))
        out[new] = saved[old].to(out.dtype)
    return out


def start_weights(
    model: nn.Module, cfg, tokens: Sequence[str], *, resume: bool, log
) -> None:
    """What a run's model starts from besides its fresh initialisation: another
    run's weights (``train.init_from``), not when resuming (the checkpoint has them)."""
    if resume:
        return
    if cfg.train.init_from:
        log(init_from(model, cfg.train.init_from, tokens))
