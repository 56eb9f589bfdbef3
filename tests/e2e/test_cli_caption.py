"""The captioning command-line contract, end to end on tiny synthetic shapes."""

import json
from dataclasses import replace

import pytest

from seqlab.cli import main

Image = pytest.importorskip("PIL.Image")

CONFIG = """\
task: caption
data:
  dataset: shapes
  image_size: 16
  train_size: 200
  val_size: 20
  test_size: 20
model:
  kind: captioner
  channels: [8, 16]
  embedding_size: 8
  hidden_size: 16
  decoder: attention
train:
  batch_size: 50
  lr: 0.01
  max_steps: 4
  progress: false
decode:
  max_length: 10
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("caption")
    config = tmp / "shapes.yaml"
    config.write_text(CONFIG)
    out = tmp / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    return out


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "emoji.png"  # RGBA, another size than the run's 16 x 16
    Image.new("RGBA", (72, 40), (200, 30, 30, 128)).save(path)
    return path


def test_summary_has_exact_match_and_bleu(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("test_exact_match", "test_bleu", "val_exact_match", "test_loss"):
        assert key in summary


def test_predict_captions_each_image(run_dir, picture, capsys):
    argv = ["predict", str(run_dir), "--image", str(picture), "--image", str(picture)]
    assert main([*argv, "--beam", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]


def test_predict_json_has_attention_over_the_grid(run_dir, picture, capsys):
    assert main(["predict", str(run_dir), "--image", str(picture), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["image"] == str(picture)
    assert len(record["attention"]) == len(record["tokens"])
    assert all(len(g) == 4 and len(g[0]) == 4 for g in record["attention"])


def test_predict_names_a_corrupt_picture(run_dir, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    assert main(["predict", str(run_dir), "--image", str(bad)]) == 2
    assert "broken.png: not a readable image" in capsys.readouterr().err


def test_evaluate_reports_exact_match_and_bleu(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"test_exact_match", "test_bleu", "test_loss"} <= set(metrics)


def test_a_cut_evaluation_scores_the_first_pictures_only(run_dir):
    from seqlab.run import load_run

    loaded = load_run(run_dir, device="cpu")
    task, model = loaded.task, loaded.model
    assert task.capabilities.partial_eval
    task.load_data(None)
    whole = task.evaluate(model, "val")
    assert task.evaluate(model, "val", fraction=1.0) == whole
    first = task.evaluate(model, "val", fraction=0.25)  # 5 of the 20 pictures
    val, rows = task.tensors["val"], task.tensors["val"].image_of < 5
    task.tensors["val"] = replace(
        val,
        images=val.images[:5],
        image_of=val.image_of[rows],
        tgt_in=val.tgt_in[rows],
        tgt_out=val.tgt_out[rows],
        lengths=val.lengths[rows],
    )
    task.references["val"] = task.references["val"][:5]
    assert first == task.evaluate(model, "val")  # as if val were those 5 pictures
    assert set(first) == set(whole)


def test_plot_attention_over_a_picture(run_dir, picture, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "attn.png"
    argv = ["plot-attention", str(run_dir), "--image", str(picture), "--out", str(out)]
    assert main(argv) == 0
    assert out.stat().st_size > 0


def write_flickr8k(folder, pictures: int = 24):
    """A Flickr8k-format folder: coloured squares, two references each."""
    lines = []
    for i in range(pictures):
        colour = ("red", "blue")[i % 2]
        rgb = {"red": (220, 20, 20), "blue": (20, 20, 220)}[colour]
        Image.new("RGB", (20 + i, 24), rgb).save(folder / f"{i}.jpg")
        lines += [f"{i}.jpg#0\ta {colour} picture", f"{i}.jpg#1\tsomething {colour}"]
    (folder / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")


def test_train_and_evaluate_on_a_flickr8k_folder(tmp_path, capsys):
    write_flickr8k(tmp_path)
    config = tmp_path / "flickr.yaml"
    config.write_text(
        CONFIG.replace(
            "  dataset: shapes\n",
            f"  dataset: flickr8k\n  captions: {tmp_path / 'Flickr8k.token.txt'}\n"
            f"  images: {tmp_path}\n  val_fraction: 0.1\n  test_fraction: 0.2\n",
        )
    )
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert 0 <= scores["test_exact_match"] <= 1 and "test_bleu" in scores


def test_user_formats_need_their_files(tmp_path, capsys):
    config = tmp_path / "coco.yaml"
    config.write_text(CONFIG.replace("dataset: shapes", "dataset: coco"))
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "data.captions is required" in capsys.readouterr().err


def test_predict_nbest_and_sampling_for_pictures(run_dir, picture, capsys):
    argv = ["predict", str(run_dir), "--image", str(picture)]
    assert main([*argv, "--nbest", "2"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and [r[0] for r in rows] == ["0", "0"]
    assert main([*argv, "--beam", "2"]) == 0
    assert capsys.readouterr().out.strip() == rows[0][2]
    assert main([*argv, "--beam", "2", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["caption"] == rows[0][2] and str(one["score"]) == rows[0][1]
    named = picture.with_name("狗.png")  # a name json must not escape
    named.write_bytes(picture.read_bytes())
    assert (
        main(["predict", str(run_dir), "--image", str(named), "--nbest", "2", "--json"])
        == 0
    )
    out = capsys.readouterr().out
    assert "狗.png" in out
    best = json.loads(out)["nbest"]
    assert [(b["caption"], str(b["score"])) for b in best] == [
        (r[2], r[1]) for r in rows
    ]

    def sample(seed):
        assert main([*argv, "--sample", "--temperature", "3", "--seed", seed]) == 0
        return capsys.readouterr().out

    assert sample("1") == sample("1")
