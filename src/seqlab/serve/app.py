"""The HTTP face of trained runs: a JSON API, server-sent events and one web page.

Endpoints::

    GET  /healthz        {"status": "ok", "models": n}
    GET  /v1/models      each model: name, kind, endpoint, config summary, metrics
    POST /v1/predict     {"model", "input", "beam"} -> the task's JSON record
                         (seq2seq: output, score, tokens, attention matrix);
                         captioners read {"model", "image": base64, "beam"}
                         (caption, score, tokens, a (G, G) map per token)
    POST /v1/generate    {"model", "prompt", "max_new_tokens", "temperature",
                         "top_k", "top_p", "greedy", "seed", "stream"}: language
                         models; text/event-stream of ``token`` events then ``done``
                         (or ``error``), or one JSON object with "stream": false
    GET  /               the page (static/, shipped in the package); /docs OpenAPI

Every error is JSON ``{"error": message, "field": name or null}``. The limits
(:class:`Limits`) keep the server up: a body over ``max_body_bytes`` is 413; an
input, beam or token budget over its limit is 422 naming the field; more than
``max_in_flight`` requests at once get 429; a request past ``timeout_s`` gets 504
(a stream ends with an ``error`` event). Inference never runs on the event loop:
predictions go to a thread pool, micro-batched per model; generations to one
worker thread per language model, batched token by token
(:mod:`seqlab.serve.batching`). A malformed request is a 4xx like any other.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seqlab import __version__
from seqlab.run import load_run
from seqlab.serve.adapters import (
    GenerateAdapter,
    InputError,
    PredictAdapter,
    Sampling,
    adapter_for,
)
from seqlab.serve.batching import END, Batcher, Channel, Generation, GenerationBatcher
from seqlab.serve.limits import Limits

STATIC = Path(__file__).parent / "static"

Adapter = PredictAdapter | GenerateAdapter


class ApiError(HTTPException):
    """An HTTP error whose JSON body names the request field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(status, message)
        self.field = field


# ---- requests ------------------------------------------------------------------------
class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a name from GET /v1/models")
    input: str | None = Field(
        None, description="text models: one input (a sentence, a date, a review...)"
    )
    image: str | None = Field(
        None,
        description="captioners: the picture file (PNG, JPEG...) in base64, or as "
        "a data: URL",
    )
    beam: int = Field(
        1, ge=1, description="beam size (seq2seq and captioners; 1: greedy)"
    )


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a name from GET /v1/models")
    prompt: str | None = Field(None, description="text to continue (default: run's)")
    max_new_tokens: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, description="0: greedy")
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    greedy: bool = False
    seed: int | None = Field(None, description="makes sampling reproducible")
    stream: bool = Field(True, description="server-sent events, token by token")


# ---- the app -------------------------------------------------------------------------
def load_models(
    run_dirs: list[str | Path], precision: str = "fp32"
) -> dict[str, Adapter]:
    """Each run directory loaded once, named after its folder (made unique);
    ``precision`` "bf16" puts the language models' weights in bfloat16."""
    models: dict[str, Adapter] = {}
    for run_dir in run_dirs:
        adapter = adapter_for(load_run(run_dir, device="cpu"), precision)
        name, n = Path(run_dir).resolve().name, 2
        while name in models:
            name, n = f"{Path(run_dir).resolve().name}-{n}", n + 1
        models[name] = adapter
    return models


