"""``attention-length``: attention against a fixed context vector, by source length.

A fixed-context decoder gets the whole source as one vector (the encoder's final
state); attention reads every encoder output again at every step. The claim is
that the fixed vector runs out as sources grow. Dates (<= 40 characters, the book's
chapter 8) never strain it: both decoders reach 99.9% once trained. So the task
here is reversing random symbol strings of 10 to 120 symbols
(:mod:`seqlab.experiments.toyseq`): every symbol must reach the decoder, and the
longest sources hold more than a 128-wide vector can keep exactly. The same LSTM
encoder-decoder with a plain decoder (context as the initial state), a Peeky one
(context at every step) and attention, the same steps; test accuracy per position
is split by the source's length, and the attention of one long test source is drawn
(reversal: each output symbol should look at its mirror position).
"""

from __future__ import annotations

import torch

from seqlab import metrics, plots
from seqlab import run as runs_io
from seqlab.experiments import beam, runs, toyseq
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
from seqlab.experiments.synthetic import parameters

CLAIM = (
    "attention beats a fixed context vector, most on long inputs; its weights align "
    "input and output."
)
DECODERS = {
    "fixed context (plain)": "plain",
    "fixed context (Peeky)": "peeky",
    "attention": "attention",
}
FIXED = ("fixed context (plain)", "fixed context (Peeky)")
LENGTHS = (10, 120)  # a full run's source lengths, in symbols
WORD_BUCKETS = ((1, 9), (10, 14), (15, 19), (20, 1000))  # Multi30k source words


def long_half(lengths: tuple[int, int]) -> int:
    """The shortest source length of the longest half of the range."""
    return (lengths[0] + lengths[1] + 1) // 2


def buckets(lengths: tuple[int, int]) -> list[tuple[int, int]]:
    """Four equal ranges of source length covering [low, high]."""
    low, high = lengths
    width = (high - low + 1) / 4
    edges = [low + round(i * width) for i in range(5)]
    return [(edges[i], edges[i + 1] - 1) for i in range(4)]


def rule() -> str:
    """The rule in words, with the numbers of a full run."""
    (first, last), long_from = buckets(LENGTHS)[::3], long_half(LENGTHS)
    return (
        "held if on the longest half of the sources "
        f"(>= {long_from} symbols in a full run) attention's test token accuracy "
        "exceeds the better fixed-context decoder's (plain, Peeky) by more than 2 "
        "standard errors, and its lead over that decoder on the longest bucket "
        f"({last[0]}-{last[1]}) is larger than on the shortest "
        f"({first[0]}-{first[1]}); "
        "in a full run also on Multi30k, where attention's test BLEU on the longest "
        f"source bucket (>= {WORD_BUCKETS[-1][0]} words) must exceed the better "
        "fixed-context decoder's by more than 2 standard errors; inconclusive if "
        "attention gets fewer than half the tokens right on the shortest bucket (not "
        "trained enough to tell)"
    )


RULE = rule()


def run(ctx: Context) -> dict:
    lengths = ctx.pick(LENGTHS, (4, 24), smoke=(3, 8))
    steps = ctx.pick(2000, 150, smoke=10)
    hidden = ctx.pick(128, 32, smoke=16)
    gen = torch.Generator().manual_seed(7)
    test = toyseq.sources(ctx.pick(1000, 200), lengths, gen)
    ranges = buckets(lengths)
    long_from = long_half(lengths)
    results, example = {}, None
    for name, decoder in DECODERS.items():
        runs_ = []
        for seed in range(ctx.seeds):
            ctx.log(f"  {name}, seed {seed}")

            def reverse(progress, decoder=decoder, seed=seed) -> dict:
                net = toyseq.model(seed, hidden_size=hidden, decoder=decoder)
                fitted = toyseq.train(
                    net, "reverse", lengths, steps=steps, seed=seed, checkpoint=progress
                )
                scores = toyseq.evaluate(net, "reverse", test)
                return {
                    "parameters": parameters(net),
                    "by_length": {
                        f"{a}-{b}": scores.token_accuracy(
                            lambda n, a=a, b=b: a <= n <= b
                        )
                        for a, b in ranges
                    },
                    "longest_half": scores.token_accuracy(lambda n: n >= long_from),
                    "seconds": fitted.seconds,
                    # seed 0's attention on the longest source, drawn below
                    "example": longest_example(test, scores)
                    if decoder == "attention" and seed == 0
                    else None,
                }

            setting = {"lengths": lengths, "steps": steps, "hidden": hidden}
            key = f"reverse-{decoder}-seed{seed}"
            runs_.append(runs.cached(ctx, key, setting, reverse))
        if runs_[0]["example"] is not None:
            example = heat_map(ctx, runs_[0]["example"])
        results[name] = {
            "parameters": runs_[0]["parameters"],
            "by_length": {
                b: spread([r["by_length"][b] for r in runs_])
                for b in runs_[0]["by_length"]
            },
            "longest_half": spread([r["longest_half"] for r in runs_]),
            "seconds": spread([r["seconds"] for r in runs_]),
        }
    plot(ctx, results)
    translation = None if ctx.quick else multi30k_by_length(ctx)
    return summarize(
        ctx, results, lengths, long_from, steps, hidden, example, translation
    )


