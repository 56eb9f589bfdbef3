"""Timed benchmarks behind ``seqlab bench``, one module each: ``rnn`` (seqlab's layers
against torch.nn), ``generation`` (KV cache against recomputing), ``scan`` (MinGRU's
parallel scan by sequence length) and ``export`` (onnxruntime against eager); what
they share is in ``timing``. The names the CLI uses are gathered here."""

from seqlab.bench.export import (
    EXPORT_SHAPES,
    ExportRow,
    bench_export,
    format_export_table,
)
from seqlab.bench.generation import GenerationRow, bench_generation
from seqlab.bench.rnn import (
    RNN_SHAPES,
    RNN_VARIANTS,
    BenchRow,
    Shape,
    bench_rnn,
    format_table,
)
from seqlab.bench.scan import (
    SCAN_BATCH,
    SCAN_HIDDEN,
    SCAN_STEPS,
    SEQUENTIAL_MAX_STEPS,
    ScanRow,
    bench_scan,
    format_scan_table,
    plot_scan,
    scan_models,
    scan_ratios,
)
from seqlab.bench.timing import (
    environment,
    forward_backward,
    time_pair,
    time_round_robin,
)

__all__ = [
    "EXPORT_SHAPES",
    "RNN_SHAPES",
    "RNN_VARIANTS",
    "SCAN_BATCH",
    "SCAN_HIDDEN",
    "SCAN_STEPS",
    "SEQUENTIAL_MAX_STEPS",
    "BenchRow",
    "ExportRow",
    "GenerationRow",
    "ScanRow",
    "Shape",
    "bench_export",
    "bench_generation",
    "bench_rnn",
    "bench_scan",
    "environment",
    "format_export_table",
    "format_scan_table",
    "format_table",
    "forward_backward",
    "plot_scan",
    "scan_models",
    "scan_ratios",
    "time_pair",
    "time_round_robin",
]
