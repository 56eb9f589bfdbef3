"""``seqlab bench export``: onnxruntime against PyTorch eager on the same graph."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from seqlab.bench.timing import time_pair
from seqlab.utils import markdown_table

EXPORT_SHAPES = {  # kind -> (batch, length) pairs; length: tokens in, or cached
    "classifier": ((1, 32), (32, 32)),
    "transformer_classifier": ((1, 32), (32, 32)),
    "tagger": ((1, 32), (32, 32)),
    "transformer_tagger": ((1, 32), (32, 32)),
    "rnn_lm": ((1, 1), (32, 1)),  # one step with the recurrent state
    "transformer_lm": ((1, 64), (32, 64)),  # one step after 64 cached positions
}


@dataclass(frozen=True)
class ExportRow:
    run: str
    kind: str
    batch: int
    length: int
    threads: int
    torch_ms: float
    onnxruntime_ms: float
    speedup: float  # torch / onnxruntime: above 1 means onnxruntime is faster
    max_abs_diff: float

    def to_dict(self) -> dict:
        return asdict(self)


def bench_export(run_dir: str, repeats: int = 50) -> list[ExportRow]:
    """Latency of one inference call of a run's best weights: PyTorch eager (the
    module that ``seqlab export`` traces, under inference mode) against the exported
    ONNX graph in onnxruntime, each with ``torch.get_num_threads()`` threads, alternated
    and reported as medians. Classifier and tagger: one batch of sequences; language
    models: one decoding step (``EXPORT_SHAPES``)."""
    import tempfile
    from pathlib import Path

    from seqlab.export import GRAPHS, ExportError, export_model, graph_kind
    from seqlab.run import load_run

    loaded = load_run(run_dir, device="cpu")
    kind = graph_kind(loaded.cfg.task, loaded.cfg.model.kind)
    if kind not in EXPORT_SHAPES:
        raise ExportError(
            f"seqlab bench export times {', '.join(EXPORT_SHAPES)} runs; "
            f"{run_dir} is a {kind} run"
        )
    model = loaded.model.eval()
    graph = GRAPHS[kind](model).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = export_model(model, kind, Path(tmp) / "model.onnx")
        session = _ort_session(path, torch.get_num_threads())
        for batch, length in EXPORT_SHAPES[kind]:
            torch.manual_seed(0)
            t_torch, t_ort, diff = _time_both(
                graph, session, graph.sample(batch, length), repeats
            )
            rows.append(
                ExportRow(
                    Path(run_dir).name,
                    kind,
                    batch,
                    length,
                    torch.get_num_threads(),
                    t_torch * 1e3,
                    t_ort * 1e3,
                    t_torch / t_ort,
                    diff,
                )
            )
    return rows


def _ort_session(path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _time_both(graph: nn.Module, session, inputs: tuple, repeats: int):
    """Median seconds of the eager graph and of the onnxruntime session on
    ``inputs``, and the largest difference between their outputs."""
    names = [i.name for i in session.get_inputs()]
    feed = {n: t.numpy() for n, t in zip(names, inputs, strict=True)}

    @torch.inference_mode()
    def eager():
        return graph(*inputs)

    def onnx():
        return session.run(None, feed)

    want, got = eager(), onnx()
    want = want if isinstance(want, tuple) else (want,)
    diff = max(
        float((w - torch.from_numpy(g)).abs().max())
        for w, g in zip(want, got, strict=True)
    )
    t_torch, t_ort = time_pair(eager, onnx, repeats, warmup=5)
    return t_torch, t_ort, diff


def format_export_table(rows: list[ExportRow]) -> str:
    header = "run | kind | B | T | torch ms | onnxruntime ms | speed-up | max diff"
    cells = [
        (
            r.run,
            r.kind,
            r.batch,
            r.length,
            f"{r.torch_ms:.3f}",
            f"{r.onnxruntime_ms:.3f}",
            f"{r.speedup:.2f}x",
            f"{r.max_abs_diff:.1e}",
        )
        for r in rows
    ]
    return markdown_table(header, cells, left=2)
