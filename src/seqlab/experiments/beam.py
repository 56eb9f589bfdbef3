"""``beam``: greedy decoding against beam search of width 2..10, BLEU and time.

Greedy decoding keeps the single most likely token at each step; beam search keeps
the K most likely prefixes, so it can recover when the best sentence starts with a
less likely word. Each seed trains one GRU encoder-decoder with attention on Multi30k
De->En (configs/multi30k-gru-attention.yaml, smaller, for a fixed number of steps) and
decodes the test set with every width, length penalty 1 (score / length) and 0 (raw
sum of log-probabilities, which favours short outputs). A --quick run decodes the toy
sort task instead (:mod:`seqlab.experiments.toyseq`), scored by token accuracy.
"""

from __future__ import annotations

import time

import torch

from seqlab import run as runs_io
from seqlab.experiments import runs, toyseq
from seqlab.experiments.common import (
    Context,
    fmt,
    outcome,
    pyplot,
    save_figure,
    spread,
    std_error,
    table,
)

CLAIM = (
    "beam search finds better outputs than greedy decoding (higher BLEU) at a cost "
    "in time that grows with the beam; a length penalty keeps it from preferring "
    "short outputs."
)
RULE = (
    "held if the gain in test BLEU of beam 5 with length penalty 1 over greedy "
    "decoding of the same model, over the seeds' models, is positive by more than 2 "
    "standard errors (a paired comparison: the models differ more from seed to seed "
    "than the searches do); the time per width and the effect of the length penalty "
    "are reported beside"
)
WIDTHS = (1, 2, 3, 5, 10)
PENALTIES = (1.0, 0.0)
GREEDY = (1, PENALTIES[0])
# Multi30k: 227 steps of 128 pairs an epoch, so about 10 epochs (bentrevett's
# tutorials train as long). At hidden 256 and 8,000 pieces a step took 1.7 s on one
# core (one run of 6,000 steps: about 3 hours); at 128 and 4,000, 0.72 s.
TRANSLATION_STEPS = 2300
TRANSLATION_SIZE = 128
TRANSLATION_VOCAB = 4000


