"""Chinese runs through the CLI on tiny generated CrossWOZ and GSDSimp files (seconds).

The files are written where the real ones live under a data directory
(``zh/crosswoz/*.json.zip``, ``zh/uner-zh-gsdsimp/*.iob2.gz``), in their formats.
"""

import gzip
import json
import os
import pty
import random
import select
import subprocess
import sys
import time
import zipfile

import pytest

from seqlab.cli import main

pytest.importorskip("opencc")

INTENT_CONFIG = """\
task: classify
data:
  dataset: crosswoz
  tokenizer: zh_char
  opencc: t2s
  folds: 5
model:
  kind: classifier
  cell: gru
  embedding_size: 16
  hidden_size: 16
  dropout: 0.0
  pooling: attention
  attention_size: 8
train:
  batch_size: 16
  lr: 0.02
  epochs: 4
  progress: false
"""

SEG_CONFIG = """\
task: tag
data:
  dataset: gsdsimp_seg
model:
  kind: tagger
  embedding_size: 16
  hidden_size: 16
  dropout: 0.0
  head: crf
train:
  batch_size: 8
  lr: 0.02
  epochs: 6
  progress: false
"""

# (user utterance, its dialogue act) per domain; the system answers "好的。"
UTTERANCES = {
    "餐馆": ("我想找一家餐馆吃饭", ["Inform", "餐馆", "名称", ""]),
    "酒店": ("帮我订一间酒店住宿", ["Inform", "酒店", "名称", ""]),
    "地铁": ("附近的地铁站在哪", ["Request", "地铁", "出发地", ""]),
    "general": ("谢谢你再见", ["General", "thank", "none", "none"]),
}
WORDS = ["你好", "北京", "明天", "请问", "一下", "Hotel", "2024"]


def crosswoz_json(n: int, seed: int) -> str:
    rng = random.Random(seed)
    dialogues = {}
    for d in range(n):
        messages = []
        for _ in range(rng.randint(1, 3)):
            text, act = UTTERANCES[rng.choice(sorted(UTTERANCES))]
            text = rng.choice(WORDS) + "，" + text + rng.choice("。？！")
            messages.append({"role": "usr", "content": text, "dialog_act": [act]})
            messages.append({"role": "sys", "content": "好的。", "dialog_act": []})
        dialogues[str(seed * 1000 + d)] = {"messages": messages}
    return json.dumps(dialogues, ensure_ascii=False, indent=1)


CHAT_CONFIG = """\
task: seq2seq
data:
  dataset: crosswoz_chat
  tokenizer: zh_char
  opencc: t2s
  max_target_length: 20
model:
  kind: seq2seq
  cell: gru
  embedding_size: 16
  hidden_size: 32
  dropout: 0.0
  decoder: attention
  attention: dot
train:
  batch_size: 16
  lr: 0.01
  epochs: 3
  progress: false
decode:
  max_length: 10
"""

SEG_WORDS = ["我们", "在", "北京", "大学", "学习", "汉语", "很", "好", "。"]


def iob2_text(n: int, seed: int) -> str:
    rng = random.Random(seed)
    sentences = []
    for i in range(n):
        words = rng.choices(SEG_WORDS, k=rng.randint(2, 8))
        rows = [f"{j}\t{w}\tO\t-\t-" for j, w in enumerate(words, 1)]
        sentences.append(f"# sent_id = {i}\n" + "\n".join(rows) + "\n")
    return "\n".join(sentences)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    crosswoz = root / "zh" / "crosswoz"
    crosswoz.mkdir(parents=True)
    for seed, split in enumerate(("val", "test")):
        with zipfile.ZipFile(crosswoz / f"{split}.json.zip", "w") as z:
            z.writestr(f"{split}.json", crosswoz_json(60, seed))
    chatterbot = root / "zh" / "chatterbot-corpus-zh" / "chinese"
    chatterbot.mkdir(parents=True)
    (chatterbot / "greetings.yml").write_text(
        "categories:\n- greetings\nconversations:\n- - 你好\n  - 你好！\n",
        encoding="utf-8",
    )
    uner = root / "zh" / "uner-zh-gsdsimp"
    uner.mkdir(parents=True)
    for seed, split in enumerate(("train", "dev", "test")):
        text = iob2_text(150 if split == "train" else 30, seed)
        path = uner / f"zh_gsdsimp-ud-{split}.iob2.gz"
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    return root


