"""Image captioning: pictures, caption files, the shapes split, the captioner."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab import decode
from seqlab.data import captions as capdata
from seqlab.data import images
from seqlab.data.batching import pad_sequences
from seqlab.data.datasets import DataError
from seqlab.data.images import read_image
from seqlab.data.vocab import Vocab
from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.tasks.caption import detokenize, shift_images, tokenize

Image = pytest.importorskip("PIL.Image")


def write_png(path: Path, mode: str = "RGB", size=(20, 12), colour=None) -> Path:
    colour = colour if colour is not None else {"L": 90, "LA": (90, 0)}.get(mode, 0)
    Image.new(mode, size, colour).save(path)
    return path


# ---- pictures ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
def test_read_image_reads_any_mode_and_size(tmp_path, mode):
    array = read_image(write_png(tmp_path / "x.png", mode), size=16)
    assert array.shape == (16, 16, 3) and array.dtype == np.uint8


def test_transparent_pixels_show_the_background(tmp_path):
    path = write_png(tmp_path / "clear.png", "RGBA", colour=(255, 0, 0, 0))
    assert (read_image(path, 8, "white") == 255).all()
    assert (read_image(path, 8, "black") == 0).all()
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([200, 0, 0] * 256)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png")
    assert (read_image(tmp_path / "p.png", 8, "white") == 255).all()


def test_corrupt_or_missing_picture_errors_name_the_file(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(DataError, match=r"notes\.png: not a readable image"):
        read_image(bad, 16)
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        read_image(tmp_path / "gone.png", 16)


def test_a_picture_over_the_pixel_limit_is_refused_before_it_is_decoded(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(images, "MAX_PIXELS", 20 * 12 - 1)
    with pytest.raises(DataError, match=r"big\.png: 20 x 12 pixels is larger"):
        read_image(write_png(tmp_path / "big.png"), 16)
    assert read_image(write_png(tmp_path / "ok.png", size=(19, 12)), 16).shape[0] == 16


def test_training_pictures_are_shifted_within_the_bound_and_filled():
    pictures = torch.arange(4 * 3 * 6 * 6, dtype=torch.uint8).view(4, 3, 6, 6)
    generator = torch.Generator().manual_seed(0)
    moved = [shift_images(pictures, 2, (255, 0, 7), generator) for _ in range(20)]
    seen = set()
    for batch in moved:
        assert batch.shape == pictures.shape
        for b in range(4):
            padded = torch.stack(
                [
                    torch.nn.functional.pad(pictures[b, c], (2, 2, 2, 2), value=v)
                    for c, v in enumerate((255, 0, 7))
                ]
            )
            found = [
                (y, x)
                for y in range(5)
                for x in range(5)
                if torch.equal(padded[:, y : y + 6, x : x + 6], batch[b])
            ]
            assert len(found) == 1  # a translation by at most 2, border filled
            seen.add(found[0])
    assert len(seen) > 10  # the shifts vary
    again = torch.Generator().manual_seed(0)
    assert torch.equal(shift_images(pictures, 2, (255, 0, 7), again), moved[0])


# ---- caption files -------------------------------------------------------------------
def test_flickr8k_groups_five_references_per_image(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        write_png(tmp_path / name)
    lines = [f"a.jpg#{k}\tA dog runs number {k} ." for k in range(5)]
    lines += ["b.jpg#0\tTwo cats .", "b.jpg#1\t  Two   cats sleep ."]
    tokens = tmp_path / "Flickr8k.token.txt"
    tokens.write_text("\n".join(lines) + "\n")
    found = capdata.read_flickr8k(tokens, tmp_path)
    assert [Path(c.image).name for c in found] == ["a.jpg", "b.jpg"]
    assert len(found[0].captions) == 5 and found[1].captions[1] == "Two cats sleep ."


def test_flickr8k_errors_name_file_and_line(tmp_path):
    write_png(tmp_path / "a.jpg")
    tokens = tmp_path / "t.txt"
    tokens.write_text("a.jpg#0\tfine\nmissing.jpg#0\ta caption\n")
    with pytest.raises(DataError, match=r"t.txt:2: image .*missing.jpg"):
        capdata.read_flickr8k(tokens, tmp_path)
    tokens.write_text("a.jpg#0\tfine\na.jpg#1\t   \n")
    with pytest.raises(DataError, match=r"t.txt:2: empty caption"):
        capdata.read_flickr8k(tokens, tmp_path)
    tokens.write_text("a.jpg fine\n")
    with pytest.raises(DataError, match=r"t.txt:1: expected"):
        capdata.read_flickr8k(tokens, tmp_path)


def test_karpathy_json_splits_with_restval_in_train(tmp_path):
    (tmp_path / "val2014").mkdir()
    for name in ("x.jpg", "y.jpg", "z.jpg"):
        write_png(tmp_path / "val2014" / name)
    entries = [
        {"filepath": "val2014", "filename": n, "split": s, "sentences": sents}
        for n, s, sents in [
            ("x.jpg", "train", [{"raw": "one"}, {"raw": "two"}]),
            ("y.jpg", "restval", [{"raw": "three"}]),
            ("z.jpg", "test", [{"raw": "four"}]),
        ]
    ]
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": entries}))
    found = capdata.read_karpathy(path, tmp_path)
    assert [len(found[s]) for s in ("train", "val", "test")] == [2, 0, 1]
    assert found["train"][0].captions == ["one", "two"]
    entries[2]["sentences"] = [{"raw": ""}]
    path.write_text(json.dumps({"images": entries}))
    with pytest.raises(DataError, match=r"dataset_coco.json: images\[2\]: empty"):
        capdata.read_karpathy(path, tmp_path)


def test_coco_captions_json_collects_references(tmp_path):
    write_png(tmp_path / "1.jpg")
    data = {
        "images": [{"id": 7, "file_name": "1.jpg"}, {"id": 8, "file_name": "2.jpg"}],
        "annotations": [
            {"image_id": 7, "caption": "A cat."},
            {"image_id": 7, "caption": "A cat on a mat."},
        ],
    }
    path = tmp_path / "captions_val2017.json"
    path.write_text(json.dumps(data))
    found = capdata.read_coco(path, tmp_path)  # image 8 has no caption: left out
    assert found == [capdata.Captioned(str(tmp_path / "1.jpg"), data_caps(data))]
    data["annotations"].append({"image_id": 8, "caption": "A dog."})
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"captions_val2017.json: image id 8: .*2.jpg"):
        capdata.read_coco(path, tmp_path)


def data_caps(data):
    return [a["caption"] for a in data["annotations"]]


def test_caption_words_round_trip():
    text = "man surfing, dark skin tone (x)"
    words = ["man", "surfing", ",", "dark", "skin", "tone", "(", "x", ")"]
    assert tokenize(text) == words
    assert detokenize(tokenize(text)) == text


# ---- shapes --------------------------------------------------------------------------
def test_shapes_split_is_deterministic_and_holds_out_whole_captions():
    split = capdata.shapes_split(80, 40)
    assert split == capdata.shapes_split(80, 40)
    train = set(split["train"])
    assert not train & set(split["test"]) and not train & set(split["val"])
    assert len(train) + 120 == len(capdata.shape_captions())
    seen_words = {w for c in train for w in c.split()}
    seen_objects = {p for c in train for p in capdata.parse_shape_caption(c)[0]}
    for caption in split["test"]:
        assert set(caption.split()) <= seen_words
        objects, _ = capdata.parse_shape_caption(caption)
        assert set(objects) <= seen_objects


def test_three_object_world_holds_out_whole_chains():
    captions = capdata.shape_captions(3)
    assert len(captions) == len(set(captions)) == 20**3 * 2
    split = capdata.shapes_split(400, 200, objects=3)
    train = set(split["train"])
    assert len(train) == 16_000 - 600 and not train & set(split["test"])
    objects, relation = capdata.parse_shape_caption(split["test"][0])
    assert len(objects) == 3 and relation in capdata.RELATIONS


@pytest.mark.parametrize(
    "caption",
    [
        "a red circle",  # one object
        "a red circle above a blue square left of a green cross",  # two relations
        "a red circle below a blue square",
        "a pink circle above a blue square",
        "a red circle above a blue square above",
    ],
)
def test_bad_shapes_captions_are_refused(caption):
    with pytest.raises(ValueError, match="not a shapes caption"):
        capdata.parse_shape_caption(caption)


def test_three_object_scene_draws_each_object_in_its_third():
    caption = "a red circle left of a blue square left of a green cross"
    image = capdata.render_scenes([caption], 48, seed=1)[0].astype(int)
    thirds = [image[:, 16 * k : 16 * (k + 1)].reshape(-1, 3) for k in range(3)]
    red, blue, green = (
        ((t[:, c] > 150) & (t.sum(1) < 450)).any()
        for t, c in zip(thirds, (0, 2, 1), strict=True)
    )
    assert red and blue and green


def test_scenes_are_reproducible_and_draw_both_colours():
    caption = "a red circle above a blue square"
    a = capdata.render_scenes([caption], 32, seed=3)
    assert (a == capdata.render_scenes([caption], 32, seed=3)).all()
    top, bottom = a[0, :16].reshape(-1, 3), a[0, 16:].reshape(-1, 3)
    assert (top[:, 0] > 150).any() and (top[:, 2] < 100).any()  # red above
    assert ((bottom[:, 2] > 150) & (bottom[:, 0] < 100)).any()  # blue below


# ---- the captioner -------------------------------------------------------------------
def tiny_model(decoder="attention", vocab=12, image_size=16) -> Captioner:
    cfg = CaptionerConfig(
        channels=(8, 16),
        embedding_size=8,
        hidden_size=24,
        decoder=decoder,
        **({"attention": "general"} if decoder == "attention" else {}),
    )
    return Captioner(cfg, vocab, image_size).eval()


def test_attention_over_regions_sums_to_one_with_the_grid_shape():
    model = tiny_model()
    state = model.start(torch.rand(3, 3, 16, 16))
    assert state.memory.shape == (3, 16, 24)  # 4 x 4 regions of 16 / 2 ** 2
    _, state = model.step(torch.full((3,), Vocab.bos_id), state)
    assert state.attention.shape == (3, model.grid_size**2)
    assert torch.allclose(state.attention.sum(-1), torch.ones(3))
    out = model(torch.rand(2, 3, 16, 16), torch.ones(2, 5, dtype=torch.long))
    assert out.attention.shape == (2, 5, 16) and out.logits.shape == (2, 5, 12)


@pytest.mark.parametrize("decoder", ["attention", "plain"])
def test_batched_beam_search_equals_one_picture_at_a_time(decoder):
    torch.manual_seed(0)
    model = tiny_model(decoder)
    images = torch.rand(4, 3, 16, 16)
    options = dict(bos_id=Vocab.bos_id, eos_id=Vocab.eos_id, max_len=6, beam_size=3)
    batched = decode.beam_search(model, model.start(images), **options)
    for i, hyp in enumerate(batched):
        alone = decode.beam_search(model, model.start(images[i : i + 1]), **options)[0]
        assert hyp.tokens == alone.tokens
        assert hyp.score == pytest.approx(alone.score, abs=1e-4)


def test_a_tiny_caption_set_is_learned():
    torch.manual_seed(0)
    texts = ["a red circle above a blue square", "a green cross left of a red circle"]
    texts += [
        "a blue triangle above a yellow cross",
        "a purple square left of a red cross",
    ]
    captions = texts * 6
    images = torch.from_numpy(capdata.render_scenes(captions, 16, seed=0))
    images = images.permute(0, 3, 1, 2).float() / 255.0  # (24, 3, 16, 16)
    vocab = Vocab.build([t.split() for t in texts])
    ids = [vocab.encode(t.split()) for t in captions]
    tgt_in, _ = pad_sequences([[Vocab.bos_id, *x] for x in ids], Vocab.pad_id)
    tgt_out, _ = pad_sequences([[*x, Vocab.eos_id] for x in ids], Vocab.pad_id)
    model = tiny_model(vocab=len(vocab)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimizer.zero_grad()
        model(images, tgt_in, targets=tgt_out).loss.backward()
        optimizer.step()
    model.eval()
    hyps = decode.greedy_search(
        model, model.start(images), bos_id=Vocab.bos_id, eos_id=Vocab.eos_id, max_len=9
    )
    assert [" ".join(vocab.decode(h.tokens)) for h in hyps] == captions


def test_captioner_config_refuses_text_encoder_options():
    with pytest.raises(ValueError, match="bidirectional"):
        CaptionerConfig(bidirectional=True, attention="general")
    with pytest.raises(ValueError, match="multiple of"):
        tiny_model(image_size=18)


# ---- twemoji -------------------------------------------------------------------------
TWEMOJI = Path(os.environ.get("SEQLAB_DATA", "/nonexistent")) / "captioning"


@pytest.mark.skipif(
    not (TWEMOJI / "twemoji-cldr.zip").is_file(), reason="twemoji-cldr.zip absent"
)
def test_twemoji_split_is_compositional_and_keeps_twins_together():
    rows, pictures = capdata.read_twemoji(TWEMOJI / "twemoji-cldr.zip")
    assert len(rows) == 3664
    names = capdata.twemoji_split(rows, pictures)
    assert names == capdata.twemoji_split(rows, pictures)
    by_split = {
        s: [r.caption for r, n in zip(rows, names, strict=True) if n == s]
        for s in names
    }
    train = set(by_split["train"])
    assert len(by_split["test"]) > 200 and not train & set(by_split["test"])
    words = {w for c in train for w in tokenize(c)}
    assert all(set(tokenize(c)) <= words for c in by_split["test"])
    split_of_bytes = {}
    for row, name in zip(rows, names, strict=True):
        assert split_of_bytes.setdefault(pictures[row.file], name) == name


def test_pictures_split_whole_deterministically_and_disjoint():

    items = [capdata.Captioned(f"{i}.png", [f"c{i}", f"d{i}"]) for i in range(40)]
    first = capdata.split_pictures(items, 0.1, 0.2)
    again = capdata.split_pictures(list(reversed(items)), 0.1, 0.2)
    assert first == again
    assert [len(first[s]) for s in ("train", "val", "test")] == [28, 4, 8]
    seen = [c.image for part in first.values() for c in part]
    assert sorted(seen) == sorted(c.image for c in items)


def test_transformer_captioner_steps_agree_with_teacher_forcing():
    """The KV-cached steps give the teacher-forced logits; the state's attention is
    a distribution over the G x G regions; greedy search runs through it."""
    from seqlab.models.transformer_captioner import (
        TransformerCaptioner,
        TransformerCaptionerConfig,
    )

    torch.manual_seed(0)
    cfg = TransformerCaptionerConfig(
        channels=(4, 8), d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0
    )
    model = TransformerCaptioner(cfg, vocab_size=12, image_size=16).eval()
    images = torch.rand(2, 3, 16, 16)
    tgt_in = torch.tensor([[Vocab.bos_id, 5, 6, 7], [Vocab.bos_id, 8, 9, 5]])
    with torch.no_grad():
        forced = torch.log_softmax(model(images, tgt_in).logits, dim=-1)
        state = model.start(images)
        for t in range(tgt_in.shape[1]):
            step, state = model.step(tgt_in[:, t], state)
            torch.testing.assert_close(step, forced[:, t], atol=1e-5, rtol=1e-5)
        assert state.attention.shape == (2, model.grid_size**2)
        torch.testing.assert_close(state.attention.sum(-1), torch.ones(2))
        hyps = decode.greedy_search(
            model,
            model.start(images),
            bos_id=Vocab.bos_id,
            eos_id=Vocab.eos_id,
            max_len=5,
        )
    assert len(hyps) == 2 and all(len(h.tokens) <= 5 for h in hyps)
