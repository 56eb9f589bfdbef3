import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqlab.data.tokenizers import (
    CharTokenizer,
    SubwordTokenizer,
    WordTokenizer,
    build_tokenizer,
)
from seqlab.data.vocab import Vocab

# words that share stems and affixes, so subwords pay off
WORDS = [
    prefix + stem + suffix
    for prefix in ("", "re", "un", "over")
    for stem in ("play", "walk", "jump", "talk", "read", "cook", "paint", "sing")
    for suffix in ("", "s", "ed", "ing", "er")
]


def make_corpus(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10))) for _ in range(n)
    ]


@given(st.text())
def test_char_round_trip(text):
    tok = CharTokenizer()
    tokens = tok.tokenize(text)
    assert len(tokens) == len(text)
    assert tok.detokenize(tokens) == text


def test_char_tokens_are_code_points():
    assert CharTokenizer().tokenize("秦川 é\n") == ["秦", "川", " ", "é", "\n"]


@given(st.text())
def test_word_round_trip_up_to_whitespace(text):
    tok = WordTokenizer()
    assert tok.detokenize(tok.tokenize(text)) == " ".join(text.split())


@given(st.lists(st.text(min_size=1).filter(lambda s: s.split() == [s])))
def test_word_tokens_survive_detokenize(words):
    tok = WordTokenizer()
    assert tok.tokenize(tok.detokenize(words)) == words


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_subword_trains_and_round_trips(tmp_path, model_type):
    corpus = make_corpus()
    tok = SubwordTokenizer.train(corpus, 60, model_type, tmp_path / "sp")
    assert (tmp_path / "sp.model").is_file()
    assert len(tok.pieces) == 60
    for text in [*corpus[:50], "  play  walked  sing ", "jumps"]:
        pieces = tok.tokenize(text)
        assert tok.detokenize(pieces) == text
    # subwords: fewer pieces than characters on the training text
    assert sum(len(tok.tokenize(t)) for t in corpus) < sum(len(t) for t in corpus) / 2


def test_subword_training_is_deterministic():
    corpus = make_corpus()
    a = SubwordTokenizer.train(corpus, 50)
    b = SubwordTokenizer.train(corpus, 50)
    assert a.pieces == b.pieces
    assert a.tokenize(corpus[0]) == b.tokenize(corpus[0])


def test_subword_save_load(tmp_path):
    corpus = make_corpus()
    tok = SubwordTokenizer.train(corpus, 50, "bpe")
    path = tok.save(tmp_path / "tok")
    for loaded in (SubwordTokenizer.load(path), SubwordTokenizer.load(path.parent)):
        assert loaded.pieces == tok.pieces
        assert loaded.tokenize(corpus[1]) == tok.tokenize(corpus[1])


def test_subword_unseen_characters_go_to_unk_in_vocab():
    corpus = make_corpus()
    tok = SubwordTokenizer.train(corpus, 50)
    vocab = Vocab.build(tok.tokenize(t) for t in corpus)
    pieces = tok.tokenize("walk zebra")
    assert tok.detokenize(pieces) == "walk zebra"
    assert vocab.unk_id in vocab.encode(pieces)


def test_subword_vocab_size_too_large_names_it():
    with pytest.raises(ValueError, match="vocab_size=5000"):
        SubwordTokenizer.train(make_corpus(50), 5000)


def test_subword_bad_model_type():
    with pytest.raises(ValueError, match="'wordpiece'"):
        SubwordTokenizer.train(make_corpus(50), 30, "wordpiece")  # type: ignore[arg-type]


def test_subword_load_garbage_names_file(tmp_path):
    path = tmp_path / "garbage.model"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"garbage\.model"):
        SubwordTokenizer.load(path)


def test_build_tokenizer(tmp_path):
    assert isinstance(build_tokenizer("char"), CharTokenizer)
    assert isinstance(build_tokenizer("word"), WordTokenizer)
    SubwordTokenizer.train(make_corpus(), 40, path_prefix=tmp_path / "m")
    tok = build_tokenizer("subword", model_path=tmp_path / "m.model")
    assert tok.detokenize(tok.tokenize("play cooking")) == "play cooking"


def test_build_tokenizer_unknown_kind_lists_choices():
    with pytest.raises(ValueError, match=r"'bytes'.*char, word, subword"):
        build_tokenizer("bytes")


def test_build_tokenizer_bad_kwargs():
    with pytest.raises(ValueError, match="'char'"):
        build_tokenizer("char", lowercase=True)


# ---------------------------------------------------------------- Chinese

MIXED = "我用Python 3.11写了100行代码，iPhone 15 Pro很贵！ Hello, world  ok\n第2行"


@given(st.text())
def test_zh_char_round_trip(text):
    tok = build_tokenizer("zh_char")
    assert tok.detokenize(tok.tokenize(text)) == text


def test_zh_char_splits_han_and_keeps_latin_words_and_numbers():
    tokens = build_tokenizer("zh_char").tokenize(MIXED)
    assert tokens[:8] == ["我", "用", "Python", "3", ".", "11", "写", "了"]
    assert "iPhone" in tokens and "100" in tokens and "Pro" in tokens
    assert " " not in tokens[: tokens.index("！")]  # spaces between words are implied
    assert "  " in tokens  # other whitespace stays a token
    assert build_tokenizer("zh_char").detokenize(tokens) == MIXED


def test_zh_word_round_trips_mixed_text():
    pytest.importorskip("rjieba")
    tok = build_tokenizer("zh_word")
    tokens = tok.tokenize(MIXED)
    assert "代码" in tokens and "Python" in tokens and "100" in tokens
    assert tok.detokenize(tokens) == MIXED


@pytest.mark.parametrize("kind", ["zh_char", "zh_word"])
def test_traditional_and_simplified_encode_identically(kind):
    pytest.importorskip("opencc")
    if kind == "zh_word":
        pytest.importorskip("rjieba")
    traditional, simplified = "我們來試試這個電腦軟體。", "我们来试试这个电脑软体。"
    tok = build_tokenizer(kind, opencc="t2s")
    vocab = Vocab.build([tok.tokenize(simplified)])
    assert tok.tokenize(traditional) == tok.tokenize(simplified)
    assert vocab.encode(tok.tokenize(traditional)) == vocab.encode(
        tok.tokenize(simplified)
    )
    plain = build_tokenizer(kind)
    assert plain.tokenize(traditional) != plain.tokenize(simplified)


def test_unknown_opencc_conversion_is_named():
    with pytest.raises(ValueError, match="s2t"):
        build_tokenizer("zh_char", opencc="s2t")
