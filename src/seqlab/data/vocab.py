"""Token <-> id mapping with four specials in fixed ids, saved as UTF-8 JSON.

Ids 0-3 are always ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``; corpus tokens follow in
the order ``Vocab.build`` gives them (frequency descending, then the token itself), so
the same corpus always gives the same ids. No torch here: ids are plain ``list[int]``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
FORMAT = "seqlab.vocab"
FORMAT_VERSION = 1


class Vocab:
    """A fixed token list: ``id_to_token(i) == tokens[i]``.

    Args:
        tokens: the corpus tokens in id order, without the specials (they are put in
            front: ``<pad>``=0, ``<unk>``=1, ``<bos>``=2, ``<eos>``=3).

    Unknown tokens encode to ``unk_id``. A corpus token spelled like a special (PTB
    writes ``<unk>`` in its text) maps to that special's id.
    """

    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self._itos: list[str] = [*SPECIALS, *tokens]
        self._stoi: dict[str, int] = {t: i for i, t in enumerate(self._itos)}
        if len(self._stoi) != len(self._itos):
            dupes = sorted(t for t, n in Counter(self._itos).items() if n > 1)
            raise ValueError(
                f"Vocab tokens must be unique (specials included): {dupes}"
            )

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Count tokens and keep those seen ``min_freq`` times or more.

        ``max_size`` caps the vocabulary size *including* the 4 specials; order is
        frequency descending, ties broken by the token string (deterministic).
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must be >= {len(SPECIALS)}, got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = [t for t, n in counts.items() if n >= min_freq and t not in SPECIALS]
        kept.sort(key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls(kept)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, specials first (a copy)."""
        return list(self._itos)

    def __len__(self) -> int:
        return len(self._itos)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._itos == other._itos

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"

    def token_to_id(self, token: str) -> int:
        """The id of ``token``, ``unk_id`` when it is not in the vocabulary."""
        return self._stoi.get(token, self.unk_id)

    def id_to_token(self, index: int) -> str:
        """The token with id ``index``; ValueError outside ``[0, len(self))``."""
        if not 0 <= index < len(self._itos):
            raise ValueError(
                f"token id {index} out of range for a vocab of {len(self)}"
            )
        return self._itos[index]

    def encode(
        self, tokens: Iterable[str], add_bos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """Token ids of ``tokens``, optionally wrapped in ``<bos>`` ... ``<eos>``."""
        ids = [self._stoi.get(t, self.unk_id) for t in tokens]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> list[str]:
        """Tokens of ``ids``. ``strip_specials`` drops ``<pad>``, ``<bos>``, ``<eos>``.

        ``<unk>`` is kept: it stands for a real token of the text.
        """
        ids = [int(i) for i in ids]
        if ids and not 0 <= min(ids) <= max(ids) < len(self._itos):
            bad = next(i for i in ids if not 0 <= i < len(self._itos))
            self.id_to_token(bad)  # raises, naming it
        dropped = (self.pad_id, self.bos_id, self.eos_id) if strip_specials else ()
        itos = self._itos
        return [itos[i] for i in ids if i not in dropped]

    def save(self, path: str | Path) -> None:
        """Write UTF-8 JSON: ``{"format", "version", "tokens"}`` (specials included)."""
        payload = {"format": FORMAT, "version": FORMAT_VERSION, "tokens": self._itos}
        text = json.dumps(payload, ensure_ascii=False, indent=0)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a file written by ``save``; ValueError naming the file if malformed."""
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a seqlab vocab JSON file ({e})") from e
        tokens = _check_payload(payload, path)
        try:
            return cls(tokens[len(SPECIALS) :])
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e


def _check_payload(payload: object, path: str | Path) -> list[str]:
    """The token list of a loaded vocab file, or ValueError saying what is wrong."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a seqlab vocab file (no format {FORMAT!r})")
    if payload.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: vocab format version {payload.get('version')!r} is not "
            f"supported (expected {FORMAT_VERSION})"
        )
    tokens = payload.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"{path}: 'tokens' must be a list of strings")
    if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
        raise ValueError(f"{path}: the first tokens must be {list(SPECIALS)}")
    return tokens
