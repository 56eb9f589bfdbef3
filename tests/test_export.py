"""ONNX export: every exportable kind matches PyTorch under onnxruntime."""

import json

import numpy as np
import pytest
import torch

from seqlab.cells import LSTMState
from seqlab.export import ExportError, export_model
from seqlab.models import build_model
from seqlab.models.classifier import ClassifierConfig
from seqlab.models.lm import RNNLMConfig
from seqlab.models.seq2seq import DecoderState, Seq2SeqConfig
from seqlab.models.tagger import TaggerConfig
from seqlab.models.transformer import KVCache, TransformerLMConfig, TransformerState
from seqlab.models.transformer_classifier import TransformerClassifierConfig
from seqlab.models.transformer_tagger import TransformerTaggerConfig

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

V = 23
SHAPES = [(1, 1), (3, 7), (5, 2)]  # (batch, length): others than the export's


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def close(got, want) -> None:
    np.testing.assert_allclose(got, want.detach().numpy(), atol=1e-4, rtol=1e-4)


def lengths_for(B: int, T: int) -> torch.Tensor:
    return torch.tensor([T] + [max(1, T - i) for i in range(1, B)])


CLASSIFIERS = {
    "classifier": ClassifierConfig(
        embedding_size=8, hidden_size=12, bidirectional=True
    ),
    "transformer_classifier": TransformerClassifierConfig(
        d_model=16, num_heads=2, num_layers=2, d_ff=32, pooling="attention"
    ),
}


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_classifier(tmp_path, kind):
    torch.manual_seed(0)
    model = build_model(CLASSIFIERS[kind], vocab_size=V, num_classes=4).eval()
    (path,) = export_model(model, kind, tmp_path / "clf.onnx")
    s = session(path)
    for B, T in SHAPES:
        x, n = torch.randint(1, V, (B, T)), lengths_for(B, T)
        (got,) = s.run(None, {"input": x.numpy(), "lengths": n.numpy()})
        close(got, model(x, n).logits)


def tagger_config(kind: str, head: str):
    if kind == "tagger":
        return TaggerConfig(
            embedding_size=8, hidden_size=12, char_hidden_size=5, head=head, dropout=0.1
        )
    return TransformerTaggerConfig(
        embedding_size=8,
        char_hidden_size=5,
        d_model=16,
        num_heads=2,
        num_layers=1,
        d_ff=32,
        head=head,
        dropout=0.1,
    )


@pytest.mark.parametrize("kind", ["tagger", "transformer_tagger"])
@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_tagger_emissions(tmp_path, head, kind):
    torch.manual_seed(0)
    cfg = tagger_config(kind, head)
    model = build_model(cfg, vocab_size=V, num_tags=5, num_chars=9, num_features=0)
    model.eval()
    (path,) = export_model(model, kind, tmp_path / "tag.onnx")
    s = session(path)
    assert [i.name for i in s.get_inputs()] == ["input", "lengths", "chars"]
    for B, T in SHAPES:
        x, n = torch.randint(1, V, (B, T)), lengths_for(B, T)
        chars = torch.randint(1, 9, (B, T, 3))
        chars[:, ::2, 2] = 0  # shorter words
        chars[-1, int(n[-1]) :] = 0  # padded words: no characters
        feed = {"input": x.numpy(), "lengths": n.numpy(), "chars": chars.numpy()}
        (got,) = s.run(None, feed)
        close(got, model.emissions(x, n, chars))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_lm_step_with_state(tmp_path, cell):
    torch.manual_seed(0)
    cfg = RNNLMConfig(cell=cell, embedding_size=8, hidden_size=16, num_layers=2)
    model = build_model(cfg, vocab_size=V).eval()
    (path,) = export_model(model, "rnn_lm", tmp_path / "lm.onnx")
    s = session(path)
    for B, T in SHAPES:
        x = torch.randint(0, V, (B, T))
        h, c = torch.randn(2, B, 16), torch.randn(2, B, 16)
        state = LSTMState(h, c) if cell == "lstm" else h
        out = model(x, state=state)
        feed = {"input": x.numpy(), "h": h.numpy()}
        if cell == "lstm":
            feed["c"] = c.numpy()
        got = s.run(None, feed)
        close(got[0], out.logits)
        close(got[1], out.state.h if cell == "lstm" else out.state)


def test_transformer_lm_step_with_kv_cache(tmp_path):
    torch.manual_seed(0)
    cfg = TransformerLMConfig(d_model=16, num_heads=2, num_layers=2, max_len=32)
    model = build_model(cfg, vocab_size=V).eval()
    (path,) = export_model(model, "transformer_lm", tmp_path / "tlm.onnx")
    s = session(path)
    for B, _ in SHAPES:
        for P in (0, 4, 9):  # an empty cache (the first step) and filled ones
            x, T = torch.randint(0, V, (B, 1)), 1
            past = [torch.randn(B, 2, P, 8) for _ in range(4)]
            state = TransformerState((KVCache(*past[:2]), KVCache(*past[2:])))
            logits, new = model.run(x, state)
            names = [f"past_{kv}_{i}" for i in range(2) for kv in ("key", "value")]
            feed = {
                "input": x.numpy(),
                **{n: p.numpy() for n, p in zip(names, past, strict=True)},
            }
            got = s.run(None, feed)
            close(got[0], logits)
            close(got[4], new.caches[1].values)
            assert got[1].shape == (B, 2, P + T, 8)


