"""seqlab plot-curves: learning curves of runs from their metrics.jsonl."""

import json

from seqlab.cli import main


def fake_run(path, losses, metric="val_accuracy"):
    path.mkdir()
    with open(path / "metrics.jsonl", "w") as f:
        for i, loss in enumerate(losses, 1):
            record = {"step": 10 * i, "elapsed": 30.0 * i, "train_loss": loss + 0.1}
            record |= {"val_loss": loss, metric: 1 / loss}
            f.write(json.dumps(record) + "\n")


def test_plot_curves_draws_two_runs(tmp_path, capsys):
    fake_run(tmp_path / "gru", [2.0, 1.5, 1.2])
    fake_run(tmp_path / "lstm", [2.1, 1.4])
    out = tmp_path / "curves.png"
    assert (
        main(
            [
                "plot-curves",
                str(tmp_path / "gru"),
                str(tmp_path / "lstm"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000  # four panels with lines, not an empty figure


def test_a_run_without_metrics_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(
        ["plot-curves", str(tmp_path / "empty"), "--out", str(tmp_path / "c.png")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "metrics.jsonl" in err
    assert not (tmp_path / "c.png").exists()
