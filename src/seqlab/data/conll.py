"""The named tagging sets (their records in :mod:`seqlab.data.records` point here):
how each is read and split, and the sentences the tag task reads.

- conll2000 (chunking): train.txt minus its last ``data.val_fraction`` of sentences
  is train, those last sentences val, test.txt test (CoNLL-2000 has no dev set).
- conll2002 (NER, ``data.language`` esp or ned): train / testa (val) / testb (test).
- gsdsimp_seg, gsdsimp_ner (Universal NER Chinese GSDSimp, train / dev / test): the
  tokens are the characters; seg tags them B/M/E/S from the gold words, ner projects
  the word-level IOB2 entities onto the characters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from seqlab.data import datasets, readers


class Sentence(NamedTuple):
    """One sentence of a CoNLL file: words, their POS tags (or None), gold tags."""

    words: list[str]
    pos: list[str] | None
    tags: list[str]


def load_conll2000(cfg: Any, data_dir: str | Path | None) -> dict[str, list]:
    files = readers.read_conll2000(datasets.locate("conll2000", data_dir, True))
    train = files["train"]
    cut = len(train) - max(1, round(cfg.val_fraction * len(train)))
    files = {"train": train[:cut], "val": train[cut:], "test": files["test"]}
    return {split: [to_sentence(rows) for rows in s] for split, s in files.items()}


def load_conll2002(cfg: Any, data_dir: str | Path | None) -> dict[str, list]:
    path = datasets.locate("conll2002", data_dir, download=True)
    files = readers.read_conll2002(path, cfg.language)
    files = {"train": files["train"], "val": files["testa"], "test": files["testb"]}
    return {split: [to_sentence(rows) for rows in s] for split, s in files.items()}


def load_gsdsimp_seg(cfg: Any, data_dir: str | Path | None) -> dict[str, list]:
    del cfg
    return _gsdsimp(seg_sentence, data_dir)


def load_gsdsimp_ner(cfg: Any, data_dir: str | Path | None) -> dict[str, list]:
    del cfg
    return _gsdsimp(ner_sentence, data_dir)


def _gsdsimp(to_chars, data_dir: str | Path | None) -> dict[str, list]:
    return {
        split: [
            to_chars(words)
            for words in readers.read_iob2(
                datasets.locate(f"gsdsimp.{name}", data_dir, download=True)
            )
        ]
        for split, name in (("train", "train"), ("val", "dev"), ("test", "test"))
    }


def to_sentence(rows: list[tuple[str, ...]]) -> Sentence:
    pos = [r[1] for r in rows] if len(rows[0]) >= 3 else None
    return Sentence([r[0] for r in rows], pos, [r[-1] for r in rows])


def seg_sentence(words: readers.Iob2Sentence) -> Sentence:
    """Characters tagged B/M/E/S by the words they belong to."""
    chars = [c for word, _ in words for c in word]
    return Sentence(chars, None, [t for word, _ in words for t in bmes_tags(word)])


def bmes_tags(word: str) -> list[str]:
    """S for a one-character word, else B, M..., E."""
    if len(word) == 1:
        return ["S"]
    return ["B"] + ["M"] * (len(word) - 2) + ["E"]


def bmes_words(chars: list[str], tags: list[str]) -> list[str]:
    """The words B/M/E/S tags make of ``chars``: a word starts at B or S, or after
    E or S (so any tag sequence gives words that spell the characters)."""
    words: list[str] = []
    for i, (char, tag) in enumerate(zip(chars, tags, strict=True)):
        if i == 0 or tag in ("B", "S") or tags[i - 1] in ("E", "S"):
            words.append(char)
        else:
            words[-1] += char
    return words


def ner_sentence(words: readers.Iob2Sentence) -> Sentence:
    """Characters with the word-level IOB2 entity tags projected onto them."""
    chars, tags = [], []
    for word, tag in words:
        inside = "O" if tag == "O" else "I" + tag[1:]
        chars += word
        tags += [tag] + [inside] * (len(word) - 1)
    return Sentence(chars, None, tags)
