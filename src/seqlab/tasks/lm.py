"""Language modelling as a task: data config, corpus -> token streams, evaluation.

Corpora become one long sequence of token ids per split; training cuts the train
stream into ``batch_size`` contiguous streams and feeds ``bptt``-long windows in order
(truncated BPTT), so the model's state flows from one batch to the next.

Named sets and their splits (deterministic, documented in the README):
- tinyshakespeare: characters, first 90% train / last 10% val (as nanoGPT), no test.
- tang: one poem per example, ``<bos> poem <eos>``; poems shuffled with a fixed seed,
  1,000 val and 1,000 test poems, the rest train. Lost poems ("。", "空。") dropped.
- brown: words, ``<eos>`` after each sentence; sentences in corpus order, first 80%
  train / next 10% val / last 10% test.
- path: any UTF-8 text file; the last ``val_fraction`` of it is validation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from seqlab.config import Section
from seqlab.data import readers, records
from seqlab.data.batching import batchify, num_tbptt_batches, tbptt_batches
from seqlab.data.corpora import TANG_HELD_OUT, split_held_out  # noqa: F401 (old names)
from seqlab.data.owndata import OwnData
from seqlab.data.tokenizers import (  # the factory lived here: old names kept
    SUBWORD_KINDS,
    OpenCCConversion,
    Tokenizer,
    check_opencc,
    load_tokenizer,
    make_tokenizer,
    tokenizer_options,  # noqa: F401
)
from seqlab.data.vocab import Vocab
from seqlab.models.lm import RNNLMConfig
from seqlab.models.transformer import TransformerLMConfig
from seqlab.tasks.base import Capabilities, Task, build_vocab
from seqlab.train import TrainConfig
from seqlab.utils import detach, head_count

MIN_EVAL_STREAM = 256


class LMDataConfig(OwnData):
    dataset: records.names("lm") | None = None
    # your UTF-8 text, read instead of the data set: data.path, cut in order (text
    # order matters): train, then data.val_fraction val, then data.test_fraction
    # test (0: no test part); or data.train_path (+ val_path, test_path)
    test_fraction: float = Field(0.0, ge=0, lt=1)
    # subword: sentencepiece unigram (= unigram); bpe: byte-pair encoding
    tokenizer: Literal[
        "char", "word", "subword", "unigram", "bpe", "zh_char", "zh_word"
    ] = "char"
    opencc: OpenCCConversion | None = None  # zh_* tokenizers: e.g. t2s (zh extra)
    vocab_size: int | None = Field(None, ge=5)  # words kept / subword pieces
    min_freq: int = Field(1, ge=1)
    lowercase: bool = False
    bptt: int = Field(64, ge=1)  # time steps per batch (truncated BPTT length)
    eval_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> LMDataConfig:
        self.check_own_files()
        if self.dataset is None and not self.own_files():
            raise ValueError("give data.dataset, or your own text file as data.path")
        if self.tokenizer in SUBWORD_KINDS and self.vocab_size is None:
            raise ValueError(f"tokenizer {self.tokenizer!r} needs data.vocab_size")
        check_opencc(self.tokenizer, self.opencc)
        return self


class GenerateConfig(Section):
    prompt: str = ""  # default prompt of `seqlab generate`
    max_new_tokens: int = Field(500, ge=0)
    temperature: float = Field(0.8, ge=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)


class LMRunConfig(Section):
    task: Literal["lm"] = "lm"
    data: LMDataConfig
    model: Annotated[RNNLMConfig | TransformerLMConfig, Field(discriminator="kind")]
    train: TrainConfig = TrainConfig()
    generate: GenerateConfig = GenerateConfig()


def read_corpus(cfg: LMDataConfig, data_dir: str | Path | None) -> dict[str, list[str]]:
    """Split name -> list of raw documents (texts, or pre-tokenised word lists)."""
    if cfg.own_files():
        return own_text_splits(cfg)
    return records.record(cfg.dataset).load(cfg, data_dir)


def own_text_splits(cfg: LMDataConfig) -> dict[str, list[str]]:
    """The user's text cut in order (see LMDataConfig), or read from split files."""

    def read(path: str) -> str:
        readers.read_user_lines(path, cfg.max_line_chars)  # every user file's checks
        return readers.read_text_file(path)

    text = read(cfg.path or cfg.train_path)
    test = cfg.test_fraction > 0 and cfg.test_path is None
    tail = (cfg.val_fraction if cfg.val_path is None else 0) + (
        cfg.test_fraction if test else 0
    )
    train_end = int(len(text) * (1 - tail))
    val_end = len(text) - int(len(text) * cfg.test_fraction) if test else len(text)
    splits = {"train": [text[:train_end]]}
    if cfg.val_path is None:
        splits["val"] = [text[train_end:val_end]]
    else:
        splits["val"] = [read(cfg.val_path)]
    if test:
        splits["test"] = [text[val_end:]]
    elif cfg.test_path is not None:
        splits["test"] = [read(cfg.test_path)]
    return splits


def tokenize_splits(raw: dict, tokenizer: Tokenizer, lowercase: bool) -> dict:
    return {
        split: [tokenize_doc(d, tokenizer, lowercase) for d in docs]
        for split, docs in raw.items()
    }


def tokenize_doc(doc, tokenizer: Tokenizer, lowercase: bool) -> list[str]:
    if isinstance(doc, list):  # brown: already words
        return [w.lower() for w in doc] if lowercase else doc
    return tokenizer.tokenize(doc.lower() if lowercase else doc)


