"""The seq2seq task: documented splits, Reverse, batches, scores, and predict's
behaviour on empty, over-long and unknown input."""

import json

import pytest
import torch

from seqlab import metrics
from seqlab.config import validate
from seqlab.data import datasets, readers
from seqlab.data.tokenizers import WordTokenizer
from seqlab.data.vocab import Vocab
from seqlab.models import build_model
from seqlab.tasks.seq2seq import (
    Seq2SeqRunConfig,
    Seq2SeqTask,
    pair_tensors,
    read_pairs,
)


def run_config(**data) -> Seq2SeqRunConfig:
    config = {
        "task": "seq2seq",
        "data": {"dataset": "generated_dates", "size": 1200, "val_size": 100, **data},
        "model": {"kind": "seq2seq", "embedding_size": 8, "hidden_size": 16},
        "decode": {"max_length": 12},
    }
    return validate(Seq2SeqRunConfig, config, "test")


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    cfg = run_config(reverse_source=True, max_source_length=40)
    return Seq2SeqTask.prepare(cfg, None, tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def model(task):
    torch.manual_seed(0)
    return build_model(task.cfg.model, **task.model_sizes).eval()


def _shared(name):
    try:
        return datasets.locate(name)
    except datasets.DatasetNotFoundError:
        pytest.skip(f"{name} data set not available")


def test_addition_uses_the_books_split_with_validation_carved_from_train():
    _shared("addition")
    splits = read_pairs(run_config(dataset="addition", val_size=1000).data, None)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [44000, 1000, 5000]
    assert splits["train"][0] == ("16+75", "91")
    assert splits["test"][-1] == readers.read_seq2seq_toy(_shared("addition"))[-1]


def test_date_drops_repeated_lines_so_no_test_date_was_trained_on():
    _shared("date")
    splits = read_pairs(run_config(dataset="date", val_size=1000).data, None)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [35578, 1000, 5000]
    train = set(splits["train"])
    assert not train & set(splits["test"]) and not train & set(splits["val"])


def test_generated_dates_are_split_without_overlap(task):
    sizes = [len(task.pairs[s]) for s in ("train", "val", "test")]
    assert sizes[1:] == [100, 1000] and 0 < sizes[0] <= 100  # 1,200 drawn
    train = set(task.pairs["train"])
    assert not train & set(task.pairs["test"]) and not train & set(task.pairs["val"])


def test_reverse_source_reverses_the_source_ids_only(task):
    source, target = task.pairs["train"][0]
    ids = task.vocab.encode(list(source))
    assert task.encode_source(source) == ids[::-1]
    data = task.tensors["train"]
    n = int(data.src_lengths[0])
    assert data.src[0, :n].tolist() == ids[::-1]
    assert task.detokenize(data.tgt_out[0, : len(target)].tolist()) == target


def test_pair_tensors_shift_the_target_and_batches_trim_padding():
    data = pair_tensors([[5, 6, 7], [8]], [[9], [10, 11, 12]])
    assert data.tgt_in.tolist() == [[2, 9, 0, 0], [2, 10, 11, 12]]
    assert data.tgt_out.tolist() == [[9, 3, 0, 0], [10, 11, 12, 3]]
    batch = data.batch(torch.tensor([0]))
    assert batch.src.shape == (1, 3) and batch.tgt_in.shape == (1, 2)
    assert batch.num_tokens == 2  # 9 and <eos>


def test_train_batches_cover_the_split_once_per_epoch(task):
    batches = list(task.train_batches(0))
    assert len(batches) == task.steps_per_epoch()
    assert sum(b.src.shape[0] for b in batches) == len(task.tensors["train"])
    first = next(task.train_batches(1)).src.tolist()
    assert first != batches[0].src.tolist()  # reshuffled each epoch


def test_evaluate_reports_loss_and_exact_match(task, model):
    result = task.evaluate(model, "val")
    assert set(result) == {"val_loss", "val_accuracy"}
    assert 0.0 <= result["val_accuracy"] <= 1.0 and result["val_loss"] > 0


def test_translation_is_scored_with_sacrebleu(tmp_path):
    cfg = run_config(dataset="multi30k", tokenizer="word")
    pairs = [("ein hund", "a dog"), ("eine katze", "a cat"), ("ein haus", "a house")]
    vocab = Vocab.build([t.split() for pair in pairs for t in pair])
    task = Seq2SeqTask(cfg, WordTokenizer(), vocab)
    task.set_data({"train": pairs, "val": pairs})
    torch.manual_seed(0)
    model = build_model(cfg.model, **task.model_sizes).eval()
    result = task.evaluate(model, "val")
    assert set(result) == {"val_loss", "val_bleu", "val_bleu_lc", "val_chrf"}
    outputs = task.predict(model, [s for s, _ in pairs])
    assert result["val_bleu"] == pytest.approx(
        metrics.bleu(outputs, [t for _, t in pairs])
    )


def test_predict_keeps_one_output_per_line_and_empty_lines_empty(task, model):
    lines = ["April 3, 1996", "", "  12/5/99  ", "März 3, 1996 ✓"]
    outputs = task.predict(model, lines)
    assert len(outputs) == 4 and outputs[1] == ""
    assert all(isinstance(o, str) for o in outputs)


def test_unknown_symbols_are_read_as_unk(task, model):
    assert "✓" not in task.vocab
    assert task.encode_source("✓") == [Vocab.unk_id]
    record = json.loads(task.predict(model, ["✓ 1996"], as_json=True)[0])
    assert record["source_tokens"] == ["✓", " ", "1", "9", "9", "6"]


def test_an_over_long_line_is_refused_naming_it(task, model):
    with pytest.raises(ValueError, match=r"input line 2 has 41 tokens.*at most 40"):
        task.predict(model, ["1/2/03", "x" * 41])


def test_json_output_has_scores_and_attention_in_source_order(task, model):
    record = json.loads(task.predict(model, ["May 5, 2001"], beam=2, as_json=True)[0])
    assert record["input"] == "May 5, 2001"
    assert isinstance(record["score"], float) and record["score"] <= 0
    weights = torch.tensor(record["attention"])
    assert weights.shape == (len(record["output_tokens"]), len("May 5, 2001"))
    torch.testing.assert_close(
        weights.sum(1), torch.ones(len(weights)), atol=1e-3, rtol=0
    )
    result = task.translate(model, ["May 5, 2001"])[0]
    alone = task.search(model, [task.encode_source("May 5, 2001")])[0]
    flipped = alone.attention.flip(1)  # the model read the source reversed
    torch.testing.assert_close(
        torch.tensor(result.attention), flipped.float(), atol=1e-4, rtol=0
    )


def test_a_short_line_in_a_batch_gets_the_attention_it_gets_alone(task, model):
    lines = ["3/4/99", "Tuesday, September 25, 1984"]  # the first is padded
    together = task.translate(model, lines)
    for line, batched in zip(lines, together, strict=True):
        alone = task.translate(model, [line])[0]
        assert batched.text == alone.text
        assert len(batched.attention[0]) == len(line)  # no columns for padding
        torch.testing.assert_close(
            torch.tensor(batched.attention),
            torch.tensor(alone.attention),
            atol=1e-4,
            rtol=0,
        )
