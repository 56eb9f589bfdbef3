"""Checkpoint format: pickle-free trees, exact resume, atomic writes, clear errors."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from torch import nn

from seqlab import checkpoint
from seqlab.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    load_model_weights,
    load_tree,
    save_checkpoint,
    save_tree,
)

# ----------------------------------------------------------------- helpers


def assert_tree_equal(a: Any, b: Any, path: str = "") -> None:
    """Exact equality: same container types, tensor dtype/shape/bits, nan == nan."""
    assert type(a) is type(b), f"{path}: {type(a)} vs {type(b)}"
    if isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), path
        assert a.device.type == "cpu" or b.device.type == "cpu"
        bits_a, bits_b = (t.cpu().reshape(-1).view(torch.uint8) for t in (a, b))
        assert torch.equal(bits_a, bits_b), path
    elif isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), path
        assert a.tobytes() == b.tobytes(), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_tree_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_tree_equal(x, y, f"{path}.{i}")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, path


def round_trip(tmp_path: Path, tree: Any) -> Any:
    save_tree(tmp_path / "tree", tree)
    return load_tree(tmp_path / "tree")


def make_run(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def train(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, steps: int) -> None:
    """Data and dropout masks come from torch's global RNG, so RNG state matters."""
    for _ in range(steps):
        x = torch.randn(16, 4)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def save_v(run_dir: Path, version: int, name: str = "last") -> dict[str, torch.Tensor]:
    state = {"w": torch.full((3, 2), float(version)), "b": torch.arange(version + 1)}
    trainer = {"step": version, "rng": torch.get_rng_state()}
    save_checkpoint(
        run_dir, name, model_state=state, meta={"v": version}, trainer_state=trainer
    )
    return state


def assert_is_version(run_dir: Path, version: int, name: str = "last") -> None:
    ckpt = load_checkpoint(run_dir, name)
    assert ckpt.meta == {"v": version, "format_version": 1}
    assert torch.equal(ckpt.model_state["w"], torch.full((3, 2), float(version)))
    assert ckpt.trainer_state["step"] == version


def leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------- trees


def test_tree_round_trips_python_structures(tmp_path: Path) -> None:
    tree = {
        "ints": [1, -2, 2**70],
        "floats": (0.1, math.inf, -math.inf, math.nan, -0.0),
        "nested": {"a": (1, (2, [3, None])), "b": True, "c": "ü"},
        3: "int key",
        (1, "x"): "tuple key",
        "__type__": "a key that looks like the format's tag",
        "empty": ({}, [], ()),
    }
    assert_tree_equal(round_trip(tmp_path, tree), tree)


@pytest.mark.parametrize(
    "dtype",
    [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int8,
        torch.uint8,
        torch.bool,
    ],
)
def test_tree_round_trips_tensor_dtypes(tmp_path: Path, dtype: torch.dtype) -> None:
    tensor = (torch.randn(3, 5) * 10).to(dtype)
    tree = {"t": tensor, "scalar": tensor[0, 0].clone(), "empty": tensor[:0]}
    assert_tree_equal(round_trip(tmp_path, tree), tree)


def test_tree_saves_views_non_contiguous_and_shared_tensors(tmp_path: Path) -> None:
    base = torch.arange(24.0).view(4, 6)
    param = nn.Parameter(torch.ones(2))
    tree = [base, base.t(), base[1:3, ::2], base[0], base, param]
    loaded = round_trip(tmp_path, tree)
    expected = [t.detach().clone() for t in tree]
    assert_tree_equal(loaded, expected)
    assert not loaded[0].requires_grad and loaded[1].is_contiguous()


def test_tree_round_trips_numpy(tmp_path: Path) -> None:
    tree = {
        "u32": np.arange(7, dtype=np.uint32),
        "f64": np.linspace(0, 1, 6).reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "scalar": np.float32(1.5),
        "i64": np.int64(-3),
    }
    assert_tree_equal(round_trip(tmp_path, tree), tree)


def test_tree_refuses_unsupported_leaves(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"cannot save set at 'a.b'"):
        save_tree(tmp_path / "t", {"a": {"b": {1, 2}}})


leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=5)
)
trees = st.recursive(
    leaves,
    lambda kids: (
        st.lists(kids, max_size=3)
        | st.tuples(kids, kids)
        | st.dictionaries(st.text(max_size=3) | st.integers(), kids, max_size=3)
    ),
    max_leaves=12,
)


@given(trees)
@settings(max_examples=60, deadline=None)
def test_tree_round_trips_arbitrary_structures(tmp_path_factory, tree: Any) -> None:
    path = tmp_path_factory.mktemp("tree")
    save_tree(path, {"tree": tree, "t": torch.tensor([1.0])})
    assert_tree_equal(load_tree(path)["tree"], tree)


