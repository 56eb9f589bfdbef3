"""One torchrun process of tests/test_distributed.py (not a test module itself).

Usage: torchrun ... tests/ddp_worker.py CONFIG OUT PROBE_DIR [--resume] [--set ...]

Trains like ``seqlab train`` and leaves, in PROBE_DIR, per rank: the trained
parameters (before summary loads the best ones) and the paths it opened for
writing or created inside OUT.
"""

import json
import os
import signal
import sys
from pathlib import Path

import torch

from seqlab import run
from seqlab.train import Trainer


def main() -> None:
    config, out, probe = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    rest = sys.argv[4:]
    resume = "--resume" in rest
    overrides = tuple(a for a in rest if a not in ("--resume", "--set"))
    rank = os.environ["RANK"]
    written: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str | Path):
            mode = args[1] or "r"
            if any(c in mode for c in "wax+") and str(out) in str(args[0]):
                written.append(str(args[0]))
        elif event in ("os.mkdir", "os.rename") and str(out) in str(args[0]):
            written.append(str(args[0]))

    sys.addaudithook(audit)
    original = run.summarize

    def summarize(model, task, result, run_dir, *rest):
        torch.save(model.state_dict(), probe / f"params-{rank}.pt")
        return original(model, task, result, run_dir, *rest)

    run.summarize = summarize
    stop_at = os.environ.get("SEQLAB_TEST_SIGTERM_AT")
    if stop_at and rank == "1":  # rank 1 alone gets a SIGTERM after that step
        count = Trainer._count

        def count_then_signal(self, *args, **kwargs):
            count(self, *args, **kwargs)
            if self.state.step == int(stop_at):
                os.kill(os.getpid(), signal.SIGTERM)

        Trainer._count = count_then_signal
    cfg = run.load_run_config(config, overrides)
    run.train(cfg, out, resume=resume, log=lambda m: None)
    (probe / f"written-{rank}.json").write_text(json.dumps(written))


if __name__ == "__main__":
    main()
