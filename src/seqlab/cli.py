"""The ``seqlab`` command: parse, call the library, print. The only place that exits."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from seqlab import __version__
from seqlab.checkpoint import CheckpointError
from seqlab.cli_bench import add_bench
from seqlab.config import ConfigError
from seqlab.data.datasets import DataError
from seqlab.train import TrainingDiverged

# Errors that are the user's input, reported in one line without a traceback.
USER_ERRORS = (
    ConfigError,
    DataError,
    CheckpointError,
    FileNotFoundError,
    FileExistsError,
    ValueError,
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt as err:  # train's Interrupted: after saving 'last'
        print(str(err) or "interrupted", file=sys.stderr)
        return getattr(err, "exit_code", 130)
    except TrainingDiverged as err:
        print(f"seqlab {args.command}: {err}", file=sys.stderr)
        return 1
    except USER_ERRORS as err:
        print(f"seqlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout left (seqlab data list | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqlab",
        description="Sequence models from the plain RNN to the Transformer.",
    )
    parser.add_argument("--version", action="version", version=f"seqlab {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")
    add_train(commands)
    add_evaluate(commands)
    add_generate(commands)
    add_predict(commands)
    add_chat(commands)
    add_plot_attention(commands)
    add_bench(commands)
    add_experiment(commands)
    add_demo(commands)
    add_serve(commands)
    add_export(commands)
    add_data(commands)
    add_average(commands)
    add_plot_curves(commands)
    return parser


def add_average(commands) -> None:
    p = commands.add_parser(
        "average",
        help="a run whose weights are the mean of a run's kept checkpoints "
        "(train.keep_last)",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--last",
        type=int,
        default=None,
        help="average the N most recent (default: all)",
    )
    p.add_argument("--out", required=True, help="the new run directory")
    p.set_defaults(run=run_average, command="average")


def run_average(args) -> int:
    from seqlab.average import average_run

    chosen = average_run(args.run_dir, args.out, last=args.last)
    names = ", ".join(p.name for p in chosen)
    print(f"averaged {len(chosen)} checkpoint(s) of {args.run_dir} ({names})")
    print(f"run saved in {args.out}", file=sys.stderr)
    return 0


def add_plot_curves(commands) -> None:
    p = commands.add_parser(
        "plot-curves",
        help="learning curves of one or several runs as a picture (needs [plots])",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="picture file, e.g. curves.png")
    p.set_defaults(run=run_plot_curves, command="plot-curves")


def run_plot_curves(args) -> int:
    from seqlab.plots import learning_curves, read_curves

    curves = {name: read_curves(path) for name, path in _run_names(args.run_dirs)}
    print(f"wrote {learning_curves(curves, args.out)}")
    return 0


def _run_names(run_dirs: list[str]) -> list[tuple[str, str]]:
    """(label, path) of each run: its directory name, or the path when names repeat."""
    from pathlib import Path

    names = [Path(d).name or d for d in run_dirs]
    unique = len(set(names)) == len(names)
    return [(n if unique else d, d) for n, d in zip(names, run_dirs, strict=True)]


def add_data(commands) -> None:
    p = commands.add_parser("data", help="the named data sets: list, download")
    p.set_defaults(run=lambda args: p.print_help() or 2, command="data")
    actions = p.add_subparsers(metavar="ACTION")
    listing = actions.add_parser(
        "list", help="each data set: task, size, where it is looked for, present?"
    )
    listing.add_argument("--data-dir", help="default: $SEQLAB_DATA, then the cache")
    listing.set_defaults(run=run_data_list, command="data list")
    fetch = actions.add_parser(
        "download", help="fetch a data set's files (checksums checked)"
    )
    fetch.add_argument("name", metavar="NAME", help="a data set name, or 'all'")
    fetch.add_argument("--data-dir", help="default: $SEQLAB_DATA, then the cache")
    fetch.set_defaults(run=run_data_download, command="data download")


def run_data_list(args) -> int:
    from seqlab.data import datasets, records

    rows = records.list_data(args.data_dir)
    print(f"data directory: {datasets.resolve_data_dir(args.data_dir)}")
    w = max(len(r.size) for r in rows)
    print(f"{'name':18s} {'task':9s} {'present':9s} {'size':{w}s} where looked for")
    for r in rows:
        print(f"{r.name:18s} {r.task:9s} {r.present:9s} {r.size:{w}s} {r.where}")
    return 0


def run_data_download(args) -> int:
    from seqlab.data import records

    paths = records.download(args.name, args.data_dir)
    print(f"{args.name}: {len(paths)} file(s) in place", file=sys.stderr)
    return 0


def add_serve(commands) -> None:
    from seqlab.serve.limits import Limits

    p = commands.add_parser(
        "serve", help="serve trained runs: a JSON API and a web page (needs [serve])"
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: language models generate with bfloat16 weights (others: fp32)",
    )
    for field in dataclasses.fields(Limits):
        flag = "--" + field.name.replace("_", "-")
        kind, default = type(field.default), field.default
        p.add_argument(flag, type=kind, default=default, help=f"default: {default}")
    p.set_defaults(run=run_serve, command="serve")


def run_serve(args) -> int:
    from seqlab.serve import serve
    from seqlab.serve.limits import Limits

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise ValueError("needs the serve extra: pip install 'seqlab[serve]'") from err
    names = [field.name for field in dataclasses.fields(Limits)]
    limits = Limits(**{name: getattr(args, name) for name in names})
    serve(args.run_dirs, args.host, args.port, limits, precision=args.precision)
    return 0


def add_demo(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="seq2seq with attention learns to normalise dates (~2 minutes, no data "
        "to download), converts dates and draws its attention",
    )
    demo.add_argument(
        "--out", default="runs/demo-dates", help="run directory (reused if trained)"
    )
    demo.add_argument(
        "--date", action="append", default=None, help="a date to convert (repeatable)"
    )
    demo.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override the demo config, e.g. train.max_minutes=1",
    )
    demo.set_defaults(run=run_demo, command="demo")


def run_demo(args) -> int:
    from seqlab import demo, run

    dates = args.date or list(demo.EXAMPLES)
    result = demo.run(args.out, dates, args.overrides, log=print)
    print(f"\ntest accuracy (exact match): {result.test_accuracy:.2%}")
    for source, output in result.conversions:
        print(f"  {source:<28} -> {output}")
    if result.heatmap is None:
        print("(pip install 'seqlab[plots]' for the attention heat map)")
    else:
        print(f"attention of {dates[0]!r}: {result.heatmap}")
    print(
        f"more: seqlab predict {args.out}   |   seqlab plot-attention {args.out} "
        "--input 'May 5, 1999' --out attn.png"
    )
    if sys.stdin.isatty():
        _convert_typed_dates(run.load_run(args.out))
    return 0


def _convert_typed_dates(loaded) -> None:
    print("type a date (as in the examples above; an empty line ends):")
    for line in sys.stdin:
        if not line.strip():
            break
        print("  -> " + loaded.task.predict(loaded.model, [line])[0])


def add_train(commands) -> None:
    p = commands.add_parser("train", help="train the model a config file describes")
    p.add_argument(
        "config", help="YAML run config, e.g. configs/shakespeare-char-lstm.yaml"
    )
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, e.g. --set train.lr=3e-4 train.batch_size=64 "
        "(repeatable)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint",
    )
    p.add_argument(
        "--data-dir",
        help="where data sets are looked for "
        "(default: $SEQLAB_DATA, then ~/.cache/seqlab/data)",
    )
    p.set_defaults(run=run_train, command="train")


def run_train(args) -> int:
    from pathlib import Path

    from seqlab import run

    cfg = run.load_run_config(args.config, tuple(args.overrides))
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    summary = run.train(cfg, out, resume=args.resume, data_dir=args.data_dir)
    if os.environ.get("RANK", "0") == "0":  # torchrun: rank 0 alone reports
        print(json.dumps(summary, indent=2))
        print(f"run saved in {out}", file=sys.stderr)
    return 0


def add_evaluate(commands) -> None:
    p = commands.add_parser("evaluate", help="metrics of a trained run on a split")
    p.add_argument("run_dir")
    p.add_argument("--split", default="val", help="val or test (default: val)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--data-dir", help="where data sets are looked for")
    p.add_argument(
        "--beam", type=int, default=None, help="seq2seq: beam size of the search"
    )
    p.set_defaults(run=run_evaluate, command="evaluate")


def run_evaluate(args) -> int:
    from seqlab import run

    loaded = run.load_run(args.run_dir)
    if args.beam is not None:  # refused before the data is read
        loaded.task.require("beam", "--beam")
        if args.beam < 1:
            raise ValueError(f"--beam must be >= 1, got {args.beam}")
    loaded.task.load_data(args.data_dir)
    if args.split not in loaded.task.splits():
        raise ValueError(
            f"--split {args.split!r}: this data set has the splits "
            f"{', '.join(loaded.task.splits())}"
        )
    options = {} if args.beam is None else {"beam": args.beam}
    metrics = loaded.task.evaluate(loaded.model, args.split, **options)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        for key, value in metrics.items():
            print(f"{key}\t{value:.4f}")
    return 0


def add_generate(commands) -> None:
    p = commands.add_parser(
        "generate", help="sample text from a trained language model"
    )
    p.add_argument("run_dir")
    p.add_argument("--prompt", default=None, help="text to continue")
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--greedy", action="store_true", help="always the most likely token")
    p.add_argument("--seed", type=int, default=None, help="makes sampling reproducible")
    p.set_defaults(run=run_generate, command="generate")


def run_generate(args) -> int:
    import torch

    from seqlab import decode, run

    loaded = run.load_run(args.run_dir)
    defaults = loaded.cfg.generate
    prompt = defaults.prompt if args.prompt is None else args.prompt
    device = next(loaded.model.parameters()).device
    prefix = torch.tensor([loaded.task.encode_prompt(prompt)], device=device)
    rows = decode.generate(
        loaded.model,
        prefix,
        _pick(args.max_new_tokens, defaults.max_new_tokens),
        greedy=args.greedy,
        temperature=_pick(args.temperature, defaults.temperature),
        top_k=_pick(args.top_k, defaults.top_k),
        top_p=_pick(args.top_p, defaults.top_p),
        eos_id=loaded.task.stop_id,
        generator=run.generator_for(args.seed, device),
    )
    print(prompt + loaded.task.decode_tokens(rows[0]))
    return 0


def _pick(value, default):
    return default if value is None else value


def add_predict(commands) -> None:
    p = commands.add_parser(
        "predict", help="run a trained model on inputs, one per line (stdin by default)"
    )
    p.add_argument("run_dir")
    p.add_argument("--input", help="file with one input per line (default: stdin)")
    p.add_argument(
        "--image",
        action="append",
        help="caption runs: a picture file to caption (repeat for several)",
    )
    p.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line, with scores (and attention)",
    )
    add_decoding_options(p, nbest=True)
    p.set_defaults(run=run_predict, command="predict")


def add_decoding_options(p, nbest: bool) -> None:
    """The flags of decode.SearchOptions (seq2seq and caption runs, chat replies)."""
    if nbest:
        p.add_argument(
            "--nbest",
            type=int,
            metavar="K",
            help="the K best outputs of each input, best first, with their "
            "log-probabilities (a beam of at least K)",
        )
    p.add_argument(
        "--no-repeat-ngram",
        type=int,
        metavar="N",
        help="never repeat an n-gram of N tokens within an output",
    )
    p.add_argument(
        "--sample", action="store_true", help="sample each token instead of searching"
    )
    p.add_argument("--temperature", type=float, help="with --sample (default 1)")
    p.add_argument(
        "--top-p", type=float, metavar="P", help="with --sample: the nucleus of mass P"
    )
    p.add_argument("--seed", type=int, help="with --sample: reproducible draws")


def search_options(args, task, beam: int, model):
    """decode.SearchOptions from the decoding flags, each refused in one line where
    ``task`` lacks it; None when no flag was given."""
    import torch

    from seqlab.decode import Sampler, SearchOptions

    nbest = getattr(args, "nbest", None)
    if not args.sample:
        for flag in ("temperature", "top_p", "seed"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} applies with --sample")
    if nbest is None and args.no_repeat_ngram is None and not args.sample:
        return None
    if nbest is not None:
        task.require("nbest", "--nbest")
        _at_least(nbest, 1, "--nbest")
    if args.no_repeat_ngram is not None:
        task.require("beam", "--no-repeat-ngram")
        _at_least(args.no_repeat_ngram, 1, "--no-repeat-ngram")
    sampler = None
    if args.sample:
        task.require("sampling", "--sample")
        if beam != 1:
            raise ValueError("--sample draws each token; it takes no --beam")
        generator = None
        if args.seed is not None:
            device = next(model.parameters()).device
            generator = torch.Generator(device).manual_seed(args.seed)
        temperature = 1.0 if args.temperature is None else args.temperature
        sampler = Sampler(
            temperature=temperature, top_p=args.top_p, generator=generator
        )
    return SearchOptions(
        beam_size=beam,
        nbest=nbest or 1,
        no_repeat_ngram=args.no_repeat_ngram or 0,
        sampler=sampler,
    )


def _at_least(value: int, low: int, flag: str) -> None:
    if value < low:
        raise ValueError(f"{flag} must be >= {low}, got {value}")


def run_predict(args) -> int:
    from seqlab import run
    from seqlab.data import readers

    if args.beam < 1:
        raise ValueError(f"--beam must be >= 1, got {args.beam}")
    loaded = run.load_run(args.run_dir)
    loaded.task.require("predicts", "seqlab predict")
    if args.beam != 1:
        loaded.task.require("beam", "--beam")
    options = search_options(args, loaded.task, args.beam, loaded.model)
    decoding = {} if options is None else {"options": options}
    if args.image:
        # a caption run reads picture paths as its input lines
        loaded.task.require("images", "--image")
        lines = list(args.image)
    elif args.input:
        lines = readers.read_input_lines(args.input)
    else:
        lines = sys.stdin.read().splitlines()
    todo = [line for line in lines if line.strip()]  # a blank line gets a blank one
    answers = iter(
        loaded.task.predict(
            loaded.model, todo, beam=args.beam, as_json=args.json, **decoding
        )
        if todo
        else []
    )
    for line in lines:
        print(next(answers) if line.strip() else "")
    return 0


def add_chat(commands) -> None:
    p = commands.add_parser(
        "chat",
        help="chat in the terminal: a classify run names each message's intent, "
        "a seq2seq run answers",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="one or two runs")
    p.add_argument("--beam", type=int, default=1, help="beam size of the answers")
    p.add_argument("--json", action="store_true", help="one JSON object per reply")
    add_decoding_options(p, nbest=False)
    p.set_defaults(run=run_chat, command="chat")


def run_chat(args) -> int:
    from seqlab.chat import ChatBot, chat_loop

    if len(args.run_dirs) > 2:
        raise ValueError("chat takes one or two run directories")
    bot = ChatBot.load(args.run_dirs, beam=args.beam)
    if bot.responder is not None:
        responder = bot.responder
        bot.options = search_options(args, responder.task, args.beam, responder.model)
    elif args.sample or args.no_repeat_ngram is not None:
        raise ValueError(
            "--sample and --no-repeat-ngram decode a seq2seq run's answers"
        )
    interactive = sys.stdin.isatty() and not args.json
    if interactive:
        print("seqlab chat: type a message; exit or Ctrl-D leaves", flush=True)

    def read() -> str:
        if interactive:
            return input("> ")
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    chat_loop(bot, read, lambda text: print(text, flush=True), as_json=args.json)
    if interactive:
        print()
    return 0


def add_experiment(commands) -> None:
    p = commands.add_parser(
        "experiment", help="measure a claim of the articles: report.md, plots, JSON"
    )
    p.add_argument("name", help="an experiment name, or 'list'")
    p.add_argument("--out", help="output directory (default: experiments/NAME)")
    p.add_argument("--quick", action="store_true", help="a small run (< 2 minutes)")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per setting (default: 1 quick, 3 full)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the models are small, and more threads "
        "slow them down on a busy CPU)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped experiment in --out: reuse the runs it finished "
        "and resume the one it left part-way (default: start afresh)",
    )
    p.set_defaults(run=run_experiment_cmd, command="experiment")


def run_experiment_cmd(args) -> int:
    from pathlib import Path

    from seqlab.experiments import EXPERIMENTS, run_experiment

    if args.name == "list":
        for exp in EXPERIMENTS.values():
            print(
                f"{exp.name:20s} ~{exp.minutes_full:g} min full, "
                f"~{exp.minutes_quick:g} min --quick: {exp.claim}"
            )
        return 0
    if args.name not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment {args.name!r}; choose one of "
            f"{', '.join(EXPERIMENTS)} (or 'list')"
        )
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    out = Path(args.out) if args.out else Path("experiments") / args.name
    results = run_experiment(
        EXPERIMENTS[args.name],
        out,
        quick=args.quick,
        seeds=args.seeds,
        log=lambda m: print(m, file=sys.stderr),
        threads=args.threads,
        resume=args.resume,
    )
    print(f"{args.name}: {results['verdict']}; report in {out / 'report.md'}")
    return 0


def add_export(commands) -> None:
    p = commands.add_parser(
        "export", help="export a trained run for inference without seqlab (ONNX)"
    )
    p.add_argument("run_dir", help="the run directory of `seqlab train`")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument(
        "--out",
        help="file to write (default: RUN_DIR/model.onnx; seq2seq writes "
        "<name>-encoder.onnx and <name>-decoder.onnx)",
    )
    p.set_defaults(run=run_export, command="export")


def run_export(args) -> int:
    from seqlab.export import export_run

    for path in export_run(args.run_dir, args.out):
        print(path)
    return 0


def add_plot_attention(commands) -> None:
    p = commands.add_parser(
        "plot-attention",
        help="heat map of a seq2seq model's attention on one input (a Transformer: "
        "cross-attention of every layer and head)",
    )
    p.add_argument("run_dir")
    p.add_argument("--input", help="the source text")
    p.add_argument("--image", help="caption runs: the picture file")
    p.add_argument("--out", required=True, help="image file to write, e.g. attn.png")
    p.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    p.set_defaults(run=run_plot_attention, command="plot-attention")


def run_plot_attention(args) -> int:
    from seqlab import plots, run

    if (args.input is None) == (args.image is None):
        raise ValueError("give either --input (seq2seq) or --image (caption runs)")
    loaded = run.load_run(args.run_dir)
    if args.image is not None:
        return _plot_image_attention(loaded, args)
    loaded.task.require("attention_plot", "seqlab plot-attention")
    if loaded.task.supports("images"):
        raise ValueError(f"{args.run_dir} is a caption run: give --image, not --input")
    result = loaded.task.translate(loaded.model, [args.input], beam=args.beam)[0]
    if result.attention is None:
        decoder = getattr(loaded.cfg.model, "decoder", "?")
        raise ValueError(
            f"{args.run_dir} has no attention to draw "
            f"(decoder {decoder!r}, or an empty input)"
        )
    maps = loaded.task.attention_maps(loaded.model, result)
    title = f"{result.source} -> {result.text}"
    try:
        if maps is None:  # one map: the RNN decoder's attention
            plots.attention_heatmap(
                result.source_tokens,
                result.output_tokens,
                result.attention,
                args.out,
                title=title,
            )
        else:  # a Transformer: every layer and head
            plots.attention_grid(
                result.source_tokens, result.output_tokens, maps, args.out, title
            )
    except ImportError as err:
        print(f"seqlab plot-attention: error: {err}", file=sys.stderr)
        return 2
    print(f"{result.source} -> {result.text}")
    print(f"attention heat map written to {args.out}", file=sys.stderr)
    return 0


def _plot_image_attention(loaded, args) -> int:
    from seqlab import plots

    loaded.task.require("images", "--image")
    images = loaded.task.read_images([args.image])  # read once: captioned and drawn
    result = loaded.task.caption_images(
        loaded.model, [args.image], images, beam=args.beam
    )[0]
    if result.attention is None:
        raise ValueError(f"{args.run_dir} has no attention to draw (no attention)")
    picture = images[0].permute(1, 2, 0).numpy()
    try:
        plots.image_attention(
            picture, result.tokens, result.attention, args.out, title=result.text
        )
    except ImportError as err:
        print(f"seqlab plot-attention: error: {err}", file=sys.stderr)
        return 2
    print(result.text)
    print(f"attention over the picture written to {args.out}", file=sys.stderr)
    return 0