def test_trees_use_no_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pickle used")

    for module, name in [(pickle, "dumps"), (pickle, "loads"), (pickle, "load")]:
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch, "save", refuse)
    model, opt, sched = make_run(0)
    train(model, opt, sched, 1)
    tree = {
        "opt": opt.state_dict(),
        "rng": random.getstate(),
        "np": np.random.get_state(),
    }
    assert_tree_equal(round_trip(tmp_path, tree), tree)
    source = Path(checkpoint.__file__).read_text()
    assert "torch.load" not in source and "import pickle" not in source


# ----------------------------------------------------------------- resume


def test_resume_from_checkpoint_is_bitwise_identical(tmp_path: Path) -> None:
    model, opt, sched = make_run(seed=0)
    train(model, opt, sched, 3)
    trainer_state = {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": torch.get_rng_state(),
        "step": 3,
    }
    save_checkpoint(
        tmp_path,
        "step3",
        model_state=model.state_dict(),
        meta={"step": 3},
        trainer_state=trainer_state,
    )
    train(model, opt, sched, 4)  # the uninterrupted run

    def resumed(restore_optimizer: bool) -> nn.Module:
        model2, opt2, sched2 = make_run(seed=1)  # different init and RNG
        ckpt = load_checkpoint(tmp_path, "step3")
        load_model_weights(model2, ckpt.model_state)
        if restore_optimizer:
            opt2.load_state_dict(ckpt.trainer_state["optimizer"])
        sched2.load_state_dict(ckpt.trainer_state["scheduler"])
        torch.set_rng_state(ckpt.trainer_state["rng"])
        train(model2, opt2, sched2, 4)
        return model2

    assert_tree_equal(resumed(True).state_dict(), model.state_dict())
    # Negative control: the comparison does notice a lost optimizer state.
    params = resumed(False).state_dict()
    assert not torch.equal(params["0.weight"], model.state_dict()["0.weight"])


def test_optimizer_and_scheduler_state_round_trip(tmp_path: Path) -> None:
    model, opt, sched = make_run(seed=0)
    train(model, opt, sched, 3)
    tree = {"opt": opt.state_dict(), "sched": sched.state_dict()}
    loaded = round_trip(tmp_path, tree)
    assert_tree_equal(loaded, tree)
    assert isinstance(loaded["opt"]["param_groups"][0]["betas"], tuple)
    assert sorted(loaded["opt"]["state"]) == [0, 1, 2, 3]


def test_rng_states_round_trip(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "numpy_dict": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
    }
    np.random.randn()  # numpy caches a Gaussian: has_gauss must survive too
    states["numpy_gauss"] = np.random.get_state()
    loaded = round_trip(tmp_path, states)

    def draw() -> tuple[float, float, float]:
        return random.random(), float(np.random.randn()), torch.rand(1).item()

    random.setstate(states["python"])
    np.random.set_state(states["numpy_gauss"])
    torch.set_rng_state(states["torch"])
    expected = draw()
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    random.setstate(loaded["python"])
    np.random.set_state(loaded["numpy_gauss"])
    torch.set_rng_state(loaded["torch"])
    assert draw() == expected
    np.random.set_state(loaded["numpy_dict"])


# ------------------------------------------------------------ checkpoints


def test_checkpoint_layout_and_contents(tmp_path: Path) -> None:
    state = {"w": torch.randn(3, 2), "tied": torch.zeros(2)}
    state["tied_again"] = state["tied"]
    path = save_checkpoint(
        tmp_path / "run", "best", model_state=state, meta={"step": 7}
    )
    assert path == tmp_path / "run" / "best"
    assert sorted(p.name for p in path.iterdir()) == [
        "COMPLETE",
        "meta.json",
        "model.safetensors",
    ]
    assert json.loads((path / "meta.json").read_text()) == {
        "step": 7,
        "format_version": 1,
    }
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert f.metadata()["seqlab_format_version"] == "1"
    ckpt = load_checkpoint(tmp_path / "run", "best")
    assert_tree_equal(ckpt.model_state, {k: state[k] for k in sorted(state)})
    assert ckpt.trainer_state is None
    assert leftovers(tmp_path / "run") == []


def test_overwrite_replaces_checkpoint(tmp_path: Path) -> None:
    save_v(tmp_path, 1)
    save_v(tmp_path, 2)
    assert_is_version(tmp_path, 2)
    assert leftovers(tmp_path) == []


