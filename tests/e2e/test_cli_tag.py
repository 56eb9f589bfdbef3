"""The tag command-line contract on a tiny generated CoNLL-2000 zip (seconds)."""

import json
import random
import zipfile

import pytest

from seqlab.cli import main

CONFIG = """\
task: tag
data:
  dataset: conll2000
  pos: {pos}
  val_fraction: 0.2
model:
  kind: tagger
  embedding_size: 16
  hidden_size: 16
  dropout: 0.0
  char_embedding_size: 8
  char_hidden_size: 8
  feature_embedding_size: {features}
  head: crf
train:
  batch_size: 8
  lr: 0.02
  epochs: 5
  progress: false
"""

# (word, POS, chunk) phrases: a noun phrase, a verb, a preposition
PHRASES = [
    [("the", "DT", "B-NP"), ("cat", "NN", "I-NP")],
    [("a", "DT", "B-NP"), ("dog", "NN", "I-NP")],
    [("Paris", "NNP", "B-NP")],
    [("sees", "VBZ", "B-VP")],
    [("likes", "VBZ", "B-VP")],
    [("in", "IN", "B-PP")],
    [(".", ".", "O")],
]


def conll_text(n: int, seed: int) -> str:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        rows = [row for _ in range(rng.randint(1, 5)) for row in rng.choice(PHRASES)]
        sentences.append("\n".join(" ".join(row) for row in rows))
    return "\n\n".join(sentences) + "\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "nltk").mkdir()
    with zipfile.ZipFile(root / "nltk" / "conll2000.zip", "w") as z:
        z.writestr("conll2000/train.txt", conll_text(100, 0))
        z.writestr("conll2000/test.txt", conll_text(30, 1))
    return root


def train(tmp_path, data_dir, pos: bool):
    config = tmp_path / "tag.yaml"
    config.write_text(CONFIG.format(pos=str(pos).lower(), features=8 if pos else 0))
    out = tmp_path / "run"
    args = ["train", str(config), "--out", str(out), "--data-dir", str(data_dir)]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir):
    return train(tmp_path_factory.mktemp("tag"), data_dir, pos=False)


def test_train_writes_f1_and_vocabularies(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_f1"] >= 0.9
    assert {"val_f1", "test_precision", "test_recall", "test_accuracy"} <= set(summary)
    for name in ("vocab.json", "labels.json", "chars.json"):
        assert (run_dir / name).is_file()


def test_predict_prints_one_token_slash_tag_per_token(run_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("the cat sees a dog .\nParis\n")
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "the/B-NP cat/I-NP sees/B-VP a/B-NP dog/I-NP ./O"
    assert lines[1] == "Paris/B-NP"


def test_predict_json(run_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("a never-seen-word in\n")
    assert main(["predict", str(run_dir), "--input", str(inputs), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tokens"] == ["a", "never-seen-word", "in"]
    assert len(record["tags"]) == 3


def test_pos_runs_read_word_slash_pos(tmp_path, data_dir, capsys):
    run_dir = train(tmp_path, data_dir, pos=True)
    capsys.readouterr()
    inputs = tmp_path / "in.txt"
    inputs.write_text("the/DT cat/NN likes/VBZ 1/2/CD\n")
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 0
    tokens = capsys.readouterr().out.split()
    assert [t.rsplit("/", 1)[0] for t in tokens] == ["the", "cat", "likes", "1/2"]
    inputs.write_text("the cat\n")
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 2
    assert "word/POS" in capsys.readouterr().err


def test_malformed_conll_names_member_and_line(tmp_path, capsys):
    root = tmp_path / "bad"
    (root / "nltk").mkdir(parents=True)
    with zipfile.ZipFile(root / "nltk" / "conll2000.zip", "w") as z:
        z.writestr("conll2000/train.txt", "the DT B-NP\ncat NN\n")
        z.writestr("conll2000/test.txt", "the DT B-NP\n")
    config = tmp_path / "tag.yaml"
    config.write_text(CONFIG.format(pos="false", features=0))
    args = ["train", str(config), "--out", str(tmp_path / "r"), "--data-dir", str(root)]
    assert main(args) == 2
    assert "conll2000.zip!conll2000/train.txt:2:" in capsys.readouterr().err
