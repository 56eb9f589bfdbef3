"""Text <-> token strings: characters, whitespace words, or sentencepiece subwords.

Every tokenizer has ``tokenize(text) -> list[str]`` and ``detokenize(tokens) -> str``;
ids are the ``Vocab``'s job. Only ``SubwordTokenizer`` has state (a sentencepiece
model file); ``build_tokenizer`` maps a config ``kind`` to one of them.

For Chinese, ``ChineseCharTokenizer`` ("zh_char": one token per Han character, Latin
words and digit runs whole) and ``ChineseWordTokenizer`` ("zh_word": Han runs cut
into words by rjieba); both can first convert Traditional to Simplified script with
OpenCC (``opencc="t2s"``). rjieba and opencc come with the ``zh`` extra.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import sentencepiece as spm

SUBWORD_MODEL_FILE = "tokenizer.model"  # name used by SubwordTokenizer.save(directory)


class Tokenizer(Protocol):
    """What the data pipeline needs from a tokenizer."""

    kind: ClassVar[str]

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Iterable[str]) -> str: ...


class CharTokenizer:
    """Every Unicode code point is a token: ``detokenize(tokenize(s)) == s``."""

    kind: ClassVar[str] = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(tokens)


class WordTokenizer:
    """Split on runs of whitespace; detokenize joins with single spaces.

    Round trip up to whitespace: ``detokenize(tokenize(s)) == " ".join(s.split())``.
    """

    kind: ClassVar[str] = "word"

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def detokenize(self, tokens: Iterable[str]) -> str:
        return " ".join(tokens)


class SubwordTokenizer:
    """Sentencepiece pieces (unigram or BPE); ``▁`` marks a preceding space.

    Made by ``train`` or ``load``. Trained with identity normalization and whitespace
    kept as is, so for text made of characters seen in training
    ``detokenize(tokenize(s)) == s``; unseen characters come back as their own piece
    (the ``Vocab`` then maps it to ``<unk>``).
    """

    kind: ClassVar[str] = "subword"

    def __init__(self, model_proto: bytes) -> None:
        self._proto = model_proto
        self._sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int,
        model_type: Literal["unigram", "bpe"] = "unigram",
        path_prefix: str | Path | None = None,
        character_coverage: float = 1.0,  # 1.0 keeps rare CJK characters as pieces
        seed: int = 0,
    ) -> SubwordTokenizer:
        """Train on ``texts`` in memory (single thread, fixed seed: deterministic).

        Writes ``<path_prefix>.model`` when ``path_prefix`` is given. Raises ValueError
        naming ``vocab_size`` when the texts cannot fill that many pieces.
        """
        if model_type not in ("unigram", "bpe"):
            raise ValueError(
                f"model_type must be 'unigram' or 'bpe', got {model_type!r}"
            )
        proto = _train_sentencepiece(
            texts, vocab_size, model_type, character_coverage, seed
        )
        if path_prefix is not None:
            _write_atomic(Path(f"{path_prefix}.model"), proto)
        return cls(proto)

    @classmethod
    def load(cls, model_path: str | Path) -> SubwordTokenizer:
        """Load a ``.model`` file, or ``tokenizer.model`` inside a directory."""
        path = Path(model_path)
        if path.is_dir():
            path = path / SUBWORD_MODEL_FILE
        proto = path.read_bytes()
        try:
            return cls(proto)
        except RuntimeError as e:
            raise ValueError(f"{path}: not a sentencepiece model ({e})") from e

    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory/tokenizer.model`` and return that path."""
        path = Path(directory) / SUBWORD_MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, self._proto)
        return path

    @property
    def pieces(self) -> list[str]:
        """All sentencepiece pieces (its ``<unk>``, ``<s>``, ``</s>`` included)."""
        return [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]

    def tokenize(self, text: str) -> list[str]:
        return self._sp.encode(text, out_type=str)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return self._sp.decode_pieces(list(tokens))

    def sample(self, texts: list[str], alpha: float, seed: int) -> list[list[str]]:
        """Each text segmented by sentencepiece's sampling: for a BPE model each
        merge is dropped with probability ``alpha`` (BPE dropout), for a unigram
        model segmentations are drawn with smoothing ``alpha``. Seeded: the same
        ``seed`` gives the same segmentations."""
        spm.set_random_generator_seed(seed)
        return self._sp.encode(
            texts,
            out_type=str,
            enable_sampling=True,
            alpha=alpha,
            nbest_size=-1,
            num_threads=1,  # one random stream: the same seed, the same pieces
        )


