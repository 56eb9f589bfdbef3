"""Data parallel training under torchrun: two CPU processes (gloo) on a tiny LM."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqlab import distributed, run
from seqlab.checkpoint import load_checkpoint
from seqlab.data.batching import LMBatch, PairBatch
from seqlab.run import load_run

WORKER = Path(__file__).with_name("ddp_worker.py")

CONFIG = """\
task: lm
data:
  path: {path}
  tokenizer: char
  bptt: 8
  val_fraction: 0.2
model:
  kind: rnn_lm
  cell: lstm
  embedding_size: 8
  hidden_size: 16
  dropout: 0.0
train:
  batch_size: 4
  lr: 0.01
  schedule: constant  # the same LRs whether or not the run is cut in two
  max_steps: 12
  eval_every: 6
  progress: false
"""


def torchrun(*args: str, probe: Path) -> None:
    probe.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc_per_node=2", str(WORKER), *args[:2], str(probe), *args[2:]]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    corpus = tmp / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question. " * 30)
    config = tmp / "tiny.yaml"
    config.write_text(CONFIG.format(path=corpus))
    # 6 steps, then --resume to 12, under torchrun; and 12 steps in one process
    out, probe = tmp / "ddp", tmp / "probe"
    torchrun(str(config), str(out), "--set", "train.max_steps=6", probe=probe)
    first = {r: json.loads((probe / f"written-{r}.json").read_text()) for r in "01"}
    torchrun(str(config), str(out), "--resume", probe=probe)
    single = tmp / "single"
    run.train(run.load_run_config(config), single, log=lambda m: None)
    return config, out, probe, single, first


def test_parameters_are_identical_on_both_ranks(ddp):
    _, _, probe, _, _ = ddp
    a = torch.load(probe / "params-0.pt")
    b = torch.load(probe / "params-1.pt")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_losses_match_one_process_on_the_same_global_batch(ddp):
    _, out, _, single, _ = ddp
    got, want = metrics(out), metrics(single)
    assert [m["step"] for m in got] == [m["step"] for m in want] == [6, 12]
    for g, w in zip(got, want, strict=True):
        for key in ("train_loss", "val_loss"):
            assert g[key] == pytest.approx(w[key], rel=1e-4), key


def test_only_rank_0_writes_files(ddp):
    _, out, probe, _, first = ddp
    assert first["0"] and not first["1"]
    assert json.loads((probe / "written-1.json").read_text()) == []
    assert (out / "summary.json").is_file()
    assert json.loads((out / "summary.json").read_text())["steps"] == 12


def test_checkpoint_loads_in_one_process_and_resume_continues(ddp):
    config, out, _, _, _ = ddp
    loaded = load_run(out, device="cpu")
    assert loaded.model.training is False
    summary = run.train(
        run.load_run_config(config, ("train.max_steps=15",)),
        out,
        resume=True,
        log=lambda m: None,
    )
    assert summary["steps"] == 15


def test_shard_splits_rows_contiguously(monkeypatch):
    ids = torch.arange(10).view(5, 2)
    batch = LMBatch(ids, ids + 1, 10)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    part = distributed.shard(batch)
    assert part.input.tolist() == [[4, 5], [6, 7], [8, 9]]
    assert part.num_tokens == 10  # counts describe the global batch
    pair = PairBatch(ids, torch.tensor([2] * 5), ids, ids, 10)
    assert distributed.shard(pair).src_lengths.tolist() == [2, 2, 2]
    one_row = LMBatch(ids[:1], ids[:1], 2)
    assert distributed.shard(one_row) is one_row  # too short to split: all train it


def test_one_process_needs_no_process_group():
    assert distributed.world_size() == 1 and distributed.is_main()
    batch = LMBatch(torch.zeros(2, 3), torch.zeros(2, 3), 6)
    assert distributed.shard(batch) is batch
    assert distributed.mean(2.5, torch.device("cpu")) == 2.5


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question. " * 30)
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG.format(path=corpus))
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEQLAB_TEST_SIGTERM_AT": "3"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc_per_node=2", str(WORKER), str(config), str(out), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0  # interrupted, not hung: both ranks left
    assert "SIGTERM: stopped at step 3" in done.stderr  # rank 1's own message
    last = load_checkpoint(out / "checkpoints", "last")  # rank 0 saved it there
    assert last.meta["step"] == 3
