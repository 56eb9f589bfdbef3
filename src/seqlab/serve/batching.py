"""Requests to one model computed together: predictions and generations.

:class:`Batcher` micro-batches predictions: requests that arrive while a batch is
computed go together as the next one. :class:`GenerationBatcher` batches language
model generations at the token level (continuous batching): one worker thread per
model advances every active generation with one batched step per token
(:class:`seqlab.decode.ContinuousBatch`), and new requests join between steps, so
concurrent clients share forward passes instead of queueing for the thread pool.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from seqlab import decode
from seqlab.serve.adapters import GenerateAdapter, InputError, PredictAdapter

END = object()  # the last item of a generation's stream


class Batcher:
    """Micro-batching of one model's predictions: requests that arrive while a
    batch is computed wait, then go together as the next batch (up to
    ``max_batch``, those with the first one's beam size). A lone request goes at
    once; under load one forward pass serves many requests.

    A batch that starts with fewer requests waiting than the last batch held first
    lingers for the rest: while they keep coming, each within ``linger_s`` of the
    one before, it waits for as many as the last batch had. Clients answered
    together come back together, and without this the first of them would go
    alone while the others queue behind it (one small batch, then one large:
    every one of them waits for both). A single client never waits: its last batch
    held one request (the first request after a burst waits ``linger_s`` once).
    """

    def __init__(
        self, adapter: PredictAdapter, pool, max_batch: int, linger_s: float = 0.0
    ) -> None:
        self.adapter = adapter
        self.pool = pool
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.pending: list[tuple[Any, int, asyncio.Future]] = []
        self.running = False
        self.last_size = 1  # requests in the last batch computed
        self.arrival: asyncio.Future | None = None  # what a lingering batch awaits

    def submit(self, item: Any, beam: int) -> asyncio.Future:
        """A future of the record for ``item`` (a text, or a picture's bytes: what
        the adapter reads), or of its InputError."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((item, beam, future))
        if self.arrival is not None and not self.arrival.done():
            self.arrival.set_result(None)
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._drain())
        return future

    async def _linger(self) -> None:
        """Wait while fewer requests are pending than the last batch held, as long
        as each next one comes within ``linger_s``."""
        while len(self.pending) < self.last_size:
            self.arrival = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.arrival, self.linger_s)
            except asyncio.TimeoutError:
                return

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                if self.linger_s > 0:
                    await self._linger()
                beam = self.pending[0][1]
                batch = [p for p in self.pending if p[1] == beam][: self.max_batch]
                # known by their futures, not compared by value (a picture's bytes)
                taken = {id(future) for _, _, future in batch}
                self.pending = [p for p in self.pending if id(p[2]) not in taken]
                self.last_size = len(batch)
                items = [item for item, _, _ in batch]
                try:
                    results = await loop.run_in_executor(
                        self.pool, self.adapter.predict_batch, items, beam
                    )
                except Exception as err:
                    results = [err] * len(batch)
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception) and not isinstance(
                        result, InputError
                    ):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.running = False


@dataclass(frozen=True)
class Channel:
    """How a worker thread answers one streamed request: ``put`` a text piece, an
    exception or :data:`END` (thread-safe); ``release`` its in-flight slot (once,
    before its last item); ``stop`` is set when the client has gone; ``deadline``
    is on ``time.monotonic()``'s clock."""

    put: Callable[[Any], None]
    release: Callable[[], None]
    stop: threading.Event
    deadline: float


@dataclass(eq=False)
class Generation:
    """One ``/v1/generate`` request in a :class:`GenerationBatcher`: its
    continuation, its channel, and its text so far, sent piece by piece when
    ``stream``, else decoded once and sent in one piece at the end."""

    continuation: decode.Continuation
    channel: Channel
    text_of: Callable[[list[int]], str]  # token ids -> text
    stream: bool = True
    length: int = 0  # characters sent
    finished: bool = False

    def advance(self) -> None:
        """Send the text its newest token adds (the whole text is decoded again, so
        subword spacing is right); nothing until the end when not streaming."""
        if not self.stream:
            return
        piece = self.text_of(self.continuation.tokens)[self.length :]
        self.length += len(piece)
        self.channel.put(piece)

    def finish(self, error: BaseException | None = None) -> None:
        """Free the slot, then end the stream (with ``error``, if any); once."""
        if self.finished:
            return
        self.finished = True
        self.channel.release()
        if error is not None:
            self.channel.put(error)
            return
        if not self.stream:
            self.channel.put(self.text_of(self.continuation.tokens))
        self.channel.put(END)

    def settle(self, now: float) -> bool:
        """Finish it if it is done, its client went, or its time is up (then with a
        TimeoutError); whether it is finished."""
        if self.continuation.done or self.channel.stop.is_set():
            self.finish()
        elif now > self.channel.deadline:
            self.finish(TimeoutError("generation took longer than the time limit"))
        return self.finished


class GenerationBatcher:
    """Continuous batching of one language model's generations.

    A worker thread, started when a request comes and ended when none is left,
    keeps the active generations in a :class:`seqlab.decode.ContinuousBatch`: each
    iteration lets waiting requests join (at most ``max_batch`` active; the rest
    wait their turn, their time limit running), gives every active one its next
    token with one batched step, sends the pieces, and drops those that are done,
    whose client went or whose time is up. A model error fails the requests of that
    batch, not the server.
    """

    def __init__(self, adapter: GenerateAdapter, max_batch: int) -> None:
        self.model = adapter.loaded.model
        self.max_batch = max_batch
        self.lock = threading.Lock()  # guards waiting and running
        self.waiting: deque[Generation] = deque()
        self.running = False

    def submit(self, generation: Generation) -> None:
        with self.lock:
            self.waiting.append(generation)
            if self.running:
                return
            self.running = True
        threading.Thread(target=self._work, name="seqlab-generate", daemon=True).start()

    @torch.inference_mode()  # serving never backpropagates
    def _work(self) -> None:
        batch = decode.ContinuousBatch(self.model)
        active: dict[int, Generation] = {}  # id(continuation) -> its request
        while (joining := self._take(len(active))) is not None:
            active |= {id(g.continuation): g for g in joining}
            try:
                batch.add([g.continuation for g in joining])
                for continuation in batch.step():
                    active[id(continuation)].advance()
            except Exception as err:  # the model failed: these requests, not the server
                for generation in active.values():
                    generation.finish(err)
                batch, active = decode.ContinuousBatch(self.model), {}
            now = time.monotonic()
            gone = [g for g in active.values() if g.settle(now)]
            batch.remove([g.continuation for g in gone])
            for generation in gone:
                del active[id(generation.continuation)]

    def _take(self, n_active: int) -> list[Generation] | None:
        """The waiting requests that join now (those over before they began are
        finished instead); None once nothing is left to do: the thread then ends."""
        now = time.monotonic()
        with self.lock:
            self.waiting = deque(g for g in self.waiting if not g.settle(now))
            room = min(max(0, self.max_batch - n_active), len(self.waiting))
            joining = [self.waiting.popleft() for _ in range(room)]
            if not joining and not n_active:
                self.running = False
                return None
        return joining
