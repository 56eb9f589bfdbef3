"""Caption data: synthetic shape scenes, the twemoji set, and the formats users bring.

Every reader returns plain Python: a list of :class:`Captioned` (an image path or
name and its reference captions, several where the format has them). Errors are
``DataError`` naming the file and, for line formats, the line.

Synthetic shapes (:func:`shape_captions`, :func:`shapes_split`,
:func:`render_scenes`): a white square canvas with two coloured shapes, captioned
"a red circle above a blue square" or "a green cross left of a red triangle". Five
colours x four shapes give 20 objects; with two relations, 20 x 20 x 2 = 800
captions. The harder world has three objects in a row or a column ("a red circle
above a blue square above a green cross", 20^3 x 2 = 16,000 captions). There is no
"below" or "right of": "a below b" is the picture of "b above a", and two true
captions of one picture would make exact match a coin toss. The split holds out
whole captions: all of them, sorted, are shuffled with ``random.Random(SHAPES_SEED)``;
the first ``test_captions`` are test, the next ``val_captions`` val, the rest train.
So a test caption is never trained on whole, but each of its words, objects and
relations is (the tests check both).

The twemoji set is split compositionally by :func:`twemoji_split` (test captions are
unseen whole, their words are not); the formats users bring that name no split
(Flickr8k, COCO) are split by picture with :func:`split_pictures`.
"""

from __future__ import annotations

import json
import random
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from seqlab.data.datasets import DataError

