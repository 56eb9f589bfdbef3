"""On-disk format of a run's checkpoints, with no pickle anywhere.

A checkpoint is a directory `run_dir/<name>/`:

    model.safetensors   the weights (header metadata: seqlab_format_version)
    meta.json           whatever the caller passes (config, vocab fingerprint, step)
                        plus "format_version"
    trainer_state/      optional: optimizer, scheduler, RNG states, counters (save_tree)
      tree.json           the nested structure, tensors replaced by placeholders
      tensors.safetensors the tensors, keyed by their path in the structure
    COMPLETE            written last: JSON {"format_version", "files": {path: bytes},
                        "sha256": {path: hex digest}}, checked on every load

`save_checkpoint` writes everything into a hidden sibling directory, fsyncs it, and
renames it into place, so a crash at any moment leaves the previous or the new
checkpoint complete. Only one process may write a given `run_dir/<name>` at a time.
Loaded tensors are on the CPU; `Optimizer.load_state_dict` moves state to the
parameters' device.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "check_compatible",
    "has_checkpoint",
    "load_checkpoint",
    "load_model_weights",
    "load_tree",
    "prune_step_checkpoints",
    "save_checkpoint",
    "save_tree",
    "step_checkpoints",
    "step_name",
]

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
META_FILE = "meta.json"
TRAINER_DIR = "trainer_state"
COMPLETE_FILE = "COMPLETE"
TREE_FILE = "tree.json"
TENSORS_FILE = "tensors.safetensors"
_TYPE = "__type__"  # tag key of encoded non-JSON nodes in tree.json
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt, too new, or does not fit."""


@dataclass
class Checkpoint:
    """What `load_checkpoint` returns; tensors are on the CPU."""

    model_state: dict[str, Tensor]
    meta: dict[str, Any]
    trainer_state: Any | None
    path: Path


# ------------------------------------------------------------------ file helpers


def _fsync_path(path: Path) -> None:
    """Flush a file or directory to disk (directories only where the OS allows it)."""
    is_dir = path.is_dir()
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if is_dir else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        if is_dir:
            return  # e.g. Windows cannot open directories; nothing to flush there
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _write_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict) -> None:
    try:
        save_file(tensors, str(path), metadata=metadata)
    except (SafetensorError, ValueError, TypeError) as err:
        raise CheckpointError(f"cannot write tensors to {path}: {err}") from err
    _fsync_path(path)


def _cpu_copy(tensor: Tensor) -> Tensor:
    """A dense CPU tensor owning its storage (safetensors refuses shared storage)."""
    tensor = tensor.detach()
    tensor = tensor.cpu() if tensor.device.type != "cpu" else tensor.clone()
    return tensor.contiguous()


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"missing file {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read {path}: {err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"corrupt JSON in {path}: {err}") from None


