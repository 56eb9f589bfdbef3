"""Generated sequence-to-sequence tasks and a small loop that trains seqlab's Seq2Seq.

A source is a random string of symbols (``SYMBOLS`` of them, ids after the
vocabulary's specials); the target is a function of it: ``reverse`` (the source back
to front) or ``sort`` (its symbols in order). Either needs every source symbol in
the output, so how much of a long source a decoder recovers measures how much of it
reached the decoder. The model is :class:`seqlab.models.seq2seq.Seq2Seq`, as
``seqlab train`` builds it, and decoding is :mod:`seqlab.decode`'s search: the toy
loop only replaces the data plumbing, which would take longer than the training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqlab import decode
from seqlab.data.vocab import Vocab
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.utils import clip_grad_norm

SYMBOLS = 20
VOCAB = len(("<pad>", "<unk>", "<bos>", "<eos>")) + SYMBOLS
TARGETS: dict[str, Callable[[list[int]], list[int]]] = {
    "reverse": lambda s: s[::-1],
    "sort": sorted,
}


def sources(n: int, lengths: tuple[int, int], gen: torch.Generator) -> list[list[int]]:
    """n random sources of lengths in [low, high], symbol ids after the specials."""
    low, high = lengths
    sizes = torch.randint(low, high + 1, (n,), generator=gen).tolist()
    first = VOCAB - SYMBOLS
    return [torch.randint(first, VOCAB, (k,), generator=gen).tolist() for k in sizes]


def batch(task: str, srcs: list[list[int]]) -> dict[str, Tensor]:
    """Padded tensors for Seq2Seq.forward: src, src_lengths, tgt_in, targets."""
    tgts = [TARGETS[task](s) for s in srcs]
    B, S, T = len(srcs), max(map(len, srcs)), max(map(len, tgts)) + 1
    src = torch.full((B, S), Vocab.pad_id)
    tgt_in = torch.full((B, T), Vocab.pad_id)
    targets = torch.full((B, T), Vocab.pad_id)
    for i, (s, t) in enumerate(zip(srcs, tgts, strict=True)):
        src[i, : len(s)] = torch.tensor(s)
        tgt_in[i, : len(t) + 1] = torch.tensor([Vocab.bos_id, *t])
        targets[i, : len(t) + 1] = torch.tensor([*t, Vocab.eos_id])
    lengths = torch.tensor([len(s) for s in srcs])
    return {"src": src, "src_lengths": lengths, "tgt_in": tgt_in, "targets": targets}


def model(seed: int, **options: Any) -> Seq2Seq:
    """Seq2Seq over the toy vocabulary; ``options`` are model-section keys."""
    torch.manual_seed(seed)
    cfg = {"cell": "lstm", "embedding_size": 32, "hidden_size": 128, **options}
    return Seq2Seq(Seq2SeqConfig(**cfg), VOCAB)


@dataclass
class ToyRun:
    losses: list[float] = field(default_factory=list)  # mean of every ``every`` steps
    seconds: float = 0.0


def train(
    net: Seq2Seq,
    task: str,
    lengths: tuple[int, int],
    *,
    steps: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    teacher_forcing: Callable[[int], float] | None = None,
    every: int = 25,
    checkpoint: Path | None = None,
    save_every: float = 60.0,
) -> ToyRun:
    """Adam with cosine decay, clip 1.0; fresh sources every step.
    ``teacher_forcing(step)``: the model's teacher_forcing at that step (scheduled
    sampling); None keeps the model's own. ``checkpoint``: a file the training is
    saved to every ``save_every`` seconds and continued from where one is there
    (the same steps as one uninterrupted run); removed when the training ends."""
    gen = torch.Generator().manual_seed(1000 + seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1)))
    )
    run, running, done = ToyRun(), 0.0, 0
    parts = {"net": net, "opt": opt, "sched": sched}
    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        for key, part in parts.items():
            part.load_state_dict(saved[key])
        gen.set_state(saved["gen"])
        torch.set_rng_state(saved["rng"])
        done, running = saved["step"], saved["running"]
        run = ToyRun(saved["losses"], saved["seconds"])
    start = saved_at = time.perf_counter()
    net.train()
    for step in range(done + 1, steps + 1):
        if teacher_forcing is not None:
            p = teacher_forcing(step)
            net.cfg = net.cfg.model_copy(update={"teacher_forcing": p})
        loss = net(**batch(task, sources(batch_size, lengths, gen))).loss
        opt.zero_grad()
        loss.backward()
        clip_grad_norm(net.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if step % every == 0:
            run.losses.append(running / every)
            running = 0.0
        now = time.perf_counter()
        if checkpoint is not None and now - saved_at >= save_every and step < steps:
            state = {key: part.state_dict() for key, part in parts.items()}
            state |= {"gen": gen.get_state(), "rng": torch.get_rng_state()}
            state |= {"step": step, "running": running, "losses": run.losses}
            partial = checkpoint.with_name(checkpoint.name + ".partial")
            torch.save(state | {"seconds": run.seconds + now - start}, partial)
            partial.replace(checkpoint)  # whole or not at all
            saved_at = now
    run.seconds += time.perf_counter() - start
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return run


@dataclass
class Scores:
    """Per test source: its length, whether the output matched exactly, and which
    target positions were right (False past the output's end)."""

    lengths: list[int]
    exact: list[bool]
    positions: list[list[bool]]
    seconds: float
    hypotheses: list[decode.Hypothesis] = field(default_factory=list)

    def token_accuracy(self, keep: Callable[[int], bool] = lambda n: True) -> float:
        pairs = zip(self.lengths, self.positions, strict=True)
        hits = [h for n, p in pairs if keep(n) for h in p]
        return sum(hits) / max(len(hits), 1)

    def exact_match(self, keep: Callable[[int], bool] = lambda n: True) -> float:
        hits = [e for n, e in zip(self.lengths, self.exact, strict=True) if keep(n)]
        return sum(hits) / max(len(hits), 1)

    def by_position(self, positions: int) -> list[float]:
        """Accuracy at target position 1..positions over the sources that long."""
        out = []
        for i in range(positions):
            hits = [p[i] for p in self.positions if len(p) > i]
            out.append(sum(hits) / max(len(hits), 1))
        return out


@torch.no_grad()
def evaluate(
    net: Seq2Seq,
    task: str,
    srcs: list[list[int]],
    beam: int = 1,
    length_penalty: float = 1.0,
    batch_size: int = 100,
) -> Scores:
    """Greedy (beam 1) or beam search over ``srcs``; exact match and per-position
    hits against the task's targets."""
    net.eval()
    start, hyps_all = time.perf_counter(), []
    for i in range(0, len(srcs), batch_size):
        chunk = batch(task, srcs[i : i + batch_size])
        state = net.start(chunk["src"], chunk["src_lengths"])
        options = dict(bos_id=Vocab.bos_id, eos_id=Vocab.eos_id)
        max_len = int(chunk["src_lengths"].max()) + 5
        if beam == 1:
            hyps = decode.greedy_search(net, state, max_len=max_len, **options)
        else:
            hyps = decode.beam_search(
                net,
                state,
                max_len=max_len,
                beam_size=beam,
                length_penalty=length_penalty,
                **options,
            )
        hyps_all += hyps
    seconds = time.perf_counter() - start
    outputs = [h.tokens for h in hyps_all]
    net.train()
    targets = [TARGETS[task](s) for s in srcs]
    positions = [
        [i < len(out) and out[i] == t for i, t in enumerate(tgt)]
        for out, tgt in zip(outputs, targets, strict=True)
    ]
    exact = [out == tgt for out, tgt in zip(outputs, targets, strict=True)]
    return Scores([len(s) for s in srcs], exact, positions, seconds, hyps_all)