def create_app(models: dict[str, Adapter], limits: Limits | None = None) -> FastAPI:
    """The ASGI app serving ``models`` (name -> adapter) under ``limits``."""
    limits = limits or Limits()
    app = FastAPI(
        title="seqlab",
        version=__version__,
        description="Trained seqlab runs: predictions, generation, attention.",
    )
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    _add_error_handlers(app)
    runner = Runner(limits)
    app.state.runner = runner
    batchers = {
        name: Batcher(
            adapter, runner.pool, limits.max_batch, limits.batch_linger_ms / 1000
        )
        for name, adapter in models.items()
        if adapter.endpoint == "predict"
    }
    generators = {
        name: GenerationBatcher(adapter, limits.max_batch)
        for name, adapter in models.items()
        if adapter.endpoint == "generate"
    }

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(models)}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {
            "models": [describe(name, a) for name, a in models.items()],
            "limits": asdict(limits),
        }

    @app.post("/v1/predict", openapi_extra=_body_schema(PredictRequest))
    async def predict(request: Request) -> Response:
        req = _parse(PredictRequest, await request.body())
        adapter = _find(models, req.model, "predict")
        item = _request_input(req, adapter.input_field, limits)
        if req.beam > limits.max_beam:
            raise ApiError(422, f"beam may be at most {limits.max_beam}", "beam")
        if req.beam > 1 and not adapter.beam:
            raise ApiError(422, f"{req.model} decodes in one step: beam must be 1")
        started = time.perf_counter()
        batcher = batchers[req.model]
        result = await runner.call(lambda: batcher.submit(item, req.beam))
        seconds = round(time.perf_counter() - started, 4)
        # the record is JSON text already: put in as it is, not decoded and encoded
        body = (
            f'{{"model":{json.dumps(req.model)},"result":{result},"seconds":{seconds}}}'
        )
        return Response(body, media_type="application/json")

    @app.post(
        "/v1/generate", response_model=None, openapi_extra=_body_schema(GenerateRequest)
    )
    async def generate(request: Request) -> StreamingResponse | JSONResponse:
        req = _parse(GenerateRequest, await request.body())
        adapter = _find(models, req.model, "generate")
        if req.prompt is not None:
            _check_text("prompt", req.prompt, limits, empty_ok=True)
        n = adapter.loaded.cfg.generate.max_new_tokens
        n = n if req.max_new_tokens is None else req.max_new_tokens
        if n > limits.max_new_tokens:
            msg = f"max_new_tokens may be at most {limits.max_new_tokens}, got {n}"
            raise ApiError(422, msg, "max_new_tokens")
        sampling = Sampling(
            **req.model_dump(exclude={"model", "stream", "max_new_tokens"}),
            max_new_tokens=n,
        )
        continuation = adapter.continuation(sampling)  # InputError: 422, no slot
        channel, pieces = runner.open_stream()
        generation = Generation(continuation, channel, adapter.text, req.stream)
        generators[req.model].submit(generation)
        if req.stream:
            return StreamingResponse(
                _events(pieces),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        try:
            text = "".join([piece async for piece in pieces])
        except TimeoutError as err:
            raise ApiError(504, str(err)) from err
        return JSONResponse({"model": req.model, "text": text})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def _parse(request_type: type[BaseModel], body: bytes) -> Any:
    """The request body read and checked in one pass of pydantic's JSON parser
    (FastAPI's own body handling decodes to Python objects, then validates them:
    twice the work on the hot path); its errors are answered as FastAPI's are."""
    try:
        return request_type.model_validate_json(body)
    except ValidationError as err:
        raise RequestValidationError(err.errors(include_url=False)) from None


def _body_schema(request_type: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that parses its own (``_parse``)."""
    schema = request_type.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


def describe(name: str, adapter: Adapter) -> dict[str, Any]:
    cfg, run_dir = adapter.loaded.cfg, adapter.loaded.run_dir
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return {
        "name": name,
        "kind": cfg.task,
        "model_kind": cfg.model.kind,
        "endpoint": adapter.endpoint,
        "beam": adapter.beam,
        "example": adapter.example(),
        "config": adapter.summary(),
        "metrics": {
            k: v for k, v in summary.items() if k.startswith(("val_", "test_"))
        },
    }


def _find(models: dict[str, Adapter], name: str, endpoint: str) -> Any:
    if name not in models:
        known = ", ".join(models) or "none"
        raise ApiError(404, f"unknown model {name!r}; served: {known}", "model")
    adapter = models[name]
    if adapter.endpoint != endpoint:
        raise ApiError(
            422,
            f"{name} is a {adapter.loaded.cfg.task!r} model: use /v1/"
            f"{adapter.endpoint}",
            "model",
        )
    return adapter


def _request_input(req: PredictRequest, field: str, limits: Limits) -> str | bytes:
    """What the model reads from the request: the text of ``input``, or the
    picture bytes of ``image``; 422 naming the field when it is missing, empty,
    over its limit, or sent to a model that reads the other one."""
    other = "image" if field == "input" else "input"
    if getattr(req, other) is not None:
        raise ApiError(
            422, f"{req.model} reads {field}, not {other}: send {field}", other
        )
    value = getattr(req, field)
    if value is None:
        raise ApiError(422, f"{field}: Field required", field)
    if field == "input":
        _check_text("input", value, limits)
        return value
    encoded = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        picture = base64.b64decode(encoded, validate=True)
    except binascii.Error as err:
        raise ApiError(422, f"image is not base64 ({err})", "image") from None
    if not picture:
        raise ApiError(422, "image is empty", "image")
    return picture


def _check_text(field: str, text: str, limits: Limits, empty_ok=False) -> None:
    if len(text) > limits.max_input_chars:
        raise ApiError(
            422,
            f"{field} has {len(text)} characters; at most {limits.max_input_chars}",
            field,
        )
    if not empty_ok and not text.strip():
        raise ApiError(422, f"{field} is empty", field)


# ---- inference off the event loop, bounded -------------------------------------------
class Runner:
    """Bounds the requests in flight: at most ``max_in_flight`` at once, each slot
    held until its work is done (even past the time limit). Predictions run in its
    thread pool; streams are fed by a worker thread through a :class:`Channel`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="seqlab")
        self.in_flight = 0  # touched only on the event loop

    def _enter(self) -> None:
        if self.in_flight >= self.limits.max_in_flight:
            raise ApiError(429, f"busy: {self.in_flight} requests in flight; retry")
        self.in_flight += 1

    def _leave(self, future: asyncio.Future | None = None) -> None:
        self.in_flight -= 1
        if future is not None and not future.cancelled():
            future.exception()  # retrieved: no warning when no one awaits it

    async def call(self, start: Callable[[], asyncio.Future]) -> Any:
        """The result of the future ``start()`` returns (work started in the
        pool); 504 past the time limit, 422 for an :class:`InputError`."""
        self._enter()
        future = start()
        future.add_done_callback(self._leave)
        try:
            result = await asyncio.wait_for(
                asyncio.shield(future), self.limits.timeout_s
            )
        except asyncio.TimeoutError as err:
            msg = f"the request took longer than {self.limits.timeout_s} s"
            raise ApiError(504, msg) from err
        if isinstance(result, InputError):
            raise ApiError(422, str(result), result.field)
        return result

    def open_stream(self) -> tuple[Channel, AsyncIterator[str]]:
        """A channel for a worker thread to send pieces on, and the pieces as they
        come; both end at :data:`END`, or by raising what the worker put (a
        :class:`TimeoutError` after the time limit). The slot is held until the
        worker releases it."""
        self._enter()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        channel = Channel(
            put=_threadsafe(loop, queue.put_nowait),
            release=_threadsafe(loop, self._leave),
            stop=stop,
            deadline=time.monotonic() + self.limits.timeout_s,
        )
        return channel, _consume(queue, stop)


def _threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable) -> Callable:
    """``fn(*args)`` called on ``loop`` from any thread (not at all once it closed)."""

    def call(*args) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: no one listens
            loop.call_soon_threadsafe(fn, *args)

    return call


