"""Pretrained word vectors in the text format of word2vec, GloVe and fastText.

One vector per line, ``word v_1 ... v_D`` separated by spaces, UTF-8 (Chinese
character or word vectors alike), optionally gzipped (``.gz``); word2vec and
fastText (``.vec``) start with a header line ``N D``, GloVe has none. A word may
hold spaces (GloVe 840B has some): the last D fields are the numbers.

``load_vectors`` matches a vocabulary against a file: the exact word first, then
the word case-folded ("The" finds "the"), and reads only the vectors it needs.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor


class Vectors(NamedTuple):
    """weights (V, D): row i the vector of token i, zeros where not found;
    found (V,) bool; report: the coverage in one line."""

    weights: Tensor
    found: Tensor
    report: str


def load_vectors(path: str | Path, tokens: Sequence[str]) -> Vectors:
    """The vectors of ``tokens`` (a vocabulary, in id order) in the file ``path``.

    Raises ValueError naming the file and line of a malformed line, FileNotFoundError
    when there is no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.embeddings: no such file {path}")
    wanted = {t: i for i, t in reversed(list(enumerate(tokens)))}
    folds = {t.casefold() for t in tokens}
    exact: dict[int, list[float]] = {}
    by_fold: dict[str, list[float]] = {}  # the first vector of each spelling
    dim = None
    for number, word, numbers in _entries(path):
        dim = dim or len(numbers)
        i, fold = wanted.get(word), word.casefold()
        if i is not None and i not in exact:
            exact[i] = _floats(numbers, path, number)
        if fold in folds and fold not in by_fold:
            by_fold[fold] = exact.get(i) or _floats(numbers, path, number)
    if dim is None:
        raise ValueError(f"{path}: no vectors in it")
    return _assemble(path, tokens, exact, by_fold, dim)


def _assemble(path, tokens, exact, by_fold, dim: int) -> Vectors:
    """Rows for every token: its exact match, else a case-folded one, else zeros."""
    weights = torch.zeros(len(tokens), dim)
    found = torch.zeros(len(tokens), dtype=torch.bool)
    folded = 0
    for i, token in enumerate(tokens):
        vector = exact.get(i)
        if vector is None and (vector := by_fold.get(token.casefold())) is not None:
            folded += 1
        if vector is not None:
            weights[i] = torch.tensor(vector)
            found[i] = True
    n, total = int(found.sum()), len(tokens)
    report = (
        f"pretrained vectors: {n:,} of {total:,} tokens found "
        f"({100 * n / max(total, 1):.1f}%; {folded:,} case-folded) in {path} "
        f"({dim}-d)"
    )
    return Vectors(weights, found, report)


def _entries(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, word, its D number fields) of each vector line; the header
    ``N D`` is skipped; ValueError names file and line of a malformed one."""
    dim = None
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip()
            except UnicodeDecodeError:
                raise ValueError(f"{path}, line {number}: not UTF-8 text") from None
            if not line:
                continue
            if dim is None and number == 1 and _is_header(line):
                dim = int(line.split()[1])
                continue
            dim = dim or len(line.split(" ")) - 1
            parts = line.rsplit(" ", dim)
            if dim < 1 or len(parts) != dim + 1 or not parts[0]:
                raise ValueError(
                    f"{path}, line {number}: expected a word and {dim} numbers "
                    f"separated by spaces, got {len(line.split())} fields"
                )
            yield number, parts[0], parts[1:]


def _is_header(line: str) -> bool:
    fields = line.split()
    return len(fields) == 2 and all(f.isdigit() for f in fields)


def _floats(fields: list[str], path: Path, number: int) -> list[float]:
    try:
        return [float(x) for x in fields]
    except ValueError:
        bad = next(x for x in fields if not _is_float(x))
        raise ValueError(f"{path}, line {number}: {bad!r} is not a number") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