@pytest.mark.parametrize(
    "decoder,cell", [("attention", "lstm"), ("peeky", "gru"), ("plain", "lstm")]
)
def test_seq2seq_encoder_and_one_decoder_step(tmp_path, decoder, cell):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(
        cell=cell, embedding_size=8, hidden_size=12, decoder=decoder, num_layers=1
    )
    model = build_model(cfg, vocab_size=V).eval()
    enc_path, dec_path = export_model(model, "seq2seq", tmp_path / "s2s.onnx")
    enc, dec = session(enc_path), session(dec_path)
    for B, S in SHAPES:
        src, n = torch.randint(4, V, (B, S)), lengths_for(B, S)
        state = model.start(src, n)
        got = enc.run(None, {"src": src.numpy(), "src_lengths": n.numpy()})
        names = [o.name for o in enc.get_outputs()]
        for name, value in zip(names, got, strict=True):
            close(value, getattr(state, name).float())
        tokens = torch.randint(4, V, (B, 1))
        out = model.decode_step(tokens, state)
        feed = {"tokens": tokens.numpy(), **dict(zip(names, got, strict=True))}
        step = dict(
            zip([o.name for o in dec.get_outputs()], dec.run(None, feed), strict=True)
        )
        close(step["logits"], out.logits[:, -1])
        close(step["h_out"], out.state.h)
        assert isinstance(out.state, DecoderState)


def test_a_kind_that_cannot_be_exported_says_so(tmp_path):
    with pytest.raises(ExportError, match=r"'captioner' cannot be exported.*rnn_lm"):
        export_model(torch.nn.Linear(2, 2), "captioner", tmp_path / "x.onnx")


def train_tiny_lm(tmp_path):
    from seqlab.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be. " * 20)
    config = tmp_path / "tiny.yaml"
    config.write_text(
        f"task: lm\ndata: {{path: {corpus}, bptt: 8}}\n"
        "model: {kind: rnn_lm, cell: lstm, embedding_size: 8, hidden_size: 8}\n"
        "train: {batch_size: 2, max_steps: 2, progress: false}\n"
    )
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 0
    return run


def test_cli_export_of_a_trained_run(tmp_path):
    from seqlab.cli import main

    run = train_tiny_lm(tmp_path)
    out = tmp_path / "lm.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    names = [i.name for i in session(out).get_inputs()]
    assert names == ["input", "h", "c"]
    assert json.loads((run / "summary.json").read_text())["steps"] == 2


def test_bench_export_times_both_runtimes_on_matching_outputs(tmp_path, capsys):
    from seqlab.cli import main

    run = train_tiny_lm(tmp_path)
    capsys.readouterr()
    assert main(["bench", "export", str(run), "--repeats", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["batch"], r["length"]) for r in rows] == [
        ("rnn_lm", 1, 1),
        ("rnn_lm", 32, 1),
    ]
    for r in rows:
        assert r["max_abs_diff"] < 1e-4
        assert r["torch_ms"] > 0 and r["onnxruntime_ms"] > 0
        assert r["speedup"] == pytest.approx(r["torch_ms"] / r["onnxruntime_ms"])


def test_bench_export_names_a_run_it_cannot_time(tmp_path, capsys):
    from seqlab.cli import main

    config = tmp_path / "dates.yaml"
    config.write_text(
        "task: seq2seq\n"
        "data: {dataset: generated_dates, size: 1100, val_size: 20}\n"
        "model: {kind: seq2seq, embedding_size: 8, hidden_size: 8}\n"
        "train: {batch_size: 16, max_steps: 1, progress: false}\n"
    )
    run = tmp_path / "dates"
    assert main(["train", str(config), "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["bench", "export", str(run)]) == 2
    err = capsys.readouterr().err
    assert "seqlab bench: error:" in err and f"{run} is a seq2seq run" in err


def test_cli_exports_a_transformer_classifier_run_and_refuses_its_seq2seq(
    tmp_path, capsys
):
    from seqlab.cli import main

    for name, n in (("train", 40), ("val", 6), ("test", 6)):
        rows = [
            f"{'good fine' if i % 2 else 'bad poor'} text {i}\t{'ab'[i % 2]}"
            for i in range(n)
        ]
        (tmp_path / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    data = ", ".join(f"{s}_path: {tmp_path / s}.tsv" for s in ("train", "val", "test"))
    config = tmp_path / "clf.yaml"
    config.write_text(
        f"task: classify\ndata: {{{data}}}\n"
        "model: {kind: transformer, d_model: 16, num_heads: 2, num_layers: 1, "
        "d_ff: 32}\n"
        "train: {batch_size: 8, max_steps: 2, progress: false}\n"
    )
    run, out = tmp_path / "clf", tmp_path / "clf.onnx"
    assert main(["train", str(config), "--out", str(run)]) == 0
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    assert [i.name for i in session(out).get_inputs()] == ["input", "lengths"]
    capsys.readouterr()
    assert main(["bench", "export", str(run), "--repeats", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["kind"] for r in rows} == {"transformer_classifier"}
    assert all(r["max_abs_diff"] < 1e-4 for r in rows)

    config = tmp_path / "dates.yaml"
    config.write_text(
        "task: seq2seq\n"
        "data: {dataset: generated_dates, size: 1100, val_size: 20}\n"
        "model: {kind: transformer, d_model: 16, num_heads: 2, encoder_layers: 1, "
        "decoder_layers: 1, d_ff: 32}\n"
        "train: {batch_size: 16, max_steps: 1, progress: false}\n"
    )
    run = tmp_path / "dates"
    assert main(["train", str(config), "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "'transformer (seq2seq)' cannot be exported" in err
    assert "transformer_classifier" in err and err.count("\n") == 1
