"""Decoding, in one place: every model is seen only through ``start`` and ``step``.

Protocol::

    state = model.start(prefix)               # language models: prefix (B, P), P >= 0
    state = model.start(src, src_lengths)     # encoder-decoders: the encoded source
    log_probs, state = model.step(tokens, state)   # tokens (B,) -> (B, V)

Sampling (``generate``) serves language models, and :class:`ContinuousBatch`
samples many prompts at once, each with its own :class:`Sampler`, letting them join
and leave between steps (``seqlab serve``); ``greedy_search``, ``beam_search``,
``nbest_search`` and ``sample_search`` serve every encoder-decoder (RNN seq2seq, the
Transformer, the captioner), and :func:`search` picks among them by
:class:`SearchOptions` (beam, n-best, n-gram blocking, sampling). They need one thing
of the state: it is a tree (NamedTuples, tuples, dicts, None) of batch-first
tensors, so that copying a row for each beam, reordering beams, and stacking or
dropping sequences is one ``repeat_interleave``/``index_select``/``cat`` over the
tree (:func:`map_state`, :func:`cat_states`), with no per-model reorder method. A
state field ``attention`` (B, S), the weights of the step just taken, is collected
into each hypothesis when present. A state class may name, in a class attribute
``same_across_beams``, the fields that hold the encoded source: beam search copies
them once per beam and never reorders them (:func:`reorder_beams`).

Shapes: B batch, V vocabulary, P prefix length, N new tokens, K beam size, S source
length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from seqlab.utils import map_state


def filter_logits(
    logits: Tensor, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Set to -inf every logit outside the top k and outside the nucleus of mass p.

    logits (B, V). The most likely token always survives.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(-1) - probs  # mass of the tokens ranked above each one
        drop_sorted = before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def choose(
    log_probs: Tensor,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The next token for each row of ``log_probs`` (B, V): argmax, or a sample."""
    if greedy or temperature == 0:
        return log_probs.argmax(-1)
    logits = filter_logits(log_probs / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@dataclass(frozen=True)
class Sampler:
    """How a sequence picks its next token: the argmax when ``greedy`` (or
    ``temperature`` 0), else a sample at ``temperature`` from the ``top_k`` tokens
    and the nucleus of mass ``top_p`` (:func:`choose`), drawn with ``generator``
    (None: torch's global one). Calling it on log_probs (B, V) gives (B,) tokens.
    """

    greedy: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def __call__(self, log_probs: Tensor) -> Tensor:
        return choose(
            log_probs,
            greedy=self.greedy,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            generator=self.generator,
        )


def choose_each(
    log_probs: Tensor,
    samplers: list[Sampler],
    groups: list[list[int]] | None = None,
) -> Tensor:
    """The next token of each row of ``log_probs`` (B, V) by its own sampler: (B,).

    Rows that argmax, and rows that share their settings and draw from the global
    generator, are chosen together (``groups``: :func:`sampling_groups` of the
    samplers, when the caller keeps them); a row with a generator of its own is
    sampled alone, so it draws exactly what it would draw in a batch of one.
    """
    groups = sampling_groups(samplers) if groups is None else groups
    if len(groups) == 1:
        return samplers[0](log_probs)
    tokens = torch.empty(len(samplers), dtype=torch.long, device=log_probs.device)
    for rows in groups:
        index = torch.tensor(rows, device=log_probs.device)
        tokens[index] = samplers[rows[0]](log_probs[index])
    return tokens


def sampling_groups(samplers: list[Sampler]) -> list[list[int]]:
    """The rows (indices of ``samplers``) that :func:`choose_each` chooses together."""
    groups: dict[Any, list[int]] = {}
    for i, s in enumerate(samplers):
        if s.greedy or s.temperature == 0:
            key: Any = "argmax"
        elif s.generator is not None:
            key = i  # its own draws
        else:
            key = (s.temperature, s.top_k, s.top_p)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


@torch.no_grad()
def generate(
    model: nn.Module,
    prefix: Tensor,
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Continue each row of ``prefix`` (B, P >= 1) by up to ``max_new_tokens`` tokens.

    The last prefix token is fed to the first ``step``; the others go to ``start``.
    Returns the new tokens per row, cut after ``eos_id`` (which is kept).
    """
    rows: list[list[int]] = [[] for _ in range(prefix.shape[0])]
    finished = [False] * prefix.shape[0]
    steps = generate_steps(
        model,
        prefix,
        max_new_tokens,
        greedy=greedy,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        eos_id=eos_id,
        generator=generator,
    )
    for tokens in steps:
        for b, token in enumerate(tokens.tolist()):
            if not finished[b]:
                rows[b].append(token)
                finished[b] = token == eos_id
    return rows


def generate_steps(
    model: nn.Module,
    prefix: Tensor,
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[Tensor]:
    """:func:`generate` one step at a time: yields the (B,) tokens of each step
    (rows that already emitted ``eos_id`` go on sampling; callers drop those),
    for streaming. Stops after ``max_new_tokens`` or when every row has ended."""
    _check_generate_args(prefix, max_new_tokens)
    pick = Sampler(greedy, temperature, top_k, top_p, generator)
    return _steps(model, prefix, max_new_tokens, pick, eos_id)


@torch.no_grad()  # on a generator: grad mode is set around each resumption
def _steps(model, prefix, max_new_tokens, pick, eos_id) -> Iterator[Tensor]:
    was_training = model.training
    model.eval()
    try:
        state = model.start(prefix[:, :-1])
        tokens = prefix[:, -1]
        finished = torch.zeros(prefix.shape[0], dtype=torch.bool, device=prefix.device)
        for _ in range(max_new_tokens):
            log_probs, state = model.step(tokens, state)
            tokens = pick(log_probs)
            yield tokens
            if eos_id is not None:
                finished |= tokens == eos_id
                if bool(finished.all()):
                    return
    finally:
        model.train(was_training)


def _check_generate_args(prefix, max_new_tokens) -> None:
    if prefix.dim() != 2 or prefix.shape[1] < 1:
        raise ValueError(
            f"prefix must be (B, P) with P >= 1 token ids, got {tuple(prefix.shape)}"
        )
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")


# ---- search for encoder-decoder models --------------------------------------------
class Hypothesis(NamedTuple):
    """One decoded output: ``tokens`` without <bos>/<eos>; ``score`` the sum of the
    log-probabilities of its tokens and its <eos>; ``attention`` (N + 1, S), a row per
    output token and one for <eos> (N rows when cut by max_len), or None."""

    tokens: list[int]
    score: float
    attention: Tensor | None


def first_tensor(state: Any) -> Tensor | None:
    """The first tensor of a state tree (for its batch size and device)."""
    if isinstance(state, Tensor):
        return state
    parts = state.values() if isinstance(state, dict) else (state or ())
    for part in parts:
        if part is not None and (found := first_tensor(part)) is not None:
            return found
    return None


def batch_size_of(state: Any) -> int:
    """B, the first dimension of the state's tensors."""
    tensor = first_tensor(state)
    if tensor is None:
        raise ValueError("the decoder state holds no tensor, so no batch size")
    return tensor.shape[0]


@torch.no_grad()
def greedy_search(
    model: nn.Module,
    state: Any,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    no_repeat_ngram: int = 0,
) -> list[Hypothesis]:
    """The most likely token at every step, for each of the B rows of ``state``.

    A row stops after its <eos> or after ``max_len`` tokens (<eos> included), and
    leaves the batch: the steps after it compute only the rows still going.
    ``no_repeat_ngram`` n > 0: a token that would repeat an n-gram of the output so
    far is never chosen (:func:`block_repeats`).
    """
    options = dict(bos_id=bos_id, eos_id=eos_id, max_len=max_len)
    greedy = Sampler(greedy=True)
    return sample_search(
        model, state, greedy, no_repeat_ngram=no_repeat_ngram, **options
    )


@torch.no_grad()
def sample_search(
    model: nn.Module,
    state: Any,
    sampler: Sampler,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    no_repeat_ngram: int = 0,
) -> list[Hypothesis]:
    """One output per row of ``state``, each token chosen by ``sampler`` (the argmax
    for a greedy one: :func:`greedy_search`); stops and blocking as there. A
    hypothesis's score is the model's log-probability of its tokens, whatever the
    sampler's temperature or filters."""
    _check_search_args(max_len, beam_size=1)
    B = batch_size_of(state)
    device = _device_of(state)
    rows = torch.arange(B, device=device)  # the input row of each row still going
    tokens = torch.full((B,), bos_id, dtype=torch.long, device=device)
    scores = torch.zeros(B, device=device)
    history = torch.empty(B, 0, dtype=torch.long, device=device)
    attention, found = None, {}
    for step in range(max_len):
        log_probs, state = model.step(tokens, state)
        tokens = sampler(block_repeats(log_probs, history, no_repeat_ngram))  # (B',)
        scores = scores + log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1)
        history = torch.cat([history, tokens.unsqueeze(1)], dim=1)
        attention = _extend_attention(attention, None, state)
        done = tokens == eos_id
        if step == max_len - 1:
            done = torch.ones_like(done)
        if bool(done.any()):
            ended = done.nonzero().squeeze(1)
            weights = None if attention is None else attention[ended]
            hyps = hypotheses(history[ended], scores[ended], weights, eos_id)
            found.update(zip(rows[ended].tolist(), hyps, strict=True))
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            going = (rows, tokens, scores, history, attention, state)
            rows, tokens, scores, history, attention, state = reorder(going, keep)
    return [found[i] for i in range(B)]


@torch.no_grad()
def beam_search(
    model: nn.Module,
    state: Any,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int,
    length_penalty: float = 1.0,
    no_repeat_ngram: int = 0,
) -> list[Hypothesis]:
    """Batched beam search: K hypotheses per row of ``state``, extended in parallel.

    Each step every live beam proposes its V continuations; the K best sums of
    log-probabilities per row survive (:func:`select_top_k`). A beam that emitted
    <eos> keeps its slot and score unchanged. A row stops when its K beams have
    ended (and leaves the batch) or after ``max_len`` tokens; its winner maximises
    score / length ** ``length_penalty`` (0: raw sums, 1: mean log-probability per
    token). ``no_repeat_ngram`` as in :func:`greedy_search`.
    ``beam_size=1`` gives exactly :func:`greedy_search`.
    """
    return [
        found[0]
        for found in nbest_search(
            model,
            state,
            bos_id=bos_id,
            eos_id=eos_id,
            max_len=max_len,
            beam_size=beam_size,
            length_penalty=length_penalty,
            no_repeat_ngram=no_repeat_ngram,
        )
    ]


@torch.no_grad()
def nbest_search(
    model: nn.Module,
    state: Any,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int,
    nbest: int = 1,
    length_penalty: float = 1.0,
    no_repeat_ngram: int = 0,
) -> list[list[Hypothesis]]:
    """:func:`beam_search` keeping the ``nbest`` <= ``beam_size`` best of the K final
    beams of each row, best first by score / length ** ``length_penalty`` (beams
    that never had a finite score are left out, so a list may be shorter)."""
    _check_search_args(max_len, beam_size)
    if not 1 <= nbest <= beam_size:
        raise ValueError(f"nbest must be in [1, beam_size={beam_size}], got {nbest}")
    B, K = batch_size_of(state), beam_size
    state = map_state(lambda t: t.repeat_interleave(K, dim=0), state)  # (B*K, ...)
    device = _device_of(state)
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start equal: let only the first one expand
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=device)
    history = torch.empty(B * K, 0, dtype=torch.long, device=device)
    attention, finished = None, torch.zeros(B * K, dtype=torch.bool, device=device)
    rows, found = torch.arange(B, device=device), {}  # input row of each row going
    for step in range(max_len):
        log_probs, state = model.step(tokens, state)
        log_probs = block_repeats(log_probs, history, no_repeat_ngram)
        log_probs = freeze_finished(log_probs, finished, eos_id)
        scores, origin, tokens = select_top_k(scores, log_probs, K)
        state = reorder_beams(state, origin)
        history = torch.cat([history[origin], tokens.unsqueeze(1)], dim=1)
        attention = _extend_attention(attention, origin, state)
        finished = finished[origin] | (tokens == eos_id)
        done = finished.view(-1, K).all(dim=1)  # (B',) rows whose K beams all ended
        if step == max_len - 1:
            done = torch.ones_like(done)
        if bool(done.any()):
            ended, beams = _rows_and_beams(done, K)
            weights = None if attention is None else attention[beams]
            hyps = finalize_nbest(
                history[beams], scores[ended], weights, eos_id, length_penalty, nbest
            )
            found.update(zip(rows[ended].tolist(), hyps, strict=True))
            keep, beams = _rows_and_beams(~done, K)
            if keep.numel() == 0:
                break
            rows, scores = reorder((rows, scores), keep)
            going = (tokens, history, finished, attention, state)
            tokens, history, finished, attention, state = reorder(going, beams)
    return [found[i] for i in range(B)]


