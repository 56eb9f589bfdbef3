"""Readers of the offline data sets in their original formats.

Each takes a path (found with :func:`seqlab.data.datasets.locate`, or the user's own
file) and returns plain Python data (strings, lists, tuples); no torch, no padding.
Errors are ``DataError`` (a ValueError) naming the file, and the line where there is
one.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import itertools
import json
import re
import zipfile
from pathlib import Path

from seqlab.data.datasets import DataError, DatasetNotFoundError

# ---------------------------------------------------------------- plain text


def read_text_file(path: str | Path) -> str:
    """The UTF-8 text of ``path`` (gunzipped first when it ends in ``.gz``).

    DataError naming the file for an empty file, a broken gzip stream, or bytes that
    are not UTF-8 (with the line and byte offset of the first bad byte).
    """
    return _decode(_read_bytes(path), str(path))


def _read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed for ``.gz``; DataError if empty or corrupt,
    a directory, missing or unreadable."""
    if Path(path).is_dir():
        raise DataError(f"{path}: is a directory; give a file")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e})") from None
    if str(path).endswith(".gz") and data:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: not a valid gzip file ({e})") from e
    if not data:
        raise DataError(f"{path}: file is empty")
    return data


def _decode(data: bytes, where: str) -> str:
    """UTF-8 text of ``data``; DataError naming ``where``, line and byte offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        bad = data[e.start : e.end]
        raise DataError(
            f"{where}:{line}: not UTF-8 (byte offset {e.start}: {bad!r}); save it "
            "as UTF-8 text"
        ) from e


def _lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only (no final empty line; a trailing ``\\r`` dropped).

    Not ``str.splitlines``: that also splits on U+2028, U+0085 and friends.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 (optionally ``.gz``) file, without line terminators."""
    return _lines(read_text_file(path))


# ---------------------------------------------------------------- the user's files


