"""Gradient probes: how much of the loss's gradient reaches each time step.

The seeds' vanishing/exploding-gradient argument in numbers: backpropagation through
time multiplies by the recurrent Jacobian once per step, so ||dL/dh_t|| shrinks or
grows roughly geometrically with the distance T - t between step t and the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def hidden_of(state: Any) -> Tensor:
    """The hidden state h of a cell's state: h itself, or the first of (h, c)."""
    return state if isinstance(state, Tensor) else state[0]


def gradient_norms(
    step: Callable[[Tensor, Any], Any],
    inputs: Tensor,
    state: Any,
    readout: Callable[[Any], Tensor],
) -> Tensor:
    """||dL/dh_t|| for t = 1..T, averaged over the batch: (T,).

    step(x_t (B, I), state) -> state is one cell step; inputs (B, T, I); readout maps
    the final state to the scalar loss L. The gradient at h_t is the total derivative,
    through every later step.
    """
    hiddens = []
    state = _leaf(state)  # so that gradients flow even through a parameter-free step
    for t in range(inputs.shape[1]):
        state = step(inputs[:, t], state)
        h = hidden_of(state)
        h.retain_grad()
        hiddens.append(h)
    readout(state).backward()
    return torch.stack([h.grad.norm(dim=-1).mean() for h in hiddens]).detach()


def _leaf(state: Any) -> Any:
    if isinstance(state, Tensor):
        return state.detach().requires_grad_()
    return (
        type(state)(*(_leaf(s) for s in state))
        if hasattr(state, "_fields")
        else (type(state)(_leaf(s) for s in state))
    )
