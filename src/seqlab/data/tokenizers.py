"""Text <-> token strings: characters, whitespace words, or sentencepiece subwords.

Every tokenizer has ``tokenize(text) -> list[str]`` and ``detokenize(tokens) -> str``;
ids are the ``Vocab``'s job. Only ``SubwordTokenizer`` has state (a sentencepiece
model file); ``build_tokenizer`` maps a config ``kind`` to one of the three.
"""

from __future__ import annotations

import os
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


TOKENIZERS: dict[str, Callable[..., Any]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "subword": SubwordTokenizer.load,  # kwargs: model_path
}


def build_tokenizer(kind: str, **kwargs: Any) -> Tokenizer:
    """The tokenizer named ``kind`` ("char", "word" or "subword"; subword needs
    ``model_path=``)."""
    if kind not in TOKENIZERS:
        raise ValueError(
            f"unknown tokenizer kind {kind!r}; choose one of {', '.join(TOKENIZERS)}"
        )
    try:
        return TOKENIZERS[kind](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for tokenizer {kind!r}: {e}") from e
