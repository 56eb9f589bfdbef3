"""Warm start: a new run begins from another run's weights (``train.init_from``)
or from pretrained word vectors (``model.embeddings``, ``model.freeze_embeddings``).

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
from seqlab.data.vectors import load_vectors
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
    """What a run's model starts from besides its fresh initialisation: pretrained
    word vectors (``model.embeddings``), then another run's weights
    (``train.init_from``); neither when resuming (the checkpoint has the weights),
    but ``model.freeze_embeddings`` holds on a resume too. Model configs with a
    token embedding declare those two keys; others have neither."""
    path = getattr(cfg.model, "embeddings", None)
    if path and not resume:
        log(pretrained_embeddings(model, path, tokens))
    if cfg.train.init_from and not resume:
        log(init_from(model, cfg.train.init_from, tokens))
    if getattr(cfg.model, "freeze_embeddings", False):
        log(freeze_embeddings(model, len(tokens)))


def token_embeddings(model: nn.Module, vocab_size: int) -> list[nn.Embedding]:
    """The model's embeddings of the vocabulary's tokens (a seq2seq model's encoder
    and decoder embeddings both, when they are not shared)."""
    found = [
        m
        for m in model.modules()
        if isinstance(m, nn.Embedding) and m.num_embeddings == vocab_size
    ]
    if not found:
        raise ValueError(
            f"model.embeddings: this model has no embedding of the {vocab_size} "
            "tokens of its vocabulary"
        )
    return found


def pretrained_embeddings(
    model: nn.Module, path: str | Path, tokens: Sequence[str]
) -> str:
    """Copy the vectors of the file ``path`` into the rows of the tokens it has, in
    every token embedding; returns the coverage report. The other rows keep their
    random direction at the vectors' scale (their standard deviation), as Kim
    (2014) draws unknown words: torch's N(0, 1) rows are about ten times longer
    than trained word2vec vectors and would drown them. The vectors must have the
    embedding's size (ValueError saying which to set otherwise)."""
    vectors = load_vectors(path, tokens)
    found, missing = vectors.found, ~vectors.found
    scale = float(vectors.weights[found].std()) if found.sum() > 1 else None
    for embedding in token_embeddings(model, len(tokens)):
        size, dim = embedding.embedding_dim, vectors.weights.shape[1]
        if size != dim:
            raise ValueError(
                f"model.embeddings: {path} holds {dim}-d vectors but the model's "
                f"token embedding is {size}-d; set model.embedding_size (d_model "
                f"for a Transformer) to {dim}"
            )
        with torch.no_grad():
            weight = embedding.weight
            if scale is not None and missing.any():
                weight[missing] *= scale / float(weight[missing].std())
            weight[found] = vectors.weights[found]
    if scale is None:
        return vectors.report
    return f"{vectors.report}; the other rows random at its scale (std {scale:.3f})"


def freeze_embeddings(model: nn.Module, vocab_size: int) -> str:
    """Stop training the token embeddings; says when an output layer shares them."""
    embeddings = token_embeddings(model, vocab_size)
    for embedding in embeddings:
        embedding.weight.requires_grad_(False)
    weights = {id(e.weight) for e in embeddings}
    names = {
        n for n, m in model.named_modules(remove_duplicate=False) if m in embeddings
    }
    tied = [
        name
        for name, p in model.named_parameters(remove_duplicate=False)
        if id(p) in weights and name.rpartition(".")[0] not in names
    ]
    also = f" (and {', '.join(tied)}, tied to it)" if tied else ""
    return f"freeze_embeddings: the token embedding{also} stays fixed"
