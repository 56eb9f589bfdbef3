"""Test-wide settings.

Tests that read the real data sets look under ``SEQLAB_DATA``; when it is unset and
the project sits beside ``shared/data`` (as in this repository's CI), that folder is
used, so ``python -m pytest`` needs no setup. Without either, those tests skip.
"""

import os
from pathlib import Path

import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if "SEQLAB_DATA" not in os.environ and SHARED.is_dir():
    os.environ["SEQLAB_DATA"] = str(SHARED)

torch.set_num_threads(min(2, torch.get_num_threads()))
