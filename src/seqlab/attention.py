"""Attention: score every key against every query, softmax over keys, average values.

Shapes: B batch, T queries (decoder steps), S keys (source positions), Dq query size,
Dk key size, A additive-attention size.

For a query q_i and keys k_j (the encoder states), with a padding mask over j::

    e_ij = score(q_i, k_j)                    dot:      q_i · k_j
                                              general:  q_i · (W k_j)       (Luong)
                                              additive: v · tanh(W_q q_i + W_k k_j)
                                                                            (Bahdanau)
    a_ij = exp(e_ij) / Σ_j' exp(e_ij')        over real (unpadded) positions only
    c_i  = Σ_j a_ij k_j                       the context of query i

The score functions are pure: parameters come in as arguments, nothing is stored
between calls. :class:`Attention` owns the parameters and always returns
``(context, weights)``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

Score = Literal["dot", "general", "additive"]
SCORES = ("dot", "general", "additive")


def dot_score(query: Tensor, keys: Tensor) -> Tensor:
    """e_ij = q_i · k_j. query (B, T, D), keys (B, S, D) -> (B, T, S)."""
    return query @ keys.transpose(1, 2)


def general_score(query: Tensor, keys: Tensor, weight: Tensor) -> Tensor:
    """e_ij = q_i · (W k_j). query (B, T, Dq), keys (B, S, Dk), W (Dq, Dk).

    The product associates either way; W meets the shorter side, so a decoding step
    (T = 1) projects one query instead of every key.
    """
    if query.shape[1] < keys.shape[1]:
        return (query @ weight) @ keys.transpose(1, 2)  # (B, T, S)
    return query @ (keys @ weight.T).transpose(1, 2)  # (B, T, S)


def additive_score(
    query: Tensor,
    keys: Tensor,
    w_query: Tensor,
    w_keys: Tensor,
    v: Tensor,
    projected_keys: Tensor | None = None,
) -> Tensor:
    """e_ij = v · tanh(W_q q_i + W_k k_j). W_q (A, Dq), W_k (A, Dk), v (A,).

    ``projected_keys`` (B, S, A): W_k k_j computed once per source (decoding steps
    one token at a time would otherwise project every key again at every step)."""
    q = (query @ w_query.T).unsqueeze(2)  # (B, T, 1, A)
    if projected_keys is None:
        projected_keys = keys @ w_keys.T
    return torch.tanh(q + projected_keys.unsqueeze(1)) @ v  # (B, T, S)


def masked_softmax(scores: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor:
    """Softmax over ``dim`` where ``mask`` is False gets weight exactly 0.

    scores (..., S); mask broadcastable to scores, True at real positions. A row with
    no real position gives all zeros (not NaN).
    """
    if mask is None:
        return torch.softmax(scores, dim=dim)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=dim)
    return weights.masked_fill(~mask, 0.0)


class AttentionOutput(NamedTuple):
    """context (B, T, Dk): weighted sums of the keys; weights (B, T, S), rows sum
    to 1."""

    context: Tensor
    weights: Tensor


def attend(
    scores: Tensor, values: Tensor, mask: Tensor | None = None
) -> AttentionOutput:
    """Normalise ``scores`` (B, T, S) over the unmasked keys and average ``values``.

    values (B, S, Dv); mask (B, S) True at real source positions.
    """
    weights = masked_softmax(scores, None if mask is None else mask.unsqueeze(1))
    return AttentionOutput(weights @ values, weights)  # (B, T, Dv), (B, T, S)


class Attention(nn.Module):
    """Global attention of queries over keys with a dot, general or additive score.

    Args:
        score: "dot" (needs query_size == key_size), "general" or "additive".
        query_size: Dq, the decoder state size.
        key_size: Dk, the encoder output size (2H for a bidirectional encoder).
        attention_size: A, the hidden size of the additive score (default Dq).

    Inputs: query (B, T, Dq), keys (B, S, Dk), mask (B, S) True at real positions,
    optional projected (B, S, A): :meth:`project` of these keys, reused across steps.
    Outputs: AttentionOutput(context (B, T, Dk), weights (B, T, S)).
    """

    def __init__(
        self,
        score: Score,
        query_size: int,
        key_size: int,
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if score not in SCORES:
            raise ValueError(
                f"unknown attention score {score!r}; choose one of {', '.join(SCORES)}"
            )
        if score == "dot" and query_size != key_size:
            raise ValueError(
                f"the dot score needs query and key sizes equal, got {query_size} and "
                f"{key_size}; use 'general' or 'additive' (e.g. with a "
                "bidirectional encoder)"
            )
        self.score = score
        size = attention_size or query_size
        if score == "general":
            self.weight = nn.Parameter(torch.empty(query_size, key_size))
            nn.init.xavier_uniform_(self.weight)
        elif score == "additive":
            self.w_query = nn.Linear(query_size, size, bias=False)
            self.w_keys = nn.Linear(key_size, size, bias=False)
            self.v = nn.Parameter(torch.empty(size).uniform_(-0.1, 0.1))

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        projected: Tensor | None = None,
    ) -> AttentionOutput:
        return attend(self.scores(query, keys, projected), keys, mask)

    def project(self, keys: Tensor) -> Tensor | None:
        """The part of the score that depends on the keys alone, to compute once per
        source: W_k k_j (B, S, A) for the additive score; None for dot and general
        (general already multiplies W into the shorter side)."""
        return self.w_keys(keys) if self.score == "additive" else None

    def scores(
        self, query: Tensor, keys: Tensor, projected: Tensor | None = None
    ) -> Tensor:
        """The unnormalised e_ij, (B, T, S)."""
        if self.score == "dot":
            return dot_score(query, keys)
        if self.score == "general":
            return general_score(query, keys, self.weight)
        return additive_score(
            query, keys, self.w_query.weight, self.w_keys.weight, self.v, projected
        )

    def extra_repr(self) -> str:
        return f"score={self.score!r}"
