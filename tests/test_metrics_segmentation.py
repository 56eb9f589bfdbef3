"""Word segmentation F1 as the SIGHAN bakeoffs count it, on hand-counted examples."""

import pytest

from seqlab.metrics import segmentation_f1


def test_segmentation_f1_hand_computed():
    gold = [["我们", "来", "试试", "汉语", "分词"]]
    predicted = [["我们来", "试试", "汉语分词"]]
    # gold spans (0,2) (2,3) (3,5) (5,7) (7,9); predicted (0,3) (3,5) (5,9):
    # only 试试 (3,5) matches. P = 1/3, R = 1/5, F1 = 2PR/(P+R) = 1/4.
    scores = segmentation_f1(gold, predicted)
    assert (scores.gold_chunks, scores.predicted_chunks, scores.correct_chunks) == (
        5,
        3,
        1,
    )
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 5)
    assert scores.f1 == pytest.approx(0.25)


def test_same_word_at_another_place_does_not_count():
    # 的 is a gold word at offset 2, but the predicted 的 sits at offset 3
    scores = segmentation_f1([["我", "们", "的", "书"]], [["我们", "的书"]])
    assert scores.correct_chunks == 0 and scores.f1 == 0.0


def test_micro_average_over_sentences():
    gold = [["北京", "大学"], ["好"]]
    predicted = [["北京大学"], ["好"]]
    scores = segmentation_f1(gold, predicted)
    assert scores.precision == pytest.approx(1 / 2)  # 好
    assert scores.recall == pytest.approx(1 / 3)
    assert segmentation_f1(gold, gold).f1 == 1.0


def test_texts_must_match():
    with pytest.raises(ValueError, match="sentence 0"):
        segmentation_f1([["北京"]], [["南京"]])