def test_bad_checkpoint_name(tmp_path: Path) -> None:
    for name in ["", "../x", "a/b", ".hidden", "x~tmp"]:
        with pytest.raises(ValueError, match="checkpoint name"):
            save_checkpoint(tmp_path, name, model_state={}, meta={})


def test_model_state_must_be_tensors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"must be tensors; not for \['step'\]"):
        save_checkpoint(tmp_path, "x", model_state={"step": 3}, meta={})
    assert leftovers(tmp_path) == [] and not (tmp_path / "x").exists()


def test_meta_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_checkpoint(tmp_path, "x", model_state={}, meta={"a": object()})
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------ atomicity


@pytest.mark.parametrize(
    ("target", "crash_at"),
    [
        ("save_file", 1),
        ("save_file", 2),
        ("_write_text", 2),
        ("_write_text", 3),
        ("_fsync_path", 2),
        ("_fsync_path", 4),
    ],
)
def test_crash_while_writing_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, crash_at: int
) -> None:
    """Calls in order: weights, meta.json, trainer tensors, tree.json, COMPLETE."""
    save_v(tmp_path, 1)
    calls = []
    real = getattr(checkpoint, target)

    def crash(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == crash_at:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, target, crash)
    with pytest.raises(OSError, match="disk full"):
        save_v(tmp_path, 2)
    monkeypatch.undo()
    assert_is_version(tmp_path, 1)
    assert leftovers(tmp_path) == []


def test_failed_rename_restores_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_v(tmp_path, 1)
    real_replace = os.replace
    calls = []

    def replace(src: Any, dst: Any) -> None:
        calls.append((src, dst))
        if len(calls) == 2:  # 1: old aside, 2: new into place
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        save_v(tmp_path, 2)
    monkeypatch.undo()
    assert_is_version(tmp_path, 1)
    assert leftovers(tmp_path) == []