class LMTask(Task):
    """Builds vocab, streams, model inputs and evaluation for one LM run config."""

    name = "lm"
    capabilities = Capabilities(generates=True, sampling=True, partial_eval=True)

    monitor = "val_loss"  # what picks the best checkpoint; lower is better
    maximize = False

    def __init__(self, cfg: LMRunConfig, tokenizer: Tokenizer, vocab: Vocab) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.streams: dict[str, Tensor] = {}

    @classmethod
    def read(cls, data: LMDataConfig, data_dir: str | Path | None) -> dict:
        return read_corpus(data, data_dir)

    @classmethod
    def build(cls, cfg: LMRunConfig, splits: dict, run_dir: Path) -> LMTask:
        """Tokenizer and vocabulary of the training split (saved into run_dir)."""
        tokenizer = make_tokenizer(cfg.data, splits["train"], run_dir)
        lowercase = cfg.data.lowercase
        train = [tokenize_doc(d, tokenizer, lowercase) for d in splits["train"]]
        vocab = build_vocab(train, cfg.data)
        vocab.save(run_dir / "vocab.json")
        return cls(cfg, tokenizer, vocab)

    @classmethod
    def load(cls, cfg: LMRunConfig, run_dir: Path) -> LMTask:
        """Tokenizer and vocabulary of a trained run (no corpus: see load_data)."""
        vocab = Vocab.load(run_dir / "vocab.json")
        return cls(cfg, load_tokenizer(cfg.data, run_dir), vocab)

    def set_data(self, splits: dict[str, list]) -> None:
        """Split name -> documents as read: tokenized, encoded, one stream each."""
        tokens = tokenize_splits(splits, self.tokenizer, self.cfg.data.lowercase)
        self.streams = {split: self.encode_docs(docs) for split, docs in tokens.items()}

    @property
    def special_tokens(self) -> tuple[bool, bool]:
        """(<bos> before, <eos> after) each document: the data set record's say
        (poems: both, sentences: <eos>); none around the user's text."""
        known = records.record(self.cfg.data.dataset) if self.cfg.data.dataset else None
        return (known.add_bos, known.add_eos) if known else (False, False)

    def encode_docs(self, docs: list[list[str]]) -> Tensor:
        bos, eos = self.special_tokens
        ids: list[int] = []
        for doc in docs:
            ids += self.vocab.encode(doc, add_bos=bos, add_eos=eos)
        return torch.tensor(ids, dtype=torch.long)

    @property
    def model_sizes(self) -> dict[str, int]:
        return {"vocab_size": len(self.vocab)}

    def train_batches(self, epoch: int):
        del epoch  # streams are always fed in order
        streams = batchify(self.streams["train"], self.cfg.train.batch_size)
        return tbptt_batches(streams, self.cfg.data.bptt)

    def steps_per_epoch(self) -> int:
        streams = batchify(self.streams["train"], self.cfg.train.batch_size)
        return num_tbptt_batches(streams, self.cfg.data.bptt)

    def splits(self) -> list[str]:
        return list(self.streams)

    def split_size(self, split: str) -> int:
        return len(self.streams[split])

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, split: str = "val", fraction: float | None = None
    ) -> dict[str, float]:
        """Mean cross-entropy per token over the whole split (or its first
        ``fraction``, what a time budget leaves room for), and its perplexity."""
        device = next(model.parameters()).device
        stream = self.streams[split]
        stream = stream[: head_count(len(stream), fraction)]
        # streams at least MIN_EVAL_STREAM long, so that most tokens have a context
        batch = max(
            1, min(self.cfg.data.eval_batch_size, len(stream) // MIN_EVAL_STREAM)
        )
        streams = batchify(stream, batch)
        total, count, state = 0.0, 0, None
        model.eval()
        # windows as in training: a model that carries no state sees the same context
        for batch in tbptt_batches(streams, self.cfg.data.bptt):
            batch = batch.to(device)
            out = model(**batch.inputs(), targets=batch.targets, state=state)
            state = detach(out.state)
            total += float(out.loss) * batch.num_tokens
            count += batch.num_tokens
        loss = total / count
        return {f"{split}_loss": loss, f"{split}_ppl": math.exp(min(loss, 50))}

    # ---- generation ------------------------------------------------------------
    def encode_prompt(self, prompt: str) -> list[int]:
        """Ids that start generation: <bos> for poems, else a newline or any token."""
        ids = self.vocab.encode(self.tokenizer.tokenize(prompt))
        if self.special_tokens[0]:  # documents start with <bos>: so does a prompt
            return [self.vocab.bos_id, *ids]
        if not ids:
            start = "\n" if "\n" in self.vocab else self.vocab.id_to_token(4)
            ids = self.vocab.encode([start])
        return ids

    def decode_tokens(self, ids: list[int]) -> str:
        """Text of generated ids; <eos> shows as a line break, <bos>/<pad> vanish."""
        v = self.vocab
        tokens = [
            "\n" if i == v.eos_id else v.id_to_token(i)
            for i in ids
            if i not in (v.pad_id, v.bos_id)
        ]
        return self.tokenizer.detokenize(tokens)

    @property
    def stop_id(self) -> int | None:
        """<eos> ends a generated document that began with <bos> (a poem)."""
        return self.vocab.eos_id if self.special_tokens[0] else None
