"""The ``seqlab`` command: parse, call the library, print. The only place that exits."""

from __future__ import annotations

import argparse
import json
import sys

from seqlab import __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqlab",
        description="Sequence models from the plain RNN to the Transformer.",
    )
    parser.add_argument("--version", action="version", version=f"seqlab {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")
    add_bench(commands)
    add_demo(commands)
    return parser


def add_bench(commands) -> None:
    bench = commands.add_parser("bench", help="timed benchmarks against torch")
    kinds = bench.add_subparsers(metavar="BENCH")
    rnn = kinds.add_parser(
        "rnn", help="forward+backward of seqlab's RNN/LSTM/GRU layers vs torch.nn"
    )
    rnn.add_argument("--json", action="store_true", help="print a JSON list of rows")
    rnn.add_argument("--repeats", type=int, default=9, help="timed runs per layer")
    rnn.add_argument(
        "--device", default=None, help="cpu or cuda (default: cuda if any)"
    )
    rnn.set_defaults(run=run_bench_rnn)


def run_bench_rnn(args) -> int:
    from seqlab import bench

    if args.repeats < 1:
        print(f"--repeats must be >= 1, got {args.repeats}", file=sys.stderr)
        return 2
    rows = bench.bench_rnn(
        repeats=args.repeats,
        device=args.device,
        progress=lambda what: print(f"timing {what}", file=sys.stderr),
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print(bench.environment())
        print(bench.format_table(rows))
    return 0


def add_demo(commands) -> None:
    demo = commands.add_parser(
        "demo", help="train a tiny LSTM on generated data (~1 minute) and show it"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--steps", type=int, default=600, help="training steps")
    demo.set_defaults(run=run_demo)


def run_demo(args) -> int:
    from seqlab import demo

    demo.run(seed=args.seed, steps=args.steps, log=print)
    return 0
