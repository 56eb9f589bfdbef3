"""The offline data sets: where they live and where they come from.

Each file is a ``DatasetSpec`` in the ``DATASETS`` dict (multi-file sets such as
Multi30k are one spec per file, ``"multi30k.train.de"``). ``locate`` finds a file under
the data directory (argument, else ``$SEQLAB_DATA``, else ``~/.cache/seqlab/data``) and
can download it (checksum verified). :mod:`seqlab.data.readers` reads the files in their
original formats. Errors are ``DataError`` (a ValueError) naming the file, and the line
where there is one.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.cache/seqlab/data")
ENV_VAR = "SEQLAB_DATA"


class DataError(ValueError):
    """A data file is empty, not UTF-8, malformed, or fails its checksum."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set is not under the data directory (and could not be downloaded)."""


@dataclass(frozen=True)
class DatasetSpec:
    """One data file: its place under the data dir, its public source and checksum.

    ``url`` is None when no single public file matches ours (then ``note`` says where
    the originals are); ``sha256`` is that of the file as stored under ``relpath``.
    """

    name: str
    relpath: str
    url: str | None
    sha256: str
    note: str


_NLTK = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora"
_DLS2 = (
    "https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch-2"
    "/master/dataset"
)
_M30K = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
_M30K_NOTE = "Multi30k task 1 raw captions, https://github.com/multi30k/dataset"
_NLTK_NOTE = "nltk_data corpus, https://github.com/nltk/nltk_data (see its README)"
_CROSSWOZ = "https://raw.githubusercontent.com/thu-coai/CrossWOZ/master/data/crosswoz"
_GSDSIMP_NOTE = (
    "Universal NER Chinese GSDSimp (Mayhew et al. 2024), CC BY-SA 4.0: gzip the "
    "zh_gsdsimp-ud-{split}.iob2 file of "
    "https://github.com/UniversalNER/UNER_Chinese-GSDSIMP (commit 2a4c98c7)"
)
_CROSSWOZ_NOTE = (
    "CrossWOZ (Zhu et al. 2020, TACL), https://github.com/thu-coai/CrossWOZ "
    "(Apache-2.0); 500 dialogues"
)

