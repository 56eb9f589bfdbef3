"""The seq2seq command-line contract, end to end on generated dates (seconds)."""

import json

import pytest

from seqlab.cli import main

CONFIG = """\
task: seq2seq
data:
  dataset: generated_dates
  size: 1400
  val_size: 100
  eval_batch_size: 500
model:
  kind: seq2seq
  embedding_size: 8
  hidden_size: 16
  decoder: attention
train:
  batch_size: 32
  lr: 0.01
  max_steps: 20
  eval_every: 10
  progress: false
decode:
  max_length: 12
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s2s")
    config = tmp / "dates.yaml"
    config.write_text(CONFIG)
    out = tmp / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    return out


def test_train_writes_accuracy_for_val_and_test(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("val_accuracy", "test_accuracy", "val_loss", "test_loss"):
        assert key in summary
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_predict_writes_one_line_per_input_line(run_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("April 3, 1996\n\n3/4/99\n")
    assert main(["predict", str(run_dir), "--input", str(inputs), "--beam", "3"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""


def test_predict_json_has_scores_and_attention(run_dir, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("May 5, 2001\n"))
    assert main(["predict", str(run_dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["input"] == "May 5, 2001" and record["score"] <= 0
    assert len(record["attention"]) == len(record["output_tokens"])
    assert all(len(row) == 11 for row in record["attention"])


def test_an_over_long_input_is_a_one_line_error(run_dir, tmp_path, capsys):
    inputs = tmp_path / "long.txt"
    inputs.write_text("1" * 500 + "\n")
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 2
    assert "input line 1 has 500 tokens" in capsys.readouterr().err


def test_evaluate_with_a_beam(run_dir, capsys):
    code = main(["evaluate", str(run_dir), "--split", "test", "--beam", "2", "--json"])
    assert code == 0
    assert set(json.loads(capsys.readouterr().out)) == {"test_loss", "test_accuracy"}


def test_plot_attention_writes_an_image(run_dir, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "attn.png"
    code = main(
        ["plot-attention", str(run_dir), "--input", "May 5, 2001", "--out", str(out)]
    )
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


TRANSFORMER = CONFIG.replace(
    """model:
  kind: seq2seq
  embedding_size: 8
  hidden_size: 16
  decoder: attention
""",
    """model:
  kind: transformer
  d_model: 16
  num_heads: 2
  encoder_layers: 1
  decoder_layers: 2
  d_ff: 32
  max_len: 64
""",
)


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s2s-tf")
    config = tmp / "dates.yaml"
    config.write_text(TRANSFORMER)
    out = tmp / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    return out


def test_the_transformer_goes_through_the_same_commands(transformer_run, capsys):
    summary = json.loads((transformer_run / "summary.json").read_text())
    assert {"val_accuracy", "test_accuracy"} <= set(summary)
    code = main(["evaluate", str(transformer_run), "--split", "val", "--beam", "3"])
    assert code == 0
    capsys.readouterr()
    monkey_in = __import__("io").StringIO("May 5, 2001\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", monkey_in)
        assert main(["predict", str(transformer_run), "--json", "--beam", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert len(record["attention"]) == len(record["output_tokens"])
    assert all(len(row) == 11 for row in record["attention"])


def test_transformer_attention_maps_every_layer_and_head(transformer_run, tmp_path):
    from seqlab import run

    loaded = run.load_run(transformer_run)
    result = loaded.task.translate(loaded.model, ["May 5, 2001"])[0]
    maps = loaded.task.attention_maps(loaded.model, result)
    T, S = len(result.output_tokens), len(result.source_tokens)
    assert maps.shape == (2, 2, T, S)  # layers, heads, output, source
    assert maps.sum(-1).sub(1).abs().max() < 1e-5
    pytest.importorskip("matplotlib")
    out = tmp_path / "grid.png"
    args = ["plot-attention", str(transformer_run), "--input", "May 5, 2001"]
    assert main([*args, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def predict_out(run_dir, monkeypatch, capsys, *flags, text="May 5, 1999\n"):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(text))
    assert main(["predict", str(run_dir), *flags]) == 0
    return capsys.readouterr().out.splitlines()


def test_predict_nbest_lists_the_beam_output_first(run_dir, monkeypatch, capsys):
    lines = predict_out(run_dir, monkeypatch, capsys, "--nbest", "3")
    rows = [line.split("\t") for line in lines]
    assert len(rows) == 3 and all(len(r) == 3 and r[0] == "0" for r in rows)
    assert len({r[2] for r in rows}) == 3 and all(float(r[1]) <= 0 for r in rows)
    assert rows[0][2] == predict_out(run_dir, monkeypatch, capsys, "--beam", "3")[0]
    two = predict_out(
        run_dir, monkeypatch, capsys, "--nbest", "2", "--json", text="a\nb\n"
    )
    assert [len(json.loads(line)["nbest"]) for line in two] == [2, 2]


def test_predict_samples_with_a_seed(run_dir, monkeypatch, capsys):
    def sample(*flags):
        return predict_out(
            run_dir, monkeypatch, capsys, "--sample", *flags, text="May 5, 1999\n" * 4
        )

    hot = ("--temperature", "3", "--seed")
    assert sample(*hot, "1") == sample(*hot, "1") != sample(*hot, "2")
    greedy = predict_out(run_dir, monkeypatch, capsys, text="May 5, 1999\n" * 4)
    assert sample("--top-p", "1e-9", "--seed", "0") == greedy
    blocked = predict_out(run_dir, monkeypatch, capsys, "--no-repeat-ngram", "1")
    assert len(set(blocked[0])) == len(blocked[0])  # no character twice


def test_decoding_flags_are_checked_in_one_line(run_dir, capsys):
    for flags, words in [
        (["--top-p", "0.9"], "--top-p applies with --sample"),
        (["--sample", "--beam", "2"], "no --beam"),
        (["--nbest", "0"], "--nbest must be >= 1"),
    ]:
        assert main(["predict", str(run_dir), "--input", "x", *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err


def test_chat_replies_are_sampled_with_a_seed(run_dir, monkeypatch, capsys):
    def chat(*flags):
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO("May 5, 1999\n" * 4))
        assert main(["chat", str(run_dir), *flags]) == 0
        return capsys.readouterr().out.splitlines()

    hot = ("--sample", "--temperature", "3", "--seed")
    assert chat(*hot, "1") == chat(*hot, "1") != chat(*hot, "2")
    assert chat("--sample", "--top-p", "1e-9") == chat()
