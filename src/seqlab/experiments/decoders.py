"""``decoders``: five ways for a decoder to see its source, one task, one budget.

The same LSTM encoder-decoder (seqlab's Seq2Seq) reverses random symbol strings
(:mod:`seqlab.experiments.toyseq`) with each ``model.decoder``:

- initial state only (``plain``, the book's Seq2seq; seed 000's first picture),
- the context at every step (``cho``, Cho et al. 2014),
- Peeky (``peeky``: every step and the output layer, the book's PeekySeq2seq),
- attention over the encoder outputs (``attention``, Luong et al. 2015),
- attention between the decoder's two layers (``attention_placement: between``,
  seed 000's picture; it needs two layers, so that model has two).

Scored by greedy decoding on fresh strings: the fraction of output positions right
and of strings reproduced exactly.
"""

from __future__ import annotations

import torch

from seqlab.experiments import toyseq
from seqlab.experiments.common import (
    Context,
    outcome,
    pyplot,
    save_figure,
    separated,
    settings_table,
    spread,
    spread_bars,
)
from seqlab.experiments.synthetic import parameters

CLAIM = (
    "a decoder that sees the context at every step (Cho, Peeky) beats one that gets "
    "it only as its initial state, and attention beats all fixed-context decoders "
    "(seed 000, the book's chapters 7-8)."
)
RULE = (
    "held if Peeky's test token accuracy exceeds the initial-state decoder's by more "
    "than 2 standard errors, and each attention decoder's (top and between layers) "
    "exceeds the best fixed-context decoder's (initial state, Cho, Peeky) by more "
    "than 2 standard errors; inconclusive if no decoder gets half the tokens right"
)
DECODERS = {
    "initial state (plain)": {"decoder": "plain"},
    "every step (Cho)": {"decoder": "cho"},
    "Peeky": {"decoder": "peeky"},
    "attention": {"decoder": "attention"},
    "attention between layers": {
        "decoder": "attention",
        "attention_placement": "between",
        "num_layers": 2,
    },
}
FIXED = ("initial state (plain)", "every step (Cho)", "Peeky")


def run(ctx: Context) -> dict:
    lengths = ctx.pick((10, 30), (4, 10), smoke=(3, 5))
    steps = ctx.pick(1500, 150, smoke=10)
    hidden = ctx.pick(128, 32, smoke=16)
    gen = torch.Generator().manual_seed(7)
    test = toyseq.sources(ctx.pick(1000, 200), lengths, gen)
    results, curves = {}, {}
    for name, options in DECODERS.items():
        tokens, exact, seconds = [], [], []
        for seed in range(ctx.seeds):
            ctx.log(f"  {name}, seed {seed}")
            net = toyseq.model(seed, hidden_size=hidden, **options)
            fitted = toyseq.train(net, "reverse", lengths, steps=steps, seed=seed)
            scores = toyseq.evaluate(net, "reverse", test)
            tokens.append(scores.token_accuracy())
            exact.append(scores.exact_match())
            seconds.append(fitted.seconds)
            curves.setdefault(name, []).append(fitted.losses)
        results[name] = {
            "parameters": parameters(net),
            "token_accuracy": spread(tokens),
            "exact_match": spread(exact),
            "seconds": spread(seconds),
            "runs": {"token_accuracy": tokens, "exact_match": exact},
        }
    plot(ctx, results, curves)
    return summarize(ctx, results, lengths, steps, hidden, len(test))


def plot(ctx: Context, results: dict, curves: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(results)
    for name in names:
        losses = curves[name][0]
        left.plot([25 * (i + 1) for i in range(len(losses))], losses, label=name)
    left.set_yscale("log")
    left.set_xlabel("training step")
    left.set_ylabel("training loss (seed 0)")
    left.legend(fontsize=7)
    spread_bars(right, results, "token_accuracy", "test token accuracy (%)", scale=100)
    save_figure(fig, ctx.plot_path("decoders.png"))


def summarize(ctx, results, lengths, steps, hidden, n_test) -> dict:
    acc = {n: r["token_accuracy"] for n, r in results.items()}
    best_fixed = max(FIXED, key=lambda n: acc[n]["mean"])
    if max(a["mean"] for a in acc.values()) < 0.5:
        held = None
    else:
        peeky = separated(acc["Peeky"], acc["initial state (plain)"], ctx.seeds)
        attention = all(
            separated(acc[n], acc[best_fixed], ctx.seeds)
            for n in ("attention", "attention between layers")
        )
        held = bool(peeky and attention)
    reading = (
        "Test token accuracy: "
        + ", ".join(f"{a['mean']:.3f} ± {a['std']:.3f} ({n})" for n, a in acc.items())
        + f"; the best fixed-context decoder is {best_fixed}."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} Adam steps per run, batch 64",
        setup=(
            f"Reverse a random string of {lengths[0]}-{lengths[1]} symbols (20 "
            f"symbols). LSTM encoder-decoder, embedding 32, hidden {hidden}, one "
            "layer (two for attention between layers), Adam lr 3e-3 with cosine "
            f"decay, clip 1.0, {steps} steps of 64 fresh strings; greedy decoding of "
            f"{n_test} test strings."
        ),
        tables=[
            settings_table(
                "Test accuracy (mean ± std over seeds) and training time",
                results,
                {
                    "token_accuracy": ("token accuracy", 3),
                    "exact_match": ("exact match", 3),
                },
            )
        ],
        reading=reading,
        results=results,
    )