def read_user_lines(
    path: str | Path, max_line_chars: int = 100_000
) -> list[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line of a user's UTF-8 file.

    DataError naming the file (and the line where there is one) for a missing file, a
    directory, an empty or blank-only file, bytes that are not UTF-8, a NUL byte, or a
    line longer than ``max_line_chars`` characters (data.max_line_chars).
    """
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{path}: is a directory; give a file")
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    lines = _lines(read_text_file(p))
    for lineno, line in enumerate(lines, start=1):
        if "\0" in line:
            raise DataError(f"{path}:{lineno}: holds a NUL byte (not a text file?)")
        if len(line) > max_line_chars:
            raise DataError(
                f"{path}:{lineno}: line of {len(line):,} characters, longer than "
                f"data.max_line_chars={max_line_chars}"
            )
    rows = [
        (lineno, line) for lineno, line in enumerate(lines, start=1) if line.strip()
    ]
    if not rows:
        raise DataError(f"{path}: holds only blank lines")
    return rows


def read_input_lines(path: str | Path, max_line_chars: int = 100_000) -> list[str]:
    """Every line of a user's UTF-8 input file, blank ones too (``predict
    --input``: one input a line, each answered on its line).

    DataError naming the file and line for a directory, a missing or empty file,
    bytes that are not UTF-8, a NUL byte, or a line over ``max_line_chars``.
    """
    lines = _lines(read_text_file(path))
    for lineno, line in enumerate(lines, start=1):
        if "\0" in line:
            raise DataError(
                f"{path}:{lineno}: holds a NUL byte (not a text file?); give one "
                "input a line of UTF-8 text"
            )
        if len(line) > max_line_chars:
            raise DataError(
                f"{path}:{lineno}: line of {len(line):,} characters, longer than "
                f"{max_line_chars:,}; give one input a line"
            )
    return lines


def read_pair_file(
    path: str | Path, max_line_chars: int = 100_000
) -> list[tuple[str, str]]:
    """(source, target) pairs of a UTF-8 file of ``source<TAB>target`` lines.

    Blank lines are skipped; each side is stripped. DataError naming the file and
    line for a line without exactly one TAB or with an empty side (and for the bad
    files of :func:`read_user_lines`).
    """
    pairs = []
    for lineno, line in read_user_lines(path, max_line_chars):
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{path}:{lineno}: expected source<TAB>target (2 columns), got "
                f"{len(fields)}: {line[:60]!r}"
            )
        source, target = fields[0].strip(), fields[1].strip()
        if not source or not target:
            side = "source" if not source else "target"
            raise DataError(f"{path}:{lineno}: empty {side} in {line[:60]!r}")
        pairs.append((source, target))
    return pairs


def read_number_file(
    path: str | Path, column: str | None = None, max_line_chars: int = 100_000
) -> list[float]:
    """A series of numbers: one a line, or the column ``column`` of a CSV file
    (``.csv``, a header row naming the columns; a one-column CSV needs no name).

    DataError naming file and line for a value that is not a number, a row whose
    column count differs from the header's, an unknown column (with the header's
    names), and the bad files of :func:`read_user_lines`.
    """
    rows = read_user_lines(path, max_line_chars)
    if not str(path).endswith(".csv"):
        if column is not None:
            raise DataError(f"{path}: data.column needs a .csv file with a header")
        return [_number(line.strip(), path, lineno) for lineno, line in rows]
    parsed = [(lineno, next(csv.reader([line]))) for lineno, line in rows]
    header = [name.strip() for name in parsed[0][1]]
    if column is None and len(header) > 1:
        raise DataError(
            f"{path}:1: {len(header)} columns ({', '.join(header)}); name the one "
            "to forecast with data.column"
        )
    if column is not None and column not in header:
        raise DataError(
            f"{path}:1: no column {column!r}; the header has {', '.join(header)}"
        )
    index = 0 if column is None else header.index(column)
    values = []
    for lineno, fields in parsed[1:]:
        if len(fields) != len(header):
            raise DataError(
                f"{path}:{lineno}: {len(fields)} columns, the header has {len(header)}"
            )
        values.append(_number(fields[index].strip(), path, lineno))
    return values


def _number(text: str, path: str | Path, lineno: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{lineno}: {text[:40]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DataError(f"{path}:{lineno}: {text[:40]!r} is not a finite number")
    return value


# ---------------------------------------------------------------- readers


def read_tinyshakespeare(path: str | Path) -> tuple[str, str]:
    """(train, val): the first 90% and the last 10% of the characters (as nanoGPT)."""
    text = read_text_file(path)
    n = int(len(text) * 0.9)
    return text[:n], text[n:]


def read_tang(path: str | Path) -> list[str]:
    """One poem text per line of the gzip TSV ``author<TAB>title<TAB>poem``.

    The poem is the *last* field: in the shared file 51 lines have more than 3 fields
    (50 of Bai Juyi's 新樂府 carry a preface field between title and poem, one line has
    three tab-separated authors). Poems whose text was lost are kept as stored (176
    are just "。", 40 "空。"). DataError with the line number for a line with fewer
    than 3 fields or an empty poem field.
    """
    poems = []
    for lineno, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < 3 or not fields[-1]:
            raise DataError(
                f"{path}:{lineno}: expected author<TAB>title<TAB>poem with a "
                f"non-empty poem, got {len(fields)} field(s): {line[:60]!r}"
            )
        poems.append(fields[-1])
    return poems


# ca01 ... cr09; README, CONTENTS, cats.txt don't match and are skipped
_BROWN_MEMBER = re.compile(r"c[a-r]\d\d")


def read_brown(zip_path: str | Path) -> list[list[str]]:
    """Sentences (lists of words, tags stripped) of nltk's brown.zip, in file order.

    Reads the members ``brown/ca01`` ... ``brown/cr09`` (one tagged sentence a
    non-blank line); other members (README, CONTENTS, cats.txt) are skipped. A word
    is the text before the last ``/`` of a ``word/TAG`` token (``1-1/2/cd``: ``1-1/2``).
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as e:
        raise DataError(f"{zip_path}: not a zip file ({e})") from e
    with archive:
        names = archive.namelist()
        members = sorted(n for n in names if _BROWN_MEMBER.fullmatch(Path(n).name))
        if not members:
            raise DataError(f"{zip_path}: no Brown files (brown/ca01 ...) inside")
        sentences = []
        for member in members:
            where = f"{zip_path}!{member}"
            sentences += _brown_sentences(archive.read(member), where)
    return sentences


