import gzip
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from seqlab.data import datasets, readers
from seqlab.data.datasets import (
    DATASETS,
    DataError,
    DatasetNotFoundError,
    DatasetSpec,
    locate,
    resolve_data_dir,
    sha256_file,
)
from seqlab.data.readers import (
    read_brown,
    read_parallel,
    read_seq2seq_toy,
    read_tang,
    read_text_file,
    read_tinyshakespeare,
)

# ---------------------------------------------------------------- data dir, locate


def test_resolve_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("SEQLAB_DATA")
    assert resolve_data_dir(None) == Path.home() / ".cache" / "seqlab" / "data"


def test_locate_finds_file_under_data_dir(tmp_path):
    path = tmp_path / "seq2seq_toy" / "addition.txt"
    path.parent.mkdir()
    path.write_text("1+1_2\n")
    assert locate("addition", tmp_path) == path


def test_locate_missing_names_set_path_and_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        locate("tinyshakespeare")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "'tinyshakespeare'" in message
    assert str(tmp_path / "tinyshakespeare" / "input.txt") in message
    assert "$SEQLAB_DATA" in message and "--data-dir" in message
    assert DATASETS["tinyshakespeare"].url in message
    assert "download=True" in message


def test_locate_tang_says_where_the_originals_are(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        locate("tang", tmp_path, download=True)
    message = str(info.value)
    assert "not supported" in message
    assert "github.com/chinese-poetry/chinese-poetry" in message


def test_locate_unknown_name_lists_choices(tmp_path):
    with pytest.raises(ValueError, match=r"'nope'.*tinyshakespeare"):
        locate("nope", tmp_path)


def _fake_remote(tmp_path: Path, monkeypatch, content: bytes, sha: str) -> Path:
    """A spec whose URL is a local file:// URL: exercises download without network."""
    remote = tmp_path / "remote" / "toy.txt"
    remote.parent.mkdir()
    remote.write_bytes(content)
    spec = DatasetSpec("toy", "toys/toy.txt", remote.as_uri(), sha, "test fixture")
    monkeypatch.setitem(DATASETS, "toy", spec)
    return tmp_path / "data"


def test_download_verifies_and_renames(tmp_path, monkeypatch):
    content = b"hello\n"
    sha = hashlib.sha256(content).hexdigest()
    data_dir = _fake_remote(tmp_path, monkeypatch, content, sha)
    with pytest.raises(DatasetNotFoundError):
        locate("toy", data_dir)  # download=False never downloads
    path = locate("toy", data_dir, download=True)
    assert path == data_dir / "toys" / "toy.txt"
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.txt"]


def test_download_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    data_dir = _fake_remote(tmp_path, monkeypatch, b"tampered\n", "0" * 64)
    with pytest.raises(DataError, match="checksum mismatch"):
        locate("toy", data_dir, download=True)
    assert list((data_dir / "toys").iterdir()) == []


def test_download_failure_is_not_found_with_reason(tmp_path, monkeypatch):
    data_dir = _fake_remote(tmp_path, monkeypatch, b"x", "0" * 64)
    (tmp_path / "remote" / "toy.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        locate("toy", data_dir, download=True)


def test_specs_are_consistent():
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.url is None or spec.url.startswith("https://")
        assert spec.url is None or spec.url.endswith(Path(spec.relpath).name)


# ---------------------------------------------------------------- text files


def test_read_text_file_empty_names_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt: file is empty"):
        read_text_file(path)


def test_read_text_file_non_utf8_names_file_line_and_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"ok\nalso ok\ncaf\xe9\n")
    with pytest.raises(DataError, match=r"latin1\.txt:3: not UTF-8 \(byte offset 14"):
        read_text_file(path)


def test_read_text_file_gz(tmp_path):
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress("秦川\n".encode()))
    assert read_text_file(path) == "秦川\n"


def test_read_text_file_broken_gz_names_file(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"broken\.gz"):
        read_text_file(path)