def train(tmp_path, data_dir, config: str):
    path = tmp_path / "run.yaml"
    path.write_text(config)
    out = tmp_path / "run"
    args = ["train", str(path), "--out", str(out), "--data-dir", str(data_dir)]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def intent_run(tmp_path_factory, data_dir):
    return train(tmp_path_factory.mktemp("intent"), data_dir, INTENT_CONFIG)


def test_crosswoz_domain_run_reads_traditional_input(tmp_path, intent_run, capsys):
    run_dir = intent_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.9
    labels = json.loads((run_dir / "labels.json").read_text())["labels"]
    assert labels == ["general", "地铁", "酒店", "餐馆"]
    inputs = tmp_path / "in.txt"
    inputs.write_text("明天我想找一家餐館\n幫我訂一間酒店\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--input", str(inputs), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == ["餐馆", "酒店"]
    assert records[1]["tokens"] == list("帮我订一间酒店")  # converted to Simplified


def test_crosswoz_dialogue_acts_are_multi_label(tmp_path, data_dir, capsys):
    config = INTENT_CONFIG.replace(
        "  folds: 5\n", "  folds: 5\n  crosswoz_target: acts\n"
    )
    run_dir = train(tmp_path, data_dir, config)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_f1"] >= 0.9 and "test_accuracy" in summary
    labels = json.loads((run_dir / "labels.json").read_text())["labels"]
    assert labels == ["General-thank", "Inform-酒店", "Inform-餐馆", "Request-地铁"]
    inputs = tmp_path / "in.txt"
    inputs.write_text("我想找一家餐馆吃饭\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--input", str(inputs), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["labels"] == ["Inform-餐馆"]
    assert 0.5 <= record["probabilities"]["Inform-餐馆"] <= 1


def test_segmentation_run_prints_words(tmp_path, data_dir, capsys):
    run_dir = train(tmp_path, data_dir, SEG_CONFIG)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_f1"] >= 0.9
    inputs = tmp_path / "in.txt"
    inputs.write_text("我们在北京 学习汉语。\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 0
    assert capsys.readouterr().out == "我们 在 北京 学习 汉语 。\n"


def test_segmentation_with_bigram_features(tmp_path, data_dir, capsys):
    config = SEG_CONFIG.replace(
        "  dataset: gsdsimp_seg\n", "  dataset: gsdsimp_seg\n  bigrams: true\n"
    ).replace("  head: crf\n", "  head: crf\n  feature_embedding_size: 8\n")
    run_dir = train(tmp_path, data_dir, config)
    assert json.loads((run_dir / "summary.json").read_text())["test_f1"] >= 0.9
    assert (run_dir / "features.json").is_file()
    inputs = tmp_path / "in.txt"
    inputs.write_text("我们在北京学习汉语。\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--input", str(inputs)]) == 0
    assert capsys.readouterr().out == "我们 在 北京 学习 汉语 。\n"


def test_chat_answers_names_the_intent_and_leaves_on_eof(
    tmp_path, data_dir, intent_run
):
    """A full exchange through a pseudo-terminal, as a person would type it."""
    chat_run = train(tmp_path, data_dir, CHAT_CONFIG)
    controller, terminal = pty.openpty()
    command = [sys.executable, "-m", "seqlab", "chat", str(intent_run), str(chat_run)]
    proc = subprocess.Popen(
        command, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True
    )
    os.close(terminal)
    try:
        assert "Ctrl-D" in _read_until(controller, "> ")
        os.write(controller, "我想找一家餐馆吃饭\n".encode())
        reply = _read_until(controller, "> ")
        assert "[餐馆 " in reply  # the intent, then the answer
        os.write(controller, b"\x04")  # Ctrl-D: end of input
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(controller)


def test_chat_json_for_scripts(data_dir, intent_run):
    command = [sys.executable, "-m", "seqlab", "chat", str(intent_run), "--json"]
    messages = "帮我订一间酒店住宿\n\n谢谢你再见\nexit\n附近的地铁站在哪\n"
    out = subprocess.run(
        command, input=messages, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["intent"] for r in replies] == ["酒店", "general"]  # exit ends it
    assert replies[0]["answer"] is None  # no seq2seq run given


def _read_until(fd: int, marker: str, timeout: float = 60.0) -> str:
    """What the terminal shows until ``marker`` appears (or the timeout)."""
    data, deadline = b"", time.monotonic() + timeout
    while marker.encode() not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data += os.read(fd, 4096)
            except OSError:
                break
    return data.decode("utf-8", errors="replace")
