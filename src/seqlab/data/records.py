"""The named data sets, one record each: what a task needs to know of a data set.

A record says which task reads the set, which files of :data:`datasets.DATASETS` it
is made of (where each lives, its checksum and download URL), how it is split, the
special tokens put around its documents, its default tokenizer, the metric that picks
the best checkpoint and sacreBLEU's tokenisation of its outputs. Tasks ask the record
of their ``data.dataset`` instead of comparing names; adding a data set is one record
here (and, for a new file format, one reader in :mod:`seqlab.data.readers`).

``seqlab data list`` prints these records; ``seqlab data download NAME|all`` fetches
their files with the checksum checked.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from seqlab.data import conll, corpora, datasets, labelled, pairs, pictures


@dataclass(frozen=True)
class DataSetRecord:
    """One named data set (see the module docstring)."""

    name: str
    task: str
    files: tuple[str, ...]  # names in datasets.DATASETS; () when generated
    size: str  # what it holds, in words
    split: str  # the split rule, in words
    tokenizer: str | None = None  # the tokenizer its shipped configs use
    metric: str = "accuracy"  # accuracy | bleu | f1 | loss | rmse | exact_match
    # sacreBLEU's tokenisation (translation sets): 13a, zh; or one per direction
    bleu_tokenize: str | dict[str, str] | None = None
    directions: tuple[str, ...] = ()  # seq2seq: the data.direction values it has
    add_bos: bool = False  # lm: <bos> before each document
    add_eos: bool = False  # lm: <eos> after each document (a generation stops there)
    chinese: bool = False  # tag: characters are the tokens (predict joins them)
    segmentation: bool = False  # tag: B/M/E/S of words, scored and shown as words
    # files (): generated, or (yours) read from data.captions/data.images
    yours: bool = False
    # (data config, data dir) -> split name -> examples: the reader and split rule
    # (None: the task reads it, tasks/<task>.py read_splits)
    load: Callable[[Any, str | Path | None], dict[str, list]] | None = None

    def bleu_tokenization(self, direction: str) -> str | None:
        """sacreBLEU's tokenisation of outputs in ``direction`` (e.g. en-zh)."""
        if isinstance(self.bleu_tokenize, dict):
            return self.bleu_tokenize[direction]
        return self.bleu_tokenize


_TOY_SPLIT = "the last {test} test, the data.val_size before them val, the rest train"

