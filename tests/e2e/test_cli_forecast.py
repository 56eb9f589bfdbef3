"""The forecast command-line contract on the sunspots series (needs statsmodels)."""

import json

import pytest

from seqlab.cli import main

pytest.importorskip("statsmodels")

CONFIG = """\
task: forecast
data: {{window: 12, season: 11}}
model: {model}
train: {{batch_size: 32, max_steps: 30, progress: false}}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forecast")
    config = tmp / "gru.yaml"
    config.write_text(CONFIG.format(model="{kind: rnn_regressor, hidden_size: 8}"))
    out = tmp / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    return out


def test_summary_has_rmse_and_the_baselines(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("test_rmse", "test_rmse_naive_seasonal", "test_rmse_persistence"):
        assert summary[key] > 0
    assert (run_dir / "scaler.json").is_file()


def test_predict_forecasts_the_next_value(run_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("10 20 40 80 120 100 80 60 40 20 10 5\n" + "5," * 11 + "5\n")
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 0
    values = [float(v) for v in capsys.readouterr().out.split()]
    assert len(values) == 2
    inputs.write_text("1 2 3\n")
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 2
    assert "last 12 values" in capsys.readouterr().err


def test_the_mlp_trains_on_the_same_windows(tmp_path):
    config = tmp_path / "mlp.yaml"
    config.write_text(CONFIG.format(model="{kind: mlp_regressor, hidden_sizes: [8]}"))
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["parameters"] == 12 * 8 + 8 + 8 + 1