def _brown_sentences(data: bytes, where: str) -> list[list[str]]:
    """Tag-stripped sentences of one Brown file; ``where`` names it in errors."""
    sentences = []
    for lineno, line in enumerate(_lines(_decode(data, where)), start=1):
        words = []
        for token in line.split():
            word, slash, tag = token.rpartition("/")
            if not slash or not word or not tag:
                raise DataError(f"{where}:{lineno}: token {token!r} is not word/TAG")
            words.append(word)
        if words:
            sentences.append(words)
    return sentences


def read_seq2seq_toy(path: str | Path) -> list[tuple[str, str]]:
    """(source, target) pairs of the DLS2 ``addition.txt`` / ``date.txt`` format.

    Each line is a fixed-width ``question_answer`` ("16+75  _91  "); the first ``_``
    separates them. The book keeps the padding spaces and the ``_`` as the decoder's
    start symbol; here both sides lose their trailing padding spaces and the target
    loses the ``_`` (the model adds its own ``<bos>``). Inner spaces stay
    ("september 27, 1994"). DataError with the line number for a line without ``_``
    or with an empty side.
    """
    pairs = []
    for lineno, line in enumerate(read_lines(path), start=1):
        source, sep, target = line.partition("_")
        source, target = source.rstrip(" "), target.rstrip(" ")
        if not sep or not source or not target:
            raise DataError(
                f"{path}:{lineno}: expected 'question_answer' with both sides "
                f"non-empty, got {line!r}"
            )
        pairs.append((source, target))
    return pairs


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> list[tuple[str, str]]:
    """Line-aligned (src, tgt) pairs from two UTF-8 files (``.gz`` allowed).

    Lines are kept as stored (only the line terminator is removed). DataError naming
    both files when their line counts differ.
    """
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise DataError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; "
            "parallel files must be line-aligned"
        )
    return list(zip(src, tgt, strict=True))


def read_tatoeba(path: str | Path) -> list[tuple[str, str, str]]:
    """(English, Chinese, attribution) triples of manythings' ``cmn.txt`` (``.gz``).

    Lines are ``English<TAB>Chinese<TAB>attribution`` (CC BY: keep the attribution
    with the pair); zero-width spaces (U+200B, in 5 lines) are removed. DataError
    naming the file and line for a line without exactly 3 fields or an empty side.
    """
    triples = []
    for lineno, line in enumerate(read_lines(path), start=1):
        fields = line.replace("\u200b", "").split("\t")
        if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
            raise DataError(
                f"{path}:{lineno}: expected English<TAB>Chinese<TAB>attribution, "
                f"got {len(fields)} field(s): {line[:60]!r}"
            )
        triples.append((fields[0].strip(), fields[1].strip(), fields[2]))
    return triples


# ---------------------------------------------------------------- labelled text