DATA_SETS: dict[str, DataSetRecord] = {
    r.name: r
    for r in [
        # ---- lm
        DataSetRecord(
            "tinyshakespeare",
            "lm",
            ("tinyshakespeare",),
            "1,115,394 characters",
            "first 90% train, last 10% val (characters)",
            tokenizer="char",
            metric="loss",
            load=corpora.load_tinyshakespeare,
        ),
        DataSetRecord(
            "tang",
            "lm",
            ("tang",),
            "57,603 Tang poems",
            "shuffled (seed 0): 1,000 poems val, 1,000 test, the rest train",
            tokenizer="zh_char",
            metric="loss",
            add_bos=True,
            add_eos=True,
            load=corpora.load_tang,
        ),
        DataSetRecord(
            "brown",
            "lm",
            ("brown",),
            "1.16M POS-tagged words",
            "sentences in order: first 80% train, next 10% val, last 10% test",
            tokenizer="word",
            metric="loss",
            add_eos=True,
            load=corpora.load_brown,
        ),
        # ---- classify
        DataSetRecord(
            "sentence_polarity",
            "classify",
            ("sentence_polarity",),
            "10,662 movie-review sentences, pos/neg",
            "fold data.fold of 10 test, data.val_fraction of the rest val",
            tokenizer="subword",
            load=labelled.load_sentence_polarity,
        ),
        DataSetRecord(
            "movie_reviews",
            "classify",
            ("movie_reviews",),
            "2,000 movie reviews, pos/neg",
            "fold data.fold of 10 test, data.val_fraction of the rest val",
            tokenizer="word",
            load=labelled.load_movie_reviews,
        ),
        DataSetRecord(
            "crosswoz",
            "classify",
            ("crosswoz.val", "crosswoz.test"),
            "8,467 Chinese user turns, 6 domains (or dialogue acts)",
            "by dialogue: fold data.fold of 10 test, data.val_fraction val",
            tokenizer="zh_char",
            load=labelled.load_crosswoz,
        ),
        # ---- tag
        DataSetRecord(
            "conll2000",
            "tag",
            ("conll2000",),
            "8,936 + 2,012 sentences, chunk tags",
            "upstream train (its last data.val_fraction val) / test",
            tokenizer="word",
            metric="f1",
            load=conll.load_conll2000,
        ),
        DataSetRecord(
            "conll2002",
            "tag",
            ("conll2002",),
            "Spanish/Dutch NER (data.language)",
            "upstream train / testa (val) / testb (test)",
            tokenizer="word",
            metric="f1",
            load=conll.load_conll2002,
        ),
        DataSetRecord(
            "gsdsimp_seg",
            "tag",
            ("gsdsimp.train", "gsdsimp.dev", "gsdsimp.test"),
            "3,997 / 500 / 500 Chinese sentences, word segmentation (BMES)",
            "upstream train / dev / test",
            tokenizer="zh_char",
            metric="f1",
            chinese=True,
            segmentation=True,
            load=conll.load_gsdsimp_seg,
        ),
        DataSetRecord(
            "gsdsimp_ner",
            "tag",
            ("gsdsimp.train", "gsdsimp.dev", "gsdsimp.test"),
            "3,997 / 500 / 500 Chinese sentences, NER per character",
            "upstream train / dev / test",
            tokenizer="zh_char",
            metric="f1",
            chinese=True,
            load=conll.load_gsdsimp_ner,
        ),
        # ---- seq2seq
        DataSetRecord(
            "addition",
            "seq2seq",
            ("addition",),
            "50,000 sums",
            _TOY_SPLIT.format(test="5,000"),
            tokenizer="char",
            load=pairs.load_addition,
        ),
        DataSetRecord(
            "date",
            "seq2seq",
            ("date",),
            "41,578 distinct date pairs",
            _TOY_SPLIT.format(test="5,000") + " (repeats dropped first)",
            tokenizer="char",
            load=pairs.load_date,
        ),
        DataSetRecord(
            "generated_dates",
            "seq2seq",
            (),
            "data.size generated date pairs",
            _TOY_SPLIT.format(test="1,000") + " (repeats dropped first)",
            tokenizer="char",
            load=pairs.load_generated_dates,
        ),
        DataSetRecord(
            "multi30k",
            "seq2seq",
            tuple(
                f"multi30k.{split}.{lang}"
                for split in ("train", "val", "test_2016_flickr")
                for lang in ("de", "en")
            ),
            "29,000 / 1,014 / 1,000 German-English caption pairs",
            "upstream train / val / test_2016_flickr",
            tokenizer="subword",
            metric="bleu",
            bleu_tokenize="13a",
            directions=("de-en", "en-de"),
            load=pairs.load_multi30k,
        ),
        DataSetRecord(
            "tatoeba",
            "seq2seq",
            ("tatoeba",),
            "29,155 English-Chinese pairs",
            "by unique Chinese sentence: 2,000 test, data.val_size val",
            tokenizer="zh_char",
            metric="bleu",
            bleu_tokenize={"zh-en": "13a", "en-zh": "zh"},  # zh: Chinese outputs
            directions=("zh-en", "en-zh"),
            load=pairs.read_tatoeba,
        ),
        DataSetRecord(
            "crosswoz_chat",
            "seq2seq",
            ("crosswoz.val", "crosswoz.test"),
            "CrossWOZ user turn -> system answer (+ ChatterBot in train)",
            "the dialogue split of the crosswoz classifier",
            tokenizer="zh_char",
            metric="bleu",
            bleu_tokenize="zh",
            load=pairs.load_crosswoz_chat,
        ),
        # ---- caption
        DataSetRecord(
            "shapes",
            "caption",
            (),
            "generated pictures of 2 (or 3) shapes and their relation",
            "held-out combinations of shape, colour and relation",
            metric="exact_match",
            load=pictures.load_shapes,
        ),
        DataSetRecord(
            "twemoji",
            "caption",
            ("twemoji",),
            "3,664 emoji pictures captioned with their CLDR names",
            "compositional: held-out person x activity x skin tone",
            metric="exact_match",
            load=pictures.load_twemoji,
        ),
        *[
            DataSetRecord(
                name,
                "caption",
                (),
                f"your {what} and pictures (data.captions, data.images)",
                split,
                metric="exact_match",
                yours=True,
                load=pictures.load_user_format,
            )
            for name, what, split in [
                (
                    "flickr8k",
                    "Flickr8k.token.txt",
                    "shuffled pictures (seed 0): data.test_fraction, data.val_fraction",
                ),
                ("karpathy", "Karpathy dataset_*.json", "the JSON's split"),
                (
                    "coco",
                    "COCO captions_*.json",
                    "shuffled pictures (seed 0): data.test_fraction, data.val_fraction",
                ),
            ]
        ],
        # ---- forecast
        DataSetRecord(
            "sunspots",
            "forecast",
            (),
            "yearly sunspot numbers (ships with statsmodels)",
            "train / val / test by time",
            metric="rmse",
        ),
    ]
}


