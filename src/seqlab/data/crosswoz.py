"""CrossWOZ dialogues and their split by dialogue, shared by the crosswoz classifier
and the crosswoz_chat responder (the same dialogues in the same splits)."""

from __future__ import annotations

import random
from pathlib import Path

from seqlab.data import datasets, readers
from seqlab.data.datasets import DataError

SPLIT_SEED = 0  # the shuffle before the folds: fixed, so that every run splits alike


def read_crosswoz_dialogues(
    data_dir: str | Path | None,
) -> dict[str, list[readers.CrossWOZTurn]]:
    """Dialogue id -> turns of upstream's val.json.zip and test.json.zip together."""
    dialogues: dict[str, list[readers.CrossWOZTurn]] = {}
    for name in ("crosswoz.val", "crosswoz.test"):
        path = datasets.locate(name, data_dir, download=True)
        dialogues.update(readers.read_crosswoz(path))
    return dialogues


def split_dialogues(
    ids: list[str], folds: int = 10, fold: int = 0, val_fraction: float = 0.1
) -> dict[str, list[str]]:
    """Split name -> dialogue ids: the folds of the module docstring over ``ids``."""
    rest, test = split_fold(sorted(ids), folds, fold)
    cut = len(rest) - max(1, round(val_fraction * len(rest)))
    return {"train": rest[:cut], "val": rest[cut:], "test": test}


def split_fold(items: list, folds: int, fold: int) -> tuple[list, list]:
    """(the other folds, fold ``fold``) of ``items`` shuffled with SPLIT_SEED."""
    if len(items) < folds:
        raise DataError(f"{len(items)} examples cannot make {folds} folds")
    order = list(range(len(items)))
    random.Random(SPLIT_SEED).shuffle(order)
    a, b = len(items) * fold // folds, len(items) * (fold + 1) // folds
    rest = [items[i] for i in order[:a] + order[b:]]
    return rest, [items[i] for i in order[a:b]]
