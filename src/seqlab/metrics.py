"""Evaluation metrics as pure functions: no printing, no files.

- ``accuracy``: fraction of predictions equal to the gold labels.
- ``chunk_f1``: entity/chunk precision, recall and F1 of tag sequences, computed by
  seqeval in its default mode, which counts chunks as the CoNLL ``conlleval`` script
  does (an ``I-X`` after ``O`` or after another type starts a chunk);
  ``tests/test_metrics.py`` pins that on a hand-counted fixture.
- ``segmentation_f1``: word segmentation precision, recall and F1 as the SIGHAN
  bakeoffs score it (a word is correct when its span of characters is a gold word).
- ``rmse``: root mean squared error of a forecast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def accuracy(predicted: Sequence, gold: Sequence) -> float:
    """Fraction of positions where ``predicted`` equals ``gold``."""
    if len(predicted) != len(gold):
        raise ValueError(
            f"accuracy: {len(predicted)} predictions for {len(gold)} gold labels"
        )
    if not gold:
        raise ValueError("accuracy of an empty set is undefined")
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


@dataclass(frozen=True)
class ChunkScores:
    """Micro-averaged chunk scores (fractions in [0, 1]) and the chunk counts."""

    precision: float
    recall: float
    f1: float
    gold_chunks: int
    predicted_chunks: int
    correct_chunks: int


def chunk_f1(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> ChunkScores:
    """Chunk precision/recall/F1 of IOB-tagged sentences, as conlleval counts them.

    ``gold`` and ``predicted`` are lists of tag sequences (``["B-NP", "I-NP", "O"]``),
    sentence by sentence, of equal lengths.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    _check_aligned(gold, predicted)
    gold_chunks = set(get_entities([list(s) for s in gold]))
    pred_chunks = set(get_entities([list(s) for s in predicted]))
    correct = len(gold_chunks & pred_chunks)
    precision = correct / len(pred_chunks) if pred_chunks else 0.0
    recall = correct / len(gold_chunks) if gold_chunks else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return ChunkScores(
        precision, recall, f1, len(gold_chunks), len(pred_chunks), correct
    )


def _check_aligned(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]):
    if len(gold) != len(predicted):
        raise ValueError(
            f"chunk_f1: {len(predicted)} predicted sentences for {len(gold)} gold"
        )
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(
                f"chunk_f1: sentence {i} has {len(g)} gold tags but {len(p)} predicted"
            )


def segmentation_f1(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> ChunkScores:
    """Word segmentation scores (SIGHAN): the words as character spans.

    ``gold`` and ``predicted`` are sentences as word lists that concatenate to the
    same text (``["我们", "来"]`` against ``["我", "们", "来"]``). A predicted word is
    correct when a gold word covers exactly the same characters; precision is
    correct / predicted words, recall correct / gold words (micro-averaged).
    """
    if len(gold) != len(predicted):
        raise ValueError(
            f"segmentation_f1: {len(predicted)} predicted sentences for {len(gold)} "
            "gold"
        )
    n_gold = n_pred = correct = 0
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if "".join(g) != "".join(p):
            raise ValueError(
                f"segmentation_f1: sentence {i}: the predicted words do not spell "
                f"the gold text {''.join(g)[:40]!r}"
            )
        gold_spans, pred_spans = _spans(g), _spans(p)
        n_gold, n_pred = n_gold + len(gold_spans), n_pred + len(pred_spans)
        correct += len(gold_spans & pred_spans)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return ChunkScores(precision, recall, f1, n_gold, n_pred, correct)


def _spans(words: Sequence[str]) -> set[tuple[int, int]]:
    """(start, end) character offsets of each word."""
    spans, start = set(), 0
    for word in words:
        spans.add((start, start + len(word)))
        start += len(word)
    return spans


def rmse(predicted: Sequence[float], gold: Sequence[float]) -> float:
    """sqrt(mean((predicted - gold)^2))."""
    if len(predicted) != len(gold) or not gold:
        raise ValueError(
            f"rmse needs equal, non-empty lengths, got {len(predicted)} and {len(gold)}"
        )
    pairs = zip(predicted, gold, strict=True)
    return math.sqrt(sum((p - g) ** 2 for p, g in pairs) / len(gold))


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    lowercase: bool = False,
    tokenize: str = "13a",
) -> float:
    """Corpus BLEU (0-100) of detokenised text against one reference each: sacreBLEU
    with its defaults (13a tokenisation, exponential smoothing), as
    ``sacrebleu REF < HYP`` computes it (``-lc`` for ``lowercase``; ``tokenize="zh"``
    is ``-tok zh``, for Chinese output: each Chinese character a token)."""
    import sacrebleu

    _check_corpus(hypotheses, references)
    refs = [list(references)]
    return sacrebleu.corpus_bleu(
        list(hypotheses), refs, lowercase=lowercase, tokenize=tokenize
    ).score


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (0-100), sacreBLEU's defaults (character 6-grams, beta 2)."""
    import sacrebleu

    _check_corpus(hypotheses, references)
    return sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score


def bleu_signature(lowercase: bool = False) -> str:
    """sacreBLEU's signature of :func:`bleu`, for reports."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(lowercase=lowercase)
    metric.corpus_score(["x"], [["x"]])  # the signature counts references
    return str(metric.get_signature())


def _check_corpus(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"need one hypothesis per reference, got {len(hypotheses)} hypotheses "
            f"for {len(references)} references"
        )
