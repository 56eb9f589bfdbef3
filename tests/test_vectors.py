"""Pretrained word vectors: model.embeddings and model.freeze_embeddings."""

import gzip

import pytest
import torch

from seqlab.checkpoint import load_checkpoint
from seqlab.data.vectors import load_vectors
from seqlab.data.vocab import Vocab
from seqlab.models.lm import RNNLMConfig
from seqlab.run import train
from seqlab.tasks.lm import LMDataConfig, LMRunConfig
from seqlab.train import TrainConfig

VECTORS = {"the": [1.0, 2.0, 3.0], "Cat": [4.0, 5.0, 6.0], "猫": [0.5, -0.5, 1.5]}


def write(path, vectors=VECTORS, header=True):
    dim = len(next(iter(vectors.values())))
    lines = [f"{len(vectors)} {dim}"] if header else []
    lines += [" ".join([w, *map(str, v)]) + " " for w, v in vectors.items()]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "header"), [("v.txt", True), ("v.vec", False), ("v.txt.gz", True)]
)
def test_words_are_found_exactly_then_case_folded(tmp_path, name, header):
    path = write(tmp_path / name, header=header)
    tokens = ["<pad>", "the", "cat", "dog", "猫"]
    weights, found, report = load_vectors(path, tokens)
    assert found.tolist() == [False, True, True, False, True]
    assert weights[1].tolist() == VECTORS["the"]
    assert weights[2].tolist() == VECTORS["Cat"]  # case-folded
    assert weights[4].tolist() == VECTORS["猫"]  # UTF-8
    assert weights[3].abs().sum() == 0
    assert "3 of 5 tokens found (60.0%; 1 case-folded)" in report


def test_an_exact_match_wins_over_a_case_folded_one(tmp_path):
    path = write(tmp_path / "v.txt", {"The": [0.0, 0.0, 1.0], "the": [1.0, 2.0, 3.0]})
    weights, _, _ = load_vectors(path, ["the"])
    assert weights[0].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2 3\nthe 1 2 3\ncat 1 2\n", "line 3: expected a word and 3 numbers"),
        ("the 1 2 3\ncat 1 x 3\n", "line 2: 'x' is not a number"),
        ("", "no vectors"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_vectors(path, ["the", "cat"])
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def lm_config(text_file, **model_kwargs):
    return LMRunConfig(
        data=LMDataConfig(path=str(text_file), tokenizer="word", val_fraction=0.2),
        model=RNNLMConfig(embedding_size=3, hidden_size=8, **model_kwargs),
        train=TrainConfig(batch_size=2, max_steps=10, eval_every=5, progress=False),
    )


def test_frozen_pretrained_rows_stay_as_loaded(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the cat saw the dog and the cat ran . " * 20, encoding="utf-8")
    vectors = write(tmp_path / "v.txt")
    lines = []
    cfg = lm_config(text, embeddings=str(vectors), freeze_embeddings=True)
    train(cfg, tmp_path / "run", log=lines.append)
    assert any("pretrained vectors: 2 of" in line for line in lines)
    vocab = Vocab.load(tmp_path / "run" / "vocab.json")
    state = load_checkpoint(tmp_path / "run" / "checkpoints", "last").model_state
    embedding = state["embedding.weight"]
    assert embedding[vocab.token_to_id("the")].tolist() == VECTORS["the"]
    assert embedding[vocab.token_to_id("cat")].tolist() == VECTORS["Cat"]
    trained = lm_config(text, embeddings=str(vectors))  # not frozen: it moves
    train(trained, tmp_path / "run2", log=lambda line: None)
    state = load_checkpoint(tmp_path / "run2" / "checkpoints", "last").model_state
    moved = state["embedding.weight"][vocab.token_to_id("the")]
    assert not torch.equal(moved, torch.tensor(VECTORS["the"]))


def test_another_dimension_says_what_to_set(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the cat saw the dog . " * 20, encoding="utf-8")
    vectors = write(tmp_path / "v.txt")
    cfg = lm_config(text, embeddings=str(vectors)).model_copy(
        update={"model": RNNLMConfig(embedding_size=4, embeddings=str(vectors))}
    )
    with pytest.raises(ValueError, match=r"holds 3-d vectors .* is 4-d; set model"):
        train(cfg, tmp_path / "run", log=lambda line: None)


@pytest.mark.parametrize(
    ("config", "sizes"),
    [
        ("ClassifierConfig", {"num_classes": 2}),
        ("TaggerConfig", {"num_tags": 3}),
        ("Seq2SeqConfig", {}),
        ("TransformerConfig", {}),
    ],
)
def test_every_token_embedding_gets_the_vectors(tmp_path, config, sizes):
    import seqlab.models as models
    from seqlab.warmstart import pretrained_embeddings, token_embeddings

    size = {"TransformerConfig": {"d_model": 4, "num_heads": 2}}.get(
        config, {"embedding_size": 4}
    )
    cfg = getattr(models, config)(**size)
    model = models.build_model(cfg, vocab_size=6, **sizes)
    vectors = write(tmp_path / "v.txt", {"cat": [1.0, 2.0, 3.0, 4.0]})
    report = pretrained_embeddings(model, vectors, ["<pad>", "a", "b", "c", "d", "cat"])
    assert "1 of 6 tokens found" in report
    for embedding in token_embeddings(model, 6):
        assert embedding.weight[5].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_rows_without_a_vector_are_drawn_at_the_vectors_scale(tmp_path):
    import seqlab.models as models
    from seqlab.warmstart import pretrained_embeddings

    g = torch.Generator().manual_seed(0)
    words = {f"w{i}": (0.1 * torch.randn(8, generator=g)).tolist() for i in range(30)}
    tokens = ["<pad>", *words, *(f"x{i}" for i in range(200))]
    model = models.build_model(
        models.ClassifierConfig(embedding_size=8), vocab_size=len(tokens), num_classes=2
    )
    report = pretrained_embeddings(model, write(tmp_path / "v.txt", words), tokens)
    weight = model.embedding.weight.detach()
    assert "the other rows random at its scale (std 0.1" in report
    assert 0.08 < float(weight[31:].std()) < 0.12  # N(0, 1) before
    assert weight[0].abs().sum() == 0  # the padding row stays zero
    assert weight[1].tolist() == pytest.approx(words["w0"])
