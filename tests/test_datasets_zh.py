"""Readers and splits of the Chinese data sets (CrossWOZ, UNER GSDSimp)."""

import gzip
import json
import os
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from seqlab.data.datasets import (
    DATASETS,
    DataError,
)
from seqlab.data.pairs import read_tatoeba as read_tatoeba_pairs
from seqlab.data.pairs import tatoeba_split
from seqlab.data.readers import (
    crosswoz_act_labels,
    crosswoz_domain,
    read_crosswoz,
    read_iob2,
    read_tatoeba,
)
from seqlab.data.tokenizers import opencc_converter
from seqlab.run import load_run_config
from seqlab.tasks.classify import (
    CONTEXT_SEP,
    ClassifyDataConfig,
    crosswoz_splits,
    split_dialogues,
)
from seqlab.tasks.seq2seq import Seq2SeqDataConfig
from seqlab.tasks.tag import bmes_words, ner_sentence, seg_sentence

REAL = os.environ.get("SEQLAB_DATA")
LABELS = ["general", "景点", "餐馆", "酒店", "地铁", "出租"]


def _real(name: str) -> Path:
    path = Path(REAL or "") / DATASETS[name].relpath
    if not REAL or not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def _zip(path: Path, text: str, member: str = "val.json") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, text.encode("utf-8"))
    return path


DIALOGUE = {
    "7": {
        "messages": [
            {
                "role": "usr",
                "content": "你好，我想找一家川菜馆。",
                "dialog_act": [
                    ["General", "greet", "none", "none"],
                    ["Inform", "餐馆", "推荐菜", "川菜"],
                ],
            },
            {"role": "sys", "content": "推荐您去蜀香。", "dialog_act": []},
            {
                "role": "usr",
                "content": "谢谢。",
                "dialog_act": [["General", "thank", "none", "none"]],
            },
        ],
        "goal": [],
    }
}


# ---------------------------------------------------------------- CrossWOZ


def test_read_crosswoz_turns(tmp_path):
    path = _zip(tmp_path / "val.json.zip", json.dumps(DIALOGUE, ensure_ascii=False))
    dialogues = read_crosswoz(path)
    assert list(dialogues) == ["7"]
    role, text, acts = dialogues["7"][0]
    assert (role, text) == ("usr", "你好，我想找一家川菜馆。")
    assert acts[1] == ("Inform", "餐馆", "推荐菜", "川菜")
    assert [crosswoz_domain(a) for _, _, a in dialogues["7"]] == [
        "餐馆",
        "general",
        "general",
    ]


def test_malformed_crosswoz_json_names_file_and_line(tmp_path):
    text = '{\n  "1": {"messages": [\n    {"role": "usr",, }\n  ]}\n}\n'
    path = _zip(tmp_path / "bad.json.zip", text)
    with pytest.raises(DataError, match=r"bad\.json\.zip!val\.json:3:"):
        read_crosswoz(path)


def test_crosswoz_message_without_fields_names_dialogue(tmp_path):
    bad = {"42": {"messages": [{"role": "usr", "content": "好"}]}}
    path = _zip(tmp_path / "val.json.zip", json.dumps(bad))
    with pytest.raises(DataError, match="dialogue '42', message 0"):
        read_crosswoz(path)


def test_crosswoz_domain_of_two_domain_turns():
    near_hotel = [
        ("Inform", "景点", "名称", "天安门广场"),
        ("Inform", "酒店", "类型", "豪华型"),
        ("Select", "酒店", "源领域", "景点"),
    ]
    assert crosswoz_domain(near_hotel) == "酒店"  # the domain selected in
    assert crosswoz_domain([near_hotel[0], near_hotel[1], near_hotel[0]]) == "景点"
    assert crosswoz_domain([near_hotel[1], near_hotel[0]]) == "酒店"  # tie: first


def test_crosswoz_split_is_by_dialogue_and_deterministic():
    _real("crosswoz.val"), _real("crosswoz.test")
    cfg = ClassifyDataConfig(dataset="crosswoz", tokenizer="zh_char")
    splits = crosswoz_splits(cfg, None)
    assert crosswoz_splits(cfg, None) == splits
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6874, 738, 855]
    assert {label for _, label in splits["train"]} == set(LABELS)
    ctx = crosswoz_splits(cfg.model_copy(update={"context_turns": 1}), None)
    assert sum(CONTEXT_SEP in text for text, _ in ctx["test"]) == 855 - 100


def test_dialogue_split_is_disjoint_and_covers_every_dialogue():
    ids = [str(i) for i in range(1, 1001)]
    cfg = ClassifyDataConfig(dataset="crosswoz", tokenizer="zh_char")
    splits = split_dialogues(list(reversed(ids)), cfg.folds, cfg.fold)
    assert split_dialogues(ids) == splits  # input order does not matter
    assert [len(splits[s]) for s in ("train", "val", "test")] == [810, 90, 100]
    assert sorted(i for keys in splits.values() for i in keys) == sorted(ids)
    other = split_dialogues(ids, fold=1)
    assert not set(other["test"]) & set(splits["test"])


# ---------------------------------------------------------------- UNER GSDSimp

IOB2 = """\
# sent_id = 1
# text = 我们在北京大学。
1\t我们\tO\t-\t-
2\t在\tO\t-\t-
3\t北京\tB-ORG\t-\t-
4\t大学\tI-ORG\t-\t-
5\t。\tO\t-\t-

# sent_id = 2
1\t好\tO\t-\t-
"""


