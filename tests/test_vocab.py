import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqlab.data.vocab import SPECIALS, Vocab

CORPUS = [["b", "a", "c", "a"], ["c", "a", "d"], ["e"]]


def test_specials_have_fixed_ids():
    v = Vocab.build(CORPUS)
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)
    assert v.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]


def test_build_orders_by_frequency_then_token():
    v = Vocab.build(CORPUS)
    # a: 3, c: 2, then b, d, e once each in string order
    assert v.tokens[4:] == ["a", "c", "b", "d", "e"]


def test_build_is_independent_of_input_order():
    assert Vocab.build(CORPUS) == Vocab.build(list(reversed(CORPUS)))


def test_min_freq_and_max_size():
    assert Vocab.build(CORPUS, min_freq=2).tokens[4:] == ["a", "c"]
    v = Vocab.build(CORPUS, max_size=5)
    assert len(v) == 5 and v.tokens[4:] == ["a"]


@pytest.mark.parametrize("kwargs", [{"min_freq": 0}, {"max_size": 3}])
def test_build_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Vocab.build(CORPUS, **kwargs)


def test_corpus_token_spelled_like_a_special_maps_to_it():
    v = Vocab.build([["x", "<unk>", "<unk>"]])
    assert v.tokens == [*SPECIALS, "x"]
    assert v.encode(["<unk>", "x"]) == [v.unk_id, 4]


def test_unknown_token_encodes_to_unk():
    v = Vocab.build(CORPUS)
    assert v.encode(["a", "zzz"]) == [4, v.unk_id]
    assert v.token_to_id("zzz") == v.unk_id
    assert "zzz" not in v and "a" in v


def test_encode_adds_bos_eos_and_decode_strips_them():
    v = Vocab.build(CORPUS)
    ids = v.encode(["a", "b", "zzz"], add_bos=True, add_eos=True)
    assert ids == [v.bos_id, 4, 6, v.unk_id, v.eos_id]
    assert v.decode(ids) == ["a", "b", "<unk>"]
    assert v.decode([*ids, v.pad_id], strip_specials=False) == [
        "<bos>",
        "a",
        "b",
        "<unk>",
        "<eos>",
        "<pad>",
    ]


def test_id_out_of_range_is_an_error():
    v = Vocab.build(CORPUS)
    with pytest.raises(ValueError, match="out of range"):
        v.id_to_token(len(v))
    with pytest.raises(ValueError, match="out of range"):
        v.decode([-1])


@given(st.lists(st.lists(st.text(min_size=1, max_size=3), max_size=6), max_size=6))
def test_round_trip_of_known_tokens(token_lists):
    v = Vocab.build(token_lists)
    for tokens in token_lists:
        kept = [t for t in tokens if t not in SPECIALS]
        assert v.decode(v.encode(kept)) == kept


def test_save_load_round_trip_with_unicode(tmp_path):
    v = Vocab.build([["秦川", "雄", "帝宅", "é", "a b"], ["雄"]])
    path = tmp_path / "vocab.json"
    v.save(path)
    assert "秦川" in path.read_text(encoding="utf-8")  # real UTF-8, not \\u escapes
    assert Vocab.load(path) == v


def test_equality_differs_on_order():
    assert Vocab(["a", "b"]) != Vocab(["b", "a"])
    assert Vocab(["a", "b"]) == Vocab(["a", "b"])


def test_duplicate_tokens_rejected():
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "a"])
    with pytest.raises(ValueError, match="unique"):
        Vocab(["<pad>"])


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"format": "seqlab.vocab", "version": 99, "tokens": list(SPECIALS)}),
        json.dumps({"format": "seqlab.vocab", "version": 1, "tokens": ["a", "b"]}),
        json.dumps({"format": "seqlab.vocab", "version": 1, "tokens": [*SPECIALS, 5]}),
        json.dumps(
            {"format": "seqlab.vocab", "version": 1, "tokens": [*SPECIALS, "x", "x"]}
        ),
    ],
)
def test_load_malformed_file_names_it(tmp_path, content):
    path = tmp_path / "bad_vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad_vocab\.json"):
        Vocab.load(path)


def test_load_non_utf8_file_names_it(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"tokens": ["\xe9"]}')
    with pytest.raises(ValueError, match=r"latin1\.json"):
        Vocab.load(path)
