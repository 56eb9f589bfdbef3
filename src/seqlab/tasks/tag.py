"""Sequence tagging as a task: CoNLL column files -> batches -> chunk/entity F1.

Data sets and splits:
- conll2000 (chunking): train.txt minus its last ``val_fraction`` of sentences is
  train, those last sentences are val, test.txt is test (CoNLL-2000 has no dev set).
- conll2002 (NER, ``data.language`` esp or ned): train / testa (val) / testb (test),
  the standard splits.
- gsdsimp_seg, gsdsimp_ner (Universal NER Chinese GSDSimp, train / dev / test): the
  tokens are the *characters* of each sentence. gsdsimp_seg tags them B/M/E/S (first,
  middle, last character of a word, single-character word) from the gold word
  segmentation and scores word-level F1 as the SIGHAN bakeoffs do
  (``metrics.segmentation_f1``); gsdsimp_ner projects the word-level IOB2 entities
  (PER, LOC, ORG) onto characters (B-X on an entity's first character, I-X on the
  rest). ``seqlab predict`` reads plain text (whitespace ignored) and prints the
  words separated by spaces (seg) or the text with entities marked ``[北京/LOC]``.

The word is the first column, the tag the last; with ``data.pos`` the second column
(the POS tag, part of the input in both shared tasks) is fed to the model as a
feature. F1 is seqeval's, counted like conlleval (see ``seqlab.metrics``), reported
as a fraction (``test_f1`` 0.93 is 93.0 F1).

With ``data.bigrams`` the feature of each token is instead the pair it makes with the
next one (``北 京`` for 北 in 北京大学; the last token pairs with ``<eos>``): for
Chinese characters, the standard segmentation feature (a character's word often
shows only in the pair it forms).

Vocabularies, saved in the run directory: ``vocab.json`` (words), ``labels.json``
(tags), ``chars.json`` (characters, with a character encoder), ``features.json``
(POS tags with ``data.pos``, bigrams with ``data.bigrams``).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import torch
from pydantic import Discriminator, Field, Tag, model_validator
from torch import nn

from seqlab.config import Section
from seqlab.data import datasets, readers, records
from seqlab.data.batching import TagBatch, bucket_batches, pad_chars, pad_sequences
from seqlab.data.conll import (  # they lived here: old names kept
    Sentence,
    bmes_tags,  # noqa: F401
    bmes_words,
    ner_sentence,  # noqa: F401
    seg_sentence,  # noqa: F401
    to_sentence,
)
from seqlab.data.labels import LABELS_FILE, check_labels, load_labels, save_labels
from seqlab.data.owndata import OwnData, own_splits
from seqlab.data.vocab import EOS, Vocab
from seqlab.metrics import accuracy, chunk_f1, segmentation_f1
from seqlab.models.tagger import TaggerConfig
from seqlab.models.transformer_tagger import TransformerTaggerConfig
from seqlab.tasks.base import Capabilities, Task, model_kind
from seqlab.train import TrainConfig

_DIGIT = re.compile(r"\d")


class TagDataConfig(OwnData):
    # a named data set, or your own CoNLL file(s): data.path (or data.train_path
    # ...; seqlab/data/owndata.py), read instead of the data set
    dataset: records.names("tag") | None = None
    language: Literal["esp", "ned"] = "esp"  # conll2002 only
    # val_fraction (OwnData): also conll2000's val, the end of its train file
    pos: bool = False  # feed the POS column; needs model.feature_embedding_size > 0
    bigrams: bool = False  # feed each token's pair with the next (instead of POS)
    lowercase: bool = False  # word ids only: the character encoder still sees case
    zero_digits: bool = False  # every digit becomes 0, for words and characters
    min_freq: int = Field(1, ge=1)
    # Training only: a word seen once in train becomes <unk> with this probability in
    # each epoch (Lample et al. 2016 use 0.5), so that the model learns to read rare
    # names from their characters and context; the characters stay.
    unk_singletons: float = Field(0.0, ge=0.0, lt=1.0)
    max_word_length: int = Field(20, ge=1)  # characters the character encoder reads
    eval_batch_size: int = Field(256, ge=1)


class TagRunConfig(Section):
    task: Literal["tag"] = "tag"
    data: TagDataConfig
    model: Annotated[
        Annotated[TaggerConfig, Tag("tagger")]
        | Annotated[TransformerTaggerConfig, Tag("transformer")],
        Discriminator(model_kind("tagger")),
    ]
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _check_features(self) -> TagRunConfig:
        data = self.data
        data.check_own_files()
        if data.dataset is None and not data.own_files():
            raise ValueError("give data.dataset, or your own CoNLL file as data.path")
        if data.pos and data.bigrams:
            raise ValueError("data.pos and data.bigrams are exclusive: pick one")
        if (data.pos or data.bigrams) != (self.model.feature_embedding_size > 0):
            raise ValueError(
                "data.pos (or data.bigrams) and model.feature_embedding_size go "
                f"together: set both (got data.pos={data.pos}, "
                f"data.bigrams={data.bigrams}, "
                f"model.feature_embedding_size={self.model.feature_embedding_size})"
            )
        return self


class Encoded(NamedTuple):
    """A sentence as ids: words, tags, characters per word (or None), features."""

    words: list[int]
    tags: list[int]
    chars: list[list[int]] | None
    features: list[int] | None


def read_splits(cfg: TagDataConfig, data_dir: str | Path | None) -> dict:
    """Split name -> list of Sentence; see the module docstring for the splits."""
    if cfg.own_files():
        splits = own_splits(
            cfg, lambda p: readers.read_conll_file(p, cfg.max_line_chars)
        )
        return {split: [to_sentence(rows) for rows in s] for split, s in splits.items()}
    return records.record(cfg.dataset).load(cfg, data_dir)


class TagTask(Task):
    """Vocabularies, batches, evaluation and prediction of a tagging run."""

    name = "tag"
    capabilities = Capabilities(predicts=True)

    monitor = "val_f1"  # what picks the best checkpoint; higher is better
    maximize = True

    def __init__(
        self,
        cfg: TagRunConfig,
        vocab: Vocab,
        labels: list[str],
        chars: Vocab | None,
        features: Vocab | None,
    ) -> None:
        self.cfg = cfg
        self.vocab = vocab
        self.labels = labels
        self.chars = chars
        self.features = features
        self.sentences: dict[str, list[Sentence]] = {}
        self.examples: dict[str, list[Encoded]] = {}
        self.run_dir: Path | None = None  # set by load: named in label errors
        self.singletons: set[int] = set()  # word ids seen once in train
        known = None if cfg.data.own_files() else records.record(cfg.data.dataset)
        self.segmentation = known is not None and known.segmentation
        self.chinese = known is not None and known.chinese  # characters are tokens
        # chunk tags (O, B-X ...) are scored by chunk F1, B/M/E/S of words by word
        # F1; other tags (your own POS tags) by accuracy
        chunks = all(readers.is_chunk_tag(t) for t in labels)
        self.chunked = self.segmentation or chunks
        self.monitor = "val_f1" if self.chunked else "val_accuracy"

    @classmethod
    def read(cls, data: TagDataConfig, data_dir: str | Path | None) -> dict:
        return read_splits(data, data_dir)

    @classmethod
    def build(cls, cfg: TagRunConfig, raw: dict, run_dir: Path) -> TagTask:
        """The vocabularies of the training split (saved into run_dir)."""
        train = raw["train"]
        labels = sorted({tag for s in train for tag in s.tags})
        check_labels(_tag_sets(raw), labels, _source(cfg.data), None, unseen_ok=True)
        task = cls(cfg, Vocab(), labels, None, None)
        words = [[task.word(w) for w in s.words] for s in train]
        task.vocab = Vocab.build(words, min_freq=cfg.data.min_freq)
        if cfg.model.char_hidden_size:
            task.chars = Vocab.build([task.spell(w) for s in train for w in s.words])
        if cfg.data.pos or cfg.data.bigrams:
            task.features = Vocab.build(task.feature_keys(s) for s in train)
        task.save(run_dir)
        return task

    def save(self, run_dir: Path) -> None:
        self.vocab.save(run_dir / "vocab.json")
        save_labels(self.labels, run_dir / LABELS_FILE)
        if self.chars is not None:
            self.chars.save(run_dir / "chars.json")
        if self.features is not None:
            self.features.save(run_dir / "features.json")

    @classmethod
    def load(cls, cfg: TagRunConfig, run_dir: Path) -> TagTask:
        """The vocabularies of a trained run (no data: see load_data)."""
        chars = features = None
        if cfg.model.char_hidden_size:
            chars = Vocab.load(run_dir / "chars.json")
        if cfg.data.pos or cfg.data.bigrams:
            features = Vocab.load(run_dir / "features.json")
        vocab = Vocab.load(run_dir / "vocab.json")
        task = cls(cfg, vocab, load_labels(run_dir / LABELS_FILE), chars, features)
        task.run_dir = run_dir
        return task

    def check_data(self, raw: dict) -> None:
        """DataError if the data's tags differ from the run's."""
        where = _source(self.cfg.data)
        check_labels(_tag_sets(raw), self.labels, where, self.run_dir, unseen_ok=True)

    def set_data(self, raw: dict[str, list[Sentence]]) -> None:
        self.sentences = raw
        self.examples = {
            split: [self.encode(s) for s in ss] for split, ss in raw.items()
        }
        counts = Counter(w for e in self.examples["train"] for w in e.words)
        self.singletons = {w for w, n in counts.items() if n == 1}

    # ---- tokens to ids --------------------------------------------------------------
    use = set_data  # its name before the task contract

    def word(self, word: str) -> str:
        """The word-vocabulary key of ``word`` (lower-cased, digits zeroed if asked)."""
        word = word.lower() if self.cfg.data.lowercase else word
        return _DIGIT.sub("0", word) if self.cfg.data.zero_digits else word

    def spell(self, word: str) -> list[str]:
        """The characters the character encoder reads (case kept)."""
        word = _DIGIT.sub("0", word) if self.cfg.data.zero_digits else word
        return list(word[: self.cfg.data.max_word_length])

    def feature_keys(self, sentence: Sentence) -> list[str]:
        """The feature of each token: its POS tag, or its pair with the next token."""
        if not self.cfg.data.bigrams:
            return _pos(sentence)
        words = [self.word(w) for w in sentence.words]
        return [f"{a} {b}" for a, b in zip(words, [*words[1:], EOS], strict=True)]

    def encode(self, sentence: Sentence, tags: bool = True) -> Encoded:
        index = {tag: i for i, tag in enumerate(self.labels)}
        words = self.vocab.encode(self.word(w) for w in sentence.words)
        chars = None
        if self.chars is not None:
            chars = [self.chars.encode(self.spell(w)) for w in sentence.words]
        features = None
        if self.features is not None:
            features = self.features.encode(self.feature_keys(sentence))
        # a val/test tag unseen in training gets id 0: only the loss reads these ids,
        # evaluation compares tag strings
        tag_ids = [index.get(t, 0) for t in sentence.tags] if tags else [0] * len(words)
        return Encoded(words, tag_ids, chars, features)

    @property
    def model_sizes(self) -> dict[str, int]:
        return {
            "vocab_size": len(self.vocab),
            "num_tags": len(self.labels),
            "num_chars": len(self.chars) if self.chars is not None else 0,
            "num_features": len(self.features) if self.features is not None else 0,
        }

    # ---- training and evaluation ----------------------------------------------------
    def train_batches(self, epoch: int) -> Iterator[TagBatch]:
        examples = self.examples["train"]
        rng = random.Random(self.cfg.train.seed + epoch)  # resumes drop the same words
        for indices in self._buckets(examples, epoch):
            batch = [self.drop_singletons(examples[i], rng) for i in indices]
            yield self.make_batch(batch)

    def drop_singletons(self, example: Encoded, rng: random.Random) -> Encoded:
        """``example`` with each singleton word id <unk> with p = unk_singletons."""
        p = self.cfg.data.unk_singletons
        if p == 0:
            return example
        words = [
            Vocab.unk_id if w in self.singletons and rng.random() < p else w
            for w in example.words
        ]
        return example._replace(words=words)

    def steps_per_epoch(self) -> int:
        return len(self._buckets(self.examples["train"], 0))

    def _buckets(self, examples: list[Encoded], epoch: int) -> list[list[int]]:
        lengths = [len(e.words) for e in examples]
        seed = self.cfg.train.seed + epoch  # the same batches when a run resumes
        return bucket_batches(
            lengths, self.cfg.train.batch_size, shuffle=True, seed=seed
        )

    def make_batch(self, examples: list[Encoded]) -> TagBatch:
        input, lengths = pad_sequences([e.words for e in examples], Vocab.pad_id)
        target, _ = pad_sequences([e.tags for e in examples], 0)
        chars = features = None
        if self.chars is not None:
            words = [e.chars for e in examples]
            chars = pad_chars(words, Vocab.pad_id, self.cfg.data.max_word_length)
        if self.features is not None:
            features, _ = pad_sequences([e.features for e in examples], Vocab.pad_id)
        return TagBatch(input, lengths, target, int(lengths.sum()), chars, features)

    def splits(self) -> list[str]:
        return list(self.examples)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "val") -> dict[str, float]:
        """Chunk precision, recall and F1 (seqeval), and token accuracy."""
        predicted = self.tag_ids(model, self.examples[split])
        gold = [s.tags for s in self.sentences[split]]
        guess = [[self.labels[i] for i in ids] for ids in predicted]
        tag_accuracy = accuracy(_flatten(guess), _flatten(gold))
        if not self.chunked:
            return {f"{split}_accuracy": tag_accuracy}
        if self.segmentation:
            sentences = self.sentences[split]
            scores = segmentation_f1(
                [bmes_words(s.words, s.tags) for s in sentences],
                [bmes_words(s.words, t) for s, t in zip(sentences, guess, strict=True)],
            )
        else:
            scores = chunk_f1(gold, guess)
        return {
            f"{split}_f1": scores.f1,
            f"{split}_precision": scores.precision,
            f"{split}_recall": scores.recall,
            f"{split}_accuracy": tag_accuracy,
        }

    def tag_ids(self, model: nn.Module, examples: list[Encoded]) -> list[list[int]]:
        """The model's tag ids for every example, in the examples' order."""
        device = next(model.parameters()).device
        model.eval()
        result: list[list[int]] = [[] for _ in examples]
        lengths = [len(e.words) for e in examples]
        for indices in bucket_batches(lengths, self.cfg.data.eval_batch_size):
            batch = self.make_batch([examples[i] for i in indices]).to(device)
            for i, ids in zip(indices, model.decode(**batch.inputs()), strict=True):
                result[i] = ids
        return result

    # ---- seqlab predict -------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self, model: nn.Module, lines: list[str], beam: int = 1, as_json: bool = False
    ) -> list[str]:
        """One tokenised sentence per line -> ``token/TAG`` per token.

        With ``data.pos`` each input token is ``word/POS`` (split at the last ``/``).
        """
        if beam != 1:
            raise ValueError("--beam applies to seq2seq runs; tagging decodes exactly")
        sentences = [self._parse_line(line, i) for i, line in enumerate(lines, 1)]
        examples = [self.encode(s, tags=False) for s in sentences]
        predicted = self.tag_ids(model, examples) if examples else []
        out = []
        for sentence, ids in zip(sentences, predicted, strict=True):
            tags = [self.labels[i] for i in ids]
            if self.chinese and not as_json:
                out.append(self._format_chinese(sentence.words, tags))
            elif as_json:
                record = {"tokens": sentence.words, "tags": tags}
                out.append(json.dumps(record, ensure_ascii=False))
            else:
                pairs = zip(sentence.words, tags, strict=True)
                out.append(" ".join(f"{w}/{t}" for w, t in pairs))
        return out

    def _format_chinese(self, chars: list[str], tags: list[str]) -> str:
        """Words separated by spaces (seg), or the text with ``[entity/TYPE]``."""
        if self.segmentation:
            return " ".join(bmes_words(chars, tags))
        from seqeval.metrics.sequence_labeling import get_entities

        marked = list(chars)
        for kind, start, end in get_entities(tags):
            marked[start] = "[" + marked[start]
            marked[end] += f"/{kind}]"
        return "".join(marked)

    def _parse_line(self, line: str, lineno: int) -> Sentence:
        if self.chinese:
            chars = [c for c in line if not c.isspace()]
            if not chars:
                raise ValueError(f"input line {lineno} has no characters to tag")
            return Sentence(chars, None, [])
        tokens = line.split()
        if not tokens:
            raise ValueError(f"input line {lineno} has no tokens to tag")
        if not self.cfg.data.pos:
            return Sentence(tokens, None, [])
        split = [t.rpartition("/") for t in tokens]
        bad = [
            t
            for t, (w, sep, p) in zip(tokens, split, strict=True)
            if not (w and sep and p)
        ]
        if bad:
            raise ValueError(
                f"input line {lineno}: this run reads POS tags, so tokens must be "
                f"word/POS; got {bad[0]!r}"
            )
        return Sentence([w for w, _, _ in split], [p for _, _, p in split], [])


def _flatten(sentences: list[list[str]]) -> list[str]:
    return [tag for sentence in sentences for tag in sentence]


def _pos(sentence: Sentence) -> list[str]:
    if sentence.pos is None:
        raise datasets.DataError("data.pos is set but the data has no POS column")
    return sentence.pos


def _tag_sets(raw: dict[str, list[Sentence]]) -> dict[str, set[str]]:
    return {split: {t for s in ss for t in s.tags} for split, ss in raw.items()}


def _source(cfg: TagDataConfig) -> str:
    if cfg.own_files():
        return cfg.source()
    if cfg.dataset == "conll2002":
        return f"data set conll2002 ({cfg.language})"
    return f"data set {cfg.dataset}"