# Han ideographs (with extensions and compatibility forms), kana, bopomofo, hangul and
# the CJK radicals: each character is a token of its own, never part of a "word".
_CJK = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff"
    "\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\U00020000-\U0003134f"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
# A "word": a run of letters and digits outside the CJK ranges (iPhone15, 2024, café).
_WORD = re.compile(rf"(?:(?![{_CJK}])[^\W_])+")
# Pieces of non-CJK text: words, whitespace runs, or any other single character.
_PIECE = re.compile(rf"(?:(?![{_CJK}])[^\W_])+|\s+|.", re.DOTALL)
OPENCC_CONVERSIONS = ("t2s", "tw2s", "tw2sp", "hk2s")  # into Simplified script


class ChineseCharTokenizer:
    """Chinese text as characters, with Latin words and numbers kept whole.

    Every CJK character and every punctuation mark is a token; a run of letters and
    digits outside CJK (``iPhone15``, ``2024``, ``3.5`` is ``3 . 5``) is one token;
    a whitespace run is a token, except a single space between two such runs, which
    is implied: ``"我用Python 3写了100行"`` -> ``我 用 Python 3 写 了 100 行``.
    ``detokenize`` puts one space between two adjacent word tokens and joins all
    else, so ``detokenize(tokenize(s)) == s`` for every ``s`` (when ``opencc`` is
    None).

    Args:
        opencc: an OpenCC conversion applied before tokenizing ("t2s": Traditional
            to Simplified), so that both scripts share one vocabulary; None keeps
            the text's script.
    """

    kind: ClassVar[str] = "zh_char"

    def __init__(self, opencc: str | None = None) -> None:
        self._convert = opencc_converter(opencc)

    def tokenize(self, text: str) -> list[str]:
        if self._convert is not None:
            text = self._convert(text)
        return _drop_implied_spaces(_PIECE.findall(text))

    def detokenize(self, tokens: Iterable[str]) -> str:
        return _join_tokens(tokens)


class ChineseWordTokenizer:
    """Chinese words from rjieba (jieba's dictionary and HMM, in Rust), the rest as
    ``ChineseCharTokenizer`` splits it.

    Only runs of CJK characters go to the segmenter, so Latin words, numbers, spaces
    and punctuation are tokens exactly as in "zh_char" and the round trip
    ``detokenize(tokenize(s)) == s`` holds too (when ``opencc`` is None).
    """

    kind: ClassVar[str] = "zh_word"

    def __init__(self, opencc: str | None = None) -> None:
        self._convert = opencc_converter(opencc)
        self._cut = _require("rjieba", "word segmentation").cut

    def tokenize(self, text: str) -> list[str]:
        if self._convert is not None:
            text = self._convert(text)
        pieces: list[str] = []
        start = 0
        for run in _CJK_RUN.finditer(text):
            pieces += _PIECE.findall(text[start : run.start()])
            pieces += self._cut(run.group())
            start = run.end()
        pieces += _PIECE.findall(text[start:])
        return _drop_implied_spaces(pieces)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return _join_tokens(tokens)


def _drop_implied_spaces(pieces: list[str]) -> list[str]:
    """``pieces`` without each single space that sits between two word pieces."""
    return [
        p
        for i, p in enumerate(pieces)
        if not (
            p == " "
            and 0 < i < len(pieces) - 1
            and _WORD.fullmatch(pieces[i - 1])
            and _WORD.fullmatch(pieces[i + 1])
        )
    ]


def _join_tokens(tokens: Iterable[str]) -> str:
    """Tokens joined, with one space between two adjacent word tokens."""
    out: list[str] = []
    previous_word = False
    for token in tokens:
        word = _WORD.fullmatch(token) is not None
        if word and previous_word:
            out.append(" ")
        out.append(token)
        previous_word = word
    return "".join(out)


def opencc_converter(conversion: str | None) -> Callable[[str], str] | None:
    """OpenCC's ``convert`` for ``conversion`` ("t2s", ...), or None for None."""
    if conversion is None:
        return None
    if conversion not in OPENCC_CONVERSIONS:
        raise ValueError(
            f"unknown OpenCC conversion {conversion!r}; choose one of "
            f"{', '.join(OPENCC_CONVERSIONS)}"
        )
    opencc = _require("opencc", "Traditional -> Simplified conversion")
    return opencc.OpenCC(conversion).convert


