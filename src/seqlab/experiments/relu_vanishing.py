"""``relu-vanishing``: two of seed 000's explanations of vanishing and exploding.

1. "ReLU avoids vanishing gradients": the gradient ||dL/dh_t|| reaching each step of
   an RNN, tanh against ReLU, at torch's usual initialisation (uniform
   +-1/sqrt(H)) and at the identity (IRNN, Le et al. 2015), measured with
   :func:`seqlab.probes.gradient_norms` on random inputs.
2. "A CNN does not explode because its layers have their own weights": the same
   T-step recurrence h_t = act(W_t h_{t-1} + U x_t) with one W shared by every step
   (an RNN) and with a fresh W_t per step (the net unrolled, as a deep feed-forward
   stack), each W drawn from N(0, g^2 / H) with g > 1; the gradient reaching step 1
   against the last.

No training: both are properties of the initial network, over seeds (inits). The
gradients are computed in float64: in float32 the gradient reaching step 1 of 100
underflows to 0 at torch's init, and a ratio of zeros says nothing.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqlab.experiments.common import (
    Context,
    fmt,
    outcome,
    pyplot,
    save_figure,
    separated,
    spread,
    table,
)
from seqlab.layers import make_recurrent
from seqlab.probes import gradient_norms

CLAIM = (
    "ReLU avoids the vanishing gradient of tanh/sigmoid RNNs; a feed-forward stack "
    "(CNN) does not explode the way an RNN does because each layer has its own "
    "weights (seed 000)."
)
RULE = (
    "held if both parts hold: (1) at torch's usual initialisation the log10 ratio "
    "||dL/dh_1|| / ||dL/dh_T|| of RNN-relu exceeds RNN-tanh's by more than 2 "
    "standard errors; (2) with gain g = 1.5 the log10 ratio of the shared-weight "
    "recurrence exceeds the per-step-weight stack's by more than 2 standard errors "
    "(the shared one explodes more), for tanh and for ReLU; inconclusive if any "
    "probe's gradient at step 1 underflows to 0 even in float64 (not measurable)"
)
GAIN = 1.5


def log_ratio(norms: list[float]) -> float:
    """log10 of the gradient at step 1 over the gradient at step T (-inf if 0)."""
    first, last = norms[0], norms[-1]
    return math.log10(first / last) if first > 0 else -math.inf


def activation_probe(act: str, init: str, T: int, H: int, seed: int) -> list[float]:
    torch.manual_seed(seed)
    layer = make_recurrent("rnn", H, H, activation=act).double()
    cell = layer.cells[0]
    if init == "identity":
        with torch.no_grad():
            nn.init.eye_(cell.weight_hh)
    x = torch.randn(32, T, H, dtype=torch.float64)
    w = torch.randn(H, dtype=torch.float64)
    h0 = torch.zeros(32, H, dtype=torch.float64)
    return gradient_norms(cell, x, h0, lambda h: (h @ w).pow(2).mean()).tolist()


def weight_sharing_probe(act: str, shared: bool, T: int, H: int, seed: int) -> list:
    """||dL/dh_t|| for t = 1..T through h_t = act(W_t h_{t-1} + x_t)."""
    gen = torch.Generator().manual_seed(seed)
    f = torch.tanh if act == "tanh" else torch.relu

    def weight():
        w = torch.randn(H, H, generator=gen, dtype=torch.float64)
        return w * GAIN / math.sqrt(H)

    Ws = [weight()] * T if shared else [weight() for _ in range(T)]
    x = torch.randn(T, 32, H, generator=gen, dtype=torch.float64)
    h, hs = torch.zeros(32, H, requires_grad=True, dtype=torch.float64), []
    for t in range(T):
        h = f(h @ Ws[t].T + x[t])
        h.retain_grad()
        hs.append(h)
    readout = torch.randn(H, generator=gen, dtype=torch.float64)
    (hs[-1] @ readout).pow(2).mean().backward()
    return [float(h.grad.norm(dim=1).mean()) for h in hs]


def run(ctx: Context) -> dict:
    T = ctx.pick(100, 50, smoke=10)
    H = ctx.pick(128, 64, smoke=16)
    seeds = range(ctx.seeds)
    probes, ratios = {}, {}
    for act in ("tanh", "relu"):
        for init in ("usual", "identity"):
            name = f"RNN-{act}, {init} init"
            ctx.log(f"  {name}")
            runs = [activation_probe(act, init, T, H, s) for s in seeds]
            probes[name], ratios[name] = runs[0], [log_ratio(r) for r in runs]
        for shared in (True, False):
            name = f"{act}, {'shared W (RNN)' if shared else 'W per step (stack)'}"
            ctx.log(f"  {name}")
            runs = [weight_sharing_probe(act, shared, T, H, s) for s in seeds]
            probes[name], ratios[name] = runs[0], [log_ratio(r) for r in runs]
    plot(ctx, probes, T)
    return summarize(ctx, probes, ratios, T, H)


def plot(ctx: Context, probes: dict, T: int) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, norms in probes.items():
        ax = axes[0] if name.startswith("RNN-") else axes[1]
        ax.semilogy(range(T - 1, -1, -1), norms, label=name)
    axes[0].set_title("tanh vs ReLU (torch's init and identity)")
    axes[1].set_title(f"shared W vs a W per step (gain {GAIN})")
    for ax in axes:
        ax.set_xlabel("distance T - t to the loss (steps)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("||dL/dh_t|| (seed 0)")
    save_figure(fig, ctx.plot_path("gradient_vs_distance.png"))


def summarize(ctx, probes, ratios, T, H) -> dict:
    stats = {n: spread(r) for n, r in ratios.items()}
    n = ctx.seeds
    relu_less_vanishing = separated(
        stats["RNN-relu, usual init"], stats["RNN-tanh, usual init"], n
    )
    sharing_explodes = all(
        separated(stats[f"{a}, shared W (RNN)"], stats[f"{a}, W per step (stack)"], n)
        for a in ("tanh", "relu")
    )
    held = bool(relu_less_vanishing and sharing_explodes)
    if not all(math.isfinite(v) for r in ratios.values() for v in r):
        held = None  # a gradient underflowed to 0 even in float64: not measurable
    rows = [[name, fmt(s, 2), f"{probes[name][0]:.3g}"] for name, s in stats.items()]
    reading = (
        f"log10 of the gradient reaching step 1 over step {T}'s at torch's init: "
        f"tanh {fmt(stats['RNN-tanh, usual init'], 2)}, ReLU "
        f"{fmt(stats['RNN-relu, usual init'], 2)} (ReLU "
        f"{'vanishes less' if relu_less_vanishing else 'does not vanish less'}); "
        f"at the identity tanh {fmt(stats['RNN-tanh, identity init'], 2)}, ReLU "
        f"{fmt(stats['RNN-relu, identity init'], 2)}. With gain {GAIN}: shared W "
        f"{fmt(stats['tanh, shared W (RNN)'], 2)} vs per step "
        f"{fmt(stats['tanh, W per step (stack)'], 2)} (tanh), "
        f"{fmt(stats['relu, shared W (RNN)'], 2)} vs "
        f"{fmt(stats['relu, W per step (stack)'], 2)} (ReLU)."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget="no training: gradients of the initial networks",
        setup=(
            f"T = {T} steps, hidden size {H}, batch 32 of N(0, 1) inputs, loss a "
            "random projection of the last state squared; each seed draws new "
            "weights and inputs."
        ),
        tables=[
            table(
                "log10 ||dL/dh_1|| / ||dL/dh_T|| (mean ± std over seeds)",
                ["network", "log10 ratio", "||dL/dh_1|| (seed 0)"],
                rows,
            )
        ],
        reading=reading,
        log_ratios=ratios,
        probes=probes,
    )
