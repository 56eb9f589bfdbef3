"""train.keep_last, checkpoint averaging and `seqlab average`."""

import pytest
import torch

from seqlab.average import average_run, average_weights
from seqlab.checkpoint import load_checkpoint, step_checkpoints
from seqlab.cli import main
from seqlab.models.lm import RNNLMConfig
from seqlab.run import load_run, train
from seqlab.tasks.lm import LMDataConfig, LMRunConfig
from seqlab.train import TrainConfig


def tiny_run(text_file, run_dir, **train_kwargs):
    cfg = LMRunConfig(
        data=LMDataConfig(path=str(text_file), bptt=8, val_fraction=0.2),
        model=RNNLMConfig(cell="gru", embedding_size=8, hidden_size=16),
        train=TrainConfig(
            batch_size=4, lr=1e-2, eval_every=10, progress=False, **train_kwargs
        ),
    )
    return train(cfg, run_dir, log=lambda line: None)


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("keep")
    text = root / "pattern.txt"
    text.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    tiny_run(text, root / "run", max_steps=40, keep_last=2)
    return root / "run"


def test_keep_last_keeps_the_most_recent_evaluations(kept_run):
    kept = step_checkpoints(kept_run / "checkpoints")
    assert [p.name for p in kept] == ["step-000030", "step-000040"]
    assert (kept_run / "checkpoints" / "best").is_dir()
    assert (kept_run / "checkpoints" / "last").is_dir()


def test_average_is_the_element_wise_mean(kept_run, tmp_path):
    chosen = average_run(kept_run, tmp_path / "avg", last=2)
    states = [load_checkpoint(p.parent, p.name).model_state for p in chosen]
    averaged = load_checkpoint(tmp_path / "avg" / "checkpoints", "best").model_state
    for key, value in averaged.items():
        torch.testing.assert_close(value, (states[0][key] + states[1][key]) / 2)
    assert not torch.equal(states[0]["embedding.weight"], states[1]["embedding.weight"])
    loaded = load_run(tmp_path / "avg")  # config, vocab and weights fit together
    assert loaded.cfg.task == "lm"


def test_average_keeps_integer_buffers_of_the_last_state():
    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(2)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(7)}
    mean = average_weights([a, b])
    assert mean["w"].tolist() == [2.0, 4.0] and int(mean["n"]) == 7


def test_seqlab_average_then_evaluate(kept_run, tmp_path, capsys):
    out = tmp_path / "avg"
    assert main(["average", str(kept_run), "--out", str(out)]) == 0
    assert "averaged 2 checkpoint(s)" in capsys.readouterr().out
    # the data path is in the copied config: evaluate reads it again
    assert main(["evaluate", str(out), "--split", "val"]) == 0
    assert "val_loss" in capsys.readouterr().out


@pytest.mark.parametrize("last", ["0", "3"])
def test_a_bad_last_is_refused_in_one_line(kept_run, tmp_path, capsys, last):
    code = main(["average", str(kept_run), "--last", last, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"--last {last}" in err and "choose 1 to 2" in err


def test_a_run_without_kept_checkpoints_is_refused(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abc abd " * 50, encoding="utf-8")
    tiny_run(text, tmp_path / "run", max_steps=10)
    assert main(["average", str(tmp_path / "run"), "--out", str(tmp_path / "a")]) == 2
    assert "train.keep_last" in capsys.readouterr().err
