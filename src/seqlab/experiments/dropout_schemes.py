"""``dropout-schemes``: where dropout goes in a word LM, and which kind.

Seed 003 lists several ways to drop units in an RNN LM: none; standard dropout on the
embeddings, between layers and before the output (Zaremba et al. 2014, seqlab's
``model.dropout``); variational or "locked" dropout, one mask per sequence reused at
every step (Gal and Ghahramani 2016); dropping whole words' embeddings (embedding
dropout); DropConnect on the recurrent weights (weight drop, Merity et al. 2018). The
same two-layer LSTM LM trains with each (``model.dropout``, ``model.locked_dropout``,
``model.embedding_dropout``, ``model.weight_drop``); a scheme whose key the model
config lacks is left out of the run and named in its report.

The corpus is Tiny Shakespeare, cut in order: its first quarter (about 60,000
words) is the training text, the stretch from 80% to 90% validation, the last 10%
test. Dropout is for a model that would overfit. A first design trained on the first
80% for 8 epochs (1,856 steps), and there the undropped model was still improving at
its last step (training loss 4.91, validation 4.99; test perplexity 131.6 ± 0.9 vs
133.5 ± 0.9 with dropout 0.5 between layers, 3 seeds): too little training for any
scheme to pay. On the first quarter the undropped model's validation loss bottoms
out after about 15 epochs (1,100 steps; 5.086, then up to 5.132 by epoch 18 though
the learning rate was decaying), so 60 epochs (about 5,000 steps, 21 minutes a run
on one core) leave the dropped models room to pass it. 8 epochs of Brown (1.16M
words) take about 70 minutes a run at this size; ``better-rnnlm`` runs those.
"""

from __future__ import annotations

from seqlab.data import datasets
from seqlab.experiments import runs
from seqlab.experiments.common import (
    Context,
    fmt,
    outcome,
    pyplot,
    save_figure,
    seed0_curves,
    separated,
    settings_table,
    spread,
    spread_bars,
)
from seqlab.models.lm import RNNLMConfig

CLAIM = (
    "dropout regularises an RNN LM, and the schemes differ: dropout between layers "
    "(not on the recurrent connection) lowers perplexity, and a mask shared across "
    "time (variational/locked) or on the weights does better (seed 003)."
)
RULE = (
    "held if dropout between layers lowers test perplexity below no dropout by more "
    "than 2 standard errors, and every other scheme the model offers lowers it below "
    "no dropout the same way; inconclusive if no scheme beyond plain dropout could "
    "run (only part of the claim is testable)"
)
SCHEMES = {  # name -> model keys; a key the config lacks leaves the scheme out
    "none": {"dropout": 0.0},
    "between layers (0.5)": {"dropout": 0.5},
    "locked / variational (0.5)": {"locked_dropout": 0.5},
    "embedding dropout (0.1) + between layers": {
        "dropout": 0.5,
        "embedding_dropout": 0.1,
    },
    "weight drop (0.5) + between layers": {"dropout": 0.5, "weight_drop": 0.5},
}


def available() -> tuple[dict, list[str]]:
    """The schemes whose keys the LM config has, and the names of the others."""
    fields = RNNLMConfig.model_fields
    ok = {n: keys for n, keys in SCHEMES.items() if all(k in fields for k in keys)}
    return ok, [n for n in SCHEMES if n not in ok]


EPOCHS = 60
TRAIN_PART, HELD_OUT = 0.25, (0.8, 0.9)  # of Tiny Shakespeare's characters, in order


def split_files(ctx: Context) -> dict[str, str]:
    """Tiny Shakespeare cut into train / val / test files under DIR/data (written
    once; the same text every run): data.train_path, val_path, test_path."""
    text = datasets.locate("tinyshakespeare", None, download=True).read_text("utf-8")
    n = len(text)
    cuts = {
        "train_path": (0.0, TRAIN_PART),
        "val_path": HELD_OUT,
        "test_path": (HELD_OUT[1], 1.0),
    }
    out = ctx.out_dir / "data"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, (start, end) in cuts.items():
        part = text[int(n * start) : int(n * end)]
        # the cut in the name: runs of another cut have another config (--resume)
        path = out / f"{key.removesuffix('_path')}-{start:g}-{end:g}.txt"
        if not path.is_file() or path.read_text("utf-8") != part:
            path.write_text(part, encoding="utf-8")
        paths[key] = str(path)
    return paths


def config(ctx: Context, keys: dict, seed: int) -> dict:
    size = ctx.pick(256, 64, smoke=16)
    train = runs.budget(
        ctx.pick(None, 60, smoke=3),
        lr=3e-3,
        batch_size=20,
        clip_norm=0.25,
        eval_every=ctx.pick(170, 30, smoke=3),  # about 2 epochs in a full run
        seed=seed,
    )
    train["epochs"] = ctx.pick(EPOCHS, 1)
    return {
        "task": "lm",
        "data": {
            **split_files(ctx),
            "tokenizer": "word",
            "lowercase": True,
            "vocab_size": ctx.pick(5_000, 2_000, smoke=500),
            "bptt": 35,
            "eval_batch_size": 20,
        },
        "model": {
            "kind": "rnn_lm",
            "cell": "lstm",
            "embedding_size": size,
            "hidden_size": size,
            "num_layers": 2,
            **keys,
        },
        "train": train,
    }