def multi30k_by_length(ctx: Context) -> dict:
    """Bahdanau et al. 2015's figure 2 on Multi30k De->En: test BLEU per bucket of
    source length (words) of a plain, a Peeky and an attention decoder, same steps
    (the GRU recipe of the ``beam`` experiment)."""
    steps = beam.TRANSLATION_STEPS
    out: dict[str, dict] = {}
    for name, decoder in DECODERS.items():
        per_bucket: dict[str, list[float]] = {}
        for seed in range(ctx.seeds):
            ctx.log(f"  Multi30k {name}, seed {seed}")
            cfg = beam.translation_config(seed, steps)
            cfg["model"]["decoder"] = decoder
            if decoder != "attention":
                del cfg["model"]["attention"]
            trained = runs.train(ctx, f"multi30k-{decoder}-seed{seed}", cfg)
            loaded = runs_io.load_run(trained.run_dir, device="cpu")
            task = loaded.task
            task.load_data(None)
            pairs = task.pairs["test"]
            hyps = task.search(loaded.model, [task.encode_source(s) for s, _ in pairs])
            outputs = [task.detokenize(h.tokens) for h in hyps]
            for low, high in WORD_BUCKETS:
                keep = [
                    i for i, (s, _) in enumerate(pairs) if low <= len(s.split()) <= high
                ]
                bleu = metrics.bleu(
                    [outputs[i] for i in keep],
                    [pairs[i][1] for i in keep],
                    tokenize=task.bleu_tokenize,
                )
                per_bucket.setdefault(f"{low}-{high}", []).append(bleu)
        out[name] = {b: spread(v) for b, v in per_bucket.items()}
    plot_translation(ctx, out)
    return {"steps": steps, "bleu_by_length": out}


