"""MinGRU / MinLSTM: the parallel scans equal the step-by-step loop (outputs and
gradients), carried state equals one long sequence, lengths, extreme gates."""

from pathlib import Path

import pytest
import torch

from seqlab.layers import make_recurrent
from seqlab.minrnn import (
    CHUNK,
    MinGRU,
    MinLSTM,
    log_space_scan,
    parallel_scan,
)
from seqlab.models import build_model
from seqlab.models.lm import RNNLM, RNNLMConfig
from seqlab.run import load_run_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LAYERS = {"mingru": MinGRU, "minlstm": MinLSTM}
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
I, H, B = 5, 7, 4


def assert_close(actual, expected, tol, what=""):
    """Largest difference within tol, relative to the largest entry (at least 1)."""
    scale = max(1.0, float(expected.detach().abs().max()))
    diff = float((actual - expected).detach().abs().max())
    assert diff <= tol * scale, f"{what}: max difference {diff:.2e}, scale {scale:.1f}"


def run(layer, x, h0, lengths, impl, scan="linear"):
    """Output, final state and the gradients of a loss of both, in one mode."""
    layer.impl, layer.scan = impl, scan
    layer.zero_grad()
    x, h0 = x.clone().requires_grad_(), h0.clone().requires_grad_()
    output, state = layer(x, h0, lengths=lengths)
    (output.sin().sum() + state.cos().sum()).backward()
    params = [p.grad for p in layer.parameters()]
    return [output, state, x.grad, h0.grad, *params]


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("steps", [1, 2, CHUNK + 1, 2 * CHUNK + 3])
@pytest.mark.parametrize("scan", ["linear", "log"])
def test_parallel_equals_sequential(kind, dtype, steps, scan):
    torch.manual_seed(steps)
    layer = LAYERS[kind](I, H, num_layers=2, bidirectional=True).to(dtype)
    x = torch.randn(steps, B, I, dtype=dtype)
    h0 = torch.randn(4, B, H, dtype=dtype)
    lengths = torch.tensor([steps, 1, (steps + 1) // 2, steps])
    sequential = run(layer, x, h0, lengths, "loop")
    parallel = run(layer, x, h0, lengths, "auto", scan)
    names = ["output", "state", "grad x", "grad h0"] + [
        n for n, _ in layer.named_parameters()
    ]
    for name, p, s in zip(names, parallel, sequential, strict=True):
        assert_close(p, s, TOLERANCE[dtype], name)


def test_scans_equal_the_loop_and_the_gradient_is_autograds():
    torch.manual_seed(0)
    for steps in (1, CHUNK, 2 * CHUNK + 3):
        a = torch.rand(steps, 2, 3, dtype=torch.float64)
        b = torch.randn(steps, 2, 3, dtype=torch.float64)
        h0 = torch.randn(2, 3, dtype=torch.float64)
        assert_close(
            log_space_scan(a.log(), b.abs().log(), h0), loop(a, b.abs(), h0), 1e-12
        )
        a[0, 0, 0], a[-1, 1, 2] = 0.0, 1.0  # the ends of the range
        assert_close(parallel_scan(a, b, h0), loop(a, b, h0), 1e-14)
        inputs = [t.requires_grad_() for t in (a, b, h0)]
        assert torch.autograd.gradcheck(parallel_scan, inputs)


def loop(a, b, h0):
    h, states = h0, []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        states.append(h)
    return torch.stack(states)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("impl", ["auto", "loop"])
def test_state_carried_across_chunks_equals_one_long_sequence(kind, impl):
    torch.manual_seed(0)
    layer = LAYERS[kind](I, H, num_layers=2, batch_first=True, impl=impl).double()
    x = torch.randn(B, 40, I, dtype=torch.float64)
    whole, final = layer(x)
    outputs, state = [], None
    for piece in x.split([13, 1, 26], dim=1):  # not aligned with the scan's chunks
        output, state = layer(piece, state)
        outputs.append(output)
    assert_close(torch.cat(outputs, 1), whole, 1e-12)
    assert_close(state, final, 1e-12)


@pytest.mark.parametrize("kind", LAYERS)
def test_each_sequence_as_if_alone_whatever_the_padding(kind):
    torch.manual_seed(0)
    layer = LAYERS[kind](I, H, bidirectional=True).double()
    lengths = torch.tensor([6, 2, 1, 4])
    x = torch.randn(6, B, I, dtype=torch.float64)
    output, state = layer(x, lengths=lengths)
    x[4:, 1:] = 1e6  # garbage in the padding changes nothing
    again, state_again = layer(x, lengths=lengths)
    assert torch.equal(output, again) and torch.equal(state, state_again)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_state = layer(x[:n, b : b + 1])
        assert_close(output[:n, b], alone[:, 0], 1e-12)
        assert_close(state[:, b], alone_state[:, 0], 1e-12)
        assert not output[n:, b].any()


@pytest.mark.parametrize("kind", LAYERS)
def test_no_overflow_or_nan_on_long_inputs_with_extreme_gates(kind):
    torch.manual_seed(0)
    layer = LAYERS[kind](4, 6)
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(1e4)  # gate pre-activations in the tens of thousands
    x = torch.randn(4096, 2, 4) * 10
    h0 = torch.zeros(1, 2, 6)
    results = {}
    for impl, scan in [("auto", "linear"), ("auto", "log"), ("loop", "linear")]:
        steps = 4096 if impl == "auto" else 512  # the loop: the first 512 steps
        results[impl, scan] = run(layer, x[:steps], h0, None, impl, scan)
        for t in results[impl, scan]:
            assert torch.isfinite(t).all(), f"{impl} {scan}"
    parallel, sequential = results["auto", "linear"][0], results["loop", "linear"][0]
    assert_close(parallel[:512], sequential, 1e-4)


def test_make_recurrent_and_the_language_model_take_the_new_cells():
    assert isinstance(make_recurrent("mingru", 3, 4), MinGRU)
    assert isinstance(make_recurrent("minlstm", 3, 4, bidirectional=True), MinLSTM)
    with pytest.raises(ValueError, match="peephole=True needs cell='lstm'"):
        make_recurrent("minlstm", 3, 4, peephole=True)
    torch.manual_seed(0)
    model = RNNLM(
        RNNLMConfig(cell="mingru", embedding_size=8, hidden_size=8, num_layers=2), 11
    )
    model.eval()
    x = torch.randint(0, 11, (2, 6))
    whole = torch.log_softmax(model(x).logits, -1)
    state = model.start(x[:, :1])
    for t in range(1, 6):  # the decode protocol, one token at a time
        log_probs, state = model.step(x[:, t], state)
        assert_close(log_probs, whole[:, t], 1e-5)


def test_options_that_do_not_apply_are_errors():
    with pytest.raises(ValueError, match="unknown scan 'fast'"):
        MinGRU(3, 4, scan="fast")
    with pytest.raises(ValueError, match="unknown impl"):
        MinLSTM(3, 4, impl="cuda")
    with pytest.raises(TypeError, match=r"no torch\.nn counterpart"):
        MinGRU(3, 4).load_torch(torch.nn.GRU(3, 4))


def test_configs_choose_the_cell_by_name():
    cfg = load_run_config(CONFIGS / "shakespeare-char-mingru.yaml")
    assert isinstance(build_model(cfg.model, vocab_size=65).rnn, MinGRU)
    assert cfg.train.max_minutes is not None  # shipped trainings are time-boxed
    lstm = CONFIGS / "shakespeare-char-lstm.yaml"
    cfg = load_run_config(lstm, ("model.cell=minlstm",))
    assert isinstance(build_model(cfg.model, vocab_size=65).rnn, MinLSTM)
