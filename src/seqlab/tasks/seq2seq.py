"""Sequence to sequence as a task: text pairs, a joint vocabulary, search, scores.

Source and target share one vocabulary (and, for subwords, one sentencepiece model
trained on both sides of the train split); the encoder and the decoder keep their
own embeddings. ``reverse_source`` reverses the source tokens (the book's Reverse).

The named data sets (addition, date, generated_dates, multi30k, tatoeba,
crosswoz_chat) are records in :mod:`seqlab.data.records`; their reading and split
rules are in :mod:`seqlab.data.pairs`. Your own ``source<TAB>target`` file is
``data.path`` (or ``data.train_path`` ...; :mod:`seqlab.data.owndata`).

Scores: exact-match ``{split}_accuracy`` for the toy sets (the whole output string
must equal the target), ``{split}_bleu``, ``{split}_bleu_lc`` (lowercased) and
``{split}_chrf`` for translation; ``{split}_loss`` (teacher-forced cross-entropy per
target token) for all.

Prediction (``seqlab predict``) reads one source per line: surrounding whitespace is
stripped; an empty line gives an empty output line; symbols the vocabulary lacks are
read as ``<unk>``; a line longer than ``data.max_source_length`` tokens is refused
with a ValueError naming the line.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Discriminator, Field, Tag, model_validator
from torch import Tensor, nn

from seqlab import decode, metrics
from seqlab.config import Section
from seqlab.data import dates, readers, records
from seqlab.data.batching import PairBatch, bucket_batches, pad_sequences
from seqlab.data.owndata import OwnData, own_splits
from seqlab.data.tokenizers import (
    SUBWORD_KINDS,
    OpenCCConversion,
    SubwordTokenizer,
    Tokenizer,
    build_tokenizer,
    check_opencc,
    tokenizer_options,
    train_subword,
)
from seqlab.data.vocab import EOS, Vocab
from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.models.transformer import TransformerConfig
from seqlab.tasks.base import (
    Capabilities,
    Task,
    build_vocab,
    model_kind,
    nbest_entry,
    search_options,
)
from seqlab.train import TrainConfig
from seqlab.utils import head_count

Pair = tuple[str, str]
# own files: the longest output decoded, decode.max_length or the longest training
# target + <eos> if that is longer
OUTPUT_LENGTH_FILE = "max_output.json"


class Seq2SeqDataConfig(OwnData):
    # a named data set, or your own source<TAB>target file(s): data.path (or
    # data.train_path ...; seqlab/data/owndata.py), read instead of the data set
    dataset: records.names("seq2seq") | None = None
    # what picks the best checkpoint; default: the data set's (own files: bleu for
    # word and subword tokens, exact-match accuracy for characters)
    metric: Literal["accuracy", "bleu"] | None = None
    # sacreBLEU's tokenisation of the outputs; default: the data set's (for its
    # direction: zh for Chinese targets), else 13a
    bleu_tokenize: Literal["13a", "zh", "char", "none"] | None = None
    # generated_dates only: pairs drawn (repeats are dropped), seed, dates' range
    # (two-digit years need less than 100 years; date.txt's range by default)
    size: int = Field(50_000, ge=100)
    seed: int = 0
    first_date: dt.date = dates.FIRST
    last_date: dt.date = dates.LAST
    # a translation set's direction (its record's directions): multi30k de-en or
    # en-de; tatoeba zh-en or en-zh
    direction: Literal["de-en", "en-de", "zh-en", "en-zh"] = "de-en"
    # subword: sentencepiece unigram (= unigram); bpe: byte-pair encoding
    tokenizer: Literal[
        "char", "word", "subword", "unigram", "bpe", "zh_char", "zh_word"
    ] = "char"
    opencc: OpenCCConversion | None = None  # zh_* tokenizers: e.g. t2s (zh extra)
    vocab_size: int | None = Field(None, ge=5)  # subword pieces, or words kept
    # tokenizer bpe: BPE dropout (Provilkov et al. 2020), each merge skipped with
    # this probability; every epoch segments the training pairs afresh (val/test
    # and predict never drop); 0.1 in the paper. 0: off.
    bpe_dropout: float = Field(0.0, ge=0, lt=1)
    min_freq: int = Field(1, ge=1)
    lowercase: bool = False
    reverse_source: bool = False  # the book's Reverse: source tokens back to front
    val_size: int = Field(1000, ge=1)  # toy sets: validation pairs (module docstring)
    # Training pairs longer than these (in tokens) are dropped; predict refuses
    # sources longer than max_source_length.
    max_source_length: int = Field(200, ge=1)
    max_target_length: int = Field(200, ge=1)
    # batches of similar target, then source, length: less padding where it costs
    # most (the output layer runs at every target position)
    bucket_by_length: bool = False
    eval_batch_size: int = Field(1000, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Seq2SeqDataConfig:
        self.check_own_files()
        if self.dataset is None and not self.own_files():
            raise ValueError("give data.dataset, or your own file as data.path")
        if self.tokenizer in SUBWORD_KINDS and self.vocab_size is None:
            raise ValueError(f"tokenizer {self.tokenizer!r} needs data.vocab_size")
        if self.bpe_dropout and self.tokenizer != "bpe":
            raise ValueError(
                f"data.bpe_dropout needs data.tokenizer bpe, got {self.tokenizer!r}"
            )
        check_opencc(self.tokenizer, self.opencc)
        known = None if self.own_files() else records.record(self.dataset)
        if known and known.directions and self.direction not in known.directions:
            raise ValueError(
                f"data.direction for {self.dataset} must be one of "
                f"{', '.join(known.directions)}, got {self.direction!r}"
            )
        return self


class DecodeConfig(Section):
    beam_size: int = Field(1, ge=1)  # of evaluation (val during training too)
    length_penalty: float = Field(1.0, ge=0)  # score / length ** this picks the best
    max_length: int = Field(100, ge=1)  # output tokens, <eos> included


class Seq2SeqRunConfig(Section):
    task: Literal["seq2seq"] = "seq2seq"
    data: Seq2SeqDataConfig
    model: Annotated[
        Annotated[Seq2SeqConfig, Tag("seq2seq")]
        | Annotated[TransformerConfig, Tag("transformer")],
        Discriminator(model_kind("seq2seq")),
    ]
    train: TrainConfig = TrainConfig()
    decode: DecodeConfig = DecodeConfig()


# ---- reading the pairs ---------------------------------------------------------------
def read_pairs(cfg: Seq2SeqDataConfig, data_dir: str | Path | None) -> dict:
    """Split name -> list of (source, target) texts; see the module docstring."""
    if cfg.own_files():
        return own_splits(cfg, lambda p: readers.read_pair_file(p, cfg.max_line_chars))
    return records.record(cfg.dataset).load(cfg, data_dir)


# ---- tensors -------------------------------------------------------------------------
@dataclass
class PairTensors:
    """One split, padded once: src (N, S), src_lengths (N,), tgt_in/tgt_out (N, T),
    tgt_lengths (N,) (<eos> included). Batches are row selections of it."""

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    tgt_lengths: Tensor

    def __len__(self) -> int:
        return self.src.shape[0]

    def batch(self, rows: Tensor) -> PairBatch:
        """The rows' examples, cut to their longest source and target."""
        S = int(self.src_lengths[rows].max())
        T = int(self.tgt_lengths[rows].max())
        return PairBatch(
            self.src[rows, :S],
            self.src_lengths[rows],
            self.tgt_in[rows, :T],
            self.tgt_out[rows, :T],
            int(self.tgt_lengths[rows].sum()),
        )