def names(task: str) -> Any:
    """``Literal[...]`` of the data set names of ``task``: the type of its config's
    ``data.dataset`` (a new record is a new value, no task edited)."""
    return Literal[tuple(r.name for r in DATA_SETS.values() if r.task == task)]


def record(name: str | None) -> DataSetRecord | None:
    """The record of data set ``name`` (None for the user's own files)."""
    if name is None:
        return None
    if name not in DATA_SETS:
        raise ValueError(
            f"unknown data set {name!r}; choose one of {', '.join(DATA_SETS)}"
        )
    return DATA_SETS[name]


@dataclass(frozen=True)
class Listing:
    """One line of ``seqlab data list``."""

    name: str
    task: str
    size: str
    where: str
    present: str  # yes | no | partly | generated


def list_data(data_dir: str | Path | None = None) -> list[Listing]:
    """Each record, where its files are looked for and whether they are there."""
    root = datasets.resolve_data_dir(data_dir)
    rows = []
    for r in DATA_SETS.values():
        specs = [datasets.DATASETS[f] for f in r.files if f in datasets.DATASETS]
        if r.yours:
            where, present = "data.captions, data.images", "yours"
        elif not r.files:
            where, present = "(generated)", "generated"
        else:
            paths = [root / s.relpath for s in specs]
            there = sum(p.is_file() for p in paths)
            present = "yes" if there == len(paths) else "partly" if there else "no"
            where = str(paths[0]) + (
                f" + {len(paths) - 1} more" if len(paths) > 1 else ""
            )
        rows.append(Listing(r.name, r.task, r.size, where, present))
    return rows


def download(name: str, data_dir: str | Path | None = None, log=print) -> list[Path]:
    """Fetch the missing files of data set ``name`` ("all": every set), checksums
    checked. One-line DataError for a file that cannot be fetched: no public URL
    (with where its origin is), or the download failed (offline, a bad checksum).
    With "all", files without a public URL are skipped with a line in the log."""
    names = list(DATA_SETS) if name == "all" else [name]
    for n in names:
        record(n)  # ValueError naming the known sets
    root = datasets.resolve_data_dir(data_dir)
    paths = []
    for f in dict.fromkeys(f for n in names for f in DATA_SETS[n].files):
        spec = datasets.DATASETS[f]
        path = root / spec.relpath
        if path.is_file():
            log(f"{f}: present at {path}")
        elif spec.url is None:
            message = f"{f}: no public download; {spec.note}; put it at {path}"
            if name != "all":
                raise datasets.DataError(message)
            log(message)
            continue
        else:
            log(f"{f}: downloading {spec.url}")
            try:
                datasets.download_file(spec.url, path, spec.sha256)
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise datasets.DataError(
                    f"{f}: cannot download {spec.url} ({reason}); is this machine "
                    f"offline? Copy the file to {path} instead"
                ) from e
        paths.append(path)
    return paths