def _read_tensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors of a safetensors file and its header metadata."""
    if not path.is_file():
        raise CheckpointError(f"missing file {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
            return tensors, f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"corrupt or truncated safetensors file {path}: {err}"
        ) from None


def _check_version(version: Any, path: Path) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path}: format_version missing or not an integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {version}, but this seqlab reads up to "
            f"{FORMAT_VERSION}; upgrade seqlab to load it"
        )


# -------------------------------------------------------------- tree encoding


class _Encoder:
    """Turn a nested Python/torch/numpy structure into JSON plus named tensors."""

    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}

    def tensor_key(self, path: str) -> str:
        key, n = path or "<root>", 1
        while key in self.tensors:
            key, n = f"{path}#{n}", n + 1
        return key

    def encode(self, node: Any, path: str) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, Tensor):
            key = self.tensor_key(path)
            self.tensors[key] = _cpu_copy(node)
            return {_TYPE: "tensor", "key": key}
        if isinstance(node, np.ndarray):
            return self.encode_ndarray(node, path)
        if isinstance(node, np.generic):
            return {
                _TYPE: "numpy_scalar",
                "dtype": node.dtype.str,
                "value": node.item(),
            }
        if isinstance(node, Mapping):
            return self.encode_dict(node, path)
        if isinstance(node, tuple):
            items = [self.encode(v, _join(path, i)) for i, v in enumerate(node)]
            return {_TYPE: "tuple", "items": items}
        if isinstance(node, list):
            return [self.encode(v, _join(path, i)) for i, v in enumerate(node)]
        where = path or "<root>"
        raise TypeError(f"cannot save {type(node).__name__} at {where!r} in a tree")

    def encode_ndarray(self, array: np.ndarray, path: str) -> dict[str, Any]:
        if array.dtype.hasobject:
            raise TypeError(f"cannot save an object ndarray at {path!r}")
        raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        key = self.tensor_key(path)
        self.tensors[key] = torch.from_numpy(raw.copy())
        shape = list(array.shape)
        return {_TYPE: "ndarray", "key": key, "dtype": array.dtype.str, "shape": shape}

    def encode_dict(self, node: Mapping, path: str) -> Any:
        if all(isinstance(k, str) for k in node) and _TYPE not in node:
            return {k: self.encode(v, _join(path, k)) for k, v in node.items()}
        items = [
            [self.encode(k, _join(path, "<key>")), self.encode(v, _join(path, k))]
            for k, v in node.items()
        ]
        return {_TYPE: "dict", "items": items}


def _join(path: str, part: Any) -> str:
    return f"{path}.{part}" if path else str(part)


def _decode(node: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    kind = node.get(_TYPE)
    if kind is None:
        return {k: _decode(v, tensors) for k, v in node.items()}
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in node["items"])
    if kind == "dict":
        return {_decode(k, tensors): _decode(v, tensors) for k, v in node["items"]}
    if kind == "tensor":
        return tensors[node["key"]]
    if kind == "ndarray":
        raw = tensors[node["key"]].numpy().tobytes()
        return (
            np.frombuffer(raw, dtype=np.dtype(node["dtype"]))
            .reshape(node["shape"])
            .copy()
        )
    if kind == "numpy_scalar":
        return np.dtype(node["dtype"]).type(node["value"])
    raise ValueError(f"unknown node type {kind!r}")


def save_tree(path_dir: str | Path, tree: Any) -> None:
    """Save a nested structure without pickle: `tree.json` + `tensors.safetensors`.

    Supported leaves: None, bool, int, float (inf/nan too), str, torch Tensors of any
    dtype and device (stored from the CPU), numpy arrays and scalars. Containers:
    dict (any such keys, e.g. the int keys of an optimizer state), list, tuple.
    The directory is created; the write itself is not atomic (save_checkpoint is).
    """
    path_dir = Path(path_dir)
    encoder = _Encoder()
    body = encoder.encode(tree, "")
    text = json.dumps({"format_version": FORMAT_VERSION, "tree": body})
    path_dir.mkdir(parents=True, exist_ok=True)
    metadata = {"seqlab_format_version": str(FORMAT_VERSION)}
    _write_tensors(path_dir / TENSORS_FILE, encoder.tensors, metadata)
    _write_text(path_dir / TREE_FILE, text)
    _fsync_path(path_dir)


def load_tree(path_dir: str | Path) -> Any:
    """Load what `save_tree` wrote; tensors come back on the CPU, tuples as tuples."""
    path_dir = Path(path_dir)
    doc = _read_json(path_dir / TREE_FILE)
    if not isinstance(doc, dict) or "tree" not in doc:
        raise CheckpointError(f"corrupt {path_dir / TREE_FILE}: no 'tree' entry")
    _check_version(doc.get("format_version"), path_dir / TREE_FILE)
    tensors, _ = _read_tensors(path_dir / TENSORS_FILE)
    try:
        return _decode(doc["tree"], tensors)
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(
            f"corrupt {path_dir / TREE_FILE}: {err!r} (does it match "
            f"{path_dir / TENSORS_FILE}?)"
        ) from None


# ------------------------------------------------------------------ checkpoints


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"checkpoint name must be letters, digits, '_', '.', '-' and not start "
            f"with '.' or '-', got {name!r}"
        )


def _aside_dirs(run_dir: Path, name: str, what: str) -> list[Path]:
    """Hidden siblings `.<name>~tmp-*` / `.<name>~old-*`, oldest first."""
    return sorted(run_dir.glob(f".{name}~{what}-*"), key=lambda p: p.stat().st_mtime)


def _manifest(root: Path) -> dict[str, Any]:
    """COMPLETE's content: every file's size and sha256 (checked on load)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    names = [p.relative_to(root).as_posix() for p in files]
    doc = {
        "format_version": FORMAT_VERSION,
        "files": {n: p.stat().st_size for n, p in zip(names, files, strict=True)},
        "sha256": {n: _sha256(p) for n, p in zip(names, files, strict=True)},
    }
    return {**doc, "manifest_sha256": _manifest_digest(doc)}