def test_read_tinyshakespeare_split(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("abcdefghij" * 10)
    train, val = read_tinyshakespeare(path)
    assert len(train) == 90 and len(val) == 10
    assert train + val == path.read_text()


# ---------------------------------------------------------------- tang


def _write_gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def test_read_tang(tmp_path):
    path = _write_gz(
        tmp_path / "tang.tsv.gz",
        "太宗皇帝\t帝京篇\t秦川雄帝宅，函谷壯皇居。\n"
        "白居易\t新樂府 七德舞\t美撥亂\t七德舞，七德歌。\n"  # preface field
        "光\t威\t裒\t聯句\t朱樓影直日當午。\n",  # three authors
    )
    assert read_tang(path) == [
        "秦川雄帝宅，函谷壯皇居。",
        "七德舞，七德歌。",
        "朱樓影直日當午。",
    ]


@pytest.mark.parametrize("bad", ["只有作者\t標題", "", "作者\t標題\t"])
def test_read_tang_malformed_line_names_line(tmp_path, bad):
    path = _write_gz(tmp_path / "tang.tsv.gz", f"甲\t乙\t丙。\n{bad}\n丁\t戊\t己。\n")
    with pytest.raises(DataError, match=r"tang\.tsv\.gz:2: expected author"):
        read_tang(path)


def test_read_tang_non_utf8_names_file(tmp_path):
    path = tmp_path / "tang.tsv.gz"
    path.write_bytes(gzip.compress("甲\t乙\t丙。\n".encode("big5")))
    with pytest.raises(DataError, match=r"tang\.tsv\.gz:1: not UTF-8"):
        read_tang(path)


# ---------------------------------------------------------------- brown


def _write_brown(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("brown/", "")
        for name, text in files.items():
            z.writestr(f"brown/{name}", text)
    return path


def test_read_brown(tmp_path):
    path = _write_brown(
        tmp_path / "brown.zip",
        {
            "cb01": "\n\n\tSecond/ap file/nn ./.\n",
            "ca01": "\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\t1-1/2/cd miles/nns\n",
            "README": "BROWN CORPUS\n",
            "cats.txt": "ca01 news\n",
            "CONTENTS": "...\n",
        },
    )
    assert read_brown(path) == [
        ["The", "jury", "said", "."],
        ["1-1/2", "miles"],
        ["Second", "file", "."],
    ]


def test_read_brown_malformed_token_names_member_and_line(tmp_path):
    path = _write_brown(tmp_path / "brown.zip", {"ca01": "\tok/nn\n\n\tbad token/nn\n"})
    with pytest.raises(DataError, match=r"brown\.zip!brown/ca01:3: token 'bad'"):
        read_brown(path)


def test_read_brown_not_a_zip(tmp_path):
    path = tmp_path / "brown.zip"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"brown\.zip: not a zip"):
        read_brown(path)


def test_read_brown_without_brown_files(tmp_path):
    path = _write_brown(tmp_path / "brown.zip", {"README": "x\n"})
    with pytest.raises(DataError, match="no Brown files"):
        read_brown(path)


# ---------------------------------------------------------------- seq2seq toy


def test_read_seq2seq_toy(tmp_path):
    path = tmp_path / "addition.txt"
    path.write_text(
        "16+75  _91  \n52+607 _659 \nseptember 27, 1994           _1994-09-27\n"
    )
    assert read_seq2seq_toy(path) == [
        ("16+75", "91"),
        ("52+607", "659"),
        ("september 27, 1994", "1994-09-27"),
    ]


@pytest.mark.parametrize("bad", ["16+75  91  ", "       _91  ", "16+75  _    "])
def test_read_seq2seq_toy_malformed_names_line(tmp_path, bad):
    path = tmp_path / "addition.txt"
    path.write_text(f"1+1    _2   \n{bad}\n")
    with pytest.raises(DataError, match=r"addition\.txt:2: expected"):
        read_seq2seq_toy(path)


def test_read_seq2seq_toy_empty_file(tmp_path):
    path = tmp_path / "date.txt"
    path.write_text("")
    with pytest.raises(DataError, match=r"date\.txt: file is empty"):
        read_seq2seq_toy(path)


# ---------------------------------------------------------------- parallel


def test_read_parallel_gz_and_plain(tmp_path):
    src = _write_gz(tmp_path / "train.de.gz", "Zwei Männer.\nEin Hund. \n")
    tgt = tmp_path / "train.en"
    tgt.write_text("Two men.\r\nA dog.\r\n")
    assert read_parallel(src, tgt) == [
        ("Zwei Männer.", "Two men."),
        ("Ein Hund. ", "A dog."),
    ]


def test_read_parallel_line_mismatch_names_both(tmp_path):
    src = _write_gz(tmp_path / "a.de.gz", "eins\nzwei\n")
    tgt = _write_gz(tmp_path / "a.en.gz", "one\n")
    with pytest.raises(DataError, match=r"a\.de\.gz has 2 lines but .*a\.en\.gz has 1"):
        read_parallel(src, tgt)


def test_lines_do_not_split_on_unicode_separators(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("a\u2028b\x85c\n", encoding="utf-8")
    assert read_parallel(src, src) == [("a\u2028b\x85c", "a\u2028b\x85c")]


# ---------------------------------------------------------------- the real files

REAL = os.environ.get("SEQLAB_DATA")
needs_data = pytest.mark.skipif(not REAL, reason="SEQLAB_DATA not set")


def _real(name: str) -> Path:
    path = Path(REAL or "") / DATASETS[name].relpath
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@needs_data
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_real_checksum(name):
    assert sha256_file(_real(name)) == DATASETS[name].sha256


@needs_data
def test_real_tinyshakespeare():
    train, val = read_tinyshakespeare(_real("tinyshakespeare"))
    assert len(train) + len(val) == 1_115_394
    assert len(val) == 111_540 and train.startswith("First Citizen:")


@needs_data
def test_real_tang():
    poems = read_tang(_real("tang"))
    assert len(poems) == 57_603
    assert poems[0].startswith("秦川雄帝宅，函谷壯皇居。") and poems[0].endswith(
        "綺疎。"
    )
    assert all("\t" not in p for p in poems)


@needs_data
def test_real_brown():
    sentences = read_brown(_real("brown"))
    assert len(sentences) == 57_340
    assert sum(map(len, sentences)) == 1_161_192
    assert sentences[0][:4] == ["The", "Fulton", "County", "Grand"]


@needs_data
@pytest.mark.parametrize(
    ("name", "first"),
    [("addition", ("16+75", "91")), ("date", ("september 27, 1994", "1994-09-27"))],
)
def test_real_seq2seq_toy(name, first):
    pairs = read_seq2seq_toy(_real(name))
    assert len(pairs) == 50_000 and pairs[0] == first
    assert all(not s.endswith(" ") and "_" not in t for s, t in pairs)


@needs_data
@pytest.mark.parametrize(
    ("split", "n"), [("train", 29_000), ("val", 1_014), ("test_2016_flickr", 1_000)]
)
def test_real_multi30k(split, n):
    pairs = read_parallel(_real(f"multi30k.{split}.de"), _real(f"multi30k.{split}.en"))
    assert len(pairs) == n and all(de and en for de, en in pairs)


def test_module_has_no_torch():
    assert "torch" not in datasets.__dict__


# ---------------------------------------------------- classification and tagging sets


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_read_sentence_polarity_latin1(tmp_path):
    path = _zip(
        tmp_path / "sp.zip",
        {
            "sentence_polarity/rt-polarity.pos": "a fine film\nna\xefve fun \n".encode(
                "latin-1"
            ),
            "sentence_polarity/rt-polarity.neg": b"dull\n\n",
        },
    )
    assert readers.read_sentence_polarity(path) == [
        ("a fine film", "pos"),
        ("na\xefve fun", "pos"),
        ("dull", "neg"),
    ]


def test_read_movie_reviews_joins_lines(tmp_path):
    path = _zip(
        tmp_path / "mr.zip",
        {
            "movie_reviews/pos/cv001.txt": b"great .\nreally .\n",
            "movie_reviews/neg/cv000.txt": b"bad .\n",
            "movie_reviews/README": b"not a review",
        },
    )
    assert readers.read_movie_reviews(path) == [
        ("great . really .", "pos"),
        ("bad .", "neg"),
    ]


def test_read_labelled_text_tsv_and_csv(tmp_path):
    tsv = tmp_path / "intents.tsv"
    tsv.write_text("text\tlabel\nbook a table\tbooking\n\nhi there\tgreet\n")
    assert readers.read_labelled_text(tsv) == [
        ("book a table", "booking"),
        ("hi there", "greet"),
    ]
    csv_file = tmp_path / "intents.csv"
    csv_file.write_text('text,label\n"yes, please",agree\nno,disagree\n')
    assert readers.read_labelled_text(csv_file) == [
        ("yes, please", "agree"),
        ("no", "disagree"),
    ]


@pytest.mark.parametrize("bad", ["no label here", "\tlabel", "text\t "])
def test_read_labelled_text_malformed_names_line(tmp_path, bad):
    path = tmp_path / "x.tsv"
    path.write_text(f"fine\tok\n{bad}\n")
    with pytest.raises(DataError, match=r"x\.tsv:2: expected text<TAB>label"):
        readers.read_labelled_text(path)


CONLL = "Confidence NN B-NP\nin IN B-PP\n\n-DOCSTART- -DOCSTART- O\nthe DT B-NP\n"


def test_parse_conll_sentences_and_docstart():
    sentences = readers.parse_conll(CONLL, "f.txt")
    assert sentences == [
        [("Confidence", "NN", "B-NP"), ("in", "IN", "B-PP")],
        [("the", "DT", "B-NP")],
    ]


@pytest.mark.parametrize(
    ("bad", "what"),
    [("pound NN", "expected 3 whitespace-separated columns"), ("is VBZ X-VP", "tag")],
)
def test_parse_conll_malformed_line_names_file_and_line(bad, what):
    with pytest.raises(DataError, match=rf"f\.txt:3: .*{what}"):
        readers.parse_conll(CONLL.replace("\n\n", f"\n{bad}\n"), "f.txt")


def test_conll_columns_split_on_ascii_blanks_only():
    # ned.train holds a UTF-8 "à" in a latin-1 file: its second byte reads as U+00A0
    rows = readers.parse_conll("d\xc3\xa0t V O\n", "f")[0]
    assert rows == [("d\xc3\xa0t", "V", "O")]


def test_read_conll2000_error_names_member_and_line(tmp_path):
    path = _zip(
        tmp_path / "conll2000.zip",
        {
            "conll2000/train.txt": b"a DT B-NP\nb NN\n",
            "conll2000/test.txt": b"a DT O\n",
        },
    )
    with pytest.raises(DataError, match=r"conll2000\.zip!conll2000/train\.txt:2:"):
        readers.read_conll2000(path)


def test_read_conll2002_is_latin1(tmp_path):
    members = {
        f"conll2002/esp.{s}": "Espa\xf1a NP B-LOC\n".encode("latin-1")
        for s in ("train", "testa", "testb")
    }
    splits = readers.read_conll2002(_zip(tmp_path / "c.zip", members), "esp")
    assert splits["testb"] == [[("Espa\xf1a", "NP", "B-LOC")]]


@needs_data
def test_real_classification_sets():
    polarity = readers.read_sentence_polarity(_real("sentence_polarity"))
    assert len(polarity) == 10_662
    assert [label for _, label in polarity].count("pos") == 5_331
    reviews = readers.read_movie_reviews(_real("movie_reviews"))
    assert len(reviews) == 2_000


@needs_data
def test_real_conll_sets():
    chunks = readers.read_conll2000(_real("conll2000"))
    assert {k: len(v) for k, v in chunks.items()} == {"train": 8_936, "test": 2_012}
    ner = readers.read_conll2002(_real("conll2002"), "esp")
    sizes = {k: sum(map(len, v)) for k, v in ner.items()}
    assert sizes == {"train": 264_715, "testa": 52_923, "testb": 51_533}
    dutch = readers.read_conll2002(_real("conll2002"), "ned")
    assert len(dutch["train"]) == 15_806


def test_read_sunspots():
    pytest.importorskip("statsmodels")
    series = readers.read_sunspots()
    assert len(series) == 309
    assert series[0] == (1700, 5.0) and series[-1][0] == 2008
