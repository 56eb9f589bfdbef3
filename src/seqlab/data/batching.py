"""From token ids to batches: LM streams for truncated BPTT, padding, length buckets.

Shapes: B batch, N tokens per stream, T time steps in one batch (<= bptt), L padded
length. Batches are dataclasses that a model-agnostic trainer uses as
``model(**batch.inputs(), targets=batch.targets)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor


def batchify(ids: Sequence[int] | Tensor, batch_size: int) -> Tensor:
    """Cut a token-id corpus into ``batch_size`` contiguous streams.

    Returns (B, N) long with ``N = len(ids) // B``; the remainder is dropped and stream
    ``b`` is ``ids[b*N:(b+1)*N]``, so stream b's next batch continues where its last one
    stopped (what carried-state TBPTT needs).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    data = torch.as_tensor(ids, dtype=torch.long)
    if data.dim() != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(data.shape)}")
    n = data.numel() // batch_size
    if n == 0:
        raise ValueError(
            f"a corpus of {data.numel()} tokens is too short for "
            f"batch_size {batch_size}"
        )
    return data[: batch_size * n].view(batch_size, n)  # (B, N)


@dataclass(frozen=True)
class LMBatch:
    """One language-model batch: ``target[b, t]`` is the token after ``input[b, t]``.

    input: (B, T) long; target: (B, T) long, the input shifted by one position;
    num_tokens: the number of predicted tokens (B * T), for per-token loss averages.
    """

    input: Tensor
    target: Tensor
    num_tokens: int
    # Batches are windows of contiguous streams: the trainer hands each one the
    # (detached) final state of the previous one (truncated BPTT).
    carries_state: ClassVar[bool] = True

    def inputs(self) -> dict[str, Tensor]:
        """Keyword arguments of the model call (everything but the targets)."""
        return {"input": self.input}

    @property
    def targets(self) -> Tensor:
        """(B, T) long: what the loss compares the logits with."""
        return self.target

    @property
    def num_targets(self) -> int:
        """The terms the loss averages over: predicted tokens."""
        return self.num_tokens

    def to(self, device: torch.device | str) -> LMBatch:
        """The same batch on ``device`` (non-blocking copies)."""
        return LMBatch(
            self.input.to(device, non_blocking=True),
            self.target.to(device, non_blocking=True),
            self.num_tokens,
        )


def num_tbptt_batches(streams: Tensor, bptt: int) -> int:
    """The number of batches ``tbptt_batches`` yields: ceil((N - 1) / bptt)."""
    _check_streams(streams, bptt)
    return -(-(streams.size(1) - 1) // bptt)


def tbptt_batches(streams: Tensor, bptt: int) -> Iterator[LMBatch]:
    """Consecutive windows of the (B, N) streams for truncated BPTT, in order.

    Batch k has ``input = streams[:, i:i+T]`` and ``target = streams[:, i+1:i+1+T]``
    with ``i = k * bptt`` and ``T = min(bptt, N - 1 - i)``: the last, shorter window is
    kept, so every token but the first of each stream is a target exactly once.
    """
    _check_streams(streams, bptt)
    n = streams.size(1)
    for i in range(0, n - 1, bptt):
        t = min(bptt, n - 1 - i)
        x = streams[:, i : i + t]  # (B, T)
        y = streams[:, i + 1 : i + 1 + t]  # (B, T)
        yield LMBatch(x, y, y.numel())


def _check_streams(streams: Tensor, bptt: int) -> None:
    if bptt < 1:
        raise ValueError(f"bptt must be >= 1, got {bptt}")
    if streams.dim() != 2:
        raise ValueError(f"streams must be (B, N), got shape {tuple(streams.shape)}")


def pad_sequences(
    seqs: Sequence[Sequence[int]], pad_id: int, max_len: int | None = None
) -> tuple[Tensor, Tensor]:
    """Right-pad id lists into one tensor.

    Returns ``(padded (B, L) long, lengths (B,) long)`` where L is the longest
    sequence, or ``max_len`` when given (longer sequences are truncated to it and
    their length reported as ``max_len``).
    """
    if not seqs:
        raise ValueError("pad_sequences needs at least one sequence")
    if max_len is not None and max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    lengths = [len(s) if max_len is None else min(len(s), max_len) for s in seqs]
    width = max(lengths) if max_len is None else max_len
    padded = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (B, L)
    for row, (seq, n) in enumerate(zip(seqs, lengths, strict=True)):
        padded[row, :n] = torch.as_tensor(seq[:n], dtype=torch.long)
    return padded, torch.tensor(lengths, dtype=torch.long)


def bucket_batches(
    lengths: Sequence[int] | Sequence[tuple[int, ...]],
    batch_size: int,
    *,
    by_tokens: bool = False,
    shuffle: bool = False,
    seed: int = 0,
) -> list[list[int]]:
    """Group example indices into batches of similar length.

    Indices are sorted by length (a tuple of lengths sorts by its first, then the
    next; ties in index order, or in a seeded random order when ``shuffle``) and
    cut into consecutive batches of ``batch_size`` examples, or with ``by_tokens``
    of at most ``batch_size`` padded tokens (``len(batch) * max length``; an example
    longer than that budget gets a batch of its own; integer lengths only). With
    ``shuffle`` the batch order is shuffled too. Same ``lengths`` and ``seed`` ->
    same batches; every index appears exactly once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
    order.sort(key=lambda i: lengths[i])  # stable: ties keep the (shuffled) order
    if by_tokens:
        batches = _cut_by_tokens(order, lengths, batch_size)
    else:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def _cut_by_tokens(
    order: list[int], lengths: Sequence[int], max_tokens: int
) -> list[list[int]]:
    """Consecutive runs of ``order`` whose padded size stays within ``max_tokens``."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        new_longest = max(longest, lengths[i])
        if current and (len(current) + 1) * new_longest > max_tokens:
            batches.append(current)
            current, new_longest = [], lengths[i]
        current.append(i)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True)