SHAPES_SEED = 0
COLOURS = {
    "red": (215, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
}
SHAPES = ("circle", "square", "triangle", "cross")
RELATIONS = ("above", "left of")


class Captioned(NamedTuple):
    """One picture (a path, or a name inside an archive) and its references."""

    image: str
    captions: list[str]


# ---- synthetic shapes ----------------------------------------------------------------
def shape_captions(objects: int = 2) -> list[str]:
    """All captions of the shapes world with ``objects`` objects in a row or a
    column, sorted: 800 for two, 16,000 for three ("a red circle above a blue
    square above a green cross": one relation along the whole chain)."""
    things = [f"{c} {s}" for c in COLOURS for s in SHAPES]
    chains = [[t] for t in things]
    for _ in range(objects - 1):
        chains = [[*chain, t] for chain in chains for t in things]
    return sorted(
        f" {rel} ".join(f"a {t}" for t in chain)
        for chain in chains
        for rel in RELATIONS
    )


def shapes_split(
    test_captions: int, val_captions: int, objects: int = 2
) -> dict[str, list[str]]:
    """Split name -> captions, held out as whole captions (module docstring)."""
    captions = shape_captions(objects)
    if test_captions + val_captions >= len(captions):
        raise ValueError(
            f"data.test_captions {test_captions} + data.val_captions {val_captions} "
            f"leave no training captions of {len(captions)}"
        )
    random.Random(SHAPES_SEED).shuffle(captions)
    cut = test_captions + val_captions
    return {
        "train": sorted(captions[cut:]),
        "val": sorted(captions[test_captions:cut]),
        "test": sorted(captions[:test_captions]),
    }


def parse_shape_caption(caption: str) -> tuple[list[tuple[str, str]], str]:
    """ "a red circle left of a blue square" -> ([("red", "circle"), ("blue",
    "square")], "left of"); the same for longer chains (one relation throughout)."""
    words = caption.split()
    objects, relations, i = [], set(), 0
    while i + 3 <= len(words) and words[i] == "a":
        if words[i + 1] not in COLOURS or words[i + 2] not in SHAPES:
            break
        objects.append((words[i + 1], words[i + 2]))
        i += 3
        if i == len(words):
            if len(objects) >= 2 and len(relations) == 1:
                return objects, relations.pop()
            break
        size = 1 if words[i] == "above" else 2
        relation = " ".join(words[i : i + size])
        if relation not in RELATIONS:
            break
        relations.add(relation)
        i += size
    raise ValueError(f"not a shapes caption: {caption!r}")


def render_scenes(captions: Sequence[str], size: int, seed: int) -> np.ndarray:
    """One picture per caption, (N, size, size, 3) uint8: shape sizes, positions and
    colours jittered by ``numpy.random.default_rng(seed)``. The objects sit on one
    line (within 2 pixels), vertical for "above", horizontal for "left of", so that
    no picture is also the other relation's."""
    rng = np.random.default_rng(seed)
    return np.stack([render_scene(c, size, rng) for c in captions])


def render_scene(caption: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """The picture of one shapes caption: the n objects, in order from the top (for
    "above") or the left, each in its own n-th of the canvas along the line."""
    objects, relation = parse_shape_caption(caption)
    n = len(objects)
    image = np.full((size, size, 3), 255.0)
    cell, top = size / n, 0.16 * size
    line = rng.uniform(top + 3, size - top - 3)  # all objects near one line
    for k, obj in enumerate(objects):
        r = rng.uniform(0.11, 0.16) * size * 2 / n
        along = rng.uniform(k * cell + r + 1, (k + 1) * cell - r - 1)
        across = line + rng.uniform(-2, 2)
        cy, cx = (along, across) if relation == "above" else (across, along)
        colour = np.array(COLOURS[obj[0]]) + rng.integers(-20, 21, 3)
        image[_mask(obj[1], size, cy, cx, r)] = np.clip(colour, 0, 255)
    return image.astype(np.uint8)


def _mask(shape: str, size: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5  # pixel centres, (size, size) each
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        return dx**2 + dy**2 <= r**2
    if shape == "square":
        return (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r)
    if shape == "triangle":  # apex up
        return (np.abs(dy) <= r) & (np.abs(dx) <= (dy + r) / 2)
    bar = r / 3  # cross
    return ((np.abs(dx) <= bar) & (np.abs(dy) <= r)) | (
        (np.abs(dy) <= bar) & (np.abs(dx) <= r)
    )


# ---- twemoji -------------------------------------------------------------------------
class Emoji(NamedTuple):
    """A row of twemoji-cldr's captions.tsv."""

    file: str
    caption: str
    group: str
    subgroup: str


TWEMOJI_DIR = "twemoji-cldr"
TWEMOJI_SEED = 0
SKIN_TONES = ("light", "medium-light", "medium", "medium-dark", "dark")


def read_twemoji(zip_path: str | Path) -> tuple[list[Emoji], dict[str, bytes]]:
    """captions.tsv rows and the PNG bytes by file name, from twemoji-cldr.zip."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path}: no such file (twemoji-cldr.zip)")
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        tsv = f"{TWEMOJI_DIR}/captions.tsv"
        lines = archive.read(tsv).decode("utf-8").splitlines()
        rows = []
        where = f"{zip_path}:{tsv}"
        for number, line in enumerate(lines[1:], start=2):
            fields = line.split("\t")
            if len(fields) < 5:
                raise DataError(f"{where}:{number}: expected 6 tab-separated fields")
            rows.append(
                Emoji(fields[0], _caption(fields[1], where, number), *fields[3:5])
            )
        pictures = {}
        for row in rows:
            member = f"{TWEMOJI_DIR}/images/{row.file}"
            if member not in names:
                raise DataError(f"{where}: image {row.file} is not in the archive")
            pictures[row.file] = archive.read(member)
    return rows, pictures


# ---- formats users bring -------------------------------------------------------------
def twemoji_split(rows: list[Emoji], pictures: dict[str, bytes]) -> list[str]:
    """The split of each row: a compositional hold-out of skin-tone variants.

    Rows whose caption ends in ", <tone> skin tone" (one tone) are grouped by the
    caption without it (e.g. "man surfing"); the groups, sorted and shuffled with
    ``random.Random(TWEMOJI_SEED)``, take turns: group i holds out the tone
    ``SKIN_TONES[i % 5]`` for test and ``SKIN_TONES[(i + 1) % 5]`` for val, so each
    tone word is trained on in most groups and every activity is trained on in the
    other tones. All other rows are train. Byte-identical pictures follow the first
    of them (a test picture never also sits in train under another name).
    """
    pattern = re.compile(r"^(.*), (" + "|".join(SKIN_TONES) + r") skin tone$")
    bases = sorted(
        {m.group(1) for r in rows if (m := pattern.match(r.caption)) is not None}
    )
    random.Random(TWEMOJI_SEED).shuffle(bases)
    turn = {base: i for i, base in enumerate(bases)}
    splits, by_bytes = [], {}
    for row in rows:
        split = "train"
        if (m := pattern.match(row.caption)) is not None:
            i = turn[m.group(1)]
            if m.group(2) == SKIN_TONES[i % 5]:
                split = "test"
            elif m.group(2) == SKIN_TONES[(i + 1) % 5]:
                split = "val"
        splits.append(by_bytes.setdefault(pictures[row.file], split))
    return splits


def split_pictures(
    items: list[Captioned], val_fraction: float, test_fraction: float
) -> dict[str, list[Captioned]]:
    """Train / val / test by picture: the pictures sorted by path and shuffled with
    ``random.Random(0)``; the first ``test_fraction`` (at least one) are test, the next
    ``val_fraction`` val, the rest train. All references of a picture stay together."""
    order = sorted(items, key=lambda c: c.image)
    random.Random(0).shuffle(order)
    n_test = max(1, round(len(order) * test_fraction))
    n_val = max(1, round(len(order) * val_fraction))
    return {
        "train": order[n_test + n_val :],
        "val": order[n_test : n_test + n_val],
        "test": order[:n_test],
    }


def read_flickr8k(token_file: str | Path, image_dir: str | Path) -> list[Captioned]:
    """Flickr8k.token.txt (``IMAGE#k<TAB>caption``, five per image) -> one Captioned
    per image, in first-appearance order, its captions in file order."""
    token_file, image_dir = Path(token_file), Path(image_dir)
    lines = _read_text(token_file).splitlines()
    found: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key, sep, caption = line.partition("\t")
        name, hash_, _ = key.partition("#")
        if not sep or not hash_:
            raise DataError(
                f"{token_file}:{number}: expected IMAGE#N<TAB>caption, got {line!r}"
            )
        if name not in found:
            _check_image(image_dir / name, f"{token_file}:{number}")
        found.setdefault(name, []).append(_caption(caption, token_file, number))
    return [Captioned(str(image_dir / n), caps) for n, caps in found.items()]


def read_caption_tsv(
    path: str | Path, max_line_chars: int = 100_000
) -> list[Captioned]:
    """A user's ``picture_path<TAB>caption`` file -> one Captioned per picture (a
    picture on several lines has several references), in first-appearance order.

    Picture paths are relative to the TSV's folder (or absolute). DataError naming
    file and line for a line without exactly one TAB, an empty caption, a missing
    picture, and the bad files of :func:`seqlab.data.readers.read_user_lines`.
    """
    from seqlab.data.readers import read_user_lines

    found: dict[str, list[str]] = {}
    for number, line in read_user_lines(path, max_line_chars):
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{path}:{number}: expected picture_path<TAB>caption (2 columns), "
                f"got {len(fields)}: {line[:60]!r}"
            )
        picture = Path(fields[0].strip())
        picture = picture if picture.is_absolute() else Path(path).parent / picture
        new = str(picture) not in found
        if new and (not fields[0].strip() or not picture.is_file()):
            raise DataError(f"{path}:{number}: no picture at {picture}")
        found.setdefault(str(picture), []).append(_caption(fields[1], path, number))
    return [Captioned(name, caps) for name, caps in found.items()]


def read_karpathy(
    json_file: str | Path, image_dir: str | Path
) -> dict[str, list[Captioned]]:
    """Karpathy's split JSON (dataset_coco/flickr8k/flickr30k.json) -> split name
    (train, val, test; ``restval`` joins train) -> Captioned, references from each
    sentence's ``raw`` text; images at image_dir/filepath/filename."""
    json_file, image_dir = Path(json_file), Path(image_dir)
    data = _read_json(json_file)
    result: dict[str, list[Captioned]] = {"train": [], "val": [], "test": []}
    for i, entry in enumerate(data.get("images", [])):
        where = f"{json_file}: images[{i}]"
        try:
            path = image_dir / entry.get("filepath", "") / entry["filename"]
            raws = [s["raw"] for s in entry["sentences"]]
            split = {"restval": "train"}.get(entry["split"], entry["split"])
        except (KeyError, TypeError) as err:
            raise DataError(f"{where}: missing field {err}") from None
        if split not in result:
            raise DataError(f"{where}: unknown split {entry['split']!r}")
        _check_image(path, where)
        captions = [_caption(r, where, None) for r in raws]
        result[split].append(Captioned(str(path), captions))
    return result


def read_coco(json_file: str | Path, image_dir: str | Path) -> list[Captioned]:
    """COCO captions JSON (captions_train2017.json: ``images`` with id and
    file_name, ``annotations`` with image_id and caption) -> Captioned per image
    with captions, in ``images`` order."""
    json_file, image_dir = Path(json_file), Path(image_dir)
    data = _read_json(json_file)
    try:
        names = {im["id"]: im["file_name"] for im in data["images"]}
        notes = [(a["image_id"], a["caption"]) for a in data["annotations"]]
    except (KeyError, TypeError) as err:
        raise DataError(f"{json_file}: missing field {err}") from None
    found: dict[int, list[str]] = {}
    for i, (image_id, caption) in enumerate(notes):
        where = f"{json_file}: annotations[{i}]"
        if image_id not in names:
            raise DataError(f"{where}: image_id {image_id} is not in images")
        found.setdefault(image_id, []).append(_caption(caption, where, None))
    result = []
    for image_id, name in names.items():
        if image_id in found:
            _check_image(image_dir / name, f"{json_file}: image id {image_id}")
            result.append(Captioned(str(image_dir / name), found[image_id]))
    return result


def _caption(text: str, where: str | Path, line: int | None) -> str:
    caption = " ".join(str(text).split())
    if not caption:
        at = f"{where}:{line}" if line is not None else str(where)
        raise DataError(f"{at}: empty caption")
    return caption


def _check_image(path: Path, where: str) -> None:
    if not path.is_file():
        raise DataError(f"{where}: image {path} does not exist")


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such caption file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 ({err})") from None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top")
    return data
