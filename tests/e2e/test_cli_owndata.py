"""Your own files through the command line: a shipped config trained on a TSV of
pairs (then predict), a captioner on a TSV of pictures, a Transformer captioner."""

import json
import random

import pytest

from seqlab.cli import main


def test_a_shipped_seq2seq_config_trains_on_your_tsv(tmp_path, capsys):
    rng = random.Random(0)
    lines = []
    for _ in range(300):
        s = "".join(rng.choice("abcd") for _ in range(rng.randint(2, 5)))
        lines.append(f"{s}\t{s[::-1]}")
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    argv = ["train", "configs/date-attention.yaml", "--out", str(out), "--set"]
    sets = [
        f"data.path={tmp_path / 'pairs.tsv'}",
        "model.hidden_size=16",
        "model.embedding_size=8",
        "train.max_steps=3",
        "train.progress=false",
    ]
    assert main(argv + sets) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "test_accuracy" in summary and "test_bleu" not in summary  # characters
    capsys.readouterr()
    (tmp_path / "in.txt").write_text("abc\n")
    assert main(["predict", str(out), "--input", str(tmp_path / "in.txt")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize("kind", ["captioner", "transformer"])
def test_captioners_train_on_your_pictures(tmp_path, capsys, kind):
    Image = pytest.importorskip("PIL.Image")
    (tmp_path / "pics").mkdir()
    rows = []
    for i in range(20):
        colour = ("red", "blue")[i % 2]
        Image.new("RGB", (16, 16), colour).save(tmp_path / "pics" / f"{i}.png")
        rows.append(f"pics/{i}.png\ta {colour} square")
    (tmp_path / "caps.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = "configs/shapes-caption-attention.yaml"
    if kind == "transformer":
        config = "configs/shapes-caption-transformer.yaml"
    sets = [
        f"data.path={tmp_path / 'caps.tsv'}",
        "data.image_size=16",
        "data.val_fraction=0.2",
        "data.test_fraction=0.2",
        "model.channels=[8,16]",
        "train.max_steps=2",
        "train.batch_size=8",
        "train.progress=false",
    ]
    out = tmp_path / "run"
    assert main(["train", config, "--out", str(out), "--set", *sets]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "test_exact_match" in summary
    capsys.readouterr()
    assert main(["predict", str(out), "--image", str(tmp_path / "pics" / "0.png")]) == 0
    # one caption line (after 2 steps its words, even none, are the model's guess)
    assert len(capsys.readouterr().out.splitlines()) == 1