def _open_zip(zip_path: str | Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as e:
        raise DataError(f"{zip_path}: not a zip file ({e})") from e


def _zip_member(archive: zipfile.ZipFile, zip_path: str | Path, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise DataError(f"{zip_path}: no member {name!r} inside") from None


def read_sentence_polarity(zip_path: str | Path) -> list[tuple[str, str]]:
    """(sentence, label) pairs of nltk's sentence_polarity.zip (the MR set).

    ``rt-polarity.pos`` then ``rt-polarity.neg``, each 5,331 lower-cased, tokenised
    sentences, one a line, in latin-1; labels "pos" and "neg", file order kept.
    """
    pairs = []
    with _open_zip(zip_path) as archive:
        for label in ("pos", "neg"):
            member = f"sentence_polarity/rt-polarity.{label}"
            text = _zip_member(archive, zip_path, member).decode("latin-1")
            pairs += [(s.strip(), label) for s in _lines(text) if s.strip()]
    return pairs


def read_movie_reviews(zip_path: str | Path) -> list[tuple[str, str]]:
    """(review, label) pairs of nltk's movie_reviews.zip (Pang & Lee 2004).

    ``pos/*.txt`` then ``neg/*.txt`` in file-name order, 1,000 each; a review's
    tokenised lines are joined with spaces; labels "pos" and "neg".
    """
    pairs = []
    with _open_zip(zip_path) as archive:
        for label in ("pos", "neg"):
            prefix = f"movie_reviews/{label}/"
            members = sorted(
                n
                for n in archive.namelist()
                if n.startswith(prefix) and n.endswith(".txt")
            )
            if not members:
                raise DataError(f"{zip_path}: no {prefix}*.txt reviews inside")
            for member in members:
                text = _decode(archive.read(member), f"{zip_path}!{member}")
                pairs.append((" ".join(text.split()), label))
    return pairs


def read_labelled_text(path: str | Path) -> list[tuple[str, str]]:
    """(text, label) pairs of a UTF-8 file: ``text<TAB>label`` lines, or CSV rows.

    A ``.csv`` file is read as CSV (``text,label``, quotes as the csv module reads
    them); any other file as tab-separated, the label after the last tab. Blank lines
    are skipped, and so is a first line ``text<TAB>label`` (or ``text,label``).
    DataError naming the file and line for a row without a label or with an empty
    text or label.
    """
    text = read_text_file(path)
    if str(path).endswith(".csv"):
        rows = [
            (i, row) for i, row in enumerate(csv.reader(_lines(text)), start=1) if row
        ]
    else:
        rows = [
            (i, line.rsplit("\t", 1))
            for i, line in enumerate(_lines(text), start=1)
            if line.strip()
        ]
    if rows and [f.strip().lower() for f in rows[0][1]] == ["text", "label"]:
        rows = rows[1:]
    return [_labelled_row(fields, path, lineno) for lineno, fields in rows]


def _labelled_row(fields: list[str], path: str | Path, lineno: int) -> tuple[str, str]:
    sep = "," if str(path).endswith(".csv") else "<TAB>"
    if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
        raise DataError(
            f"{path}:{lineno}: expected text{sep}label with both non-empty, "
            f"got {len(fields)} field(s): {sep.join(fields)[:60]!r}"
        )
    return fields[0].strip(), fields[1].strip()


# ---------------------------------------------------------------- dialogues

CrossWOZAct = tuple[str, str, str, str]  # intent, domain, slot, value
CrossWOZTurn = tuple[str, str, list[CrossWOZAct]]  # role (usr/sys), text, acts
CROSSWOZ_GENERAL = "general"  # the domain label of a turn with General acts only


def read_crosswoz(zip_path: str | Path) -> dict[str, list[CrossWOZTurn]]:
    """Dialogue id -> turns ``(role, utterance, dialogue acts)`` of a CrossWOZ zip.

    The zip (``train``/``val``/``test.json.zip`` upstream) holds one JSON object:
    id -> {``messages``: [{``role``: usr|sys, ``content``, ``dialog_act``: [[intent,
    domain, slot, value], ...]}, ...], ...}; the other keys (goals, states) are not
    read. DataError naming the file and the line and column for invalid JSON, and
    the dialogue and message for a message without these fields.
    """
    with _open_zip(zip_path) as archive:
        members = [n for n in archive.namelist() if n.endswith(".json")]
        if len(members) != 1:
            raise DataError(f"{zip_path}: expected one .json member, got {members}")
        where = f"{zip_path}!{members[0]}"
        text = _decode(archive.read(members[0]), where)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    if not isinstance(data, dict) or not data:
        raise DataError(f"{where}: expected a non-empty object of id -> dialogue")
    return {
        str(key): _crosswoz_turns(value, f"{where}: dialogue {key!r}")
        for key, value in data.items()
    }


def _crosswoz_turns(dialogue: object, where: str) -> list[CrossWOZTurn]:
    messages = dialogue.get("messages") if isinstance(dialogue, dict) else None
    if not isinstance(messages, list):
        raise DataError(f"{where}: no 'messages' list")
    turns = []
    for i, message in enumerate(messages):
        try:
            role, text = message["role"], message["content"]
            acts = [tuple(str(x) for x in act) for act in message["dialog_act"]]
        except (KeyError, TypeError) as e:
            raise DataError(
                f"{where}, message {i}: expected role, content and dialog_act ({e})"
            ) from None
        if role not in ("usr", "sys") or not isinstance(text, str):
            raise DataError(f"{where}, message {i}: role {role!r} is not usr or sys")
        if any(len(act) != 4 for act in acts):
            raise DataError(
                f"{where}, message {i}: a dialog_act is not [intent, domain, slot, "
                f"value]: {message['dialog_act']}"
            )
        turns.append((role, text, acts))
    return turns


CHATTERBOT_ZH = "zh/chatterbot-corpus-zh/chinese"  # under the data directory
CHATTERBOT_NOTE = (
    "ChatterBot corpus (BSD-3, Copyright (c) 2017, Gunther Cox): the chinese/*.yml "
    "files of https://github.com/gunthercox/chatterbot-corpus "
    "(chatterbot_corpus/data/chinese), or pip install chatterbot-corpus"
)


def read_chatterbot(directory: str | Path) -> list[tuple[str, str]]:
    """(message, answer) pairs of every ``*.yml`` in a ChatterBot corpus folder.

    Each file has ``conversations:`` lists of turns [q, a, (more)]; each turn and
    the next make a pair. Files in name order. DataError naming the file for YAML
    that does not parse or lacks the conversations list.
    """
    import yaml

    files = sorted(Path(directory).glob("*.yml"))
    if not files:
        raise DatasetNotFoundError(
            f"no ChatterBot *.yml files in {directory}; origin: {CHATTERBOT_NOTE}"
        )
    pairs = []
    for path in files:
        try:
            data = yaml.safe_load(read_text_file(path))
        except yaml.YAMLError as e:
            raise DataError(f"{path}: not valid YAML ({e})") from e
        conversations = data.get("conversations") if isinstance(data, dict) else None
        if not isinstance(conversations, list):
            raise DataError(f"{path}: no 'conversations' list")
        for turns in conversations:
            texts = [str(t).strip() for t in turns] if isinstance(turns, list) else []
            pairs += [(a, b) for a, b in itertools.pairwise(texts) if a and b]
    return pairs


def crosswoz_act_labels(acts: list[CrossWOZAct]) -> tuple[str, ...]:
    """The dialogue acts of a turn as labels ``intent-domain`` (``Inform-餐馆``,
    ``General-thank``), each once, sorted: the targets of multi-label intent."""
    return tuple(sorted({f"{intent}-{domain}" for intent, domain, _, _ in acts}))


def crosswoz_domain(acts: list[CrossWOZAct]) -> str:
    """The domain a user turn is about (景点 餐馆 酒店 地铁 出租, or "general").

    "general" when all its acts are General (greet, thank, bye). Of the 182 turns
    (2%) whose acts name two domains ("天安门广场周边的酒店里，我想找一家..."), the
    one the user selects in (a Select act) wins, else the domain named by the most
    acts, the first named on ties.
    """
    domains = [domain for intent, domain, _, _ in acts if intent != "General"]
    if not domains:
        return CROSSWOZ_GENERAL
    selected = [domain for intent, domain, _, _ in acts if intent == "Select"]
    return selected[0] if selected else max(domains, key=domains.count)


# ---------------------------------------------------------------- CoNLL columns

# O, or a B-/I-/E-/S- prefix and a type: IOB1, IOB2 and IOBES all match.
_CONLL_TAG = re.compile(r"O|[BIES]-\S+")


def is_chunk_tag(tag: str) -> bool:
    """O, or B-/I-/E-/S- and a type: a tag of chunks, scored by chunk F1."""
    return _CONLL_TAG.fullmatch(tag) is not None


ConllSentence = list[tuple[str, ...]]  # one row of columns per token, tag last
# Columns split on ASCII blanks only: ned.train holds a UTF-8 "à" (c3 a0) in a latin-1
# file, and str.split() would take the resulting U+00A0 for a separator.
_ASCII_BLANKS = re.compile(r"[ \t]+")


def read_conll_file(
    path: str | Path, max_line_chars: int = 100_000
) -> list[ConllSentence]:
    """Sentences of a user's CoNLL column file (token first, tag last, a blank line
    between sentences; any tags). DataError naming file and line for the bad files
    of :func:`read_user_lines` and rows whose column count differs from the first's.
    """
    read_user_lines(path, max_line_chars)  # the checks of every user file
    return parse_conll(read_text_file(path), str(path), any_tag=True)


def parse_conll(text: str, where: str, any_tag: bool = False) -> list[ConllSentence]:
    """Sentences of a CoNLL column file: one token a line, blank lines between.

    A row is whitespace-separated columns, the word first and the tag last (CoNLL-2000:
    ``word POS chunk``; CoNLL-2002: ``word POS entity``). ``-DOCSTART-`` rows mark
    documents and are dropped. DataError naming ``where`` and the line for a row
    whose column count differs from the first row's, or whose last column is not a
    tag (``O`` or ``B-``/``I-``/``E-``/``S-`` + a type).
    """
    sentences: list[ConllSentence] = []
    current: ConllSentence = []
    width = None
    for lineno, line in enumerate(_lines(text), start=1):
        row = tuple(_ASCII_BLANKS.split(line.strip(" \t")))
        if row == ("",):  # a blank line ends the sentence
            if current:
                sentences.append(current)
            current = []
            continue
        if row[0] == "-DOCSTART-":
            continue
        width = width or len(row)
        _check_conll_row(row, width, where, lineno, any_tag)
        current.append(row)
    if current:
        sentences.append(current)
    if not sentences:
        raise DataError(f"{where}: no sentences")
    return sentences


def _check_conll_row(
    row: tuple[str, ...], width: int, where: str, lineno: int, any_tag: bool = False
):
    if len(row) != width or width < 2:
        raise DataError(
            f"{where}:{lineno}: expected {max(width, 2)} whitespace-separated columns "
            f"(word ... tag) like the first row, got {len(row)}: {' '.join(row)!r}"
        )
    if not any_tag and not _CONLL_TAG.fullmatch(row[-1]):
        raise DataError(
            f"{where}:{lineno}: last column {row[-1]!r} is not a tag "
            "(O, or B-/I-/E-/S- followed by a type)"
        )


_IOB2_TAG = re.compile(r"O|[BI]-\S+")
Iob2Sentence = list[tuple[str, str]]  # (word, IOB2 tag) per word


def read_iob2(path: str | Path) -> list[Iob2Sentence]:
    """Sentences of a Universal NER ``.iob2`` file (``.gz`` allowed).

    One word a line, ``index<TAB>word<TAB>tag<TAB>...`` (the columns after the tag
    are not read), ``#`` comment lines, a blank line after each sentence. DataError
    naming the file and line for a row with fewer than 3 fields, an index that is
    not the word's position, an empty word or a tag that is not O, B-X or I-X.
    """
    sentences: list[Iob2Sentence] = []
    current: Iob2Sentence = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip() or line.startswith("#"):
            if not line.strip() and current:
                sentences.append(current)
                current = []
            continue
        fields = line.split("\t")
        if len(fields) < 3 or fields[0] != str(len(current) + 1) or not fields[1]:
            raise DataError(
                f"{path}:{lineno}: expected index<TAB>word<TAB>tag with index "
                f"{len(current) + 1} and a word, got {line[:60]!r}"
            )
        if not _IOB2_TAG.fullmatch(fields[2]):
            raise DataError(
                f"{path}:{lineno}: tag {fields[2]!r} is not O, B-TYPE or I-TYPE"
            )
        current.append((fields[1], fields[2]))
    if current:
        sentences.append(current)
    if not sentences:
        raise DataError(f"{path}: no sentences")
    return sentences


def read_conll2000(zip_path: str | Path) -> dict[str, list[ConllSentence]]:
    """CoNLL-2000 chunking from nltk's conll2000.zip: {"train", "test"} sentences.

    Rows are ``(word, POS, chunk)``; 8,936 train and 2,012 test sentences (WSJ
    sections 15-18 and 20).
    """
    return _read_conll_members(
        zip_path, {"train": "conll2000/train.txt", "test": "conll2000/test.txt"}
    )


def read_conll2002(zip_path: str | Path, language: str) -> dict[str, list]:
    """CoNLL-2002 NER from nltk's conll2002.zip: {"train", "testa", "testb"}.

    ``language`` is "esp" (Spanish) or "ned" (Dutch). Rows are ``(word, POS,
    entity)`` with PER/LOC/ORG/MISC entities in IOB2; the files are latin-1.
    """
    if language not in ("esp", "ned"):
        raise ValueError(
            f"CoNLL-2002 language must be 'esp' or 'ned', not {language!r}"
        )
    members = {s: f"conll2002/{language}.{s}" for s in ("train", "testa", "testb")}
    return _read_conll_members(zip_path, members, encoding="latin-1")


def _read_conll_members(
    zip_path: str | Path, members: dict[str, str], encoding: str = "utf-8"
) -> dict[str, list[ConllSentence]]:
    splits = {}
    with _open_zip(zip_path) as archive:
        for split, member in members.items():
            where = f"{zip_path}!{member}"
            data = _zip_member(archive, zip_path, member)
            text = (
                data.decode(encoding) if encoding != "utf-8" else _decode(data, where)
            )
            splits[split] = parse_conll(text, where)
    return splits


# ---------------------------------------------------------------- time series


def read_sunspots() -> list[tuple[int, float]]:
    """(year, yearly mean sunspot number) for 1700-2008, 309 values.

    Read from the CSV that statsmodels ships (``statsmodels/datasets/sunspots/``,
    the ``forecast`` extra); statsmodels itself is not imported. DatasetNotFoundError
    when statsmodels is not installed, DataError naming the line of a bad row.
    """
    spec = importlib.util.find_spec("statsmodels")
    if spec is None or spec.origin is None:
        raise DatasetNotFoundError(
            "the sunspots series ships with statsmodels, which is not installed: "
            "pip install 'seqlab[forecast]'"
        )
    path = Path(spec.origin).parent / "datasets" / "sunspots" / "sunspots.csv"
    rows = list(csv.reader(_lines(read_text_file(path))))
    if rows[:1] != [["YEAR", "SUNACTIVITY"]]:
        raise DataError(f"{path}:1: expected the header YEAR,SUNACTIVITY")
    series = []
    for lineno, row in enumerate(rows[1:], start=2):
        try:
            year, value = row
            series.append((int(float(year)), float(value)))
        except ValueError:
            raise DataError(
                f"{path}:{lineno}: expected YEAR,VALUE, got {row}"
            ) from None
    return series
