"""Text classification as a task: labelled texts -> splits -> batches -> accuracy.

Sources (``data.dataset``, or your file ``data.path``, which is read instead):
- sentence_polarity: MR (Pang & Lee 2005), 10,662 movie-review sentences, pos/neg.
- movie_reviews: Pang & Lee 2004, 2,000 whole reviews, pos/neg.
- crosswoz: the domain of a CrossWOZ user turn (景点 餐馆 酒店 地铁 出租 general;
  ``readers.crosswoz_domain``), 8,467 turns of the 1,000 val + test dialogues.
- path: a UTF-8 file of ``text<TAB>label`` lines (``text,label`` rows for ``.csv``):
  an intent set, a review set in any language (the tokenizer is configurable).

Splits, the same for every model and run: the examples are shuffled with a fixed seed
(0) and cut into ``data.folds`` (10) equal folds; fold ``data.fold`` is the test set;
of the other examples the last ``val_fraction`` are validation, the rest training.
``data.fold=0`` is the documented fixed split; 10-fold cross-validation as in the
literature is the ten runs ``--set data.fold=K`` for K = 0..9, averaging
``test_accuracy``. With ``data.test_path`` that file is the test set instead.
CrossWOZ is split the same way by *dialogue*, not by turn (the turns of one
dialogue share names and requests): the dialogues of upstream's val.json.zip and
test.json.zip (train.json.zip is not in the offline snapshot and is not read)
sorted by id are the items shuffled and cut into folds, then each split's user
turns are its examples (fold 0: 810 / 90 / 100 dialogues). With
``data.context_turns`` N > 0 each user turn is prefixed with the N turns before it
(either role), each followed by CONTEXT_SEP; ``seqlab predict`` reads lines in the
same form (a line without CONTEXT_SEP is a turn without context). With
``data.crosswoz_target: acts`` the targets are a turn's dialogue acts instead, a
multi-label task (``Inform-餐馆``, ``Request-餐馆``, ``General-thank``, ...): one
sigmoid per label, a label predicted when its probability is >= 0.5, scored by
micro-averaged F1 over (turn, label) pairs (``{split}_f1``, which picks the best
checkpoint) and exact-match accuracy of the whole set.

Labels are the training split's, sorted, saved as ``labels.json`` in the run
directory; data whose labels differ from a run's is refused with the two label sets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Discriminator, Field, Tag, model_validator
from torch import nn

from seqlab.config import Section
from seqlab.data import readers, records
from seqlab.data.batching import LabelBatch, bucket_batches, pad_sequences
from seqlab.data.crosswoz import (  # they lived here: old names kept
    SPLIT_SEED,  # noqa: F401
    read_crosswoz_dialogues,  # noqa: F401
    split_dialogues,  # noqa: F401
    split_fold,  # noqa: F401
)
from seqlab.data.labelled import CONTEXT_SEP, fold_splits  # noqa: F401 (old name)
from seqlab.data.labelled import load_crosswoz as crosswoz_splits  # noqa: F401
from seqlab.data.labels import (  # they lived here: old names kept
    LABELS_FILE,
    check_labels,
    load_labels,
    save_labels,
)
from seqlab.data.owndata import OwnData
from seqlab.data.tokenizers import (
    SUBWORD_KINDS,
    OpenCCConversion,
    Tokenizer,
    check_opencc,
    load_tokenizer,
    make_tokenizer,
)
from seqlab.data.vocab import Vocab
from seqlab.models.classifier import ClassifierConfig
from seqlab.models.transformer_classifier import TransformerClassifierConfig
from seqlab.tasks.base import Capabilities, Task, build_vocab, model_kind
from seqlab.train import TrainConfig

Example = tuple[list[int], Any]  # token ids, label id (multi-label: id list)


class ClassifyDataConfig(OwnData):
    dataset: records.names("classify") | None = None
    # your text<TAB>label file(s), read instead of the data set: data.path (or
    # data.train_path; its test split is the fold below unless data.test_path is
    # given, its val split data.val_fraction of the rest unless data.val_path is)
    folds: int = Field(10, ge=2)
    fold: int = Field(0, ge=0)  # the test fold, 0 .. folds-1
    val_fraction: float = Field(0.1, gt=0, lt=1)  # of the examples outside the test
    tokenizer: Literal[
        "word", "char", "subword", "unigram", "bpe", "zh_char", "zh_word"
    ] = "word"
    opencc: OpenCCConversion | None = None  # zh_* tokenizers: e.g. t2s (zh extra)
    vocab_size: int | None = Field(None, ge=5)  # words kept / subword pieces
    min_freq: int = Field(1, ge=1)
    lowercase: bool = False
    max_length: int | None = Field(None, ge=1)  # longer texts keep their first tokens
    context_turns: int = Field(0, ge=0)  # crosswoz: earlier turns before a user turn
    crosswoz_target: Literal["domain", "acts"] = "domain"  # acts: multi-label
    eval_batch_size: int = Field(256, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ClassifyDataConfig:
        self.check_own_files()
        if self.dataset is None and not self.own_files():
            raise ValueError("give data.dataset, or your own file as data.path")
        if self.fold >= self.folds:
            raise ValueError(f"data.fold must be < data.folds={self.folds}")
        if self.tokenizer in SUBWORD_KINDS and self.vocab_size is None:
            raise ValueError(f"tokenizer {self.tokenizer!r} needs data.vocab_size")
        check_opencc(self.tokenizer, self.opencc)
        crosswoz = self.dataset == "crosswoz" and not self.own_files()
        if self.crosswoz_target != "domain" and not crosswoz:
            raise ValueError("data.crosswoz_target goes with data.dataset crosswoz")
        return self


class ClassifyRunConfig(Section):
    task: Literal["classify"] = "classify"
    data: ClassifyDataConfig
    model: Annotated[
        Annotated[ClassifierConfig, Tag("classifier")]
        | Annotated[TransformerClassifierConfig, Tag("transformer")],
        Discriminator(model_kind("classifier")),
    ]
    train: TrainConfig = TrainConfig()


# ---------------------------------------------------------------- reading and splits


def read_splits(
    cfg: ClassifyDataConfig, data_dir: str | Path | None
) -> dict[str, list[tuple[str, str]]]:
    """Split name -> (text, label) pairs; see the module docstring for the splits."""
    if not cfg.own_files():
        return records.record(cfg.dataset).load(cfg, data_dir)
    pairs = read_labelled(cfg.path or cfg.train_path, cfg)
    test = None if cfg.test_path is None else read_labelled(cfg.test_path, cfg)
    val = None if cfg.val_path is None else read_labelled(cfg.val_path, cfg)
    return fold_splits(pairs, cfg, test, val)


def read_labelled(path: str, cfg: ClassifyDataConfig) -> list[tuple[str, str]]:
    """(text, label) pairs of the user's file, after the checks of every user file
    (directory, blank-only, NUL byte, data.max_line_chars)."""
    readers.read_user_lines(path, cfg.max_line_chars)
    return readers.read_labelled_text(path)


# ---------------------------------------------------------------- the task


class ClassifyTask(Task):
    """Vocabulary, labels, batches, evaluation and prediction of a classify run."""

    name = "classify"
    capabilities = Capabilities(predicts=True)

    monitor = "val_accuracy"  # what picks the best checkpoint; higher is better
    maximize = True

    def __init__(
        self,
        cfg: ClassifyRunConfig,
        tokenizer: Tokenizer,
        vocab: Vocab,
        labels: list[str],
    ) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.labels = labels
        self.examples: dict[str, list[Example]] = {}
        self.run_dir: Path | None = None  # set by load: named in label errors
        self.multi_label = cfg.data.crosswoz_target == "acts"
        if self.multi_label:
            self.monitor = "val_f1"

    @classmethod
    def read(cls, data: ClassifyDataConfig, data_dir: str | Path | None) -> dict:
        return read_splits(data, data_dir)

    @classmethod
    def build(cls, cfg: ClassifyRunConfig, splits: dict, run_dir: Path) -> ClassifyTask:
        """Tokenizer, vocabulary and labels of the training split (saved)."""
        texts = [text for text, _ in splits["train"]]
        tokenizer = make_tokenizer(cfg.data, texts, run_dir)
        labels = sorted(_label_sets(splits)["train"])
        check_labels(_label_sets(splits), labels, _source(cfg.data), None)
        task = cls(cfg, tokenizer, Vocab(), labels)
        task.vocab = build_vocab([task.tokenize(text) for text in texts], cfg.data)
        task.vocab.save(run_dir / "vocab.json")
        save_labels(labels, run_dir / LABELS_FILE)
        return task

    @classmethod
    def load(cls, cfg: ClassifyRunConfig, run_dir: Path) -> ClassifyTask:
        """Tokenizer, vocabulary and labels of a trained run (no data: load_data)."""
        vocab = Vocab.load(run_dir / "vocab.json")
        labels = load_labels(run_dir / LABELS_FILE)
        task = cls(cfg, load_tokenizer(cfg.data, run_dir), vocab, labels)
        task.run_dir = run_dir
        return task

    def check_data(self, splits: dict) -> None:
        """DataError if the data's labels differ from the run's."""
        where = _source(self.cfg.data)
        check_labels(_label_sets(splits), self.labels, where, self.run_dir)

    def set_data(self, splits: dict[str, list[tuple[str, Any]]]) -> None:
        """Split name -> (text, label) pairs, encoded and kept."""
        self.examples = {split: self.encode(pairs) for split, pairs in splits.items()}

    def tokenize(self, text: str) -> list[str]:
        tokens = self.tokenizer.tokenize(
            text.lower() if self.cfg.data.lowercase else text
        )
        return tokens[: self.cfg.data.max_length]

    def encode(self, pairs: list[tuple[str, str]]) -> list[Example]:
        index = {label: i for i, label in enumerate(self.labels)}
        return [
            (
                self.vocab.encode(self.tokenize(text)) or [Vocab.unk_id],
                [index[x] for x in label] if self.multi_label else index[label],
            )
            for text, label in pairs
        ]

    @property
    def model_sizes(self) -> dict[str, int]:
        return {"vocab_size": len(self.vocab), "num_classes": len(self.labels)}

    # ---- training and evaluation ----------------------------------------------------
    def train_batches(self, epoch: int) -> Iterator[LabelBatch]:
        examples = self.examples["train"]
        for indices in self._buckets(examples, epoch):
            yield self.make_batch([examples[i] for i in indices])

    def steps_per_epoch(self) -> int:
        return len(self._buckets(self.examples["train"], 0))

    def _buckets(self, examples: list[Example], epoch: int) -> list[list[int]]:
        lengths = [len(ids) for ids, _ in examples]
        seed = self.cfg.train.seed + epoch  # the same batches when a run resumes
        return bucket_batches(
            lengths, self.cfg.train.batch_size, shuffle=True, seed=seed
        )

    def splits(self) -> list[str]:
        return list(self.examples)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str = "val") -> dict[str, float]:
        """Mean loss and accuracy over the split (+ micro F1 for multi-label)."""
        device = next(model.parameters()).device
        examples = self.examples[split]
        model.eval()
        total_loss, correct = 0.0, 0
        counts = torch.zeros(3)  # true positives, predicted, gold (multi-label)
        lengths = [len(ids) for ids, _ in examples]
        for indices in bucket_batches(lengths, self.cfg.data.eval_batch_size):
            batch = self.make_batch([examples[i] for i in indices]).to(device)
            out = model(**batch.inputs(), targets=batch.targets)
            total_loss += float(out.loss) * len(indices)
            if not self.multi_label:
                correct += int((out.logits.argmax(-1) == batch.targets).sum())
                continue
            guess, gold = out.logits >= 0, batch.targets > 0.5  # (B, C): p >= 0.5
            correct += int((guess == gold).all(-1).sum())
            counts += torch.tensor(
                [float((guess & gold).sum()), float(guess.sum()), float(gold.sum())]
            )
        n = len(examples)
        result = {f"{split}_loss": total_loss / n, f"{split}_accuracy": correct / n}
        if self.multi_label:
            hits, predicted, gold_count = counts.tolist()
            result[f"{split}_f1"] = 2 * hits / max(predicted + gold_count, 1)
        return result

    def make_batch(self, examples: list[Example]) -> LabelBatch:
        """The examples padded; multi-hot (B, C) float targets for multi-label."""
        return make_batch(examples, len(self.labels) if self.multi_label else None)

    # ---- seqlab predict -------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self, model: nn.Module, lines: list[str], beam: int = 1, as_json: bool = False
    ) -> list[str]:
        """``label<TAB>probability`` per line; with as_json every class's probability
        and, for attention pooling, each token's weight."""
        if beam != 1:
            raise ValueError(
                "--beam applies to seq2seq runs; a classifier has one step"
            )
        model.eval()
        device = next(model.parameters()).device
        tokens = [self.tokenize(line) for line in lines]
        todo = [i for i, toks in enumerate(tokens) if toks]  # a blank line: ""
        out_lines = ["{}" if as_json else ""] * len(lines)
        size = self.cfg.data.eval_batch_size
        for start in range(0, len(todo), size):
            rows = todo[start : start + size]
            chunk = [tokens[i] for i in rows]
            input, lengths = pad_sequences([self.vocab.encode(t) for t in chunk], 0)
            out = model(input=input.to(device), lengths=lengths.to(device))
            probs = (
                torch.sigmoid(out.logits)
                if self.multi_label
                else out.logits.softmax(-1)
            ).cpu()  # (B, C)
            weights = None if out.attention is None else out.attention.cpu()
            for b, (i, toks) in enumerate(zip(rows, chunk, strict=True)):
                attention = None if weights is None else weights[b, : len(toks)]
                out_lines[i] = self._format(toks, probs[b], attention, as_json)
        return out_lines

    def _format(self, tokens, probs, attention, as_json: bool) -> str:
        best = int(probs.argmax())
        chosen = [best]
        if self.multi_label:  # every label with p >= 0.5 (the likeliest if none is)
            chosen = [i for i, p in enumerate(probs.tolist()) if p >= 0.5] or [best]
        if not as_json:
            names = ",".join(self.labels[i] for i in chosen)
            return f"{names}\t" + ",".join(f"{float(probs[i]):.4f}" for i in chosen)
        record = {
            "label": self.labels[best],
            "probability": round(float(probs[best]), 6),
            "probabilities": {
                label: round(float(p), 6)
                for label, p in zip(self.labels, probs, strict=True)
            },
            "tokens": tokens,
        }
        if self.multi_label:
            record["labels"] = [self.labels[i] for i in chosen]
        if attention is not None:
            record["attention"] = [round(float(w), 6) for w in attention]
        return json.dumps(record, ensure_ascii=False)


def make_batch(examples: list[Example], num_classes: int | None = None) -> LabelBatch:
    """Padded ids and class ids (B,), or with ``num_classes`` the examples' label
    id lists as multi-hot (B, C) floats."""
    input, lengths = pad_sequences([ids for ids, _ in examples], Vocab.pad_id)
    if num_classes is None:
        target = torch.tensor([label for _, label in examples], dtype=torch.long)
    else:
        target = torch.zeros(len(examples), num_classes)
        for b, (_, label_ids) in enumerate(examples):
            target[b, label_ids] = 1.0
    return LabelBatch(input, lengths, target, int(lengths.sum()))


def _label_sets(raw: dict[str, list[tuple[str, Any]]]) -> dict[str, set[str]]:
    """Split -> the labels in it (a multi-label example's label is a tuple)."""
    return {
        split: {x for _, label in pairs for x in _names(label)}
        for split, pairs in raw.items()
    }


def _names(label: str | tuple[str, ...]) -> tuple[str, ...]:
    return (label,) if isinstance(label, str) else label


def _source(cfg: ClassifyDataConfig) -> str:
    if not cfg.own_files():
        return f"data set {cfg.dataset}"
    return cfg.source()