DATASETS: dict[str, DatasetSpec] = {
    "tinyshakespeare": DatasetSpec(
        "tinyshakespeare",
        "tinyshakespeare/input.txt",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
        "tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "karpathy/char-rnn (MIT); 1,115,394 characters of Shakespeare",
    ),
    "tang": DatasetSpec(
        "tang",
        "tang/poet.tang.tsv.gz",
        None,  # a local flattening: no public copy of this exact file
        "b497c7f09ae667ed9d6272b053390ced665915577aa439f0cfa8522e326743ee",
        "57,603 Tang poems flattened to gzip TSV (author, title, poem) from "
        "全唐诗/poet.tang.*.json of https://github.com/chinese-poetry/chinese-poetry "
        "(MIT); build it from those JSON files (one line per poem, paragraphs "
        "joined) or copy poet.tang.tsv.gz from a machine that has it",
    ),
    "brown": DatasetSpec(
        "brown",
        "nltk/brown.zip",
        f"{_NLTK}/brown.zip",
        "9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6",
        f"Brown corpus, POS-tagged word/TAG tokens; {_NLTK_NOTE}",
    ),
    "addition": DatasetSpec(
        "addition",
        "seq2seq_toy/addition.txt",
        f"{_DLS2}/addition.txt",
        "34e0746f5014c11311c9452ee9050bf14e38eca44ec4aaf4d81eba2b38674009",
        "Deep Learning from Scratch 2, oreilly-japan (MIT); 50,000 sums",
    ),
    "date": DatasetSpec(
        "date",
        "seq2seq_toy/date.txt",
        f"{_DLS2}/date.txt",
        "62e66a301ce8537868e725512d2a45663fc366526b7e42028cb703bda2b1c79a",
        "Deep Learning from Scratch 2, oreilly-japan (MIT); 50,000 dates",
    ),
    "multi30k.train.de": DatasetSpec(
        "multi30k.train.de",
        "multi30k/train.de.gz",
        f"{_M30K}/train.de.gz",
        "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
        _M30K_NOTE,
    ),
    "multi30k.train.en": DatasetSpec(
        "multi30k.train.en",
        "multi30k/train.en.gz",
        f"{_M30K}/train.en.gz",
        "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
        _M30K_NOTE,
    ),
    "multi30k.val.de": DatasetSpec(
        "multi30k.val.de",
        "multi30k/val.de.gz",
        f"{_M30K}/val.de.gz",
        "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
        _M30K_NOTE,
    ),
    "multi30k.val.en": DatasetSpec(
        "multi30k.val.en",
        "multi30k/val.en.gz",
        f"{_M30K}/val.en.gz",
        "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
        _M30K_NOTE,
    ),
    "multi30k.test_2016_flickr.de": DatasetSpec(
        "multi30k.test_2016_flickr.de",
        "multi30k/test_2016_flickr.de.gz",
        f"{_M30K}/test_2016_flickr.de.gz",
        "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
        _M30K_NOTE,
    ),
    "multi30k.test_2016_flickr.en": DatasetSpec(
        "multi30k.test_2016_flickr.en",
        "multi30k/test_2016_flickr.en.gz",
        f"{_M30K}/test_2016_flickr.en.gz",
        "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
        _M30K_NOTE,
    ),
    "sentence_polarity": DatasetSpec(
        "sentence_polarity",
        "nltk/sentence_polarity.zip",
        f"{_NLTK}/sentence_polarity.zip",
        "6e1ed4405b65c7eabf1d199a7f7c437091ac21da0ea7467b410a74062574566b",
        f"rt-polarity.pos/.neg, 5,331 sentences each, latin-1; {_NLTK_NOTE}",
    ),
    "conll2000": DatasetSpec(
        "conll2000",
        "nltk/conll2000.zip",
        f"{_NLTK}/conll2000.zip",
        "01e65164f268366e7caa0db92332a1955d081908c87016e2c7640c3c5279b7cd",
        f"CoNLL-2000 chunking, word POS chunk columns; {_NLTK_NOTE}",
    ),
    "conll2002": DatasetSpec(
        "conll2002",
        "nltk/conll2002.zip",
        f"{_NLTK}/conll2002.zip",
        "64440e49236d0d393e08e0b266284966d68e2d2a82a50cc41b8e96d98c03b5c8",
        f"CoNLL-2002 NER, Spanish and Dutch, latin-1; {_NLTK_NOTE}",
    ),
    "movie_reviews": DatasetSpec(
        "movie_reviews",
        "nltk/movie_reviews.zip",
        f"{_NLTK}/movie_reviews.zip",
        "a41211ae685019137410268134db6a1a14428c89b671eb83056151a878539008",
        f"1,000 positive + 1,000 negative reviews; {_NLTK_NOTE}",
    ),
    "treebank": DatasetSpec(
        "treebank",
        "nltk/treebank.zip",
        f"{_NLTK}/treebank.zip",
        "9da92d76c3666cfb6cddeaed0f7e86b344cce0f0928a286d439e555f19c37399",
        f"10% Penn Treebank sample (3,914 WSJ sentences); {_NLTK_NOTE}",
    ),
    "crosswoz.val": DatasetSpec(
        "crosswoz.val",
        "zh/crosswoz/val.json.zip",
        f"{_CROSSWOZ}/val.json.zip",
        "b2b717990f6f0a1c98daaf5dc465e61d42f7de69c0d31e88e674275b1f34c94c",
        _CROSSWOZ_NOTE,
    ),
    "crosswoz.test": DatasetSpec(
        "crosswoz.test",
        "zh/crosswoz/test.json.zip",
        f"{_CROSSWOZ}/test.json.zip",
        "e57703894995211bba8638f130dc7df81e8992b71f3c05c10022ad23d6ca5310",
        _CROSSWOZ_NOTE,
    ),
    "twemoji": DatasetSpec(
        "twemoji",
        "captioning/twemoji-cldr.zip",
        None,  # assembled from two sources (see the note)
        "0cbfe484192d69cdee263c360e351a0befd6bdf7f1f2375ec0b2201334dc41c8",
        "3,664 Twemoji 15 pictures (tommyettinger/twemoji-atlas @131e135d, CC BY 4.0: "
        "Twemoji, Copyright 2020 Twitter, Inc and other contributors) named by "
        "Unicode CLDR via emoji.json (MIT)",
    ),
    "tatoeba": DatasetSpec(
        "tatoeba",
        "zh/tatoeba-cmn-eng/cmn.txt.gz",
        None,  # manythings.org ships cmn-eng.zip, a newer release than this file
        "12d18822ff74d13c48021f0f940f80f2e10efabfae61426c0ea68719e583df86",
        "Tatoeba English-Chinese pairs via manythings.org cmn-eng (2022-05-02), "
        "CC BY 2.0 FR (keep the attribution column); gzip of data/cmn.txt in "
        "https://github.com/yingzhang123/seq2seq_attention (commit 985d61c2) with "
        "the TABs of its lines 29 and 31 restored",
    ),
    **{
        f"gsdsimp.{split}": DatasetSpec(
            f"gsdsimp.{split}",
            f"zh/uner-zh-gsdsimp/zh_gsdsimp-ud-{split}.iob2.gz",
            None,  # upstream has the plain .iob2; our checksum is of the gzip file
            sha256,
            _GSDSIMP_NOTE.format(split=split),
        )
        for split, sha256 in (
            (
                "train",
                "2428f0fef5f4c591a5850946bc1f4b7994d0aa0e62242efdb9651591c5e46baa",
            ),
            ("dev", "d95067697ac24cb357ae263debc2af14744ff675b0eb78c158b4a6079ef924a8"),
            (
                "test",
                "325e6463f6c19b1db2faf59d123fb3ba64b1f078c35651da4f617c9574e51bc7",
            ),
        )
    },
}


