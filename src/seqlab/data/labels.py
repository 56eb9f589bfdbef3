"""The labels file of a run (classify labels, tag tags) and the check that data has
the labels a run was trained with."""

from __future__ import annotations

import json
from pathlib import Path

from seqlab.data.datasets import DataError

LABELS_FILE = "labels.json"


def save_labels(labels: list[str], path: Path) -> None:
    payload = {"format": "seqlab.labels", "version": 1, "labels": labels}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=0) + "\n")


def load_labels(path: Path) -> list[str]:
    payload = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(payload, dict) or payload.get("format") != "seqlab.labels":
        raise ValueError(f"{path}: not a seqlab labels file")
    return list(payload["labels"])


def check_labels(
    found: dict[str, set[str]],
    labels: list[str],
    where: str,
    run_dir: Path | None,
    unseen_ok: bool = False,
) -> None:
    """DataError unless train has exactly ``labels`` and no split has another one.

    ``unseen_ok`` lets the other splits hold labels that train lacks (they then count
    as errors of the model, as CoNLL-2000's test-only I-LST does).
    """
    known = set(labels)
    saved = f" (saved in {run_dir / LABELS_FILE})" if run_dir is not None else ""
    for split, seen in found.items():
        unseen = seen - known if split == "train" or not unseen_ok else set()
        if unseen or (split == "train" and seen != known):
            raise DataError(
                f"{where}: the {split} labels {sorted(seen)} differ from the run's "
                f"labels {labels}{saved}; a model predicts only the labels it was "
                "trained with"
            )