def _rows_and_beams(rows: Tensor, K: int) -> tuple[Tensor, Tensor]:
    """The indices of the True rows of ``rows`` (B,), and of their K beams each."""
    index = rows.nonzero().squeeze(1)
    beams = index.unsqueeze(1) * K + torch.arange(K, device=index.device)
    return index, beams.flatten()


def reorder(state: Any, index: Tensor) -> Any:
    """The rows of every tensor of a tree (a state, or a tuple of tensors and
    states) in the order ``index`` gives: beams reordered, ended rows dropped."""
    return map_state(lambda t: t.index_select(0, index), state)


def reorder_beams(state: Any, origin: Tensor) -> Any:
    """Beam search's reorder. ``origin`` (B*K,) never leaves a source's own K rows,
    so a field that is equal in those rows (one the state class names in
    ``same_across_beams``: the encoder's output, its mask) stays as it is: copying
    it at every step was most of a Transformer's beam search on the CPU."""
    shared = getattr(state, "same_across_beams", ())
    if not shared:
        return reorder(state, origin)
    moved = [f for f in state._fields if f not in shared]
    return state._replace(**{f: reorder(getattr(state, f), origin) for f in moved})


def freeze_finished(log_probs: Tensor, finished: Tensor, eos_id: int) -> Tensor:
    """Rows of ended beams (B*K, V) allow only <eos> again, at no cost."""
    frozen = torch.full_like(log_probs, float("-inf"))
    frozen[:, eos_id] = 0.0
    return torch.where(finished.unsqueeze(1), frozen, log_probs)


