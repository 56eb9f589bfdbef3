"""The LM command-line contract, end to end on a tiny corpus (seconds each)."""

import json
import urllib.error

import pytest

from seqlab.cli import main
from seqlab.data import datasets

CONFIG = """\
task: lm
data:
  path: {path}
  tokenizer: char
  bptt: 16
  val_fraction: 0.2
model:
  kind: rnn_lm
  cell: gru
  embedding_size: 16
  hidden_size: 32
train:
  batch_size: 4
  lr: 0.01
  max_steps: 60
  eval_every: 30
  progress: false
generate:
  prompt: "to be"
  max_new_tokens: 20
"""


@pytest.fixture
def run_dir(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("to be or not to be, that is the question. " * 40, encoding="utf-8")
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG.format(path=text))
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    return out


def test_train_writes_the_run_directory(run_dir):
    for name in ("config.yaml", "vocab.json", "metrics.jsonl", "summary.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best" / "model.safetensors").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in (
        "val_loss",
        "val_ppl",
        "train_seconds",
        "tokens_per_second",
        "parameters",
    ):
        assert key in summary
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_evaluate_json(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--split", "val", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert metrics["val_loss"] == pytest.approx(summary["val_loss"], rel=1e-6)
    assert main(["evaluate", str(run_dir), "--split", "test"]) == 2  # no test split


def test_generate_is_reproducible_and_respects_the_budget(run_dir, capsys):
    args = [
        "generate",
        str(run_dir),
        "--prompt",
        "to",
        "--max-new-tokens",
        "25",
        "--seed",
        "3",
        "--temperature",
        "1.2",
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    assert len(first.rstrip("\n")) == len("to") + 25  # characters: one per token
    assert main(["generate", str(run_dir), "--greedy", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("to be")  # the config's default prompt


def test_resume_continues(run_dir, capsys):
    assert (
        main(
            [
                "train",
                str(run_dir / "config.yaml"),
                "--out",
                str(run_dir),
                "--resume",
                "--set",
                "train.max_steps=90",
            ]
        )
        == 0
    )
    steps = [
        json.loads(line)["step"]
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [30, 60, 90]


def test_corrupt_and_truncated_checkpoints_give_clear_errors(run_dir, capsys):
    weights = run_dir / "checkpoints" / "best" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert main(["generate", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "Traceback" not in err


def test_a_checkpoint_with_another_vocabulary_is_refused(run_dir, capsys):
    vocab = run_dir / "vocab.json"
    payload = json.loads(vocab.read_text())
    payload["tokens"] = [*payload["tokens"][:-1], "Z"]
    vocab.write_text(json.dumps(payload))
    assert main(["generate", str(run_dir)]) == 2
    assert "another vocabulary" in capsys.readouterr().err


def write_config(tmp_path, source: str) -> str:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"task: lm\ndata: {{{source}}}\nmodel: {{kind: rnn_lm}}\n"
        "train: {max_steps: 1, progress: false}\n"
    )
    return str(config)


def test_empty_and_non_utf8_files_are_named(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert (
        main(
            [
                "train",
                write_config(tmp_path, f"path: {empty}"),
                "--out",
                str(tmp_path / "r1"),
            ]
        )
        == 2
    )
    assert "empty.txt" in capsys.readouterr().err
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café au lait\n".encode("latin-1"))
    assert (
        main(
            [
                "train",
                write_config(tmp_path, f"path: {latin}"),
                "--out",
                str(tmp_path / "r2"),
            ]
        )
        == 2
    )
    assert "latin.txt" in capsys.readouterr().err


def test_missing_data_set_says_where_it_looked_and_how_to_get_it(
    tmp_path, capsys, monkeypatch
):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets, "download_file", offline)
    empty_dir = tmp_path / "nodata"
    empty_dir.mkdir()
    config = write_config(tmp_path, "dataset: tinyshakespeare")
    assert (
        main(
            [
                "train",
                config,
                "--out",
                str(tmp_path / "r"),
                "--data-dir",
                str(empty_dir),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert str(empty_dir / "tinyshakespeare" / "input.txt") in err
    assert "https://" in err and "SEQLAB_DATA" in err


def test_unknown_config_key_names_path_and_file(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(
        "task: lm\ndata: {dataset: tinyshakespeare}\n"
        "model: {kind: rnn_lm, hiden_size: 3}\n"
    )
    assert main(["train", str(config), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "model.hiden_size" in err and "c.yaml" in err


def test_predict_and_beam_are_refused_for_a_language_model(run_dir, capsys):
    assert main(["predict", str(run_dir), "--input", str(run_dir / "config.yaml")]) == 2
    err = capsys.readouterr().err
    assert "'lm' run has no predict" in err and "Traceback" not in err
    assert main(["evaluate", str(run_dir), "--beam", "2"]) == 2
    assert "--beam" in capsys.readouterr().err
