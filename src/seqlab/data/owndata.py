"""Your own data, the same keys for every task.

A task's ``data`` section takes either one file, ``data.path``, cut into train, val
and test by ``data.val_fraction`` and ``data.test_fraction`` after a shuffle with a
fixed seed (SPLIT_SEED: every run splits alike), or the files of each split,
``data.train_path`` (+ ``data.val_path``, ``data.test_path``). A split given its
own file is read from it; the others are cut from the main file (``data.path`` or
``data.train_path``, the same) by their fractions. A file names no data set: given
one, it is read instead of the config's ``data.dataset``, so ``--set
data.path=FILE`` trains any shipped config of the task on your file.

The formats, read by :mod:`seqlab.data.readers`: ``lm`` text, ``classify``
``text<TAB>label`` or CSV, ``seq2seq`` ``source<TAB>target``, ``tag`` CoNLL columns,
``caption`` ``picture_path<TAB>caption``, ``forecast`` numbers (one a line, or a CSV
column ``data.column``). A bad file is a DataError naming the file and its 1-based
line.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field

from seqlab.config import Section

SPLIT_SEED = 0
T = TypeVar("T")


class OwnData(Section):
    """The own-data keys a task's data config inherits (see the module docstring)."""

    path: str | None = None  # one file, split by val_fraction and test_fraction
    train_path: str | None = None  # or the splits' files
    val_path: str | None = None
    test_path: str | None = None
    val_fraction: float = Field(0.1, gt=0, lt=1)
    test_fraction: float = Field(0.1, gt=0, lt=1)
    max_line_chars: int = Field(100_000, ge=1)  # a longer line is refused

    def own_files(self) -> bool:
        """Whether this config reads the user's files (not a named data set)."""
        return self.path is not None or self.train_path is not None

    def check_own_files(self) -> None:
        """ValueError for a combination of keys that names no clear set of files."""
        if self.path is not None and self.train_path is not None:
            raise ValueError("give data.path or data.train_path, not both")
        split_files = self.val_path is not None or self.test_path is not None
        if split_files and not self.own_files():
            raise ValueError(
                "data.val_path and data.test_path go with data.train_path (or "
                "data.path)"
            )
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("data.val_fraction + data.test_fraction must be below 1")

    def source(self) -> str:
        """The files, for messages."""
        files = [self.path, self.train_path, self.val_path, self.test_path]
        return " + ".join(f for f in files if f is not None)


def own_splits(cfg: OwnData, read: Callable[[str], list[T]]) -> dict[str, list[T]]:
    """Split name -> items read by ``read`` (one file's items) from the user's files."""
    main = cfg.path if cfg.path is not None else cfg.train_path
    assert main is not None
    train = read(main)
    given = {"val": cfg.val_path, "test": cfg.test_path}
    fractions = {
        "val": 0.0 if cfg.val_path else cfg.val_fraction,
        "test": 0.0 if cfg.test_path else cfg.test_fraction,
    }
    splits = split_items(train, fractions["val"], fractions["test"])
    for split, path in given.items():
        if path is not None:
            splits[split] = read(path)
    return splits


def split_items(items: list[T], val_fraction: float, test_fraction: float) -> dict:
    """Shuffled with SPLIT_SEED: the first test_fraction test, the next val_fraction
    val, the rest train (at least one item in each split cut)."""
    from seqlab.data.datasets import DataError

    n = len(items)
    n_test = max(1, round(test_fraction * n)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise DataError(
            f"{n} examples are too few to split off val ({n_val}) and test ({n_test})"
        )
    order = list(range(n))
    random.Random(SPLIT_SEED).shuffle(order)
    shuffled = [items[i] for i in order]
    result = {"train": shuffled[n_test + n_val :]}
    if n_val:
        result["val"] = shuffled[n_test : n_test + n_val]
    if n_test:
        result["test"] = shuffled[:n_test]
    return result


def relative_to(path: str | Path, base: str | Path) -> Path:
    """``path`` as written in a file at ``base``: relative paths from its folder."""
    path = Path(path)
    return path if path.is_absolute() else Path(base).parent / path


def describe(cfg: Any) -> str:
    """'data set NAME' or the user's files, for messages."""
    if isinstance(cfg, OwnData) and cfg.own_files():
        return cfg.source()
    return f"data set {getattr(cfg, 'dataset', None)}"
