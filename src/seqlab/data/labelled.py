"""The named classification sets: how each is read and split (their records in
:mod:`seqlab.data.records` point here), and the fold split every classify run uses.

Splits, the same for every model and run: the examples are shuffled with a fixed seed
(0) and cut into ``data.folds`` equal folds; fold ``data.fold`` is the test set; of
the other examples the last ``data.val_fraction`` are validation, the rest training.
CrossWOZ is split the same way by *dialogue* (:mod:`seqlab.data.crosswoz`); with
``data.context_turns`` N each user turn is prefixed with the N turns before it, each
followed by CONTEXT_SEP; ``data.crosswoz_target: acts`` makes the targets a turn's
dialogue acts (a tuple of labels) instead of its domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.data import datasets, readers
from seqlab.data.crosswoz import read_crosswoz_dialogues, split_dialogues, split_fold

CONTEXT_SEP = "␞"  # ends each context turn before a CrossWOZ user turn
Labelled = tuple[str, Any]  # text, label (multi-label: a tuple of labels)


def fold_splits(
    items: list[Labelled],
    cfg: Any,
    test: list[Labelled] | None = None,
    val: list[Labelled] | None = None,
) -> dict[str, list[Labelled]]:
    """Train / val / test of ``items``: fold ``cfg.fold`` of ``cfg.folds`` is test
    (unless ``test`` is given), the last ``cfg.val_fraction`` of the rest val
    (unless ``val`` is given)."""
    rest, test = (
        (items, test) if test is not None else split_fold(items, cfg.folds, cfg.fold)
    )
    if val is not None:
        return {"train": rest, "val": val, "test": test}
    cut = len(rest) - max(1, round(cfg.val_fraction * len(rest)))
    return {"train": rest[:cut], "val": rest[cut:], "test": test}


def load_sentence_polarity(cfg: Any, data_dir: str | Path | None) -> dict:
    path = datasets.locate("sentence_polarity", data_dir, download=True)
    return fold_splits(readers.read_sentence_polarity(path), cfg)


def load_movie_reviews(cfg: Any, data_dir: str | Path | None) -> dict:
    path = datasets.locate("movie_reviews", data_dir, download=True)
    return fold_splits(readers.read_movie_reviews(path), cfg)


def load_crosswoz(cfg: Any, data_dir: str | Path | None) -> dict:
    """(user turn, domain or acts) pairs of CrossWOZ dialogues split by dialogue."""
    dialogues = read_crosswoz_dialogues(data_dir)
    ids = split_dialogues(list(dialogues), cfg.folds, cfg.fold, cfg.val_fraction)
    return {
        split: [pair for key in keys for pair in user_turns(dialogues[key], cfg)]
        for split, keys in ids.items()
    }


def user_turns(turns: list[readers.CrossWOZTurn], cfg: Any) -> list[Labelled]:
    """(user turn after its context turns, domain or acts) of one dialogue."""
    context, pairs = cfg.context_turns, []
    target = (
        readers.crosswoz_act_labels
        if cfg.crosswoz_target == "acts"
        else readers.crosswoz_domain
    )
    for i, (role, text, acts) in enumerate(turns):
        if role == "usr":
            before = "".join(
                t + CONTEXT_SEP for _, t, _ in turns[max(0, i - context) : i]
            )
            pairs.append((before + text, target(acts)))
    return pairs