# ---------------------------------------------------------------- locating files


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$SEQLAB_DATA``, else the default."""
    return _resolve_data_dir(data_dir)[0]


def _resolve_data_dir(data_dir: str | Path | None) -> tuple[Path, str]:
    """The data directory and a phrase saying where that choice came from."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument / --data-dir"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    return DEFAULT_DATA_DIR.expanduser(), f"the default (${ENV_VAR} is not set)"


def locate(
    name: str, data_dir: str | Path | None = None, download: bool = False
) -> Path:
    """The path of data file ``name`` under the data dir, downloading it if asked.

    Raises DatasetNotFoundError (naming the path looked at and how to get the file)
    when it is missing and cannot be downloaded, DataError on a checksum mismatch.
    """
    if name not in DATASETS:
        raise ValueError(
            f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}"
        )
    spec = DATASETS[name]
    root, origin = _resolve_data_dir(data_dir)
    path = root / spec.relpath
    if path.is_file():
        return path
    if not download or spec.url is None:
        raise DatasetNotFoundError(_not_found_message(spec, path, origin, download))
    try:
        download_file(spec.url, path, spec.sha256)
    except (urllib.error.URLError, OSError) as e:
        message = _not_found_message(spec, path, origin, download)
        raise DatasetNotFoundError(f"{message}\ndownload failed: {e}") from e
    return path


def _not_found_message(spec: DatasetSpec, path: Path, origin: str, tried: bool) -> str:
    """Where we looked and the ways to get the file."""
    lines = [
        f"data set {spec.name!r} not found: looked for {path} (data dir from {origin})",
        f"origin: {spec.note}",
    ]
    if spec.url is None:
        lines.append("automatic download is not supported for this set")
    else:
        lines.append(f"get it from {spec.url} and put it at {path}")
        if not tried:
            lines.append("or call locate(..., download=True) to download it")
    lines.append(
        f"or point ${ENV_VAR} / --data-dir at a directory holding {spec.relpath}"
    )
    return "\n".join(lines)


def download_file(url: str, path: Path, sha256: str) -> None:
    """Fetch ``url`` to a temp file beside ``path``, check sha256, rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, tmp.open("wb") as f:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, "
                f"got {digest.hexdigest()} (nothing written to {path})"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