def _manifest_digest(doc: dict[str, Any]) -> str:
    """sha256 of COMPLETE's own entries, so that damage to COMPLETE names it."""
    body = {k: v for k, v in doc.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_contents(
    target: Path,
    model_state: Mapping[str, Tensor],
    meta_text: str,
    trainer_state: Any | None,
) -> None:
    bad = [k for k, v in model_state.items() if not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"model_state values must be tensors; not for {bad}")
    weights = {k: _cpu_copy(v) for k, v in model_state.items()}
    metadata = {"format": "pt", "seqlab_format_version": str(FORMAT_VERSION)}
    _write_tensors(target / MODEL_FILE, weights, metadata)
    _write_text(target / META_FILE, meta_text)
    if trainer_state is not None:
        save_tree(target / TRAINER_DIR, trainer_state)
    _write_text(target / COMPLETE_FILE, json.dumps(_manifest(target), indent=1))
    _fsync_path(target)


def _meta_text(meta: Mapping[str, Any]) -> str:
    try:
        return json.dumps({**meta, "format_version": FORMAT_VERSION}, indent=2)
    except (TypeError, ValueError) as err:
        raise TypeError(f"checkpoint meta must be JSON-serialisable: {err}") from None


def _swap_into_place(new: Path, final: Path) -> None:
    """Rename `new` to `final`; an existing `final` is moved aside, then deleted."""
    if not final.exists():
        os.replace(new, final)
        _fsync_path(final.parent)
        return
    old = final.parent / f".{final.name}~old-{uuid.uuid4().hex[:12]}"
    os.replace(final, old)
    try:
        os.replace(new, final)
    except BaseException:
        os.replace(old, final)
        raise
    _fsync_path(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def _recover(run_dir: Path, name: str) -> None:
    """Repair what a crash during `save_checkpoint` left behind."""
    final = run_dir / name
    olds = [p for p in _aside_dirs(run_dir, name, "old") if _is_complete(p)]
    if not final.exists() and olds:
        os.replace(olds.pop(), final)  # crashed between the two renames
    for stale in _aside_dirs(run_dir, name, "tmp") + _aside_dirs(run_dir, name, "old"):
        shutil.rmtree(stale, ignore_errors=True)


def _is_complete(path: Path) -> bool:
    return (path / COMPLETE_FILE).is_file()


def save_checkpoint(
    run_dir: str | Path,
    name: str,
    *,
    model_state: Mapping[str, Tensor],
    meta: Mapping[str, Any],
    trainer_state: Any | None = None,
) -> Path:
    """Atomically write `run_dir/<name>/` and return its path.

    Args:
        model_state: `module.state_dict()`; tensors on any device, tied weights are
            stored under each name.
        meta: JSON-serialisable facts about the run (config dict, vocab fingerprint,
            step, ...); `"format_version"` is added.
        trainer_state: any tree `save_tree` accepts (optimizer and scheduler
            state_dicts, RNG states, counters), or None for weights-only checkpoints.
    """
    _check_name(name)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _recover(run_dir, name)
    meta_text = _meta_text(meta)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}~tmp-", dir=run_dir))
    try:
        _write_contents(tmp, model_state, meta_text, trainer_state)
        _swap_into_place(tmp, run_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_dir / name


def _locate(run_dir: Path, name: str) -> Path:
    """`run_dir/<name>`, or the complete previous version a crashed save moved aside."""
    path = run_dir / name
    if path.is_dir():
        return path
    olds = [p for p in _aside_dirs(run_dir, name, "old") if _is_complete(p)]
    if olds:
        return olds[-1]
    raise CheckpointError(f"checkpoint not found: {path}")


def has_checkpoint(run_dir: str | Path, name: str) -> bool:
    """Whether `run_dir/<name>` (or what a crashed save left of it) is complete."""
    try:
        return _is_complete(_locate(Path(run_dir), name))
    except CheckpointError:
        return False


def _verify_complete(path: Path) -> None:
    marker = path / COMPLETE_FILE
    if not marker.is_file():
        raise CheckpointError(
            f"incomplete checkpoint {path}: no {COMPLETE_FILE} marker (the write was "
            "interrupted or the directory was copied partially)"
        )
    doc = _read_json(marker)
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        raise CheckpointError(f"corrupt {marker}: no 'files' entry")
    legacy = set(doc) == {"format_version", "files"}  # before the hashes: sizes only
    if not legacy and doc.get("manifest_sha256") != _manifest_digest(doc):
        raise CheckpointError(
            f"corrupt file {marker}: its entries do not match their sha256; restore "
            "the checkpoint from a copy or train the run again"
        )
    _check_version(doc.get("format_version"), marker)
    for rel, size in doc["files"].items():
        file = path / rel
        actual = file.stat().st_size if file.is_file() else None
        if actual != size:
            found = "missing" if actual is None else f"{actual} bytes"
            raise CheckpointError(f"{file} is {found}, expected {size} bytes")
    for rel, digest in ({} if legacy else doc["sha256"]).items():
        if _sha256(path / rel) != digest:
            raise CheckpointError(
                f"corrupt file {path / rel}: its sha256 differs from the one in "
                f"{COMPLETE_FILE}; restore it from a copy or train the run again"
            )


def load_checkpoint(run_dir: str | Path, name: str) -> Checkpoint:
    """Read `run_dir/<name>/` after checking it is complete and not too new."""
    path = _locate(Path(run_dir), name)
    _verify_complete(path)
    meta = _read_json(path / META_FILE)
    if not isinstance(meta, dict):
        raise CheckpointError(f"corrupt {path / META_FILE}: not a JSON object")
    _check_version(meta.get("format_version"), path / META_FILE)
    model_state, header = _read_tensors(path / MODEL_FILE)
    version = header.get("seqlab_format_version", "")
    _check_version(int(version) if version.isdigit() else None, path / MODEL_FILE)
    trainer_dir = path / TRAINER_DIR
    trainer_state = load_tree(trainer_dir) if trainer_dir.is_dir() else None
    return Checkpoint(model_state, meta, trainer_state, path)


# ------------------------------------------------------- kept steps, averaging

STEP_PREFIX = "step-"  # checkpoints/step-000040/: weights of an evaluation (keep_last)


def step_name(step: int) -> str:
    """The name of the kept checkpoint of ``step``: ``step-000040``."""
    return f"{STEP_PREFIX}{step:06d}"


def step_checkpoints(run_dir: str | Path) -> list[Path]:
    """The complete ``step-*`` checkpoints in ``run_dir``, oldest step first."""
    found = [
        p
        for p in Path(run_dir).glob(f"{STEP_PREFIX}*")
        if p.name[len(STEP_PREFIX) :].isdigit() and _is_complete(p)
    ]
    return sorted(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]))