def pair_tensors(sources: list[list[int]], targets: list[list[int]]) -> PairTensors:
    """Pad id lists: tgt_in is <bos> + target, tgt_out is target + <eos>."""
    pad, bos, eos = Vocab.pad_id, Vocab.bos_id, Vocab.eos_id
    src, src_lengths = pad_sequences(sources, pad)
    tgt_in, tgt_lengths = pad_sequences([[bos, *t] for t in targets], pad)
    tgt_out, _ = pad_sequences([[*t, eos] for t in targets], pad)
    return PairTensors(src, src_lengths, tgt_in, tgt_out, tgt_lengths)


@dataclass
class Translation:
    """What the model made of one input line: text, and for display the tokens and
    attention (one row per output token plus <eos>, columns in source order)."""

    source: str
    text: str
    source_tokens: list[str]
    output_tokens: list[str]
    score: float | None
    attention: list[list[float]] | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "input": self.source,
                "output": self.text,
                "score": self.score,
                "source_tokens": self.source_tokens,
                "output_tokens": self.output_tokens,
                "attention": self.attention,
            },
            ensure_ascii=False,
        )


# ---- the task ------------------------------------------------------------------------
class Seq2SeqTask(Task):
    """Builds vocabulary, tensors, batches, search and scores for one seq2seq run."""

    name = "seq2seq"
    capabilities = Capabilities(
        predicts=True,
        beam=True,
        nbest=True,
        sampling=True,
        attention_plot=True,
        partial_eval=True,
    )

    maximize = True  # monitor (set per data set below): accuracy or BLEU

    def __init__(
        self, cfg: Seq2SeqRunConfig, tokenizer: Tokenizer, vocab: Vocab
    ) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.vocab = vocab
        data = cfg.data
        known = None if data.own_files() else records.record(data.dataset)
        words = data.tokenizer not in ("char", "zh_char")
        metric = data.metric or (known.metric if known else None)
        metric = metric or ("bleu" if words else "accuracy")
        # a named set: its metric; own files: exact match too (BLEU of characters
        # means little: a line is one "word")
        self.scores = {metric} if known else {metric, "accuracy"}
        # sacreBLEU's tokenisation of the outputs: yours, the data set's, or 13a
        tokenize = known.bleu_tokenization(data.direction) if known else None
        self.bleu_tokenize = data.bleu_tokenize or tokenize or "13a"
        self.monitor = f"val_{metric}"
        self.pairs: dict[str, list[Pair]] = {}
        self.tensors: dict[str, PairTensors] = {}
        self.max_output = cfg.decode.max_length  # output tokens, <eos> included

    @classmethod
    def read(cls, data: Seq2SeqDataConfig, data_dir: str | Path | None) -> dict:
        return read_pairs(data, data_dir)

    @classmethod
    def build(cls, cfg: Seq2SeqRunConfig, splits: dict, run_dir: Path) -> Seq2SeqTask:
        """Tokenizer and vocabulary of the training pairs (saved into run_dir)."""
        pairs = splits
        tokenizer = make_tokenizer(cfg.data, pairs["train"], run_dir)
        task = cls(cfg, tokenizer, Vocab())
        train = [task.tokenize(text) for pair in pairs["train"] for text in pair]
        task.vocab = build_vocab(train, cfg.data)
        task.vocab.save(run_dir / "vocab.json")
        if cfg.data.own_files():  # outputs as long as the longest training target
            longest = max(len(task.tokenize(t)) for _, t in pairs["train"])
            task.max_output = max(cfg.decode.max_length, longest + 1)
            (run_dir / OUTPUT_LENGTH_FILE).write_text(
                json.dumps({"max_output": task.max_output}) + "\n"
            )
        return task

    @classmethod
    def load(cls, cfg: Seq2SeqRunConfig, run_dir: Path) -> Seq2SeqTask:
        """Tokenizer and vocabulary of a trained run (no data: see load_data)."""
        if cfg.data.tokenizer in SUBWORD_KINDS:
            tokenizer = SubwordTokenizer.load(run_dir)
        else:
            tokenizer = build_tokenizer(
                cfg.data.tokenizer, **tokenizer_options(cfg.data)
            )
        task = cls(cfg, tokenizer, Vocab.load(run_dir / "vocab.json"))
        if (run_dir / OUTPUT_LENGTH_FILE).is_file():
            saved = json.loads((run_dir / OUTPUT_LENGTH_FILE).read_text())
            task.max_output = int(saved["max_output"])
        return task

    def set_data(self, splits: dict[str, list[Pair]]) -> None:
        """Keep the texts (references) and their padded ids; long train pairs go."""
        data = self.cfg.data
        for split, items in splits.items():
            if data.lowercase:
                items = [(s.lower(), t.lower()) for s, t in items]
            sources = [self.encode_source(s) for s, _ in items]
            targets = [self.vocab.encode(self.tokenize(t)) for _, t in items]
            if split == "train":
                keep = [
                    i
                    for i, (s, t) in enumerate(zip(sources, targets, strict=True))
                    if 0 < len(s) <= data.max_source_length
                    and len(t) <= data.max_target_length
                ]
                items = [items[i] for i in keep]
                sources = [sources[i] for i in keep]
                targets = [targets[i] for i in keep]
            self.pairs[split] = items
            self.tensors[split] = pair_tensors(sources, targets)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def encode_source(self, text: str) -> list[int]:
        ids = self.vocab.encode(self.tokenize(text))
        return ids[::-1] if self.cfg.data.reverse_source else ids

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    @property
    def model_sizes(self) -> dict[str, int]:
        return {"vocab_size": len(self.vocab)}

    # ---- training batches --------------------------------------------------------
    def train_batches(self, epoch: int):
        """Shuffled batches of the train split (seeded by train.seed and epoch);
        with data.bpe_dropout, the epoch's own segmentation of it."""
        data = self.tensors["train"]
        if self.cfg.data.bpe_dropout:
            data = self.dropout_segmentation(epoch)
        for rows in self.batch_rows(epoch):
            yield data.batch(rows)

    def dropout_segmentation(self, epoch: int) -> PairTensors:
        """The train pairs segmented with BPE dropout, seeded by train.seed and epoch
        (so that a resumed run sees the same)."""
        tokenizer = self.tokenizer
        assert isinstance(tokenizer, SubwordTokenizer)  # data.bpe_dropout's check
        p, seed = self.cfg.data.bpe_dropout, self.cfg.train.seed + epoch
        pairs = self.pairs["train"]
        sources = tokenizer.sample([s for s, _ in pairs], p, seed)
        targets = tokenizer.sample([t for _, t in pairs], p, seed + 1)
        source_ids = [self.vocab.encode(s) for s in sources]
        if self.cfg.data.reverse_source:
            source_ids = [ids[::-1] for ids in source_ids]
        return pair_tensors(source_ids, [self.vocab.encode(t) for t in targets])

    def batch_rows(self, epoch: int) -> list[Tensor]:
        data, size = self.tensors["train"], self.cfg.train.batch_size
        seed = self.cfg.train.seed + epoch
        if self.cfg.data.bucket_by_length:
            # sorting by the source alone left the targets of Multi30k batches 1.53x
            # their real tokens; by (target, source): 1.01x, the sources 1.13x
            targets, sources = data.tgt_lengths.tolist(), data.src_lengths.tolist()
            lengths = list(zip(targets, sources, strict=True))
            groups = bucket_batches(lengths, size, shuffle=True, seed=seed)
            return [torch.tensor(g) for g in groups]
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
        return list(order.split(size))

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.tensors["train"]) / self.cfg.train.batch_size)

    def splits(self) -> list[str]:
        return list(self.tensors)

    def split_size(self, split: str) -> int:
        return len(self.pairs[split])

    # ---- evaluation --------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        split: str = "val",
        beam: int | None = None,
        fraction: float | None = None,
    ) -> dict[str, float]:
        """Loss, and exact match (toy sets) or BLEU/chrF (translation) of the
        decoded split; ``beam`` defaults to decode.beam_size; ``fraction``: of the
        split's first examples only (what a time budget leaves room for)."""
        model.eval()
        limit = head_count(len(self.pairs[split]), fraction)
        pairs = self.pairs[split][:limit]
        sources = [self.encode_source(s) for s, _ in pairs]
        hyps = self.search(model, sources, beam or self.cfg.decode.beam_size)
        outputs = [self.detokenize(h.tokens) for h in hyps]
        references = [t for _, t in pairs]
        result = {f"{split}_loss": self.loss(model, split, limit)}
        if "accuracy" in self.scores:
            result[f"{split}_accuracy"] = metrics.accuracy(outputs, references)
        if "bleu" not in self.scores:
            return result
        tok = self.bleu_tokenize
        result[f"{split}_bleu"] = metrics.bleu(outputs, references, tokenize=tok)
        result[f"{split}_bleu_lc"] = metrics.bleu(
            outputs, references, lowercase=True, tokenize=tok
        )
        result[f"{split}_chrf"] = metrics.chrf(outputs, references)
        return result

    def loss(self, model: nn.Module, split: str, limit: int | None = None) -> float:
        """Teacher-forced cross-entropy per target token over the split (its
        first ``limit`` examples)."""
        data, device = self.tensors[split], _device(model)
        total, count = 0.0, 0
        indices = torch.arange(len(data))[:limit]
        for rows in indices.split(self.cfg.data.eval_batch_size):
            batch = data.batch(rows).to(device)
            out = model(**batch.inputs(), targets=batch.targets)
            total += float(out.loss) * batch.num_tokens
            count += batch.num_tokens
        return total / count

    def search(
        self, model: nn.Module, sources: list[list[int]], beam: int = 1
    ) -> list[decode.Hypothesis]:
        """Greedy (beam 1) or beam search for every id list; results in the input
        order."""
        options = search_options(self.cfg.decode, beam)
        return [found[0] for found in self.search_nbest(model, sources, options)]

    def search_nbest(
        self,
        model: nn.Module,
        sources: list[list[int]],
        options: decode.SearchOptions,
    ) -> list[list[decode.Hypothesis]]:
        """``options.nbest`` hypotheses for every id list, best first, decoded in
        batches of similar length; results in the input order."""
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        found: dict[int, list[decode.Hypothesis]] = {}
        for start in range(0, len(order), self.cfg.data.eval_batch_size):
            chunk = order[start : start + self.cfg.data.eval_batch_size]
            src, lengths = pad_sequences([sources[i] for i in chunk], Vocab.pad_id)
            device = _device(model)
            state = model.start(src.to(device), lengths.to(device))
            hyps = decode.search(
                model,
                state,
                options,
                bos_id=Vocab.bos_id,
                eos_id=Vocab.eos_id,
                max_len=self.max_output,
            )
            found.update(zip(chunk, hyps, strict=True))
        return [found[i] for i in range(len(sources))]

    # ---- prediction --------------------------------------------------------------
    def translate(
        self, model: nn.Module, lines: list[str], beam: int = 1
    ) -> list[Translation]:
        """The model's output for each input line (see the module docstring)."""
        found = self.translate_nbest(
            model, lines, search_options(self.cfg.decode, beam)
        )
        return [results[0] for results in found]

    @torch.no_grad()
    def translate_nbest(
        self, model: nn.Module, lines: list[str], options: decode.SearchOptions
    ) -> list[list[Translation]]:
        """The model's ``options.nbest`` outputs for each input line, best first (one
        empty Translation for a blank line)."""
        model.eval()
        texts = [self.clean_input(line, i) for i, line in enumerate(lines, start=1)]
        todo = [i for i, text in enumerate(texts) if text]
        sources = [self.encode_source(texts[i]) for i in todo]
        found = self.search_nbest(model, sources, options)
        results = [[Translation(line, "", [], [], None, None)] for line in lines]
        for i, hyps in zip(todo, found, strict=True):
            results[i] = [self.describe(lines[i], texts[i], hyp) for hyp in hyps]
        return results

    def clean_input(self, line: str, number: int) -> str:
        text = line.strip()
        text = text.lower() if self.cfg.data.lowercase else text
        n, limit = len(self.tokenize(text)), self.cfg.data.max_source_length
        if n > limit:
            raise ValueError(
                f"input line {number} has {n} tokens; this model reads at most "
                f"{limit} (data.max_source_length)"
            )
        return text

    def describe(self, line: str, text: str, hyp: decode.Hypothesis) -> Translation:
        """A Translation with tokens and attention in source (unreversed) order."""
        output_tokens = self.vocab.decode(hyp.tokens)
        output_text = self.tokenizer.detokenize(output_tokens)
        source_tokens = self.tokenize(text)
        attention = None
        if hyp.attention is not None:
            # (N+1, S): the columns of a batch's padding are cut off before flipping
            weights = hyp.attention.float().cpu()[:, : len(source_tokens)]
            if self.cfg.data.reverse_source:
                weights = weights.flip(1)
            attention = weights.double().round(decimals=4).tolist()
            output_tokens += [EOS] * (len(attention) - len(hyp.tokens))
        return Translation(
            source=line,
            text=output_text,
            source_tokens=source_tokens,
            output_tokens=output_tokens,
            score=round(hyp.score, 4),
            attention=attention,
        )

    @torch.no_grad()
    def attention_maps(self, model: nn.Module, result: Translation) -> Tensor | None:
        """Cross-attention of every layer and head, (L, nh, N + 1, S) in source
        order, of a Transformer reading ``result``'s input and its own output
        (teacher-forced); None for a model without them (the RNN seq2seq)."""
        if self.cfg.model.kind != "transformer" or not result.output_tokens:
            return None
        device = _device(model)
        src = torch.tensor([self.encode_source(self.clean_input(result.source, 1))])
        tokens = self.vocab.encode(result.output_tokens[:-1])  # <eos> row dropped
        tgt_in = torch.tensor([[Vocab.bos_id, *tokens]])
        maps = (
            model.cross_attention(
                src.to(device), torch.tensor([src.shape[1]]), tgt_in.to(device)
            )[:, 0]
            .float()
            .cpu()
        )  # (L, nh, N + 1, S)
        return maps.flip(-1) if self.cfg.data.reverse_source else maps

    def predict(
        self,
        model: nn.Module,
        lines: list[str],
        beam: int = 1,
        as_json: bool = False,
        options: decode.SearchOptions | None = None,
    ) -> list[str]:
        """One output line per input line (JSON objects with ``as_json``).

        ``options`` (n-best, n-gram blocking, sampling) replace ``beam``; with
        ``nbest`` K > 1 an input's entry is K lines ``index<TAB>score<TAB>output``
        (index: the input's line, from 0; score: the log-probability), best first,
        or one JSON object with an "nbest" list.
        """
        options = search_options(self.cfg.decode, beam, options)
        found = self.translate_nbest(model, lines, options)
        if options.nbest == 1:
            return [r[0].to_json() if as_json else r[0].text for r in found]
        return [
            nbest_entry(i, {"input": r[0].source}, "output", r, as_json)
            for i, r in enumerate(found)
        ]


def make_tokenizer(
    cfg: Seq2SeqDataConfig, train: list[Pair], run_dir: Path
) -> Tokenizer:
    """The configured tokenizer; a subword model is trained on both train sides."""
    if cfg.tokenizer not in SUBWORD_KINDS:
        return build_tokenizer(cfg.tokenizer, **tokenizer_options(cfg))
    texts = [t.lower() if cfg.lowercase else t for pair in train for t in pair]
    return train_subword(cfg.tokenizer, texts, cfg.vocab_size, run_dir)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