def test_read_iob2_sentences(tmp_path):
    path = tmp_path / "x.iob2.gz"
    path.write_bytes(gzip.compress(IOB2.encode("utf-8")))
    sentences = read_iob2(path)
    assert sentences == [
        [("我们", "O"), ("在", "O"), ("北京", "B-ORG"), ("大学", "I-ORG"), ("。", "O")],
        [("好", "O")],
    ]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("3\t北京\tB_ORG\t-\t-", "tag 'B_ORG'"),
        ("3\t北京", "index<TAB>word<TAB>tag"),
        ("9\t北京\tO\t-\t-", "index 3"),
    ],
)
def test_malformed_iob2_line_names_file_and_line(tmp_path, bad_row, message):
    path = tmp_path / "bad.iob2"
    path.write_text(IOB2.replace("3\t北京\tB-ORG\t-\t-", bad_row), encoding="utf-8")
    with pytest.raises(DataError, match=rf"bad\.iob2:5: .*{message}"):
        read_iob2(path)


def test_words_to_bmes_characters_and_back():
    sentence = seg_sentence([("我们", "O"), ("在", "O"), ("北京大学", "B-ORG")])
    assert "".join(sentence.words) == "我们在北京大学"
    assert sentence.tags == ["B", "E", "S", "B", "M", "M", "E"]
    assert bmes_words(sentence.words, sentence.tags) == ["我们", "在", "北京大学"]
    # any tag sequence spells the text: a stray M or E continues the word
    assert bmes_words(list("北京大学"), ["M", "E", "E", "S"]) == ["北京", "大", "学"]


def test_ner_entities_project_onto_characters():
    sentence = ner_sentence([("在", "O"), ("北京", "B-ORG"), ("大学", "I-ORG")])
    assert sentence.tags == ["O", "B-ORG", "I-ORG", "I-ORG", "I-ORG"]


def test_real_gsdsimp_counts():
    sizes = [len(read_iob2(_real(f"gsdsimp.{s}"))) for s in ("train", "dev", "test")]
    assert sizes == [3997, 500, 500]


# ---------------------------------------------------------------- Tatoeba


def test_read_tatoeba_names_file_and_line(tmp_path):
    path = tmp_path / "cmn.txt"
    path.write_text("Hi.\t嗨。\tCC-BY\nRun. 跑。\tCC-BY\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"cmn\.txt:2: expected English<TAB>Chinese"):
        read_tatoeba(path)


def test_tatoeba_split_keeps_each_sentence_in_one_split():
    sentences = [f"句子{i}" for i in range(3000)] * 2  # each twice
    split_of = tatoeba_split(sentences, val_size=500)
    counts = Counter(split_of.values())
    assert counts == {"test": 2000, "val": 500, "train": 500}
    assert tatoeba_split(list(reversed(sentences)), 500) == split_of


def test_tatoeba_test_sentences_are_not_trained_on_in_either_script():
    pytest.importorskip("opencc")
    _real("tatoeba")
    cfg = Seq2SeqDataConfig(
        dataset="tatoeba", direction="zh-en", tokenizer="zh_char"
    )  # no conversion: the stored scripts
    splits = read_tatoeba_pairs(cfg, None)
    assert sum(len(pairs) for pairs in splits.values()) == 29155
    simplified = opencc_converter("t2s")
    train = {simplified(zh) for zh, _ in splits["train"]}
    test = {simplified(zh) for zh, _ in splits["test"]}
    assert len(test) == 2000 and not train & test
    traditional = {zh for zh, _ in splits["test"] if simplified(zh) != zh}
    assert traditional and not traditional & {zh for zh, _ in splits["train"]}


# ---------------------------------------------------------------- shipped configs

ZH_CONFIGS = [
    "crosswoz-intent-bigru",
    "crosswoz-chat-gru-attention",
    "zh-seg-bilstm-crf",
    "zh-ner-bilstm-crf",
    "tatoeba-zh-en-gru-attention",
    "tatoeba-zh-en-transformer",
    "tatoeba-en-zh-transformer",
]


@pytest.mark.parametrize("name", ZH_CONFIGS)
def test_chinese_configs_validate(name):
    cfg = load_run_config(Path(__file__).resolve().parents[1] / f"configs/{name}.yaml")
    assert cfg.train.max_minutes is not None  # every shipped training is time-boxed


def test_crosswoz_act_labels_are_intent_domain_pairs_once_each():
    acts = [
        ("General", "greet", "none", "none"),
        ("Inform", "餐馆", "人均消费", "100-150元"),
        ("Inform", "餐馆", "推荐菜", "驴杂汤"),
        ("Request", "餐馆", "名称", ""),
    ]
    assert crosswoz_act_labels(acts) == ("General-greet", "Inform-餐馆", "Request-餐馆")


@pytest.mark.parametrize(
    "direction, chosen, expected",
    [("en-zh", None, "zh"), ("zh-en", None, "13a"), ("en-zh", "char", "char")],
)
def test_tatoeba_direction_picks_the_bleu_tokenisation_of_its_record(
    direction, chosen, expected
):
    from seqlab.data.vocab import Vocab
    from seqlab.run import as_run_config
    from seqlab.tasks.seq2seq import Seq2SeqTask

    data = {"dataset": "tatoeba", "direction": direction, "tokenizer": "zh_char"}
    if chosen:
        data["bleu_tokenize"] = chosen
    cfg = as_run_config({"task": "seq2seq", "data": data, "model": {}})
    assert Seq2SeqTask(cfg, None, Vocab()).bleu_tokenize == expected


def test_a_direction_the_data_set_lacks_is_refused_and_own_files_take_any(tmp_path):
    with pytest.raises(ValueError, match=r"data\.direction for tatoeba must be one of"):
        Seq2SeqDataConfig(dataset="tatoeba", direction="de-en", tokenizer="zh_char")
    (tmp_path / "p.tsv").write_text("a\tb\n")
    Seq2SeqDataConfig(path=str(tmp_path / "p.tsv"), direction="en-zh")
