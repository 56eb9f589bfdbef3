"""``reverse-peeky``: the book's addition ablation, trained by seqlab's seq2seq task.

"16+75" -> "91" (DLS2 addition.txt, the book's split). Five variants of the same
LSTM encoder-decoder (configs/addition-*.yaml): the plain decoder, Reverse (source
read back to front, so the digits that decide the answer's first digits sit closest
to the decoder), Peeky (the context vector enters every decoder step), both, and
attention. Score: exact-match accuracy of greedy decoding on the 5,000 test sums.
"""

from __future__ import annotations

from seqlab.experiments import runs
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

CLAIM = (
    "Reverse and Peeky raise seq2seq accuracy on addition (the book: baseline ~10%, "
    "reverse ~50%, reverse + peeky ~99%); attention does at least as well."
)
VARIANTS = {  # name -> (decoder, reverse_source)
    "baseline": ("plain", False),
    "reverse": ("plain", True),
    "peeky": ("peeky", False),
    "peeky+reverse": ("peeky", True),
    "attention": ("attention", True),
}
TOO_EARLY = 0.1  # if no variant reaches this test accuracy, the run says nothing
RULE = (
    "held if reverse's test exact match exceeds the baseline's by more than 2 "
    "standard errors, peeky+reverse's exceeds reverse's the same way, and "
    "attention's is at least peeky+reverse's minus 0.01; inconclusive if no variant "
    f"reaches {TOO_EARLY}"
)


def config(decoder: str, reverse: bool, seed: int, steps: int | None, minutes) -> dict:
    """configs/addition-*.yaml with the experiment's budget."""
    every = max((steps or 1000) // 5, 1)
    return {
        "task": "seq2seq",
        "data": {"dataset": "addition", "tokenizer": "char", "reverse_source": reverse},
        "model": {
            "kind": "seq2seq",
            "cell": "lstm",
            "embedding_size": 16,
            "hidden_size": 128,
            "decoder": decoder,
        },
        "train": runs.budget(
            steps,
            minutes,
            optimizer="adam",
            lr=5e-3,
            warmup_steps=100,
            min_lr_ratio=0.02,
            batch_size=128,
            eval_every=every,
            seed=seed,
        ),
        "decode": {"max_length": 8},
    }


def run(ctx: Context) -> dict:
    steps = ctx.pick(4000, 250, smoke=30)  # configs/addition-*.yaml: ~4,000 steps
    minutes = None
    trained = {}
    total, done = len(VARIANTS) * ctx.seeds, 0
    for name, (decoder, reverse) in VARIANTS.items():
        trained[name] = []
        for seed in range(ctx.seeds):
            done += 1
            ctx.log(f"[{done}/{total}] {name}, seed {seed}")
            cfg = config(decoder, reverse, seed, steps, minutes)
            trained[name].append(runs.train(ctx, f"{name}-seed{seed}", cfg))
    accuracy = {
        name: spread([t.summary["test_accuracy"] for t in ts])
        for name, ts in trained.items()
    }
    plot(ctx, trained, accuracy)
    return summarize(ctx, trained, accuracy, steps, minutes)


def plot(ctx: Context, trained: dict, accuracy: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(accuracy)
    left.bar(
        names,
        [100 * accuracy[n]["mean"] for n in names],
        yerr=[100 * accuracy[n]["std"] for n in names],
        capsize=4,
        color="tab:blue",
    )
    left.set_ylabel("test accuracy (%)")
    left.set_ylim(0, 100)
    left.set_title("exact match on 5,000 test sums")
    for name, ts in trained.items():
        curve = ts[0].curve("val_accuracy")
        right.plot([s for s, _ in curve], [100 * a for _, a in curve], label=name)
    right.set_xlabel("training step")
    right.set_ylabel("validation accuracy (%), seed 0")
    right.legend()
    save_figure(fig, ctx.plot_path("addition_accuracy.png"))


def summarize(ctx, trained, accuracy, steps, minutes) -> dict:
    mean = {n: a["mean"] for n, a in accuracy.items()}
    params = {n: ts[0].summary["parameters"] for n, ts in trained.items()}
    rows = [
        [name, params[name], fmt(accuracy[name], 3), ts[0].summary["steps"]]
        for name, ts in trained.items()
    ]
    if max(mean.values()) < TOO_EARLY:
        held = None
        verdict = (
            f"no variant reached {TOO_EARLY} test accuracy, too early to tell (a "
            "--quick run is far shorter than the book's training)"
        )
    else:
        n = ctx.seeds
        reverse_helps = separated(accuracy["reverse"], accuracy["baseline"], n)
        peeky_helps = separated(accuracy["peeky+reverse"], accuracy["reverse"], n)
        attention_ok = mean["attention"] >= mean["peeky+reverse"] - 0.01
        held = bool(reverse_helps and peeky_helps and attention_ok)
        verdict = (
            f"Reverse {'raises' if reverse_helps else 'does not raise'} accuracy "
            f"over the baseline, Peeky on top of it "
            f"{'raises' if peeky_helps else 'does not raise'} it further, and "
            f"attention {'matches or beats' if attention_ok else 'falls below'} "
            "peeky+reverse"
        )
    budget = f"{steps} steps" if steps else f"{minutes} minutes"
    reading = (
        f"Test accuracy (mean ± std over {ctx.seeds} seed(s)): baseline "
        f"{fmt(accuracy['baseline'])}, reverse {fmt(accuracy['reverse'])}, peeky "
        f"{fmt(accuracy['peeky'])}, peeky+reverse {fmt(accuracy['peeky+reverse'])}, "
        f"attention {fmt(accuracy['attention'])}. {verdict}."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=budget,
        setup=(
            "Addition (DLS2 addition.txt: 44,000 train / 1,000 val / 5,000 test "
            "sums), LSTM encoder-decoder, embedding 16, hidden 128, Adam lr 5e-3 "
            f"with warm-up and cosine decay, batch 128, clip 1.0, {budget} per run "
            "(configs/addition-*.yaml); greedy decoding; the weights of the best "
            "validation accuracy are tested."
        ),
        tables=[
            table(
                "Exact-match test accuracy (fraction, mean ± std over seeds)",
                ["variant", "parameters", "test accuracy", "steps"],
                rows,
            )
        ],
        reading=reading,
        test_accuracy=accuracy,
        runs={n: [t.to_json() for t in ts] for n, ts in trained.items()},
    )
