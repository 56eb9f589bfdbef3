"""Image captioning as a task: pictures in, captions out (one to many).

Data sets (``data.dataset``):

- shapes: synthetic scenes of two coloured shapes (:mod:`seqlab.data.captions`);
  ``test_captions`` / ``val_captions`` whole captions held out (seeded, documented
  there), ``train_size`` training pictures with captions drawn from the rest,
  ``val_size`` / ``test_size`` pictures cycling through the held-out captions. The
  pictures are rendered with ``data.seed`` (train), + 1 (val), + 2 (test).
- twemoji: twemoji-cldr.zip (3,664 emoji named by Unicode CLDR), split so that test
  captions are unseen as whole captions but their words are seen: see
  :func:`seqlab.data.captions.twemoji_split`.
- flickr8k, karpathy, coco: your own pictures in the standard formats,
  ``data.captions`` (``Flickr8k.token.txt``, Karpathy's ``dataset_*.json`` or a COCO
  ``captions_*.json``) and ``data.images`` (the picture folder; relative paths are
  read from the working directory). Karpathy's JSON names each picture's split;
  Flickr8k and COCO pictures are split by
  :func:`seqlab.data.captions.split_pictures`. Every reference
  caption of a picture is trained on and scored against.

Captions are tokenised into words and punctuation (``man surfing, dark skin tone``
-> man / surfing / , / dark / skin / tone) and joined back exactly. Scores of a split:
``{split}_exact_match`` (the output equals one of the picture's references),
``{split}_bleu`` (sacreBLEU corpus BLEU against all references) and ``{split}_loss``
(teacher-forced cross-entropy per caption token).

Prediction reads picture files (any mode and size Pillow reads; transparency
composited onto ``data.background``, resized to ``data.image_size``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Discriminator, Field, Tag, model_validator
from torch import Tensor, nn

from seqlab import decode
from seqlab.config import Section
from seqlab.data import captions as capdata
from seqlab.data import records
from seqlab.data.batching import CaptionBatch, pad_sequences
from seqlab.data.images import BACKGROUNDS, decode_image, read_image
from seqlab.data.owndata import OwnData, own_splits
from seqlab.data.pictures import Split, pictures_splits
from seqlab.data.vocab import EOS, Vocab
from seqlab.models.captioner import CaptionerConfig
from seqlab.models.transformer_captioner import TransformerCaptionerConfig
from seqlab.tasks.base import (
    Capabilities,
    Task,
    build_vocab,
    model_kind,
    nbest_entry,
    search_options,
)
from seqlab.tasks.seq2seq import DecodeConfig
from seqlab.train import TrainConfig
from seqlab.utils import head_count

TWEMOJI_ZIP = "captioning/twemoji-cldr.zip"  # under the data directory
USER_FORMATS = ("flickr8k", "karpathy", "coco")


class CaptionDataConfig(OwnData):
    # a named data set, or your own picture_path<TAB>caption file(s): data.path (or
    # data.train_path ...; seqlab/data/owndata.py), read instead of the data set
    dataset: records.names("caption") | None = None
    # flickr8k / karpathy / coco: the caption file and the picture folder
    captions: str | None = None
    images: str | None = None
    # flickr8k / coco / data.path: the fractions of pictures held out for val, test
    val_fraction: float = Field(0.05, gt=0, lt=0.5)
    test_fraction: float = Field(0.05, gt=0, lt=0.5)
    image_size: int = Field(32, ge=8)  # pictures are resized to this square
    background: Literal["white", "black", "grey"] = "white"  # under transparent pixels
    # training pictures are moved by up to this many pixels each way (a fresh random
    # shift per picture and epoch; the uncovered border is the background colour)
    shift: int = Field(0, ge=0)
    lowercase: bool = False
    min_freq: int = Field(1, ge=1)
    # shapes only: objects per scene (in a row or a column), pictures per split,
    # held-out captions, rendering seed
    objects: int = Field(2, ge=2, le=3)
    train_size: int = Field(20_000, ge=1)
    val_size: int = Field(500, ge=1)
    test_size: int = Field(2_000, ge=1)
    test_captions: int = Field(80, ge=1)
    val_captions: int = Field(40, ge=1)
    seed: int = 0
    eval_batch_size: int = Field(500, ge=1)

    @model_validator(mode="after")
    def _files_for_user_formats(self) -> CaptionDataConfig:
        self.check_own_files()
        if self.dataset is None and not self.own_files():
            raise ValueError("give data.dataset, or your own caption TSV as data.path")
        if self.dataset in USER_FORMATS and not self.own_files():
            for field in ("captions", "images"):
                if getattr(self, field) is None:
                    raise ValueError(
                        f"data.{field} is required for data.dataset "
                        f"{self.dataset!r} (the caption file and the picture folder)"
                    )
        return self


class CaptionRunConfig(Section):
    task: Literal["caption"] = "caption"
    data: CaptionDataConfig
    model: Annotated[
        Annotated[CaptionerConfig, Tag("captioner")]
        | Annotated[TransformerCaptionerConfig, Tag("transformer")],
        Discriminator(model_kind("captioner")),
    ]
    train: TrainConfig = TrainConfig()
    decode: DecodeConfig = DecodeConfig()


# ---- reading -------------------------------------------------------------------------
def read_splits(
    cfg: CaptionDataConfig, data_dir: str | Path | None
) -> dict[str, Split]:
    """Split name -> Split; see the module docstring."""
    if cfg.own_files():
        chosen = own_splits(
            cfg, lambda p: capdata.read_caption_tsv(p, cfg.max_line_chars)
        )
        return pictures_splits(chosen, cfg, cfg.source())
    return records.record(cfg.dataset).load(cfg, data_dir)


# ---- words ---------------------------------------------------------------------------
def tokenize(text: str) -> list[str]:
    """Words (letters, digits, ' . - kept inside) and single punctuation marks."""
    return re.findall(r"[\w'.-]+|[^\w\s]", text)


def detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    text = re.sub(r" ([,.;:!?)])", r"\1", text)
    return text.replace("( ", "(")


# ---- tensors -------------------------------------------------------------------------
@dataclass
class CaptionTensors:
    """A split as tensors: pictures (N, 3, P, P) uint8 and one row per (picture,
    reference): its picture's index (M,), tgt_in / tgt_out (M, T), lengths (M,)."""

    images: Tensor
    image_of: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    lengths: Tensor

    def batch(self, rows: Tensor) -> CaptionBatch:
        T = int(self.lengths[rows].max())
        return CaptionBatch(
            self.images[self.image_of[rows]],
            self.tgt_in[rows, :T],
            self.tgt_out[rows, :T],
            int(self.lengths[rows].sum()),
        )


def to_images(array: np.ndarray) -> Tensor:
    """(N, P, P, 3) uint8 array -> (N, 3, P, P) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2)


def shift_images(
    images: Tensor, shift: int, fill: tuple[int, int, int], generator: torch.Generator
) -> Tensor:
    """Pictures (B, 3, P, P) each moved by its own random (dy, dx) in [-shift, shift],
    the uncovered border filled with the colour ``fill``."""
    B, C, P, _ = images.shape
    canvas = torch.tensor(fill, dtype=images.dtype).view(1, C, 1, 1)
    canvas = canvas.repeat(B, 1, P + 2 * shift, P + 2 * shift)
    canvas[:, :, shift : shift + P, shift : shift + P] = images
    offsets = torch.randint(0, 2 * shift + 1, (B, 2), generator=generator).tolist()
    return torch.stack(
        [canvas[b, :, y : y + P, x : x + P] for b, (y, x) in enumerate(offsets)]
    )


@dataclass
class Caption:
    """What the model made of one picture: text, tokens (+ <eos> when attention is
    kept) and attention (one (G, G) map per output token), or None."""

    image: str
    text: str
    tokens: list[str]
    score: float | None
    attention: list[list[list[float]]] | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "image": self.image,
                "caption": self.text,
                "score": self.score,
                "tokens": self.tokens,
                "attention": self.attention,
            },
            ensure_ascii=False,
        )


# ---- the task ------------------------------------------------------------------------
class CaptionTask(Task):
    """Vocabulary, tensors, batches, search and scores for one captioning run."""

    name = "caption"
    capabilities = Capabilities(
        predicts=True,
        beam=True,
        nbest=True,
        sampling=True,
        images=True,
        attention_plot=True,
        partial_eval=True,
    )

    monitor = "val_exact_match"
    maximize = True

    def __init__(self, cfg: CaptionRunConfig, vocab: Vocab) -> None:
        self.cfg = cfg
        self.vocab = vocab
        self.references: dict[str, list[list[str]]] = {}
        self.tensors: dict[str, CaptionTensors] = {}

    @classmethod
    def read(cls, data: CaptionDataConfig, data_dir: str | Path | None) -> dict:
        return read_splits(data, data_dir)

    @classmethod
    def build(cls, cfg: CaptionRunConfig, splits: dict, run_dir: Path) -> CaptionTask:
        """The vocabulary of the training captions (saved into run_dir)."""
        task = cls(cfg, Vocab())
        train = [task.tokenize(t) for refs in splits["train"].references for t in refs]
        task.vocab = build_vocab(train, cfg.data)
        task.vocab.save(run_dir / "vocab.json")
        return task

    @classmethod
    def load(cls, cfg: CaptionRunConfig, run_dir: Path) -> CaptionTask:
        return cls(cfg, Vocab.load(run_dir / "vocab.json"))

    def set_data(self, splits: dict[str, Split]) -> None:
        bos, eos = Vocab.bos_id, Vocab.eos_id
        for name, split in splits.items():
            if self.cfg.data.lowercase:
                split.references = [[t.lower() for t in r] for r in split.references]
            pairs = [(i, t) for i, refs in enumerate(split.references) for t in refs]
            ids = [self.vocab.encode(self.tokenize(t)) for _, t in pairs]
            tgt_in, lengths = pad_sequences([[bos, *x] for x in ids], Vocab.pad_id)
            tgt_out, _ = pad_sequences([[*x, eos] for x in ids], Vocab.pad_id)
            image_of = torch.tensor([i for i, _ in pairs])
            self.tensors[name] = CaptionTensors(
                to_images(split.images), image_of, tgt_in, tgt_out, lengths
            )
            self.references[name] = split.references

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text.lower() if self.cfg.data.lowercase else text)

    @property
    def model_sizes(self) -> dict[str, int]:
        return {"vocab_size": len(self.vocab), "image_size": self.cfg.data.image_size}

    # ---- training batches ------------------------------------------------------------
    def train_batches(self, epoch: int):
        """Shuffled (picture, reference) rows (seeded by train.seed and epoch), the
        pictures shifted by up to data.shift pixels."""
        data = self.tensors["train"]
        seed = self.cfg.train.seed + epoch
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(data.image_of), generator=generator)
        for rows in order.split(self.cfg.train.batch_size):
            batch = data.batch(rows)
            if self.cfg.data.shift:
                batch.images = shift_images(
                    batch.images,
                    self.cfg.data.shift,
                    BACKGROUNDS[self.cfg.data.background],
                    generator,
                )
            yield batch

    def steps_per_epoch(self) -> int:
        rows = len(self.tensors["train"].image_of)
        return math.ceil(rows / self.cfg.train.batch_size)

    def splits(self) -> list[str]:
        return list(self.tensors)

    def split_size(self, split: str) -> int:
        return len(self.tensors[split].images)

    # ---- evaluation ------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        split: str = "val",
        beam: int | None = None,
        fraction: float | None = None,
    ) -> dict[str, float]:
        """Loss, exact match and BLEU of the split's decoded captions; ``fraction``:
        of its first pictures only (what a time budget leaves room for)."""
        import sacrebleu

        model.eval()
        data = self.tensors[split]
        limit = head_count(len(data.images), fraction)
        hyps = self.search(model, data.images[:limit], beam)
        outputs = [self.detokenize(h.tokens) for h in hyps]
        refs = self.references[split][:limit]
        exact = sum(o in r for o, r in zip(outputs, refs, strict=True)) / len(refs)
        streams = [
            [r[k] if k < len(r) else None for r in refs]
            for k in range(max(map(len, refs)))
        ]
        bleu = sacrebleu.corpus_bleu(outputs, streams).score
        return {
            f"{split}_loss": self.loss(model, split, limit),
            f"{split}_exact_match": exact,
            f"{split}_bleu": bleu,
        }

    def loss(self, model: nn.Module, split: str, limit: int | None = None) -> float:
        """Mean token loss of the split's captions (of its first ``limit`` pictures)."""
        data, device = self.tensors[split], _device(model)
        total, count = 0.0, 0
        rows = torch.arange(len(data.image_of))
        if limit is not None:
            rows = rows[data.image_of < limit]
        for chunk in rows.split(self.cfg.data.eval_batch_size):
            batch = data.batch(chunk).to(device)
            out = model(**batch.inputs(), targets=batch.targets)
            total += float(out.loss) * batch.num_tokens
            count += batch.num_tokens
        return total / count

    def search(
        self, model: nn.Module, images: Tensor, beam: int | None = None
    ) -> list[decode.Hypothesis]:
        """Greedy (beam 1) or beam search for pictures (N, 3, P, P) uint8, in
        batches of data.eval_batch_size."""
        options = search_options(self.cfg.decode, beam or self.cfg.decode.beam_size)
        return [found[0] for found in self.search_nbest(model, images, options)]

    def search_nbest(
        self, model: nn.Module, images: Tensor, options: decode.SearchOptions
    ) -> list[list[decode.Hypothesis]]:
        """``options.nbest`` hypotheses for each picture, best first."""
        found = []
        for chunk in images.split(self.cfg.data.eval_batch_size):
            pictures = chunk.to(_device(model)).float() / 255.0
            found += decode.search(
                model,
                model.start(pictures),
                options,
                bos_id=Vocab.bos_id,
                eos_id=Vocab.eos_id,
                max_len=self.cfg.decode.max_length,
            )
        return found

    def detokenize(self, ids: list[int]) -> str:
        return detokenize(self.vocab.decode(ids))

    # ---- prediction ------------------------------------------------------------------
    def read_images(self, paths: list[str]) -> Tensor:
        """Picture files -> (N, 3, P, P) uint8, as this run was trained on."""
        data = self.cfg.data
        arrays = [read_image(p, data.image_size, data.background) for p in paths]
        return to_images(np.stack(arrays))

    def decode_images(self, pictures: list[tuple[str, bytes]]) -> Tensor:
        """Pictures as file contents, each (name, bytes) -> (N, 3, P, P) uint8, as
        this run was trained on; a DataError names a picture Pillow cannot read."""
        data = self.cfg.data
        arrays = [
            decode_image(raw, name, data.image_size, data.background)
            for name, raw in pictures
        ]
        return to_images(np.stack(arrays))

    @torch.no_grad()
    def caption_images(
        self, model: nn.Module, names: list[str], images: Tensor, beam: int = 1
    ) -> list[Caption]:
        """The model's caption of pictures (N, 3, P, P) uint8, named by names."""
        model.eval()
        hyps = self.search(model, images, beam)
        return [self.describe(n, h, model) for n, h in zip(names, hyps, strict=True)]

    def describe(self, path: str, hyp: decode.Hypothesis, model: nn.Module) -> Caption:
        tokens = self.vocab.decode(hyp.tokens)
        attention = None
        if hyp.attention is not None:
            G = model.grid_size
            maps = hyp.attention.float().cpu().view(-1, G, G)  # (N + 1, G, G)
            attention = maps.double().round(decimals=4).tolist()
            tokens += [EOS] * (len(attention) - len(hyp.tokens))
        score = round(hyp.score, 4)
        return Caption(path, self.detokenize(hyp.tokens), tokens, score, attention)

    def predict(
        self,
        model: nn.Module,
        lines: list[str],
        beam: int = 1,
        as_json: bool = False,
        options: decode.SearchOptions | None = None,
    ) -> list[str]:
        """One caption per picture file named by a line (JSON with ``as_json``);
        ``options`` (n-best, n-gram blocking, sampling) replace ``beam``, and
        ``nbest`` K > 1 gives K lines ``index<TAB>score<TAB>caption`` per picture."""
        paths = [line.strip() for line in lines if line.strip()]
        if not paths:
            return []
        options = search_options(self.cfg.decode, beam, options)
        with torch.no_grad():
            found = self.search_nbest(model.eval(), self.read_images(paths), options)
        described = [
            [self.describe(path, h, model) for h in hyps]
            for path, hyps in zip(paths, found, strict=True)
        ]
        if options.nbest == 1:
            return [r[0].to_json() if as_json else r[0].text for r in described]
        return [
            nbest_entry(i, {"image": r[0].image}, "caption", r, as_json)
            for i, r in enumerate(described)
        ]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
