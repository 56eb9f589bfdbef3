"""The named captioning sets (their records in :mod:`seqlab.data.records` point
here): each split's pictures as one uint8 array with every picture's references.

- shapes: generated scenes (:mod:`seqlab.data.captions`): ``data.test_captions`` /
  ``data.val_captions`` whole captions held out, ``data.train_size`` training
  pictures drawn from the rest; rendered with ``data.seed`` (+1 val, +2 test).
- twemoji: twemoji-cldr.zip split by :func:`seqlab.data.captions.twemoji_split`.
- flickr8k, karpathy, coco: your pictures in the standard formats (``data.captions``,
  ``data.images``); Karpathy's JSON names the splits, the others are split by
  :func:`seqlab.data.captions.split_pictures`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data import captions as capdata
from seqlab.data import datasets
from seqlab.data.images import decode_image, read_image


@dataclass
class Split:
    """Pictures (N, P, P, 3) uint8 and each picture's reference captions."""

    images: np.ndarray
    references: list[list[str]]


def load_shapes(cfg: Any, data_dir: str | Path | None) -> dict[str, Split]:
    del data_dir  # generated
    return shapes_splits(cfg)


def load_twemoji(cfg: Any, data_dir: str | Path | None) -> dict[str, Split]:
    return twemoji_splits(cfg, datasets.locate("twemoji", data_dir))


def load_user_format(cfg: Any, data_dir: str | Path | None) -> dict[str, Split]:
    del data_dir  # data.captions and data.images name the files
    return user_splits(cfg)


def user_splits(cfg: Any) -> dict[str, Split]:
    """Pictures and references from a Flickr8k, Karpathy or COCO caption file."""
    if cfg.dataset == "karpathy":
        chosen = capdata.read_karpathy(cfg.captions, cfg.images)
    else:
        read = capdata.read_flickr8k if cfg.dataset == "flickr8k" else capdata.read_coco
        chosen = capdata.split_pictures(
            read(cfg.captions, cfg.images), cfg.val_fraction, cfg.test_fraction
        )
    return pictures_splits(chosen, cfg, str(cfg.captions))


def pictures_splits(
    chosen: dict[str, list[capdata.Captioned]], cfg: Any, where: str
) -> dict[str, Split]:
    """Each split's pictures read (resized, on the background) with references."""
    result = {}
    for split, items in chosen.items():
        if not items:
            raise datasets.DataError(f"{where}: no pictures for the {split} split")
        images = [read_image(c.image, cfg.image_size, cfg.background) for c in items]
        result[split] = Split(np.stack(images), [list(c.captions) for c in items])
    return result


def shapes_splits(cfg: Any) -> dict[str, Split]:
    held = capdata.shapes_split(cfg.test_captions, cfg.val_captions, cfg.objects)
    rng = random.Random(cfg.seed)
    sizes = {"train": cfg.train_size, "val": cfg.val_size, "test": cfg.test_size}
    result = {}
    for offset, (split, n) in enumerate(sizes.items()):
        pool = held[split]
        if split == "train":
            texts = [rng.choice(pool) for _ in range(n)]
        else:
            texts = [pool[i % len(pool)] for i in range(n)]
        images = capdata.render_scenes(texts, cfg.image_size, cfg.seed + offset)
        result[split] = Split(images, [[t] for t in texts])
    return result


def twemoji_splits(cfg: Any, zip_path: Path) -> dict[str, Split]:
    rows, pictures = capdata.read_twemoji(zip_path)
    names = capdata.twemoji_split(rows, pictures)
    result = {}
    for split in ("train", "val", "test"):
        chosen = [r for r, s in zip(rows, names, strict=True) if s == split]
        images = [
            decode_image(
                pictures[r.file], f"{zip_path}:{r.file}", cfg.image_size, cfg.background
            )
            for r in chosen
        ]
        result[split] = Split(np.stack(images), [[r.caption] for r in chosen])
    return result
