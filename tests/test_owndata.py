"""Your own data: the same keys for every task, bad files named by file and line,
and the records of the named data sets."""

import urllib.error
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.config import validate
from seqlab.data import datasets, readers, records
from seqlab.data.datasets import DataError
from seqlab.data.owndata import split_items
from seqlab.tasks import TASKS
from seqlab.tasks.seq2seq import Seq2SeqRunConfig, Seq2SeqTask


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"\n  \n\t\n", "only blank lines"),
        (b"ab\tba\nc\x00d\tdc\n", ":2: holds a NUL byte"),
        (b"ab\tba\n" + b"x" * 50 + b"\ty\n", ":2: line of 52 characters"),
        (b"ab\tba\n\ncd\t \n", ":3: empty target"),
        (b"\tba\n", ":1: empty source"),
        (b"ab\tba\tc\n", ":1: expected source<TAB>target (2 columns), got 3"),
        (b"ab ba\n", ":1: expected source<TAB>target (2 columns), got 1"),
        (b"ab\tba\n\xff\tx\n", ":2: not UTF-8"),
    ],
)
def test_a_bad_pair_file_is_named_with_its_line(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        readers.read_pair_file(path, max_line_chars=40)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_directory_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        readers.read_pair_file(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        readers.read_pair_file(tmp_path / "nope.tsv")


def test_one_file_is_split_alike_every_time_by_the_fractions():
    items = list(range(100))
    a, b = split_items(items, 0.1, 0.2), split_items(items, 0.1, 0.2)
    assert a == b and [len(a[s]) for s in ("train", "val", "test")] == [70, 10, 20]
    assert sorted(a["train"] + a["val"] + a["test"]) == items
    assert a["test"] != list(range(20))  # shuffled, not the file's head
    with pytest.raises(DataError, match="too few"):
        split_items([1, 2], 0.5, 0.4)


def write_pairs(path, n=200, long=False):
    lines = []
    for i in range(n):
        source = "abcdefghij"[: 3 + i % 7]
        target = source[::-1] * (4 if long else 1)
        lines.append(f"{source}\t{target}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def seq2seq_config(**data):
    config = {
        "task": "seq2seq",
        "data": {"dataset": "date", **data},
        "model": {"kind": "seq2seq", "embedding_size": 8, "hidden_size": 16},
        "decode": {"max_length": 12},
    }
    return validate(Seq2SeqRunConfig, config, "test")


def test_data_path_replaces_the_configs_data_set(tmp_path):
    """--set data.path on a shipped config: the file is read, not date.txt; exact
    match picks the best checkpoint of characters; outputs may be as long as the
    longest training target even beyond decode.max_length."""
    write_pairs(tmp_path / "p.tsv", long=True)
    cfg = seq2seq_config(path=str(tmp_path / "p.tsv"), test_fraction=0.25)
    task = Seq2SeqTask.prepare(cfg, "/nonexistent", tmp_path)
    sizes = {split: len(pairs) for split, pairs in task.pairs.items()}
    assert sizes == {"train": 130, "val": 20, "test": 50}
    assert task.monitor == "val_accuracy" and task.max_output == 37  # 4 * 9 + <eos>
    assert Seq2SeqTask.load(cfg, tmp_path).max_output == 37


def test_separate_split_files_and_bleu_for_words(tmp_path):
    write_pairs(tmp_path / "train.tsv")
    (tmp_path / "test.tsv").write_text("a b\tb a\n", encoding="utf-8")
    cfg = seq2seq_config(
        dataset=None,
        train_path=str(tmp_path / "train.tsv"),
        test_path=str(tmp_path / "test.tsv"),
        tokenizer="word",
    )
    task = Seq2SeqTask.prepare(cfg, None, tmp_path)
    assert len(task.pairs["test"]) == 1 and len(task.pairs["val"]) == 20
    assert task.monitor == "val_bleu" and task.scores == {"bleu", "accuracy"}


def test_the_keys_must_name_one_set_of_files():
    with pytest.raises(Exception, match=r"data\.path or data\.train_path"):
        seq2seq_config(path="a.tsv", train_path="b.tsv")
    with pytest.raises(Exception, match=r"go with data\.train_path"):
        seq2seq_config(test_path="b.tsv")
    with pytest.raises(Exception, match=r"give data\.dataset"):
        seq2seq_config(dataset=None)


def test_a_bad_file_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "p.tsv").write_text("ab\tba\ncd\n", encoding="utf-8")
    argv = ["train", "configs/date-attention.yaml", "--out", str(tmp_path / "run")]
    assert main([*argv, "--set", f"data.path={tmp_path / 'p.tsv'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{tmp_path / 'p.tsv'}:2:" in err


# ---- the records of the named data sets ------------------------------------------
def test_every_named_data_set_has_a_record_of_its_task():
    for name, (config, _) in TASKS.items():
        field = config.model_fields["data"].annotation.model_fields.get("dataset")
        if field is None:
            continue
        names = [a for a in _literal_names(field.annotation)]
        for dataset in names:
            assert records.DATA_SETS[dataset].task == name, dataset
    for record in records.DATA_SETS.values():
        assert all(f in datasets.DATASETS for f in record.files), record.name


def _literal_names(annotation):
    import typing

    for arg in typing.get_args(annotation):
        if isinstance(arg, str):
            yield arg
        else:
            yield from _literal_names(arg)


def test_data_list_says_where_each_set_is_looked_for(tmp_path, capsys):
    (tmp_path / "seq2seq_toy").mkdir()
    (tmp_path / "seq2seq_toy" / "date.txt").write_text("x _y\n")
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert " yes " in rows["date"] and " no " in rows["addition"]
    assert str(tmp_path / "multi30k" / "train.de.gz") in rows["multi30k"]
    assert "generated" in rows["shapes"]


def test_data_download_offline_is_one_line(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    assert main(["data", "download", "addition", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot download" in err and "offline" in err
    assert str(tmp_path / "seq2seq_toy" / "addition.txt") in err
    assert main(["data", "download", "nope"]) == 2
    assert "unknown data set 'nope'" in capsys.readouterr().err


# ---- every task reads your own files with the same keys ------------------------------
def test_tag_reads_your_conll_file_with_any_tags(tmp_path):
    """POS tags are not chunks: scored by accuracy; a ragged row is named."""
    from seqlab.tasks.tag import TagRunConfig, TagTask

    rows = ["the DT", "dog NN", "runs VBZ", ""] * 30
    (tmp_path / "pos.conll").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = {
        "task": "tag",
        "data": {"dataset": "conll2000", "path": str(tmp_path / "pos.conll")},
        "model": {"kind": "tagger", "embedding_size": 8, "hidden_size": 8},
    }
    task = TagTask.prepare(validate(TagRunConfig, config, "t"), None, tmp_path)
    assert task.labels == ["DT", "NN", "VBZ"] and task.monitor == "val_accuracy"
    assert [len(task.sentences[s]) for s in ("train", "val", "test")] == [24, 3, 3]
    (tmp_path / "bad.conll").write_text("the DT\ndog NN x\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.conll:2: expected 2"):
        readers.read_conll_file(tmp_path / "bad.conll")


def test_forecast_reads_a_csv_column_and_keeps_time_order(tmp_path):
    from seqlab.tasks.forecast import ForecastRunConfig, read_series, split_series

    lines = ["year,level"] + [f"{1900 + i},{i % 11}" for i in range(200)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    config = {
        "task": "forecast",
        "data": {
            "path": str(tmp_path / "s.csv"),
            "column": "level",
            "window": 11,
            "season": 11,
        },
        "model": {"kind": "mlp_regressor"},
    }
    cfg = validate(ForecastRunConfig, config, "t").data
    values = read_series(cfg)
    assert values[:3] == [0.0, 1.0, 2.0] and len(values) == 200
    splits = split_series(values, cfg)
    assert splits["test"] == range(180, 200) and splits["val"] == range(160, 180)
    (tmp_path / "bad.csv").write_text("level\n1\nx\n")
    with pytest.raises(DataError, match=r"bad\.csv:3: 'x' is not a number"):
        readers.read_number_file(tmp_path / "bad.csv")
    with pytest.raises(DataError, match="name the one"):
        readers.read_number_file(tmp_path / "s.csv")


def test_caption_reads_pictures_relative_to_the_tsv(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    from seqlab.data.captions import read_caption_tsv

    (tmp_path / "pics").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "pics" / "a.png")
    tsv = tmp_path / "caps.tsv"
    tsv.write_text("pics/a.png\ta red square\npics/a.png\tred\n", encoding="utf-8")
    [item] = read_caption_tsv(tsv)
    assert item.image == str(tmp_path / "pics" / "a.png")
    assert item.captions == ["a red square", "red"]
    tsv.write_text("pics/a.png\tred\npics/b.png\tblue\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"caps\.tsv:2: no picture at .*b\.png"):
        read_caption_tsv(tsv)


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_config_takes_your_file(config):
    """--set data.path=FILE validates on every shipped config: the file replaces
    the data set (reading it is the tests above)."""
    from seqlab.run import load_run_config

    cfg = load_run_config(config, ("data.path=mine.txt",))
    assert cfg.data.path == "mine.txt" and cfg.data.own_files()


def test_classify_split_files_and_lm_text_cut_in_order(tmp_path):
    from seqlab.tasks.classify import ClassifyRunConfig, read_splits
    from seqlab.tasks.lm import LMRunConfig, own_text_splits

    for name, n in (("train", 50), ("val", 7), ("test", 9)):
        rows = [f"text {i}\t{'ab'[i % 2]}" for i in range(n)]
        (tmp_path / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    data = {f"{s}_path": str(tmp_path / f"{s}.tsv") for s in ("train", "val", "test")}
    config = {"task": "classify", "data": data, "model": {"kind": "classifier"}}
    splits = read_splits(validate(ClassifyRunConfig, config, "t").data, None)
    assert {s: len(v) for s, v in splits.items()} == {"train": 50, "val": 7, "test": 9}
    (tmp_path / "t.txt").write_text("0123456789" * 10)
    data = {"dataset": "tinyshakespeare", "path": str(tmp_path / "t.txt")}
    config = {"task": "lm", "data": data, "model": {"kind": "rnn_lm"}}
    cut = own_text_splits(validate(LMRunConfig, config, "t").data)
    assert cut == {"train": ["0123456789" * 9], "val": ["0123456789"]}
    config["data"]["test_fraction"] = 0.2
    cut = own_text_splits(validate(LMRunConfig, config, "t").data)
    assert [len(cut[s][0]) for s in ("train", "val", "test")] == [70, 10, 20]
