"""Data parallelism across processes: who am I, what is my shard, do we all agree.

seqlab uses PyTorch's own ``DistributedDataParallel``. Under ``torchrun`` (which sets
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous variables) ``setup``
joins the process group, choosing NCCL when the run trains on CUDA and gloo
otherwise, so the same command works on CPU. Without those variables everything
here degrades to one process: rank 0 of a world of 1, and no collective is called.

The split of the work: every batch the task yields is the *global* batch; rank r
trains on its r-th contiguous share of the rows (``shard``). For the contiguous
streams of truncated BPTT the rows are the streams, so each rank owns one
contiguous slice of them for the whole epoch and its carried state stays its own.
All ranks evaluate (same weights, same data, so the same metrics and the same
early-stopping decisions); rank 0 alone writes files and prints.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
import torch.distributed as dist

from seqlab.utils import map_state


def available() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if available() else 1


def rank() -> int:
    return dist.get_rank() if available() else 0


def is_main() -> bool:
    """Rank 0: the process that writes files and prints."""
    return rank() == 0


def launched() -> bool:
    """True when a launcher (torchrun) asked for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> bool:
    """Join torchrun's process group if launched with one and not yet joined.

    Returns True when this call created the group (so the caller tears it down);
    a group a user's launcher created is used as it is.
    """
    if not launched() or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_device(device))
    dist.init_process_group(backend=backend)
    return True


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` for CUDA runs, else ``device``."""
    if device.type != "cuda" or not launched():
        return device
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def shard(batch: Any) -> Any:
    """This rank's contiguous share of a batch's rows (the batch itself alone).

    Every tensor field whose first dimension is the batch's row count is sliced;
    other fields (counts, flags) are kept. Rows split as evenly as possible; with
    unequal shares (or padding) the mean of the ranks' mean losses weights rows a
    little differently than one process would.
    """
    n = world_size()
    if n == 1:
        return batch
    tensors = {
        f.name: getattr(batch, f.name)
        for f in dataclasses.fields(batch)
        if isinstance(getattr(batch, f.name), torch.Tensor)
    }
    rows = next(iter(tensors.values())).size(0)
    if rows < n:  # a short last batch: all train on it (the mean gradient is its own)
        return batch
    r = rank()
    start, stop = r * rows // n, (r + 1) * rows // n
    sliced = {
        name: t[start:stop]
        for name, t in tensors.items()
        if t.dim() > 0 and t.size(0) == rows
    }
    return dataclasses.replace(batch, **sliced)


def mean(value: float, device: torch.device) -> float:
    """The mean of ``value`` over all ranks."""
    if not available():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / world_size()


def maximum(value: float, device: torch.device) -> float:
    """The largest ``value`` of all ranks (e.g. elapsed time: all agree on it)."""
    if not available():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable; tensors moved to CPU), in rank order."""
    if not available():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, map_state(lambda t: t.detach().cpu(), obj))
    return out


def barrier() -> None:
    if available():
        dist.barrier()
