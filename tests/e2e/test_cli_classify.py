"""The classify command-line contract on a generated intent file (seconds)."""

import json
import random

import pytest

from seqlab.cli import main

CONFIG = """\
task: classify
data:
  path: {path}
  folds: 5
model:
  kind: classifier
  cell: gru
  embedding_size: 16
  hidden_size: 16
  dropout: 0.0
  pooling: attention
  attention_size: 8
train:
  batch_size: 16
  lr: 0.02
  epochs: 6
  progress: false
"""

WORDS = [
    "please",
    "could",
    "you",
    "i",
    "want",
    "to",
    "the",
    "a",
    "my",
    "now",
    "for",
    "me",
]
KEYS = {"greet": ["hello", "hi"], "book": ["book", "reserve"], "bye": ["bye", "ciao"]}


def write_intents(path, n=300, seed=0, extra=""):
    """One key word decides the label; the rest is filler."""
    rng = random.Random(seed)
    lines = ["text\tlabel"]
    for _ in range(n):
        label = rng.choice(sorted(KEYS))
        words = rng.choices(WORDS, k=rng.randint(1, 6))
        words.insert(rng.randint(0, len(words)), rng.choice(KEYS[label]))
        lines.append(f"{' '.join(words)}\t{label}")
    path.write_text("\n".join(lines) + "\n" + extra)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classify")
    data = tmp / "intents.tsv"
    write_intents(data)
    config = tmp / "intents.yaml"
    config.write_text(CONFIG.format(path=data))
    out = tmp / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    return out


def test_train_learns_the_key_words_and_writes_the_summary(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.9
    assert {"val_accuracy", "test_loss", "parameters"} <= set(summary)
    labels = json.loads((run_dir / "labels.json").read_text())["labels"]
    assert labels == ["book", "bye", "greet"]


def test_predict_prints_label_and_probability(run_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("hello there\nplease book a table for me\n")
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [label for label, _ in rows] == ["greet", "book"]
    assert all(0.34 < float(p) <= 1 for _, p in rows)


def test_predict_json_has_all_probabilities_and_attention(run_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("i want to say bye now\n")
    assert main(["predict", str(run_dir), "--input", str(inputs), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record["probabilities"]) == {"book", "bye", "greet"}
    assert sum(record["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert len(record["attention"]) == len(record["tokens"]) == 6
    assert sum(record["attention"]) == pytest.approx(1, abs=1e-4)
    assert record["tokens"][max(range(6), key=record["attention"].__getitem__)] == "bye"


def test_a_blank_predict_line_gets_a_blank_answer(run_dir, tmp_path, capsys):
    """Every task answers a blank input line with a blank line (d3d87f7), so the
    answers stay aligned with the inputs."""
    inputs = tmp_path / "in.txt"
    inputs.write_text("hello\n   \nbye\n")
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[0].startswith("greet\t") and lines[1] == ""
    assert lines[2].startswith("bye\t")


def test_data_with_another_label_set_is_refused(run_dir, capsys):
    data = run_dir.parent / "intents.tsv"
    original = data.read_text()
    try:
        write_intents(data, extra="cancel my booking\tcancel\n")
        assert main(["evaluate", str(run_dir), "--split", "test"]) == 2
        err = capsys.readouterr().err
        assert "'cancel'" in err and "['book', 'bye', 'greet']" in err
        assert "labels.json" in err
    finally:
        data.write_text(original)
    assert main(["evaluate", str(run_dir), "--split", "test", "--json"]) == 0


def test_an_option_the_task_lacks_is_refused_in_one_line(run_dir, capsys):
    """The task's capabilities decide: a classifier has no beam and no pictures."""
    assert main(["evaluate", str(run_dir), "--beam", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--beam" in err and "'classify'" in err
    assert "seq2seq and caption" in err  # the tasks the option applies to
    assert main(["predict", str(run_dir), "--image", "x.png"]) == 2
    assert "--image" in capsys.readouterr().err
    argv = ["plot-attention", str(run_dir), "--input", "hi", "--out", "a.png"]
    assert main(argv) == 2
    assert "plot-attention" in capsys.readouterr().err


def test_decoding_options_are_refused_for_a_classifier(run_dir, capsys):
    for flag in (["--nbest", "2"], ["--sample"], ["--no-repeat-ngram", "2"]):
        assert main(["predict", str(run_dir), "--input", "x", *flag]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and flag[0] in err and "'classify'" in err
