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
