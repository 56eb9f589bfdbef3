"""``teacher-forcing``: what the decoder is fed in training, and exposure bias.

Teacher forcing feeds the gold previous token at every training step; at test time
the decoder feeds its own, so an early mistake puts it where training never took it
("exposure bias"), and errors should pile up towards the end of the output.
Scheduled sampling (Bengio et al. 2015) feeds the model's own prediction with a
probability that grows over training; free running always feeds it. The same LSTM
encoder-decoder with attention sorts random symbol strings
(:mod:`seqlab.experiments.toyseq`) under each regime (``model.teacher_forcing``:
the probability of the gold token, set every step); greedy decoding is scored by
output position.
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
)

CLAIM = (
    "a decoder trained with teacher forcing sees only gold prefixes, so at test time "
    "its errors grow along the output (exposure bias); feeding it its own predictions "
    "in training (scheduled sampling) reduces that."
)
LENGTHS = (20, 30)  # a full run's output lengths, in symbols


def quarter(lengths: tuple[int, int]) -> int:
    """A quarter of the positions every output has (the shortest's length)."""
    return max(lengths[0] // 4, 1)


RULE = (
    "held if scheduled sampling's test accuracy on the last quarter of the output "
    f"positions every output has (positions {LENGTHS[0] - quarter(LENGTHS) + 1}-"
    f"{LENGTHS[0]} of the first {LENGTHS[0]} in a full run) exceeds teacher "
    "forcing's by more than 2 standard errors, and teacher forcing's accuracy on "
    "that quarter is below its accuracy on the first "
    f"(positions 1-{quarter(LENGTHS)}): "
    "errors grow along the output; inconclusive if teacher forcing gets fewer than "
    "half the tokens right"
)


def regimes(steps: int) -> dict:
    """name -> teacher_forcing(step): the probability of feeding the gold token."""
    return {
        "teacher forcing": lambda step: 1.0,
        "scheduled sampling (1 -> 0.5)": lambda step: 1.0 - 0.5 * step / steps,
        "free running": lambda step: 0.0,
    }


def run(ctx: Context) -> dict:
    lengths = ctx.pick(LENGTHS, (6, 10), smoke=(3, 5))
    steps = ctx.pick(1500, 150, smoke=10)
    hidden = ctx.pick(128, 32, smoke=16)
    gen = torch.Generator().manual_seed(7)
    test = toyseq.sources(ctx.pick(1000, 200), lengths, gen)
    results = {}
    for name, schedule in regimes(steps).items():
        tokens, first, last, positions, seconds = [], [], [], [], []
        for seed in range(ctx.seeds):
            ctx.log(f"  {name}, seed {seed}")
            net = toyseq.model(seed, hidden_size=hidden, decoder="attention")
            fitted = toyseq.train(
                net, "sort", lengths, steps=steps, seed=seed, teacher_forcing=schedule
            )
            scores = toyseq.evaluate(net, "sort", test)
            curve = scores.by_position(lengths[1])
            q = quarter(lengths)
            tokens.append(scores.token_accuracy())
            first.append(sum(curve[:q]) / q)
            last.append(sum(curve[lengths[0] - q : lengths[0]]) / q)
            positions.append(curve)
            seconds.append(fitted.seconds)
        results[name] = {
            "token_accuracy": spread(tokens),
            "first_quarter": spread(first),
            "last_quarter": spread(last),
            "by_position": positions,
            "seconds": spread(seconds),
        }
    plot(ctx, results)
    return summarize(ctx, results, lengths, steps, hidden, len(test))


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in results.items():
        runs = torch.tensor(r["by_position"])  # (seeds, positions)
        mean, std = runs.mean(0), runs.std(0) if len(runs) > 1 else runs[0] * 0
        x = list(range(1, runs.shape[1] + 1))
        ax.plot(x, 100 * mean, marker=".", label=name)
        ax.fill_between(x, 100 * (mean - std), 100 * (mean + std), alpha=0.2)
    ax.set_xlabel("output position")
    ax.set_ylabel("test accuracy at the position (%)")
    ax.set_title("greedy decoding, mean ± std over seeds")
    ax.legend()
    save_figure(fig, ctx.plot_path("accuracy_by_position.png"))


def summarize(ctx, results, lengths, steps, hidden, n_test) -> dict:
    tf = results["teacher forcing"]
    ss = results["scheduled sampling (1 -> 0.5)"]
    if tf["token_accuracy"]["mean"] < 0.5:
        held = None
    else:
        better_end = separated(ss["last_quarter"], tf["last_quarter"], ctx.seeds)
        decays = tf["last_quarter"]["mean"] < tf["first_quarter"]["mean"]
        held = bool(better_end and decays)
    reading = "Accuracy on the first and the last quarter of the positions: " + (
        "; ".join(
            f"{n} {r['first_quarter']['mean']:.3f} -> {r['last_quarter']['mean']:.3f}"
            for n, r in results.items()
        )
        + "."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} Adam steps per run, batch 64",
        setup=(
            f"Sort a random string of {lengths[0]}-{lengths[1]} symbols (20 symbols) "
            f"with an LSTM encoder-decoder with attention, embedding 32, hidden "
            f"{hidden}, Adam lr 3e-3 with cosine decay, clip 1.0, {steps} steps of 64 "
            "fresh strings; the probability of feeding the gold token is 1 (teacher "
            "forcing), falls linearly from 1 to 0.5 (scheduled sampling) or is 0 "
            f"(free running). Greedy decoding of {n_test} test strings; the quarters "
            f"are of the first {lengths[0]} positions, which every string has."
        ),
        tables=[
            settings_table(
                "Test accuracy (mean ± std over seeds)",
                results,
                {
                    "token_accuracy": ("token accuracy", 3),
                    "first_quarter": ("first quarter", 3),
                    "last_quarter": ("last quarter", 3),
                },
            )
        ],
        reading=reading,
        results=results,
    )
