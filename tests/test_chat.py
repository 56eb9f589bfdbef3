"""The chat loop without models: what ends it, what it skips, how replies print."""

import json

import pytest

from seqlab.chat import ChatBot, Reply, chat_loop


class EchoBot:
    def reply(self, message: str) -> Reply:
        return Reply(message, "general", 0.9, message[::-1])


def run(lines: list[str], as_json: bool = False) -> tuple[int, list[str]]:
    queue, written = list(lines), []

    def read() -> str:
        if not queue:
            raise EOFError
        return queue.pop(0)

    return chat_loop(EchoBot(), read, written.append, as_json), written


def test_eof_ends_the_chat_and_blank_lines_are_skipped():
    count, written = run(["你好", "   ", "再见"])
    assert count == 2
    assert written == ["[general 0.9] 好你", "[general 0.9] 见再"]


@pytest.mark.parametrize("word", ["exit", "EXIT", "quit", "退出"])
def test_exit_words_end_the_chat(word):
    count, written = run(["你好", word, "还在吗"])
    assert count == 1 and len(written) == 1


def test_json_replies():
    _, written = run(["你好"], as_json=True)
    assert json.loads(written[0]) == {
        "message": "你好",
        "intent": "general",
        "probability": 0.9,
        "answer": "好你",
    }


def test_reply_text_leaves_out_missing_parts():
    assert Reply("x", None, None, "答").to_text() == "答"
    assert Reply("x", "餐馆", 0.5, None).to_text() == "[餐馆 0.5]"


def test_a_bot_needs_a_run():
    with pytest.raises(ValueError, match="classify run"):
        ChatBot(None, None)