def plot_translation(ctx: Context, out: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, by_bucket in out.items():
        names = list(by_bucket)
        ax.errorbar(
            names,
            [by_bucket[b]["mean"] for b in names],
            yerr=[by_bucket[b]["std"] for b in names],
            marker="o",
            capsize=3,
            label=name,
        )
    ax.set_xlabel("source length (words)")
    ax.set_ylabel("Multi30k De->En test BLEU, mean ± std")
    ax.legend()
    save_figure(fig, ctx.plot_path("multi30k_bleu_by_length.png"))


def longest_example(test: list, scores: toyseq.Scores) -> dict:
    """The longest test source, the output and the attention weights."""
    i = max(range(len(test)), key=lambda k: len(test[k]))
    hyp = scores.hypotheses[i]
    src = [str(t - (toyseq.VOCAB - toyseq.SYMBOLS)) for t in test[i]]
    out = [str(t - (toyseq.VOCAB - toyseq.SYMBOLS)) for t in hyp.tokens]
    out = [*out, "<eos>"][: hyp.attention.shape[0]]  # no <eos> row when cut off
    weights = hyp.attention[: len(out), : len(src)].tolist()
    return {"source": src, "output": out, "weights": weights, "exact": scores.exact[i]}


def heat_map(ctx: Context, example: dict) -> dict:
    """An example's attention as a PNG; what the report says of it."""
    src, name = example["source"], "attention_longest.png"
    plots.attention_heatmap(
        src,
        example["output"],
        example["weights"],
        ctx.plot_path(name),
        title=f"reversing {len(src)} symbols",
    )
    return {"source_length": len(src), "exact": example["exact"], "plot": name}


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in results.items():
        names = list(r["by_length"])
        ax.errorbar(
            names,
            [100 * r["by_length"][b]["mean"] for b in names],
            yerr=[100 * r["by_length"][b]["std"] for b in names],
            marker="o",
            capsize=3,
            label=name,
        )
    ax.set_xlabel("source length (symbols)")
    ax.set_ylabel("test token accuracy (%), mean ± std")
    ax.set_ylim(0, 100)
    ax.legend()
    save_figure(fig, ctx.plot_path("accuracy_by_length.png"))


def summarize(
    ctx, results, lengths, long_from, steps, hidden, example, translation=None
) -> dict:
    attn = results["attention"]
    best = max(FIXED, key=lambda n: results[n]["longest_half"]["mean"])
    names = list(attn["by_length"])
    lead = {
        b: attn["by_length"][b]["mean"] - results[best]["by_length"][b]["mean"]
        for b in names
    }
    if attn["by_length"][names[0]]["mean"] < 0.5:
        held = None
    else:
        fixed = results[best]["longest_half"]
        beats = separated(attn["longest_half"], fixed, ctx.seeds)
        held = bool(beats and lead[names[-1]] > lead[names[0]])
    if translation is not None and held is not None:
        bleu = translation["bleu_by_length"]
        longest = list(bleu["attention"])[-1]
        fixed_best = max(FIXED, key=lambda n: bleu[n][longest]["mean"])
        held = held and bool(
            separated(bleu["attention"][longest], bleu[fixed_best][longest], ctx.seeds)
        )
    rows = [
        [n, r["parameters"], *(fmt(r["by_length"][b]) for b in names)]
        for n, r in results.items()
    ]
    rows.append(["attention - best fixed", "", *(f"{lead[b]:+.3f}" for b in names)])
    reading = (
        f"Token accuracy on sources of >= {long_from} symbols: "
        + ", ".join(f"{fmt(r['longest_half'])} ({n})" for n, r in results.items())
        + f". Attention's lead over {best} is {lead[names[0]]:+.3f} on the shortest "
        f"bucket ({names[0]}) and {lead[names[-1]]:+.3f} on the longest "
        f"({names[-1]}). The heat map shows the attention of a "
        f"{example['source_length']}-symbol test source, for the reader to judge "
        "the alignment (the verdict rests on the accuracies)."
    )
    tables = [
        table(
            "Test token accuracy by source length (mean ± std over seeds)",
            ["decoder", "parameters", *names],
            rows,
        )
    ]
    if translation is not None:
        bleu = translation["bleu_by_length"]
        buckets = list(bleu["attention"])
        tables.append(
            table(
                "Multi30k De->En test BLEU by source length in words (mean ± std)",
                ["decoder", *buckets],
                [[n, *(fmt(b[k], 2) for k in buckets)] for n, b in bleu.items()],
            )
        )
        reading += (
            " Multi30k test BLEU on the longest sources: "
            + ", ".join(f"{fmt(b[buckets[-1]], 2)} ({n})" for n, b in bleu.items())
            + "."
        )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} Adam steps per toy run, batch 64"
        + (f"; {translation['steps']} per Multi30k run" if translation else ""),
        setup=(
            f"Reverse a random string of {lengths[0]}-{lengths[1]} symbols (20 "
            f"symbols). LSTM encoder-decoder, embedding 32, hidden {hidden}, Adam lr "
            f"3e-3 with cosine decay, clip 1.0, {steps} steps of 64 fresh strings; "
            "greedy decoding of "
            f"{ctx.pick(1000, 200)} test strings, the fraction of target positions "
            "right, by source length."
        ),
        tables=tables,
        reading=reading,
        example=example,
        results=results,
        translation=translation,
    )
