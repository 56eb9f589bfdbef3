"""`seqlab bench`: its subcommands' options and handlers (the timing is in
:mod:`seqlab.bench`, the load test in :mod:`seqlab.serve.loadtest`)."""

from __future__ import annotations

import json
import os
import sys


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
    rnn.set_defaults(run=run_bench_rnn, command="bench")
    add_bench_scan(kinds)
    gen = kinds.add_parser(
        "generate", help="Transformer LM decoding: KV cache vs recomputing the prefix"
    )
    gen.add_argument("--json", action="store_true", help="print a JSON list of rows")
    gen.add_argument("--new-tokens", type=int, default=256)
    gen.set_defaults(run=run_bench_generate, command="bench")
    add_bench_serve(kinds)
    exp = kinds.add_parser(
        "export",
        help="inference latency: onnxruntime vs PyTorch eager on a run's exported "
        "model (classifier, tagger, one LM step)",
    )
    exp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    exp.add_argument("--repeats", type=int, default=50, help="timed calls per side")
    exp.add_argument("--json", action="store_true", help="print a JSON list of rows")
    exp.set_defaults(run=run_bench_export, command="bench")


def add_bench_serve(kinds) -> None:
    p = kinds.add_parser(
        "serve",
        help="load test: seqlab serve on loopback, 1/8/32 concurrent clients "
        "(a fixed number of requests, a time cap)",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--requests", type=int, default=200, help="per client count")
    p.add_argument("--clients", default="1,8,32", help="comma-separated counts")
    p.add_argument("--time-cap", type=float, default=60.0, help="seconds per level")
    p.add_argument("--input", default=None, help="input or prompt of every request")
    p.add_argument("--max-new-tokens", type=int, default=32, help="generate only")
    p.add_argument("--image", default=None, help="picture sent to captioners")
    p.add_argument("--max-in-flight", type=int, default=None, help="server limit")
    p.add_argument("--workers", type=int, default=None, help="server threads")
    p.add_argument(
        "--max-batch", type=int, default=None, help="server micro-batch (1: none)"
    )
    p.add_argument(
        "--batch-linger-ms", type=float, default=None, help="server (0: no linger)"
    )
    p.add_argument(
        "--precision", choices=("fp32", "bf16"), default=None, help="server's"
    )
    p.add_argument(
        "--server-cpus",
        default=None,
        help="CPUs of the server, e.g. 0 or 0-3 (Linux): keep the clients off them",
    )
    p.add_argument("--client-cpus", default=None, help="CPUs of the clients, e.g. 1")
    p.add_argument("--json", action="store_true", help="print a JSON list of rows")
    p.set_defaults(run=run_bench_serve, command="bench")


# `seqlab bench serve` options handed on to the server it starts
SERVER_OPTIONS = (
    "max_in_flight",
    "workers",
    "max_batch",
    "batch_linger_ms",
    "precision",
)


def run_bench_serve(args) -> int:
    import urllib.request

    from seqlab.serve import loadtest

    clients = tuple(int(n) for n in args.clients.split(","))
    if args.requests < 1 or args.time_cap <= 0 or min(clients) < 1:
        raise ValueError("--requests, --time-cap and --clients must be positive")
    options = []
    for flag in SERVER_OPTIONS:
        if getattr(args, flag) is not None:
            options += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    image = None
    if args.image is not None:
        if not os.path.isfile(args.image):
            raise ValueError(f"--image: {args.image}: no such file")
        with open(args.image, "rb") as f:
            image = f.read()
    server_cpus = loadtest.parse_cpus(args.server_cpus, "--server-cpus")
    client_cpus = loadtest.parse_cpus(args.client_cpus, "--client-cpus")
    rows = []
    with loadtest.Server(args.run_dirs, options, cpus=server_cpus) as server:
        if client_cpus is not None:
            os.sched_setaffinity(0, client_cpus)
        with urllib.request.urlopen(server.url + "/v1/models") as response:
            models = json.load(response)["models"]
        for model in models:
            rows += loadtest.load_test(
                server.url,
                model,
                clients=clients,
                requests=args.requests,
                time_cap=args.time_cap,
                text=args.input,
                max_new_tokens=args.max_new_tokens,
                image=image,
                server_cpu=server.cpu_seconds,
            )
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print(loadtest.format_table(rows))
    return 0


def run_bench_rnn(args) -> int:
    from seqlab import bench

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
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


def add_bench_scan(kinds) -> None:
    scan = kinds.add_parser(
        "scan",
        help="forward+backward time vs sequence length: MinGRU parallel and "
        "sequential, GRU (torch.nn and seqlab), a Transformer layer",
    )
    scan.add_argument("--json", action="store_true", help="print a JSON list of rows")
    scan.add_argument("--repeats", type=int, default=3, help="timed runs per point")
    scan.add_argument(
        "--max-steps", type=int, default=4096, help="longest T (T doubles from 64)"
    )
    scan.add_argument(
        "--sequential-max-steps",
        type=int,
        default=None,
        help="longest T for MinGRU's step-by-step mode (default: 1024)",
    )
    scan.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    scan.add_argument("--plot", metavar="FILE", help="also draw time vs T to a PNG")
    scan.add_argument(
        "--device", default=None, help="cpu or cuda (default: cuda if any)"
    )
    scan.set_defaults(run=run_bench_scan, command="bench")


def run_bench_scan(args) -> int:
    import torch

    from seqlab import bench

    if args.repeats < 1 or args.max_steps < 64:
        raise ValueError(
            f"--repeats must be >= 1 and --max-steps >= 64, "
            f"got {args.repeats} and {args.max_steps}"
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cap = args.sequential_max_steps or bench.SEQUENTIAL_MAX_STEPS
    steps = tuple(t for t in bench.SCAN_STEPS if t <= args.max_steps)
    rows = bench.bench_scan(
        steps,
        batch=bench.SCAN_BATCH,
        hidden=bench.SCAN_HIDDEN,
        repeats=args.repeats,
        sequential_max_steps=cap,
        device=args.device,
        progress=lambda what: print(f"timing {what}", file=sys.stderr),
    )
    if args.plot:
        try:
            bench.plot_scan(rows, args.plot)
        except ImportError as err:
            msg = "--plot needs matplotlib: pip install 'seqlab[plots]'"
            raise ValueError(msg) from err
    skipped = f"MinGRU sequential not timed above T={cap} (--sequential-max-steps)"
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        if steps[-1] > cap:
            print(skipped, file=sys.stderr)
        return 0
    print(f"{bench.environment()}; B={bench.SCAN_BATCH} H={bench.SCAN_HIDDEN}, ms")
    print(bench.format_scan_table(rows))
    print("\n".join(bench.scan_ratios(rows)))
    if steps[-1] > cap:
        print(skipped)
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


def run_bench_export(args) -> int:
    from seqlab import bench

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    rows = [r for d in args.run_dirs for r in bench.bench_export(d, args.repeats)]
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    print(bench.environment())
    print(bench.format_export_table(rows))
    return 0


def run_bench_generate(args) -> int:
    from seqlab import bench

    rows = bench.bench_generation(new_tokens=args.new_tokens)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    print(bench.environment())
    for r in rows:
        print(
            f"{r.model}: {r.new_tokens} new tokens, KV cache "
            f"{r.cached_tokens_per_s:.0f} tok/s, recompute "
            f"{r.recompute_tokens_per_s:.0f} tok/s, speed-up {r.speedup:.1f}x"
        )
    return 0
