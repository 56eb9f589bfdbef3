"""``seqlab chat``: the articles' chatbot, an intent classifier and a responder.

"An RNN over the text plus a feed-forward network predicting the intent behind it"
(a ``classify`` run, e.g. configs/crosswoz-intent-bigru.yaml) names the intent of
each message, and a ``seq2seq`` run (e.g. configs/crosswoz-chat-gru-attention.yaml,
CrossWOZ user -> system turns + the ChatterBot corpus) writes the answer. Either run
may be left out: without a responder the bot only names intents, without a
classifier it only answers. When the classifier was trained with context
(``data.context_turns``), the bot gives it the conversation's last turns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from seqlab import run
from seqlab.decode import SearchOptions
from seqlab.tasks.classify import CONTEXT_SEP

EXIT_WORDS = ("exit", "quit", "退出")  # a message that ends the chat


@dataclass(frozen=True)
class Reply:
    """One exchange: the message, its intent (or None) and the answer (or None)."""

    message: str
    intent: str | None
    probability: float | None
    answer: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    def to_text(self) -> str:
        """``[intent probability] answer``, either part left out when absent."""
        parts = [] if self.intent is None else [f"[{self.intent} {self.probability}]"]
        return " ".join(parts + ([self.answer] if self.answer is not None else []))


class ChatBot:
    """Intent classifier + response model, each a loaded run (or None).

    ``reply(message)`` returns a Reply; the bot keeps the conversation so far for a
    classifier that reads context turns.
    """

    def __init__(
        self,
        intent: run.LoadedRun | None,
        responder: run.LoadedRun | None,
        beam: int = 1,
        options: SearchOptions | None = None,
    ) -> None:
        if intent is None and responder is None:
            raise ValueError("a chat needs a classify run, a seq2seq run, or both")
        self.intent = intent
        self.responder = responder
        self.beam = beam
        self.options = options  # how answers are decoded (sampling...); None: beam
        self.history: list[str] = []

    @classmethod
    def load(cls, run_dirs: Iterable[str | Path], beam: int = 1) -> ChatBot:
        """The runs in ``run_dirs`` by their task: one classify, one seq2seq."""
        runs: dict[str, run.LoadedRun] = {}
        for run_dir in run_dirs:
            loaded = run.load_run(run_dir)
            task = loaded.cfg.task
            if task not in ("classify", "seq2seq"):
                raise ValueError(
                    f"{run_dir} is a {task!r} run; chat takes a classify run (the "
                    "intent) and a seq2seq run (the answers)"
                )
            if task in runs:
                raise ValueError(f"two {task} runs given; chat takes one of each")
            runs[task] = loaded
        return cls(runs.get("classify"), runs.get("seq2seq"), beam)

    def reply(self, message: str) -> Reply:
        intent = probability = answer = None
        if self.intent is not None:
            record = json.loads(self._classify(message))
            intent, probability = record["label"], round(record["probability"], 4)
        if self.responder is not None:
            task, model = self.responder.task, self.responder.model
            decoding = {} if self.options is None else {"options": self.options}
            answer = task.predict(model, [message], beam=self.beam, **decoding)[0]
        self.history += [message] + ([answer] if answer else [])
        return Reply(message, intent, probability, answer)

    def _classify(self, message: str) -> str:
        task, model = self.intent.task, self.intent.model
        context = task.cfg.data.context_turns
        before = self.history[len(self.history) - context :] if context else []
        text = "".join(t + CONTEXT_SEP for t in before) + message
        return task.predict(model, [text], as_json=True)[0]


def chat_loop(
    bot: ChatBot,
    read: Callable[[], str],
    write: Callable[[str], None],
    as_json: bool = False,
) -> int:
    """Read messages with ``read`` (EOFError ends), write replies; returns how many.

    Blank messages are skipped; one of EXIT_WORDS ends the chat.
    """
    count = 0
    while True:
        try:
            message = read().strip()
        except EOFError:
            return count
        if message.lower() in EXIT_WORDS:
            return count
        if message:
            reply = bot.reply(message)
            write(reply.to_json() if as_json else reply.to_text())
            count += 1
