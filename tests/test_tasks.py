"""Task plumbing that is not a training: splits, label checks, the shipped configs."""

import random
from pathlib import Path

import pytest

from seqlab.data.datasets import DataError
from seqlab.data.vocab import Vocab
from seqlab.models import TaggerConfig, build_model
from seqlab.run import count_parameters, load_run_config
from seqlab.tasks.classify import check_labels, split_fold
from seqlab.tasks.tag import Sentence, TagDataConfig, TagRunConfig, TagTask

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_folds_partition_the_examples_and_do_not_depend_on_order_of_calls():
    items = list(range(103))
    tests = [split_fold(items, 10, k)[1] for k in range(10)]
    assert sorted(i for fold in tests for i in fold) == items
    assert {len(fold) for fold in tests} == {10, 11}
    rest, test = split_fold(items, 10, 3)
    assert set(rest).isdisjoint(test) and len(rest) + len(test) == 103
    assert split_fold(items, 10, 3) == (rest, test)


def test_check_labels_names_both_label_sets():
    with pytest.raises(DataError, match=r"\['neg', 'neu', 'pos'\].*\['neg', 'pos'\]"):
        check_labels({"train": {"neg", "neu", "pos"}}, ["neg", "pos"], "f.tsv", None)
    with pytest.raises(DataError, match="test labels"):
        check_labels({"train": {"a"}, "test": {"a", "b"}}, ["a"], "f.tsv", None)
    check_labels({"train": {"a"}, "test": {"b"}}, ["a"], "f", None, unseen_ok=True)


@pytest.mark.parametrize(
    "name",
    [
        "mr-bilstm-attention",
        "conll2000-bilstm-crf",
        "conll2002-es-bilstm-crf",
        "sunspots-gru",
        "sunspots-mlp",
    ],
)
def test_shipped_configs_validate(name):
    cfg = load_run_config(CONFIGS / f"{name}.yaml")
    assert cfg.train.max_minutes is not None  # every shipped training is time-boxed


def test_the_forecasters_have_about_the_same_parameter_count():
    sizes = {}
    for name in ("sunspots-gru", "sunspots-mlp"):
        cfg = load_run_config(CONFIGS / f"{name}.yaml")
        model = build_model(cfg.model, window=cfg.data.window)
        sizes[name] = count_parameters(model)
    gru, mlp = sizes["sunspots-gru"], sizes["sunspots-mlp"]
    assert abs(gru - mlp) / gru < 0.05


def test_singletons_become_unk_at_the_configured_rate():
    cfg = TagRunConfig(
        data=TagDataConfig(dataset="conll2000", unk_singletons=0.5),
        model=TaggerConfig(),
    )
    task = TagTask(cfg, Vocab(["a", "b"]), ["O"], None, None)
    task.use({"train": [Sentence(["a", "b", "a"], None, ["O"] * 3)]})
    rng = random.Random(0)
    drawn = [task.drop_singletons(task.examples["train"][0], rng) for _ in range(2000)]
    a, b = Vocab(["a", "b"]).encode(["a", "b"])
    assert all(d.words[0] == d.words[2] == a for d in drawn)
    dropped = sum(d.words[1] == Vocab.unk_id for d in drawn) / len(drawn)
    assert 0.45 < dropped < 0.55
    assert task.examples["train"][0].words == [a, b, a]  # the data is not changed


def test_bigram_features_pair_each_token_with_the_next():
    cfg = TagRunConfig(
        data=TagDataConfig(dataset="gsdsimp_seg", bigrams=True),
        model=TaggerConfig(feature_embedding_size=4),
    )
    task = TagTask(cfg, Vocab(list("北京大")), ["B", "E"], None, None)
    sentence = Sentence(list("北京大学"), None, ["B", "E", "B", "E"])
    assert task.feature_keys(sentence) == ["北 京", "京 大", "大 学", "学 <eos>"]
    task.features = Vocab(["北 京", "京 大"])
    features = task.encode(sentence).features
    assert features[:2] == task.features.encode(["北 京", "京 大"])
    assert features[2:] == [Vocab.unk_id, Vocab.unk_id]


@pytest.mark.parametrize(
    "data,size,message",
    [
        ({"pos": True, "bigrams": True}, 4, "exclusive"),
        ({"bigrams": True}, 0, "go together"),
    ],
)
def test_tag_features_need_their_embedding(data, size, message):
    with pytest.raises(ValueError, match=message):
        TagRunConfig(
            data=TagDataConfig(dataset="conll2000", **data),
            model=TaggerConfig(feature_embedding_size=size),
        )