def test_hard_crash_between_renames_is_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process dies after moving the old checkpoint aside: nothing runs afterwards."""
    save_v(tmp_path, 1)
    real_replace = os.replace
    killed = []

    def replace(src: Any, dst: Any) -> None:
        if killed or Path(src).name.startswith(".last~tmp-"):
            killed.append(src)
            raise SystemExit("killed")  # and nothing after this gets to run
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", replace)
    monkeypatch.setattr(checkpoint.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(SystemExit):
        save_v(tmp_path, 2)
    monkeypatch.undo()
    # On disk now: no `last`, the old version aside, the new one complete in a tmp dir.
    assert not (tmp_path / "last").exists()
    assert len(leftovers(tmp_path)) == 2
    assert_is_version(tmp_path, 1)  # loading finds the complete old version
    save_v(tmp_path, 3)  # the next save cleans up
    assert_is_version(tmp_path, 3)
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------- errors


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*nope"):
        load_checkpoint(tmp_path, "nope")


def test_missing_complete_marker(tmp_path: Path) -> None:
    save_v(tmp_path, 1)
    (tmp_path / "last" / "COMPLETE").unlink()
    with pytest.raises(CheckpointError, match=r"incomplete checkpoint .*last: no COMP"):
        load_checkpoint(tmp_path, "last")


def test_truncated_weights(tmp_path: Path) -> None:
    save_v(tmp_path, 1)
    file = tmp_path / "last" / "model.safetensors"
    file.write_bytes(file.read_bytes()[:-5])
    with pytest.raises(CheckpointError, match=r"last/model.safetensors is \d+ bytes"):
        load_checkpoint(tmp_path, "last")


def test_corrupt_weights_same_size(tmp_path: Path) -> None:
    save_v(tmp_path, 1)
    file = tmp_path / "last" / "model.safetensors"
    file.write_bytes(b"\xff" * file.stat().st_size)
    with pytest.raises(CheckpointError, match=r"corrupt .*last/model.safetensors"):
        load_checkpoint(tmp_path, "last")


@pytest.mark.parametrize("cut", [3, 20, -1])
def test_truncated_tree_tensors(tmp_path: Path, cut: int) -> None:
    save_tree(tmp_path, {"a": torch.ones(4)})
    file = tmp_path / "tensors.safetensors"
    file.write_bytes(file.read_bytes()[:cut])
    with pytest.raises(CheckpointError, match=r"truncated .*tensors.safetensors"):
        load_tree(tmp_path)


@pytest.mark.parametrize("file", ["meta.json", "trainer_state/tree.json", "COMPLETE"])
def test_garbage_json(tmp_path: Path, file: str) -> None:
    save_v(tmp_path, 1)
    path = tmp_path / "last" / file
    path.write_text("{" + "x" * (path.stat().st_size - 1))  # same size, bad JSON
    # COMPLETE's own JSON fails to parse; the others fail their sha256 first
    with pytest.raises(CheckpointError, match=f"corrupt .*last/{file}"):
        load_checkpoint(tmp_path, "last")


def test_no_random_corruption_loads_silently(tmp_path: Path) -> None:
    """Truncations and byte flips of every file of a checkpoint (sizes kept or not):
    each load raises CheckpointError naming the damaged file."""
    save_v(tmp_path, 1)
    files = [p for p in (tmp_path / "last").rglob("*") if p.is_file()]
    pristine = {p: p.read_bytes() for p in files}
    rng = random.Random(0)
    for trial in range(300):
        file = rng.choice(files)
        data = bytearray(pristine[file])
        if trial % 3 == 0:
            data = data[: rng.randrange(len(data))]
        else:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        file.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match=file.name):
            load_checkpoint(tmp_path, "last")
        file.write_bytes(pristine[file])
    load_checkpoint(tmp_path, "last")  # restored: loads again


def test_checkpoint_without_hashes_still_loads(tmp_path: Path) -> None:
    save_v(tmp_path, 1)
    marker = tmp_path / "last" / "COMPLETE"
    doc = json.loads(marker.read_text())
    marker.write_text(json.dumps({k: doc[k] for k in ("format_version", "files")}))
    assert_is_version(tmp_path, 1)  # written before the hashes: sizes checked only


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    save_v(tmp_path, 1)
    path = tmp_path / "last" / "meta.json"
    path.write_text(
        path.read_text().replace('"format_version": 1', '"format_version": 9')
    )
    (tmp_path / "last" / "COMPLETE").unlink()  # rewritten as a newer seqlab would
    manifest = checkpoint._manifest(tmp_path / "last")
    (tmp_path / "last" / "COMPLETE").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"meta.json has format_version 9"):
        load_checkpoint(tmp_path, "last")


# ------------------------------------------------------------ compatibility


def test_check_compatible_reports_dotted_leaves() -> None:
    saved = {
        "config": {"model": {"hidden_size": 256, "betas": [0.9, 0.99]}, "seed": 1},
        "vocab": "abc",
        "step": 10,
    }
    now = {
        "config": {"model": {"hidden_size": 512, "betas": (0.9, 0.99)}, "seed": 1},
        "vocab": "abd",
        "step": 0,
    }
    with pytest.raises(CheckpointError) as info:
        check_compatible(saved, now, ["config.model", "vocab"], where="runs/x/last")
    assert str(info.value) == (
        "checkpoint runs/x/last does not match the current run:\n"
        "  config.model.hidden_size: 256 (checkpoint) vs 512 (current)\n"
        "  vocab: 'abc' (checkpoint) vs 'abd' (current)"
    )
    check_compatible(saved, now, ["config.seed", "config.model.betas"])


def test_check_compatible_missing_keys() -> None:
    with pytest.raises(CheckpointError, match=r"model.dropout: <missing> \(checkpoint"):
        check_compatible({"model": {}}, {"model": {"dropout": 0.1}}, ["model"])
    with pytest.raises(CheckpointError, match=r"flag: 1 \(checkpoint\) vs True"):
        check_compatible({"flag": 1}, {"flag": True}, ["flag"])


# ------------------------------------------------------------ model weights


def test_load_model_weights_errors_name_parameters_and_shapes() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    state = nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 2)).state_dict()
    del state["1.bias"]
    state["2.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(model, state)
    message = str(info.value)
    assert "0.weight: shape (16, 4) in checkpoint vs (8, 4) in model" in message
    assert "1.bias: missing from checkpoint" in message
    assert "2.weight: not a parameter of the model" in message


def test_load_model_weights_loads_and_non_strict_reports_missing() -> None:
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    load_model_weights(target, source.state_dict())
    assert torch.equal(target.weight, source.weight)
    result = load_model_weights(target, {"weight": source.weight}, strict=False)
    assert result.missing_keys == ["bias"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_are_saved_from_cpu(tmp_path: Path) -> None:
    state = {"w": torch.randn(3, 3, device="cuda")}
    tree = {"rng": torch.cuda.get_rng_state(), "t": state["w"].t()}
    save_checkpoint(tmp_path, "gpu", model_state=state, meta={}, trainer_state=tree)
    ckpt = load_checkpoint(tmp_path, "gpu")
    assert ckpt.model_state["w"].device.type == "cpu"
    assert torch.equal(ckpt.model_state["w"], state["w"].cpu())
    assert torch.equal(ckpt.trainer_state["t"], state["w"].t().cpu())
