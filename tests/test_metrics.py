"""Metrics: seqeval counts chunks as conlleval does (hand-counted fixture)."""

import math

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from seqlab.metrics import accuracy, chunk_f1, rmse

# conlleval's input format: word, gold tag, guessed tag. Counted by hand with
# conlleval's rules: a chunk starts at B-X, and also at an I-X after O or after a
# chunk of another type; it ends before B, O, a type change or the sentence end.
#   s1: gold PER(0-1) LOC(3-4); guess PER(0-1) LOC(3-4): the I-LOC after O starts
#       a chunk, so both are correct (a strict IOB2 reading would reject it)
#   s2: gold ORG(0-2) MISC(4); guess ORG(0-1) ORG(2) MISC(4): only MISC is correct
#   s3: gold PER(0) LOC(1), the I-LOC after B-PER starting LOC; guess the same
#   s4: gold none; guess PER(0)
# conlleval prints for it:
#   processed 16 tokens with 6 phrases; found: 8 phrases; correct: 5.
#   accuracy:  75.00%; precision:  62.50%; recall:  83.33%; FB1:  71.43
#   LOC: precision 100.00%; recall 100.00%; FB1 100.00  2
#   MISC: precision 100.00%; recall 100.00%; FB1 100.00  1
#   ORG: precision 0.00%; recall 0.00%; FB1 0.00  2
#   PER: precision 66.67%; recall 100.00%; FB1 80.00  3
CONLLEVAL_INPUT = """\
Ann B-PER B-PER
Lee I-PER I-PER
in O O
New B-LOC I-LOC
York I-LOC I-LOC
. O O

Bank B-ORG B-ORG
of I-ORG I-ORG
Spain I-ORG B-ORG
's O O
Euro B-MISC B-MISC

Ann B-PER B-PER
Paris I-LOC B-LOC
! O O

no O B-PER
way O O
"""


def fixture() -> tuple[list[list[str]], list[list[str]]]:
    gold, guess = [], []
    for block in CONLLEVAL_INPUT.strip().split("\n\n"):
        rows = [line.split() for line in block.splitlines()]
        gold.append([r[1] for r in rows])
        guess.append([r[2] for r in rows])
    return gold, guess


def test_seqeval_counts_chunks_like_conlleval():
    gold, guess = fixture()
    assert precision_score(gold, guess) == pytest.approx(5 / 8)
    assert recall_score(gold, guess) == pytest.approx(5 / 6)
    assert f1_score(gold, guess) == pytest.approx(0.7143, abs=5e-5)
    per_type = f1_score(gold, guess, average=None)  # types in sorted order
    assert per_type.tolist() == pytest.approx([1.0, 1.0, 0.0, 0.8])  # LOC MISC ORG PER


def test_chunk_f1_reports_conlleval_counts():
    gold, guess = fixture()
    scores = chunk_f1(gold, guess)
    assert (scores.gold_chunks, scores.predicted_chunks, scores.correct_chunks) == (
        6,
        8,
        5,
    )
    assert scores.f1 == pytest.approx(f1_score(gold, guess))
    gold_tags = [t for sentence in gold for t in sentence]
    guess_tags = [t for sentence in guess for t in sentence]
    assert accuracy(guess_tags, gold_tags) == 0.75


def test_chunks_do_not_run_across_sentences():
    # I-NP at the start of sentence 2 starts a new chunk, not a continuation
    scores = chunk_f1([["B-NP"], ["I-NP"]], [["B-NP"], ["I-NP"]])
    assert scores.gold_chunks == 2 and scores.f1 == 1.0


def test_chunk_f1_rejects_misaligned_sentences():
    with pytest.raises(ValueError, match="sentence 0"):
        chunk_f1([["O", "O"]], [["O"]])


def test_no_predicted_chunk_gives_zero_not_an_error():
    assert chunk_f1([["B-NP"]], [["O"]]).f1 == 0.0


def test_rmse_and_accuracy():
    assert rmse([1.0, 3.0], [1.0, 1.0]) == pytest.approx(math.sqrt(2))
    assert accuracy([1, 2, 3], [1, 0, 3]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        rmse([], [])
