"""``bidirectional``: one direction against two, on chunking and on sentiment.

Seed 001: a bidirectional RNN reads the sequence both ways, so the value at step t
depends on what comes before *and* after it. Two seqlab tasks where that should
matter differently: CoNLL-2000 chunking (a word's chunk tag depends on the words
after it: "the" opens a noun phrase whose end only the right context shows) and MR
sentence polarity (one label per sentence, read from a pooled summary). The same
model with ``model.bidirectional`` false and true (hidden size per direction, so the
bidirectional model has about twice the recurrent weights), same steps, trained by
``seqlab train``'s trainer.
"""

from __future__ import annotations

from seqlab.experiments import runs
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

CLAIM = (
    "a bidirectional RNN, whose output at t sees the whole sequence, does better "
    "than one reading left to right (seed 001)."
)
RULE = (
    "held if on CoNLL-2000 chunking the bidirectional tagger's test F1 exceeds the "
    "unidirectional one's by more than 2 standard errors; MR's accuracy is reported "
    "beside (a sentence label read from a pooled summary need not gain); "
    "inconclusive if neither tagger reaches F1 0.5"
)


def tagger(bidirectional: bool, seed: int, steps: int, size: int) -> dict:
    return {
        "task": "tag",
        "data": {"dataset": "conll2000", "lowercase": True, "zero_digits": True},
        "model": {
            "kind": "tagger",
            "cell": "lstm",
            "embedding_size": size,
            "hidden_size": size,
            "bidirectional": bidirectional,
            "dropout": 0.3,
            "head": "softmax",
        },
        "train": runs.budget(
            steps, lr=3e-3, batch_size=32, clip_norm=5.0, eval_every=steps, seed=seed
        ),
    }


def classifier(bidirectional: bool, seed: int, steps: int, size: int) -> dict:
    return {
        "task": "classify",
        "data": {"dataset": "sentence_polarity", "tokenizer": "word"},
        "model": {
            "kind": "classifier",
            "cell": "lstm",
            "embedding_size": size,
            "hidden_size": size,
            "bidirectional": bidirectional,
            "dropout": 0.5,
            "pooling": "mean",
        },
        "train": runs.budget(
            steps, lr=2e-3, batch_size=32, clip_norm=5.0, eval_every=steps, seed=seed
        ),
    }


TASKS = {  # name -> (config, the test metric)
    "CoNLL-2000 chunking": (tagger, "test_f1"),
    "MR polarity": (classifier, "test_accuracy"),
}


def run(ctx: Context) -> dict:
    steps = ctx.pick(2000, 60, smoke=3)
    size = ctx.pick(128, 32, smoke=8)
    results = {}
    for task, (config, metric) in TASKS.items():
        for bi in (False, True):
            name = f"{task}, {'bidirectional' if bi else 'left to right'}"
            scores, seconds, params = [], [], 0
            for seed in range(ctx.seeds):
                ctx.log(f"  {name}, seed {seed}")
                label = f"{task.split()[0]}-{'bi' if bi else 'uni'}-seed{seed}"
                trained = runs.train(ctx, label, config(bi, seed, steps, size))
                scores.append(trained.summary[metric])
                seconds.append(trained.summary.get("train_seconds", 0.0))
                params = trained.summary["parameters"]
            results[name] = {
                "metric": metric,
                "score": spread(scores),
                "scores": scores,
                "parameters": params,
                "seconds": spread(seconds),
            }
    plot(ctx, results)
    return summarize(ctx, results, steps, size)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(results)
    spread_bars(
        ax,
        results,
        "score",
        "test F1 (chunking) / accuracy (MR), %",
        scale=100,
        color=["tab:blue", "tab:orange"] * (len(names) // 2),
    )
    save_figure(fig, ctx.plot_path("bidirectional.png"))


def summarize(ctx, results, steps, size) -> dict:
    uni = results["CoNLL-2000 chunking, left to right"]["score"]
    bi = results["CoNLL-2000 chunking, bidirectional"]["score"]
    learned = max(uni["mean"], bi["mean"]) >= 0.5
    held = bool(separated(bi, uni, ctx.seeds)) if learned else None
    reading = (
        "Test score (F1 for chunking, accuracy for MR): "
        + ", ".join(
            f"{r['score']['mean']:.4f} ± {r['score']['std']:.4f} ({n})"
            for n, r in results.items()
        )
        + "."
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} AdamW steps per run, batch 32",
        setup=(
            f"One LSTM layer, embedding {size}, hidden {size} per direction, over "
            "words. CoNLL-2000: softmax tags, dropout 0.3, no character encoder, no "
            "POS column, seqeval chunk F1. MR: whole words, mean pooling, dropout "
            f"0.5, fold 0 test. AdamW with cosine decay over {steps} steps, clip 5; "
            "the weights of the best validation score are tested."
        ),
        tables=[
            settings_table(
                "Test score (mean ± std over seeds) and training time",
                results,
                {"score": ("test F1 / accuracy", 4)},
            )
        ],
        reading=reading,
        results=results,
    )