def prune_step_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent ``step-*`` checkpoints."""
    for old in step_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------- compatibility


def _lookup(meta: Mapping[str, Any], dotted: str) -> Any:
    node: Any = meta
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _same_leaf(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b  # 256 == 256.0: JSON may turn one into the other


def _differences(a: Any, b: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Dotted paths of the leaves where a and b differ (lists and tuples are alike)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = list(a) + [k for k in b if k not in a]
        return [
            diff
            for k in keys
            for diff in _differences(
                a.get(k, _MISSING), b.get(k, _MISSING), _join(path, k)
            )
        ]
    sequences = (list, tuple)
    if isinstance(a, sequences) and isinstance(b, sequences) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, _join(path, i))
        ]
    return [] if _same_leaf(a, b) else [(path, a, b)]


def check_compatible(
    meta_saved: Mapping[str, Any],
    meta_now: Mapping[str, Any],
    keys: Sequence[str],
    *,
    where: str | Path | None = None,
) -> None:
    """Refuse to resume when any of `keys` (dotted, e.g. "config.model") differs.

    Raises CheckpointError listing every differing leaf as
    `config.model.hidden_size: 256 (checkpoint) vs 512 (current)`.
    """
    diffs = [
        diff
        for key in keys
        for diff in _differences(_lookup(meta_saved, key), _lookup(meta_now, key), key)
    ]
    if not diffs:
        return
    lines = "\n".join(
        f"  {p}: {a!r} (checkpoint) vs {b!r} (current)" for p, a, b in diffs
    )
    source = f" {where}" if where is not None else ""
    raise CheckpointError(
        f"checkpoint{source} does not match the current run:\n{lines}"
    )


def load_model_weights(
    module: nn.Module, state: Mapping[str, Tensor], strict: bool = True
) -> Any:
    """`module.load_state_dict(state, strict)` with errors naming parameters and shapes.

    Returns torch's (missing_keys, unexpected_keys) result (both empty when strict).
    """
    expected = module.state_dict()
    problems = [
        f"{k}: shape {tuple(state[k].shape)} in checkpoint vs {tuple(v.shape)} in model"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if strict:
        problems += [
            f"{k}: missing from checkpoint" for k in expected if k not in state
        ]
        problems += [
            f"{k}: not a parameter of the model" for k in state if k not in expected
        ]
    if problems:
        listing = "\n".join(f"  {p}" for p in problems)
        raise CheckpointError(f"checkpoint weights do not fit the model:\n{listing}")
    try:
        return module.load_state_dict(dict(state), strict=strict)
    except RuntimeError as err:
        raise CheckpointError(f"cannot load checkpoint weights: {err}") from None