def run(ctx: Context) -> dict:
    schemes, missing = available()
    results = {}
    for name, keys in schemes.items():
        trained = []
        for seed in range(ctx.seeds):
            ctx.log(f"  {name}, seed {seed}")
            label = "-".join(f"{k}{v}" for k, v in keys.items()) + f"-seed{seed}"
            trained.append(runs.train(ctx, label, config(ctx, keys, seed)))
        ppl = [t.summary.get("test_ppl", t.summary["val_ppl"]) for t in trained]
        last = [t.history[-1] for t in trained]  # the last evaluation: overfitting?
        results[name] = {
            "keys": keys,
            "test_ppl": spread(ppl),
            "runs": ppl,
            "steps": trained[0].summary["steps"],
            "seconds": spread([t.summary.get("train_seconds", 0.0) for t in trained]),
            "best_step": spread([t.summary["best_step"] or 0 for t in trained]),
            "last_train_loss": spread([r["train_loss"] for r in last]),
            "last_val_loss": spread([r["val_loss"] for r in last]),
            "curves": [t.curve("val_ppl") for t in trained],
        }
    plot(ctx, results)
    return summarize(ctx, results, missing)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    seed0_curves(
        left, results, "training step", "validation perplexity", log=True, marker="."
    )
    spread_bars(right, results, "test_ppl", "test perplexity (mean ± std over seeds)")
    save_figure(fig, ctx.plot_path("dropout_schemes.png"))


def beyond_between(results: dict, seeds: int) -> str:
    """Whether the schemes added to (or replacing) dropout between layers do
    better than it alone: the claim's second part, reported beside the rule."""
    between = results.get("between layers (0.5)")
    rest = [n for n in results if n not in ("none", "between layers (0.5)")]
    if between is None or not rest:
        return ""
    better = [
        n for n in rest if separated(between["test_ppl"], results[n]["test_ppl"], seeds)
    ]
    return (
        "Below dropout between layers alone by more than 2 standard errors: "
        + (", ".join(better) or "none of the other schemes")
        + ". "
    )


def summarize(ctx, results, missing) -> dict:
    none = results["none"]["test_ppl"]
    others = [n for n in results if n != "none"]
    lowers = {n: separated(none, results[n]["test_ppl"], ctx.seeds) for n in others}
    held = all(lowers.values()) if len(results) > 2 else None
    steps = results["none"]["steps"]
    plain = results["none"]
    reading = (
        "Test perplexity: "
        + ", ".join(
            f"{r['test_ppl']['mean']:.1f} ± {r['test_ppl']['std']:.1f} ({n})"
            for n, r in results.items()
        )
        + ". Below no dropout by more than 2 standard errors: "
        + (", ".join(n for n in others if lowers[n]) or "none")
        + "; not: "
        + (", ".join(n for n in others if not lowers[n]) or "none")
        + f". Without dropout the best validation comes at step "
        f"{fmt(plain['best_step'], 0)} of {steps}; at the last evaluation its "
        f"training loss is {fmt(plain['last_train_loss'], 2)} and its validation "
        f"loss {fmt(plain['last_val_loss'], 2)} (it overfits). "
        + beyond_between(results, ctx.seeds)
        + (
            "Not run, the model config has no key for them yet: "
            + "; ".join(missing)
            + "."
            if missing
            else "Every scheme ran."
        )
    )
    size, vocab = ctx.pick((256, 5_000), (64, 2_000), smoke=(16, 500))
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{ctx.pick(EPOCHS, 1)} epoch(s) per run ({steps} steps)",
        setup=(
            "Tiny Shakespeare words, lowercased, cut in order: the first 25% of the "
            "text trains, 80-90% validates, the last 10% tests; the "
            f"{vocab:,} most frequent training words kept; a "
            f"two-layer LSTM LM of {size} units (embedding = hidden), bptt 35, batch "
            "20, AdamW lr 3e-3 with cosine decay, clip 0.25; evaluated about every 2 "
            "epochs, the weights of the best validation perplexity are tested."
        ),
        tables=[
            settings_table(
                "Test perplexity, and the best and last evaluations (mean ± std over "
                "seeds)",
                results,
                {
                    "test_ppl": ("test perplexity", 1),
                    "best_step": ("best step", 0),
                    "last_train_loss": ("last train loss", 2),
                    "last_val_loss": ("last val loss", 2),
                },
            )
        ],
        reading=reading,
        missing_schemes=missing,
        results=results,
    )