def select_top_k(
    scores: Tensor, log_probs: Tensor, k: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The k best one-token extensions of each row's beams.

    scores (B, K) beam scores; log_probs (B*K, V). Returns the new scores (B, k), the
    flat index of the beam each survivor extends (B*k,), and its new token (B*k,).
    """
    B, K = scores.shape
    V = log_probs.shape[-1]
    candidates = scores.unsqueeze(-1) + log_probs.view(B, K, V)  # (B, K, V)
    top, index = candidates.view(B, K * V).topk(k, dim=1)  # (B, k)
    rows = torch.arange(B, device=scores.device).unsqueeze(1) * K  # (B, 1)
    origin = (rows + index // V).flatten()  # (B*k,)
    return top, origin, (index % V).flatten()


def finalize(
    history: Tensor,
    scores: Tensor,
    attention: Tensor | None,
    eos_id: int,
    length_penalty: float,
) -> list[Hypothesis]:
    """The best of the K beams of each row by score / length ** length_penalty.

    history (B*K, N) tokens; scores (B, K); attention (B*K, N, S) or None.
    """
    found = finalize_nbest(history, scores, attention, eos_id, length_penalty, 1)
    return [best[0] for best in found]


def finalize_nbest(
    history: Tensor,
    scores: Tensor,
    attention: Tensor | None,
    eos_id: int,
    length_penalty: float,
    n: int,
) -> list[list[Hypothesis]]:
    """The n best of the K beams of each row, best first (as :func:`finalize`);
    beams whose score is -inf are dropped, except a row's first."""
    B, K = scores.shape
    lengths = output_lengths(history, eos_id).view(B, K).to(scores.dtype)
    normalized = scores / lengths.clamp(min=1) ** length_penalty  # (B, K)
    order = normalized.argsort(dim=1, descending=True, stable=True)[:, :n]  # (B, n)
    rows = torch.arange(B, device=scores.device).unsqueeze(1) * K
    best = (rows + order).flatten()  # (B*n,)
    weights = None if attention is None else attention[best]
    hyps = hypotheses(history[best], scores.flatten()[best], weights, eos_id)
    ranked = [hyps[i : i + n] for i in range(0, B * n, n)]
    return [r[:1] + [h for h in r[1:] if h.score > float("-inf")] for r in ranked]


def block_repeats(log_probs: Tensor, history: Tensor, n: int) -> Tensor:
    """``log_probs`` (R, V) with -inf at each token that would complete an n-gram
    already in its row of ``history`` (R, N), the output so far (n = 0: unchanged).

    The last n - 1 tokens of a row are the n-gram's start; every earlier window of
    n tokens that starts the same way bans its last token (fairseq's and Hugging
    Face's ``no_repeat_ngram_size``).
    """
    N = history.shape[1]
    if n < 1 or n > N:
        return log_probs
    windows = history.unfold(1, n, 1)  # (R, W, n), W = N - n + 1
    start = history[:, N - n + 1 :].unsqueeze(1)  # (R, 1, n - 1)
    match = (windows[..., :-1] == start).all(-1)  # (R, W)
    counts = torch.zeros(log_probs.shape, dtype=torch.long, device=log_probs.device)
    counts.scatter_add_(1, windows[..., -1], match.long())  # (R, V)
    return log_probs.masked_fill(counts > 0, float("-inf"))


def output_lengths(history: Tensor, eos_id: int) -> Tensor:
    """Tokens up to and including the first <eos> of each row (N if none). (R,)"""
    is_eos = history == eos_id  # (R, N)
    first = is_eos.int().argmax(dim=1)  # the first True, or 0 when none
    return torch.where(is_eos.any(dim=1), first + 1, history.shape[1])


def hypotheses(
    history: Tensor, scores: Tensor, attention: Tensor | None, eos_id: int
) -> list[Hypothesis]:
    """One Hypothesis per row of history (R, N): tokens cut before the first <eos>."""
    lengths = output_lengths(history, eos_id).tolist()
    rows = zip(history.tolist(), lengths, scores.tolist(), strict=True)
    result = []
    for i, (row, n, score) in enumerate(rows):
        tokens = row[:n]
        if tokens and tokens[-1] == eos_id:
            tokens = tokens[:-1]
        weights = None if attention is None else attention[i, :n]
        result.append(Hypothesis(tokens, score, weights))
    return result


def _extend_attention(history: Tensor | None, origin: Tensor | None, state: Any):
    """history (R, N, S) in the order ``origin`` (None: as it is), and the state's
    weights of the step just taken (R, S), already in that order, as row N."""
    weights = getattr(state, "attention", None)
    if weights is None:
        return None
    if history is None:
        return weights.unsqueeze(1)
    previous = history if origin is None else history[origin]
    return torch.cat([previous, weights.unsqueeze(1)], dim=1)  # (R, N + 1, S)


def _device_of(state: Any) -> torch.device:
    return first_tensor(state).device


@dataclass(frozen=True)
class SearchOptions:
    """How an encoder-decoder chooses its outputs (:func:`search`).

    ``beam_size`` 1 is greedy search; ``nbest`` K > 1 returns K hypotheses per input,
    from a beam of max(beam_size, K); ``no_repeat_ngram`` n > 0 never repeats an
    n-gram of the output; ``sampler`` (with a generator for reproducible draws)
    samples each token instead of searching, and ``nbest`` then draws K samples.
    """

    beam_size: int = 1
    length_penalty: float = 1.0
    nbest: int = 1
    no_repeat_ngram: int = 0
    sampler: Sampler | None = None

    def __post_init__(self) -> None:
        for name in ("beam_size", "nbest"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.no_repeat_ngram < 0:
            raise ValueError(
                f"no_repeat_ngram must be >= 0, got {self.no_repeat_ngram}"
            )
        if self.sampler is not None and self.beam_size > 1:
            raise ValueError("sampling draws one output per sample: no beam with it")


def search(
    model: nn.Module,
    state: Any,
    options: SearchOptions,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
) -> list[list[Hypothesis]]:
    """``options.nbest`` outputs for each row of ``state``, best first (by score /
    length ** length_penalty for a beam, by score for samples): the one entry point
    of every encoder-decoder's decoding."""
    ends = dict(bos_id=bos_id, eos_id=eos_id, max_len=max_len)
    n, block = options.nbest, options.no_repeat_ngram
    if options.sampler is not None:
        state = map_state(lambda t: t.repeat_interleave(n, dim=0), state)  # (B*n, ...)
        drawn = sample_search(
            model, state, options.sampler, no_repeat_ngram=block, **ends
        )
        rows = [drawn[i : i + n] for i in range(0, len(drawn), n)]
        return [sorted(row, key=lambda h: -h.score) for row in rows]
    if options.beam_size == 1 and n == 1:
        return [[h] for h in greedy_search(model, state, no_repeat_ngram=block, **ends)]
    return nbest_search(
        model,
        state,
        beam_size=max(options.beam_size, n),
        nbest=n,
        length_penalty=options.length_penalty,
        no_repeat_ngram=block,
        **ends,
    )


def _check_search_args(max_len: int, beam_size: int) -> None:
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")


# ---- continuous batching of language models -----------------------------------------
@dataclass(eq=False)
class Continuation:
    """One prompt being continued in a :class:`ContinuousBatch`.

    ``prefix``: the prompt's token ids (at least one); ``tokens``: the ids sampled so
    far. Done after ``max_new_tokens`` tokens, or once it sampled ``eos_id`` (kept).
    """

    prefix: list[int]
    max_new_tokens: int
    sampler: Sampler = field(default_factory=Sampler)
    eos_id: int | None = None
    tokens: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        if len(self.tokens) >= self.max_new_tokens:
            return True
        return self.eos_id is not None and self.tokens[-1:] == [self.eos_id]


class _Rows:
    """Continuations whose states stack, advanced by one ``model.step``: state has a
    row per member, tokens (B,) the last token of each; their sampling groups are
    worked out when the members change, not at every step."""

    def __init__(self, members: list[Continuation], state: Any, tokens: Tensor):
        self.state = state
        self.tokens = tokens
        self.members = members

    @property
    def members(self) -> list[Continuation]:
        return self._members

    @members.setter
    def members(self, members: list[Continuation]) -> None:
        self._members = members
        self.samplers = [c.sampler for c in members]
        self.groups = sampling_groups(self.samplers)


class ContinuousBatch:
    """Iteration-level ("continuous") batching of language-model sampling.

    Continuations join (:meth:`add`) and leave (:meth:`remove`, or when done) between
    steps; :meth:`step` gives every one its next token with one ``model.step`` per
    group of continuations whose states stack, that is whose tensors agree beyond the
    batch dimension: one group for a recurrent LM, one per position for a Transformer
    LM (KV caches of different lengths are not padded; prompts of equal length that
    join together share their steps). Each row samples with its own
    :class:`Sampler` (:func:`choose_each`): a seeded continuation gives the tokens it
    gives alone, up to the float rounding of a different batch size.

    The model (in eval mode) is seen only through ``start`` and ``step``, under
    ``torch.no_grad``; states must be batch-first trees, as for beam search.
    """

    def __init__(self, model: nn.Module) -> None:
        if model.training:
            raise ValueError(
                "ContinuousBatch needs a model in eval mode (model.eval())"
            )
        self.model = model
        self.device = next(model.parameters()).device
        self.groups: list[_Rows] = []

    def __len__(self) -> int:
        return sum(len(group.members) for group in self.groups)

    @torch.no_grad()
    def add(self, continuations: list[Continuation]) -> None:
        """Read the prompts (one ``start`` per prompt length) and join the batch."""
        by_length: dict[int, list[Continuation]] = {}
        for c in continuations:
            if not c.prefix:
                raise ValueError("a continuation needs a prefix of at least one token")
            by_length.setdefault(len(c.prefix), []).append(c)
        for members in by_length.values():
            prefix = torch.tensor([c.prefix for c in members], device=self.device)
            state = self.model.start(prefix[:, :-1])  # (B, P - 1) read
            self._join(_Rows(members, state, prefix[:, -1]))

    @torch.no_grad()
    def step(self) -> list[Continuation]:
        """One more token for every continuation (now last in its ``tokens``);
        returns them all. Those done leave the batch."""
        advanced: list[Continuation] = []
        for group in self.groups:
            log_probs, group.state = self.model.step(group.tokens, group.state)
            # a model in bfloat16 is sampled in float32 (top-p sums, temperatures)
            log_probs = log_probs.float()
            group.tokens = choose_each(log_probs, group.samplers, group.groups)
            for c, token in zip(group.members, group.tokens.tolist(), strict=True):
                c.tokens.append(token)
            advanced += group.members
        self.remove([c for c in advanced if c.done])
        return advanced

    def remove(self, continuations: list[Continuation]) -> None:
        """Let ``continuations`` leave (those not in the batch are ignored)."""
        if not continuations:
            return
        gone = {id(c) for c in continuations}
        for group in self.groups:
            keep = [i for i, c in enumerate(group.members) if id(c) not in gone]
            if len(keep) < len(group.members):
                index = torch.tensor(keep, dtype=torch.long, device=self.device)
                group.members = [group.members[i] for i in keep]
                group.state = reorder(group.state, index)
                group.tokens = group.tokens[index]
        self.groups = [group for group in self.groups if group.members]

    def _join(self, new: _Rows) -> None:
        for group in self.groups:
            if stackable(group.state, new.state):
                group.members = group.members + new.members
                group.state = cat_states([group.state, new.state])
                group.tokens = torch.cat([group.tokens, new.tokens])
                return
        self.groups.append(new)


def leaves(state: Any) -> list[Tensor | None]:
    """The tensors (and Nones) of a state tree, in order."""
    if state is None or isinstance(state, Tensor):
        return [state]
    parts = state.values() if isinstance(state, dict) else state
    return [leaf for part in parts for leaf in leaves(part)]


def stackable(a: Any, b: Any) -> bool:
    """Whether two state trees can be stacked row-wise: the same tree, with tensors
    of the same shapes beyond the first (batch) dimension."""
    shapes_a = [None if t is None else t.shape[1:] for t in leaves(a)]
    shapes_b = [None if t is None else t.shape[1:] for t in leaves(b)]
    return shapes_a == shapes_b


def cat_states(states: list[Any]) -> Any:
    """The rows of state trees of one structure, stacked (``torch.cat`` on dim 0)."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return torch.cat(states)
    if isinstance(first, dict):
        return {k: cat_states([s[k] for s in states]) for k in first}
    parts = [cat_states(list(p)) for p in zip(*states, strict=True)]
    return type(first)(*parts) if hasattr(first, "_fields") else type(first)(parts)
