"""The named language-model corpora: how each is read and split (their records in
:mod:`seqlab.data.records` point here). A loader takes the run's data config and the
data directory and returns split name -> documents (texts, or word lists).

- tinyshakespeare: characters, the first 90% train, the last 10% val.
- tang: 57,603 poems, one document each (lost poems "。"/"空。" dropped); shuffled
  with seed 0: TANG_HELD_OUT val, TANG_HELD_OUT test, the rest train.
- brown: sentences (word lists) in corpus order, 80% train, 10% val, 10% test.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from seqlab.data import datasets, readers

TANG_HELD_OUT = 1000


def load_tinyshakespeare(cfg: Any, data_dir: str | Path | None) -> dict[str, list]:
    del cfg
    path = datasets.locate("tinyshakespeare", data_dir, download=True)
    train, val = readers.read_tinyshakespeare(path)
    return {"train": [train], "val": [val]}


def load_tang(cfg: Any, data_dir: str | Path | None) -> dict[str, list]:
    del cfg
    poems = readers.read_tang(datasets.locate("tang", data_dir, download=True))
    return split_held_out([p for p in poems if p not in ("。", "空。")])


def load_brown(cfg: Any, data_dir: str | Path | None) -> dict[str, list]:
    del cfg
    sentences = readers.read_brown(datasets.locate("brown", data_dir, download=True))
    n = len(sentences)
    a, b = int(0.8 * n), int(0.9 * n)
    return {"train": sentences[:a], "val": sentences[a:b], "test": sentences[b:]}


def split_held_out(docs: list, held_out: int = TANG_HELD_OUT) -> dict[str, list]:
    order = list(range(len(docs)))
    random.Random(0).shuffle(order)
    val = [docs[i] for i in order[:held_out]]
    test = [docs[i] for i in order[held_out : 2 * held_out]]
    train = [docs[i] for i in order[2 * held_out :]]
    return {"train": train, "val": val, "test": test}
