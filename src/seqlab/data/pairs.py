"""The named seq2seq data sets: how each is read and split (their records in
:mod:`seqlab.data.records` point here). Every loader takes the run's data config
(``val_size``, ``direction``, ``opencc``, ...) and the data directory and returns
split name -> list of (source, target) texts.

- addition: DLS2's addition.txt, 50,000 distinct lines; the last 5,000 test, the
  ``val_size`` before them val, the rest train (the book's split).
- date: DLS2's date.txt without its 8,422 repeated lines (first occurrence kept),
  then split as addition: no val or test pair occurs in train.
- generated_dates: ``size`` pairs of :func:`seqlab.data.dates.generate_dates`,
  repeats dropped, the last 1,000 test, the ``val_size`` before them val.
- multi30k: upstream train / val / test_2016_flickr, ``direction`` de-en or en-de.
- tatoeba: split by unique Chinese sentence (Simplified), shuffled with a fixed
  seed: TATOEBA_TEST test, ``val_size`` val, the rest train.
- crosswoz_chat: user turn -> the system's answer, in the crosswoz classifier's
  dialogue split, plus every ChatterBot Chinese pair in train.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from seqlab.data import datasets, dates, readers
from seqlab.data.crosswoz import read_crosswoz_dialogues, split_dialogues
from seqlab.data.tokenizers import opencc_converter

Pair = tuple[str, str]
TATOEBA_TEST = 2000  # unique Chinese sentences in the test split
TATOEBA_SEED = 0


def load_addition(cfg: Any, data_dir: str | Path | None) -> dict[str, list[Pair]]:
    pairs = readers.read_seq2seq_toy(datasets.locate("addition", data_dir, True))
    return split_toy(pairs, 5000, cfg.val_size)  # its 50,000 lines are distinct


def load_date(cfg: Any, data_dir: str | Path | None) -> dict[str, list[Pair]]:
    pairs = readers.read_seq2seq_toy(datasets.locate("date", data_dir, True))
    return split_toy(list(dict.fromkeys(pairs)), 5000, cfg.val_size)


def load_generated_dates(cfg: Any, data_dir: str | Path | None) -> dict:
    del data_dir  # generated
    pairs = dates.generate_dates(cfg.size, cfg.seed, cfg.first_date, cfg.last_date)
    return split_toy(list(dict.fromkeys(pairs)), 1000, cfg.val_size)


def load_multi30k(cfg: Any, data_dir: str | Path | None) -> dict[str, list[Pair]]:
    return read_multi30k(cfg.direction, data_dir)


def load_crosswoz_chat(cfg: Any, data_dir: str | Path | None) -> dict:
    del cfg
    return read_crosswoz_chat(data_dir)


def split_toy(pairs: list[Pair], test_size: int, val_size: int) -> dict:
    """The last test_size pairs are test, the val_size before them val, the rest
    train."""
    if test_size + val_size >= len(pairs):
        raise ValueError(
            f"data.val_size {val_size} + test {test_size} leave no training pairs "
            f"of {len(pairs)}"
        )
    cut = len(pairs) - test_size
    return {
        "train": pairs[: cut - val_size],
        "val": pairs[cut - val_size : cut],
        "test": pairs[cut:],
    }


def read_multi30k(direction: str, data_dir: str | Path | None) -> dict:
    src, tgt = direction.split("-")
    splits = {"train": "train", "val": "val", "test": "test_2016_flickr"}
    result = {}
    for split, name in splits.items():
        paths = [
            datasets.locate(f"multi30k.{name}.{lang}", data_dir, download=True)
            for lang in (src, tgt)
        ]
        result[split] = readers.read_parallel(*paths)
    return result


def read_tatoeba(cfg: Any, data_dir: str | Path | None) -> dict[str, list[Pair]]:
    """Tatoeba pairs split by unique Chinese sentence (see the module docstring).

    With ``data.opencc`` the Chinese sides are converted as stored, so that the
    references of en-zh are in the script the model is trained to write.
    """
    triples = readers.read_tatoeba(datasets.locate("tatoeba", data_dir))
    simplified = opencc_converter("t2s")
    convert = opencc_converter(cfg.opencc) or (lambda text: text)
    keys = [simplified(zh) for _, zh, _ in triples]
    split_of = tatoeba_split(keys, cfg.val_size)
    result: dict[str, list[Pair]] = {"train": [], "val": [], "test": []}
    for (en, zh, _), key in zip(triples, keys, strict=True):
        zh = convert(zh)
        pair = (zh, en) if cfg.direction == "zh-en" else (en, zh)
        result[split_of[key]].append(pair)
    return result


def read_crosswoz_chat(data_dir: str | Path | None) -> dict[str, list[Pair]]:
    """(user turn, system answer) pairs by dialogue split, + ChatterBot in train."""
    dialogues = read_crosswoz_dialogues(data_dir)
    result = {
        split: [
            (turns[i][1], turns[i + 1][1])
            for key in keys
            for turns in [dialogues[key]]
            for i in range(len(turns) - 1)
            if turns[i][0] == "usr" and turns[i + 1][0] == "sys"
        ]
        for split, keys in split_dialogues(list(dialogues)).items()
    }
    root = datasets.resolve_data_dir(data_dir)
    result["train"] += readers.read_chatterbot(root / readers.CHATTERBOT_ZH)
    return result


def tatoeba_split(sentences: list[str], val_size: int) -> dict[str, str]:
    """Split name of each distinct sentence: TATOEBA_TEST test, val_size val."""
    distinct = sorted(set(sentences))
    if TATOEBA_TEST + val_size >= len(distinct):
        raise ValueError(
            f"data.val_size {val_size} + test {TATOEBA_TEST} leave no training "
            f"sentences of {len(distinct)}"
        )
    random.Random(TATOEBA_SEED).shuffle(distinct)
    names = ["test"] * TATOEBA_TEST + ["val"] * val_size
    return {s: names[i] if i < len(names) else "train" for i, s in enumerate(distinct)}
