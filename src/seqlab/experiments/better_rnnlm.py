"""``better-rnnlm``: the book's "better RNNLM" ablation in perplexity.

Brown corpus, word level (configs/brown-word-lstm-baseline.yaml and
configs/brown-word-lstm.yaml): a one-layer LSTM LM, then each of the book's three
improvements added on top of the previous ones: a second layer, dropout 0.5, and
tied embedding and output weights. Every variant trains for the same number of
steps; the weights of the best validation perplexity are tested.
"""

from __future__ import annotations

import itertools

from seqlab.experiments import runs
from seqlab.experiments.common import Context, fmt, pyplot, save_figure, spread

CLAIM = "multi-layer LSTM + dropout + weight tying lower perplexity."
VARIANTS = {  # cumulative, as the book adds them
    "baseline (1 layer)": {"num_layers": 1, "dropout": 0.0, "tie_weights": False},
    "+ 2 layers": {"num_layers": 2, "dropout": 0.0, "tie_weights": False},
    "+ dropout 0.5": {"num_layers": 2, "dropout": 0.5, "tie_weights": False},
    "+ weight tying": {"num_layers": 2, "dropout": 0.5, "tie_weights": True},
}


def sizes(ctx: Context) -> tuple[str, int, int]:
    """(dataset, words kept, embedding = hidden size) for this mode. The output
    layer dominates evaluation, so quick keeps 2,000 words; a smoke run only checks
    the plumbing, on Tiny Shakespeare's words, which load faster."""
    dataset = ctx.pick("brown", "brown", smoke="tinyshakespeare")
    return dataset, ctx.pick(10_000, 2_000, smoke=500), ctx.pick(256, 128, smoke=16)


def config(ctx: Context, variant: dict, seed: int, steps: int) -> dict:
    dataset, vocab_size, size = sizes(ctx)
    return {
        "task": "lm",
        "data": {
            "dataset": dataset,
            "tokenizer": "word",
            "lowercase": True,
            "vocab_size": vocab_size,
            "bptt": 35,
            "eval_batch_size": 20,
        },
        "model": {
            "kind": "rnn_lm",
            "cell": "lstm",
            "embedding_size": size,
            "hidden_size": size,
            **variant,
        },
        "train": runs.budget(
            steps,
            lr=3e-3,
            batch_size=20,
            clip_norm=0.25,
            eval_every=max(steps // ctx.pick(5, 2), 1),
            seed=seed,
        ),
    }


def run(ctx: Context) -> dict:
    steps = ctx.pick(2000, 150, smoke=3)
    results, total = {}, len(VARIANTS) * ctx.seeds
    for i, (name, variant) in enumerate(VARIANTS.items()):
        trained = []
        for seed in range(ctx.seeds):
            ctx.log(f"[{i * ctx.seeds + seed + 1}/{total}] {name}, seed {seed}")
            cfg = config(ctx, variant, seed, steps)
            label = f"{'-'.join(f'{v}' for v in variant.values())}-seed{seed}"
            trained.append(runs.train(ctx, label, cfg))
        test = "test_ppl" if "test_ppl" in trained[0].summary else "val_ppl"
        results[name] = {
            "parameters": trained[0].summary["parameters"],
            "val_ppl": spread([t.summary["val_ppl"] for t in trained]),
            "test_ppl": spread([t.summary[test] for t in trained]),
            "curves": [t.curve("val_ppl") for t in trained],
        }
    plot(ctx, results)
    return summarize(ctx, results, steps)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        curve = r["curves"][0]
        left.plot([s for s, _ in curve], [v for _, v in curve], label=name)
    left.set_xlabel("training step")
    left.set_ylabel("validation perplexity, seed 0")
    left.set_yscale("log")
    left.legend()
    names = list(results)
    right.bar(
        range(len(names)),
        [results[n]["test_ppl"]["mean"] for n in names],
        yerr=[results[n]["test_ppl"]["std"] for n in names],
        capsize=4,
    )
    right.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
    right.set_ylabel("test perplexity")
    save_figure(fig, ctx.plot_path("perplexity.png"))


def summarize(ctx, results, steps) -> dict:
    dataset, vocab_size, size = sizes(ctx)
    names = list(results)
    ppl = [results[n]["test_ppl"]["mean"] for n in names]
    lowered = [later < earlier for earlier, later in itertools.pairwise(ppl)]
    held = ppl[-1] < ppl[0]
    steps_text = "; ".join(
        f"{names[i + 1]} {'lowers' if down else 'does not lower'} it"
        for i, down in enumerate(lowered)
    )
    reading = (
        f"Test perplexity after {steps} steps: "
        + ", ".join(f"{fmt(results[n]['test_ppl'], 1)} ({n})" for n in names)
        + f". Step by step: {steps_text}. All three together "
        f"{'lower' if held else 'do not lower'} it from "
        f"{fmt(results[names[0]]['test_ppl'], 1)} to "
        f"{fmt(results[names[-1]]['test_ppl'], 1)}. Dropout pays off only once the "
        "baseline overfits, which a short run may not reach."
    )
    rows = [
        [n, r["parameters"], fmt(r["val_ppl"], 1), fmt(r["test_ppl"], 1)]
        for n, r in results.items()
    ]
    return {
        "setup": (
            f"{dataset} words, lowercased, the {vocab_size:,} most frequent kept "
            "(Brown: 80/10/10 split in corpus order), LSTM LM with embedding = "
            f"hidden = {size}, bptt 35, "
            f"batch 20, AdamW lr 3e-3 with cosine decay, clip 0.25, {steps} steps "
            "per run; each variant adds one change to the one before."
        ),
        "tables": [
            {
                "title": "Perplexity (mean ± std over seeds)",
                "columns": ["variant", "parameters", "val ppl", "test ppl"],
                "rows": rows,
            }
        ],
        "reading": reading,
        "held": held,
        "results": results,
    }