async def _consume(queue: asyncio.Queue, stop: threading.Event) -> AsyncIterator[str]:
    try:
        while (item := await queue.get()) is not END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # the client went away, or the stream ended


async def _events(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    """Server-sent events: ``token`` per piece, then ``done`` or ``error``."""
    text, started = [], time.perf_counter()
    try:
        async for piece in pieces:
            text.append(piece)
            yield _event("token", {"text": piece})
    except Exception as err:  # the stream has begun: report in-band
        yield _event("error", {"error": str(err) or type(err).__name__})
        return
    seconds = round(time.perf_counter() - started, 4)
    yield _event(
        "done", {"text": "".join(text), "tokens": len(text), "seconds": seconds}
    )


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# ---- errors and the body limit -------------------------------------------------------
def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        field = getattr(err, "field", None)
        return JSONResponse(
            {"error": str(err.detail), "field": field},
            status_code=err.status_code,
            headers=getattr(err, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ()) if part != "body"]
        field = ".".join(loc) if loc else "body"
        if first.get("type") == "json_invalid":
            field = "body"
        message = f"{field}: {first.get('msg', 'invalid')}"
        return JSONResponse({"error": message, "field": field}, status_code=422)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, err: InputError) -> JSONResponse:
        return JSONResponse({"error": str(err), "field": err.field}, status_code=422)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 (by its
    Content-Length at once, or while a chunked body is read)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (
            not length.isdigit() or int(length) > self.max_bytes
        ):
            status = 413 if length.isdigit() else 400
            await _send_error(send, status, self._message(), "body")
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise ApiError(413, self._message(), "body")
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"


async def _send_error(send, status: int, message: str, field: str | None) -> None:
    body = json.dumps({"error": message, "field": field}).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
