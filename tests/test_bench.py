"""The benchmark harness runs and reports what BENCHMARKS.md quotes (not timings)."""

import json

from seqlab import bench
from seqlab.cli import main


def test_bench_rnn_rows_cover_every_variant(monkeypatch):
    rows = bench.bench_rnn(shapes=(bench.Shape(3, 2, 4, 2),), repeats=1)
    assert {(r.cell, r.variant) for r in rows} == {
        ("LSTM", "standard"),
        ("GRU", "standard"),
        ("RNN", "tanh"),
        ("LSTM", "peephole"),
        ("RNN", "sigmoid"),
    }
    for r in rows:
        assert r.ratio == r.seqlab_ms / r.torch_ms
    assert "| LSTM | peephole |" in bench.format_table(rows)


def test_bench_rnn_json_has_the_contract_keys(monkeypatch, capsys):
    monkeypatch.setattr(bench, "RNN_SHAPES", (bench.Shape(2, 1, 3, 1),))
    tiny = bench.bench_rnn.__defaults__
    monkeypatch.setattr(
        bench.bench_rnn, "__defaults__", ((bench.Shape(2, 1, 3, 1),), *tiny[1:])
    )
    assert main(["bench", "rnn", "--json", "--repeats", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5
    for row in rows:
        assert {
            "cell",
            "variant",
            "shape",
            "seqlab_ms",
            "torch_ms",
            "ratio",
        } <= row.keys()


def test_bench_scan_times_every_model_and_caps_the_sequential_mode(tmp_path):
    rows = bench.bench_scan(
        steps=(4, 8), batch=2, hidden=8, repeats=1, sequential_max_steps=4
    )
    keys = [(r.model, r.mode) for r in rows]
    assert keys[:6] == list(bench.scan_models(8))  # T=4: all six
    assert keys[6:] == [k for k in keys[:6] if k != ("MinGRU", "sequential")]
    assert all(r.ms > 0 and r.steps in (4, 8) for r in rows)
    table = bench.format_scan_table(rows).splitlines()
    assert table[4] == f"| MinGRU | sequential | 144 | {rows[2].ms:.1f} | - |"
    bench.plot_scan(rows, str(tmp_path / "scan.png"))
    assert (tmp_path / "scan.png").stat().st_size > 1000


def test_bench_scan_json_has_what_the_check_reads(monkeypatch, capsys):
    monkeypatch.setattr(bench, "SCAN_BATCH", 1)
    monkeypatch.setattr(bench, "SCAN_HIDDEN", 4)
    args = ["bench", "scan", "--json", "--max-steps", "128", "--repeats", "1"]
    assert main([*args, "--sequential-max-steps", "64"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert "not timed above T=64" in captured.err
    assert len(rows) == 6 + 5
    modes = {(r["model"], r["mode"], r["steps"]): r["ms"] for r in rows}
    assert modes["MinGRU", "parallel", 64] > 0
    assert modes["MinGRU", "sequential", 64] > 0
    assert ("MinGRU", "sequential", 128) not in modes


def test_bench_options_out_of_range_are_one_line_errors(capsys):
    for argv in (
        ["bench", "rnn", "--repeats", "0"],
        ["bench", "scan", "--max-steps", "32"],
        ["bench", "export", "nowhere", "--repeats", "0"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("seqlab bench: error: --") and err.count("\n") == 1