def _require(module: str, purpose: str) -> Any:
    """Import ``module`` or raise ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs the {module!r} package: pip install 'seqlab[zh]'"
        ) from e


def _train_sentencepiece(
    texts: Iterable[str],
    vocab_size: int,
    model_type: str,
    character_coverage: float,
    seed: int,
) -> bytes:
    """The serialized model proto sentencepiece trains on ``texts``."""
    spm.set_random_generator_seed(seed)
    writer = BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=writer,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            byte_fallback=False,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            input_sentence_size=0,  # use every sentence, no sampling
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise ValueError(
            f"sentencepiece training failed for vocab_size={vocab_size}, "
            f"model_type={model_type!r}: {e}"
        ) from e
    return writer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# data.tokenizer kinds that train a sentencepiece model on the training text, and
# the model_type each trains ("subword" was the only one, unigram, before bpe).
SUBWORD_KINDS: dict[str, Literal["unigram", "bpe"]] = {
    "subword": "unigram",
    "unigram": "unigram",
    "bpe": "bpe",
}


def train_subword(
    kind: str, texts: Iterable[str], vocab_size: int, run_dir: str | Path
) -> SubwordTokenizer:
    """The sentencepiece model of data.tokenizer ``kind`` (SUBWORD_KINDS) trained on
    ``texts`` and saved in ``run_dir``."""
    tokenizer = SubwordTokenizer.train(
        texts, vocab_size=vocab_size, model_type=SUBWORD_KINDS[kind]
    )
    tokenizer.save(run_dir)
    return tokenizer


TOKENIZERS: dict[str, Callable[..., Any]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "subword": SubwordTokenizer.load,  # kwargs: model_path
    "unigram": SubwordTokenizer.load,
    "bpe": SubwordTokenizer.load,
    "zh_char": ChineseCharTokenizer,  # kwargs: opencc
    "zh_word": ChineseWordTokenizer,  # kwargs: opencc
}


def build_tokenizer(kind: str, **kwargs: Any) -> Tokenizer:
    """The tokenizer named ``kind`` ("char", "word", "subword", "zh_char" or
    "zh_word"; subword needs ``model_path=``, the zh kinds take ``opencc=``)."""
    if kind not in TOKENIZERS:
        raise ValueError(
            f"unknown tokenizer kind {kind!r}; choose one of {', '.join(TOKENIZERS)}"
        )
    try:
        return TOKENIZERS[kind](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for tokenizer {kind!r}: {e}") from e


# ---- the tokenizer of a run's data config (every task's data section) -------------
# OpenCC conversions into Simplified script (data.opencc of the zh_* tokenizers).
OpenCCConversion = Literal["t2s", "tw2s", "tw2sp", "hk2s"]


def check_opencc(tokenizer: str, opencc: str | None) -> None:
    """ValueError when data.opencc is set for a tokenizer that does not take it."""
    if opencc is not None and not tokenizer.startswith("zh_"):
        raise ValueError(
            f"data.opencc={opencc!r} needs tokenizer zh_char or zh_word, "
            f"got {tokenizer!r}"
        )


def tokenizer_options(cfg: Any) -> dict[str, Any]:
    """Keyword arguments of ``build_tokenizer`` for a data config (opencc)."""
    if cfg.tokenizer.startswith("zh_"):
        return {"opencc": getattr(cfg, "opencc", None)}
    return {}


def make_tokenizer(cfg: Any, train_docs: list, run_dir: Path) -> Tokenizer:
    """The tokenizer of data config ``cfg`` (data.tokenizer, data.vocab_size,
    data.opencc); a subword model is trained on the train documents (texts or word
    lists, one sentence a line) and saved into ``run_dir``."""
    if cfg.tokenizer not in SUBWORD_KINDS:
        return build_tokenizer(cfg.tokenizer, **tokenizer_options(cfg))
    texts = [d if isinstance(d, str) else " ".join(d) for d in train_docs]
    texts = [line for t in texts for line in t.splitlines() if line.strip()]
    return train_subword(cfg.tokenizer, texts, cfg.vocab_size, run_dir)


def load_tokenizer(cfg: Any, run_dir: Path) -> Tokenizer:
    """The tokenizer of a trained run (its subword model from ``run_dir``)."""
    if cfg.tokenizer in SUBWORD_KINDS:
        return SubwordTokenizer.load(run_dir)
    return build_tokenizer(cfg.tokenizer, **tokenizer_options(cfg))
