"""data.tokenizer bpe | unigram (sentencepiece model types) and BPE dropout."""

import pytest
from sentencepiece import sentencepiece_model_pb2 as pb

from seqlab.config import ConfigError
from seqlab.data.tokenizers import SubwordTokenizer, train_subword
from seqlab.run import load_run, load_run_config, train

TEXTS = ["the cat sat on the mat", "a dog ate the hat", "cats and dogs on mats"] * 20


def model_type(tokenizer: SubwordTokenizer) -> int:
    proto = pb.ModelProto()
    proto.ParseFromString(tokenizer._proto)
    return proto.trainer_spec.model_type


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("subword", pb.TrainerSpec.UNIGRAM),
        ("unigram", pb.TrainerSpec.UNIGRAM),
        ("bpe", pb.TrainerSpec.BPE),
    ],
)
def test_each_kind_trains_its_model_type(kind, expected, tmp_path):
    tokenizer = train_subword(kind, TEXTS, 20, tmp_path)
    assert model_type(tokenizer) == expected
    assert model_type(SubwordTokenizer.load(tmp_path)) == expected  # saved


def test_bpe_dropout_samples_other_segmentations_of_the_same_text():
    tokenizer = SubwordTokenizer.train(TEXTS, 30, model_type="bpe")
    texts = TEXTS[:3] * 10
    plain = [tokenizer.tokenize(t) for t in texts]
    sampled = tokenizer.sample(texts, 0.3, seed=1)
    assert sampled != plain  # some merges were dropped
    assert [tokenizer.detokenize(s) for s in sampled] == texts
    assert tokenizer.sample(texts, 0.3, seed=1) == sampled  # seeded
    assert tokenizer.sample(texts, 0.0, seed=1) == plain


def test_bpe_dropout_needs_bpe():
    with pytest.raises(
        ConfigError, match=r"data\.bpe_dropout needs data\.tokenizer bpe"
    ):
        load_run_config(
            "configs/date-attention.yaml",
            ("data.tokenizer=unigram", "data.vocab_size=40", "data.bpe_dropout=0.1"),
        )


def test_a_bpe_run_with_dropout_trains_and_loads(tmp_path):
    cfg = load_run_config(
        "configs/date-attention.yaml",
        (
            "data.tokenizer=bpe",
            "data.vocab_size=100",
            "data.bpe_dropout=0.2",
            "train.max_steps=2",
            "train.progress=false",
            "model.hidden_size=16",
        ),
    )
    train(cfg, tmp_path / "run", log=lambda line: None)
    loaded = load_run(tmp_path / "run")
    assert model_type(loaded.task.tokenizer) == pb.TrainerSpec.BPE
    loaded.task.load_data(None)
    kept = loaded.task.tensors["train"]
    first, again = (loaded.task.dropout_segmentation(0) for _ in range(2))
    second = loaded.task.dropout_segmentation(1)
    assert first.tgt_out.tolist() == again.tgt_out.tolist()  # the same on resume
    assert first.src.shape != kept.src.shape or not first.src.equal(kept.src)
    assert not first.src[:, :8].equal(second.src[:, :8])  # each epoch afresh
