"""Pictures for captioning: any file Pillow reads, as a fixed-size RGB array.

Shapes: H height, W width (the configured ``size``), C = 3 channels. Pixels are
uint8 numpy arrays (H, W, 3); the task turns them into tensors. Needs Pillow (the
``vision`` extra).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from seqlab.data.datasets import DataError

MAX_PIXELS = 4096 * 4096  # larger pictures (or decompression bombs) are refused
# Named backgrounds that transparent pixels are composited onto.
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128)}


def require_pillow():
    """Pillow's Image module; an ImportError naming the extra when it is missing."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "reading pictures needs Pillow: pip install 'seqlab[vision]'"
        ) from None
    return Image


def decode_image(
    data: bytes, name: str, size: int, background: str = "white"
) -> np.ndarray:
    """The picture in ``data`` (PNG, JPEG, ... any mode: RGB, RGBA, palette with
    transparency, grey) as a (size, size, 3) uint8 array: transparent parts are
    composited onto ``background``, then the picture is resized (bilinear, aspect
    ratio not kept). A file Pillow cannot read raises DataError naming ``name``."""
    Image = require_pillow()
    if background not in BACKGROUNDS:
        raise ValueError(
            f"unknown background {background!r}; choose one of {', '.join(BACKGROUNDS)}"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataError(
                    f"{name}: {image.width} x {image.height} pixels is larger than "
                    f"the {MAX_PIXELS:,} pixels seqlab reads"
                )
            image.load()
            rgba = image.convert("RGBA")  # palette + tRNS, LA, RGBA, grey, RGB alike
    except DataError:
        raise
    except Exception as err:  # Pillow raises many kinds for a broken file
        why = "unknown format" if "cannot identify" in str(err) else str(err)
        raise DataError(f"{name}: not a readable image ({why})") from None
    canvas = Image.new("RGBA", rgba.size, (*BACKGROUNDS[background], 255))
    rgb = Image.alpha_composite(canvas, rgba).convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).copy()  # (size, size, 3)


def read_image(path: str | Path, size: int, background: str = "white") -> np.ndarray:
    """:func:`decode_image` of a file; FileNotFoundError names a missing one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    return decode_image(path.read_bytes(), str(path), size, background)