class LabelBatch:
    """Many-to-one batch: padded token ids and one class id per sequence.

    input: (B, L) long, right-padded; lengths: (B,) long; target: (B,) long;
    num_tokens: real (unpadded) tokens in the batch.
    """

    input: Tensor
    lengths: Tensor
    target: Tensor
    num_tokens: int

    def inputs(self) -> dict[str, Tensor]:
        return {"input": self.input, "lengths": self.lengths}

    @property
    def targets(self) -> Tensor:
        return self.target

    @property
    def num_targets(self) -> int:
        """The terms the loss averages over: sequences."""
        return len(self.target)

    def to(self, device: torch.device | str) -> LabelBatch:
        return LabelBatch(
            self.input.to(device),
            self.lengths.to(device),
            self.target.to(device),
            self.num_tokens,
        )


@dataclass(frozen=True)
class TagBatch:
    """Synchronised many-to-many batch: one tag per token.

    input: (B, L) long word ids, right-padded; lengths: (B,) long; target: (B, L)
    long tag ids (padding positions hold 0: models mask them by ``lengths``);
    chars: (B, L, W) long character ids of each word, or None; features: (B, L) long
    ids of an extra input column (the POS tag), or None; num_tokens: real tokens.
    """

    input: Tensor
    lengths: Tensor
    target: Tensor
    num_tokens: int
    chars: Tensor | None = None
    features: Tensor | None = None

    def inputs(self) -> dict[str, Tensor]:
        optional = {"chars": self.chars, "features": self.features}
        present = {k: v for k, v in optional.items() if v is not None}
        return {"input": self.input, "lengths": self.lengths, **present}

    @property
    def targets(self) -> Tensor:
        return self.target

    @property
    def num_targets(self) -> int:
        """The terms the loss averages over: real tokens."""
        return self.num_tokens

    def to(self, device: torch.device | str) -> TagBatch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return TagBatch(
            self.input.to(device),
            self.lengths.to(device),
            self.target.to(device),
            self.num_tokens,
            move(self.chars),
            move(self.features),
        )


@dataclass(frozen=True)
class WindowBatch:
    """Time-series windows: input (B, W) float values, target (B,) the next value."""

    input: Tensor
    target: Tensor

    @property
    def num_tokens(self) -> int:
        return self.input.numel()

    def inputs(self) -> dict[str, Tensor]:
        return {"input": self.input}

    @property
    def targets(self) -> Tensor:
        return self.target

    @property
    def num_targets(self) -> int:
        """The terms the loss averages over: windows."""
        return len(self.target)

    def to(self, device: torch.device | str) -> WindowBatch:
        return WindowBatch(self.input.to(device), self.target.to(device))


def pad_chars(
    words: Sequence[Sequence[Sequence[int]]], pad_id: int, max_chars: int
) -> Tensor:
    """Character ids of B sentences of words -> (B, L, W) long, right-padded.

    L is the longest sentence, W the longest word (at most ``max_chars``: longer
    words keep their first ``max_chars`` characters).
    """
    longest_word = max((len(w) for s in words for w in s), default=1)
    width = max(1, min(longest_word, max_chars))
    length = max((len(s) for s in words), default=1)
    out = torch.full((len(words), length, width), pad_id, dtype=torch.long)
    for b, sentence in enumerate(words):
        for t, word in enumerate(sentence):
            ids = word[:width]
            out[b, t, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
    return out  # (B, L, W)


@dataclass(frozen=True)
class PairBatch:
    """Many-to-many batch of different lengths (seq2seq): source and target ids.

    src: (B, S) long, right-padded; src_lengths: (B,) long; tgt_in: (B, T) long,
    ``<bos> y_1 .. y_n`` right-padded (the decoder's inputs under teacher forcing);
    tgt_out: (B, T) long, ``y_1 .. y_n <eos>`` right-padded (the targets);
    num_tokens: real target tokens (``<eos>`` included).
    """

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    num_tokens: int

    def inputs(self) -> dict[str, Tensor]:
        return {"src": self.src, "src_lengths": self.src_lengths, "tgt_in": self.tgt_in}

    @property
    def targets(self) -> Tensor:
        return self.tgt_out

    @property
    def num_targets(self) -> int:
        """The terms the loss averages over: target tokens."""
        return self.num_tokens

    def to(self, device: torch.device | str) -> PairBatch:
        return PairBatch(
            self.src.to(device),
            self.src_lengths.to(device),
            self.tgt_in.to(device),
            self.tgt_out.to(device),
            self.num_tokens,
        )


@dataclass
class CaptionBatch:
    """Pictures and their captions (caption task): images (B, 3, P, P) uint8 (the
    model reads them as floats in [0, 1]); tgt_in / tgt_out (B, T) as PairBatch;
    num_tokens: real target tokens (``<eos>`` included)."""

    images: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    num_tokens: int

    def inputs(self) -> dict[str, Tensor]:
        return {"images": self.images.float() / 255.0, "tgt_in": self.tgt_in}

    @property
    def targets(self) -> Tensor:
        return self.tgt_out

    @property
    def num_targets(self) -> int:
        """The terms the loss averages over: target tokens."""
        return self.num_tokens

    def to(self, device: torch.device | str) -> CaptionBatch:
        return CaptionBatch(
            self.images.to(device, non_blocking=True),
            self.tgt_in.to(device, non_blocking=True),
            self.tgt_out.to(device, non_blocking=True),
            self.num_tokens,
        )