def translation_config(seed: int, steps: int) -> dict:
    return {
        "task": "seq2seq",
        "data": {
            "dataset": "multi30k",
            "direction": "de-en",
            "tokenizer": "subword",
            "vocab_size": TRANSLATION_VOCAB,
            "bucket_by_length": True,
            "eval_batch_size": 250,
        },
        "model": {
            "kind": "seq2seq",
            "cell": "gru",
            "embedding_size": TRANSLATION_SIZE,
            "hidden_size": TRANSLATION_SIZE,
            "bidirectional": True,
            "dropout": 0.3,
            "decoder": "attention",
            "attention": "additive",
        },
        "train": runs.budget(
            steps,
            optimizer="adam",
            lr=1e-3,
            warmup_steps=200,
            batch_size=128,
            eval_every=max(1, steps // 5),  # the best of 5 evaluations is tested
            seed=seed,
        ),
        "decode": {"beam_size": 1, "max_length": 80},
    }


def translation_scores(ctx: Context, seed: int, steps: int) -> dict:
    """(width, penalty) -> (test BLEU, seconds) of one trained model."""
    trained = runs.train(ctx, f"multi30k-seed{seed}", translation_config(seed, steps))
    loaded = runs_io.load_run(trained.run_dir, device="cpu")
    task = loaded.task
    task.load_data(None)
    scores = {}
    for penalty in PENALTIES:
        decode_cfg = task.cfg.decode.model_copy(update={"length_penalty": penalty})
        task.cfg = task.cfg.model_copy(update={"decode": decode_cfg})
        for width in WIDTHS:
            if width == 1 and penalty != PENALTIES[0]:
                continue  # greedy has no length penalty
            ctx.log(f"    beam {width}, length penalty {penalty}")
            start = time.perf_counter()
            bleu = task.evaluate(loaded.model, "test", beam=width)["test_bleu"]
            scores[(width, penalty)] = (bleu, time.perf_counter() - start)
    return scores


def toy_scores(ctx: Context, seed: int, steps: int) -> dict:
    lengths = (4, 10)
    net = toyseq.model(seed, hidden_size=32, decoder="attention")
    toyseq.train(net, "sort", lengths, steps=steps, seed=seed)
    test = toyseq.sources(200, lengths, torch.Generator().manual_seed(7))
    scores = {}
    for penalty in PENALTIES:
        for width in WIDTHS:
            if width == 1 and penalty != PENALTIES[0]:
                continue
            start = time.perf_counter()
            out = toyseq.evaluate(net, "sort", test, beam=width, length_penalty=penalty)
            bleu = 100 * out.token_accuracy()
            scores[(width, penalty)] = (bleu, time.perf_counter() - start)
    return scores


def run(ctx: Context) -> dict:
    steps = ctx.pick(TRANSLATION_STEPS, 150, smoke=10)
    per_seed = []
    for seed in range(ctx.seeds):
        ctx.log(f"  seed {seed}")
        score = toy_scores if ctx.quick else translation_scores
        per_seed.append(score(ctx, seed, steps))
    keys = list(per_seed[0])
    gains = {  # paired: each model's beam score minus its own greedy score
        f"beam {w}, length penalty {p}": [s[(w, p)][0] - s[GREEDY][0] for s in per_seed]
        for w, p in keys
    }
    results = {
        f"beam {w}, length penalty {p}": {
            "width": w,
            "length_penalty": p,
            "bleu": spread([s[(w, p)][0] for s in per_seed]),
            "gain": spread(gains[f"beam {w}, length penalty {p}"]),
            "gains": gains[f"beam {w}, length penalty {p}"],
            "seconds": spread([s[(w, p)][1] for s in per_seed]),
        }
        for w, p in keys
    }
    plot(ctx, results)
    return summarize(ctx, results, steps)


def plot(ctx: Context, results: dict) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for penalty in PENALTIES:
        rows = [r for r in results.values() if r["length_penalty"] == penalty]
        if penalty != PENALTIES[0]:  # greedy (no penalty) starts every line
            rows += [r for r in results.values() if r["width"] == 1]
        rows = sorted({id(r): r for r in rows}.values(), key=lambda r: r["width"])
        widths = [r["width"] for r in rows]
        for ax, key in ((left, "bleu"), (right, "seconds")):
            ax.errorbar(
                widths,
                [r[key]["mean"] for r in rows],
                yerr=[r[key]["std"] for r in rows],
                marker="o",
                capsize=3,
                label=f"length penalty {penalty}",
            )
    left.set_ylabel("test BLEU (quick: token accuracy %)")
    right.set_ylabel("seconds to decode the test set")
    for ax in (left, right):
        ax.set_xlabel("beam width (1 = greedy)")
        ax.legend()
    save_figure(fig, ctx.plot_path("beam.png"))


def summarize(ctx, results, steps) -> dict:
    greedy = results[f"beam 1, length penalty {PENALTIES[0]}"]
    beam5 = results[f"beam 5, length penalty {PENALTIES[0]}"]
    # paired: the standard error of the per-model gains (one seed: the sign)
    error = 2 * std_error(beam5["gain"], ctx.seeds) if ctx.seeds > 1 else 0.0
    held = beam5["gain"]["mean"] > error
    rows = [
        [n, fmt(r["bleu"], 2), fmt(r["gain"], 2), fmt(r["seconds"], 1)]
        for n, r in results.items()
    ]
    metric = "BLEU" if not ctx.quick else "token accuracy (%)"
    ten = results[f"beam 10, length penalty {PENALTIES[1]}"]
    ratio = beam5["seconds"]["mean"] / max(greedy["seconds"]["mean"], 1e-9)
    reading = (
        f"Test {metric}: greedy {fmt(greedy['bleu'], 2)} in "
        f"{fmt(greedy['seconds'], 1)} s, beam 5 {fmt(beam5['bleu'], 2)} in "
        f"{fmt(beam5['seconds'], 1)} s ({ratio:.1f}x the time); beam 5's gain over "
        f"greedy on the same model {fmt(beam5['gain'], 2)} (per seed: "
        + ", ".join(f"{g:+.2f}" for g in beam5["gains"])
        + f"). Without a length penalty beam 10 scores {fmt(ten['bleu'], 2)} "
        f"({fmt(ten['gain'], 2)} against greedy)."
    )
    setup = (
        "Multi30k De->En, GRU encoder (bidirectional) and decoder with additive "
        f"attention, embedding = hidden = {TRANSLATION_SIZE}, one sentencepiece "
        f"model of {TRANSLATION_VOCAB:,} pieces, dropout 0.3, Adam lr 1e-3, batch "
        f"128 (by target length), {steps} steps (about 10 epochs), the best of 5 "
        "validation BLEUs kept; sacreBLEU of the detokenised test set (1,000 "
        "sentences) decoded at each width"
        if not ctx.quick
        else f"Toy sort task (4-10 symbols), LSTM with attention, hidden 32, {steps} "
        "steps; token accuracy of 200 test strings at each width"
    )
    return outcome(
        rule=RULE,
        held=held,
        budget=f"{steps} training steps per seed's model",
        setup=setup + "; decoding times on one thread.",
        tables=[
            table(
                f"Test {metric}, its gain over greedy on the same model, and decoding "
                "time (mean ± std over seeds)",
                ["search", metric, "gain over greedy", "seconds"],
                rows,
            )
        ],
        reading=reading,
        results=results,
    )
