"""seqlab serve: the JSON API in-process, the CLI server, and the page in Chromium.

Three tiny runs (a date seq2seq with attention, a char LM, an attention-pooling
classifier) train in seconds; the API tests call the app through FastAPI's
TestClient, the last tests start ``seqlab serve`` on a free loopback port.
"""

import asyncio
import base64
import io
import json
import os
import random
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import torch

pytest.importorskip("fastapi", reason="needs the serve extra (pip install -e .[test])")
from fastapi.testclient import TestClient

from seqlab import run
from seqlab.serve.adapters import Sampling
from seqlab.serve.app import create_app, load_models
from seqlab.serve.batching import (
    END,
    Batcher,
    Channel,
    Generation,
    GenerationBatcher,
)
from seqlab.serve.limits import Limits
from seqlab.serve.loadtest import (
    Server,
    format_table,
    load_test,
    parse_cpus,
    percentile,
)

SEQ2SEQ = """\
task: seq2seq
data: {dataset: generated_dates, size: 1100, val_size: 50, eval_batch_size: 550}
model: {kind: seq2seq, embedding_size: 8, hidden_size: 16, decoder: attention}
train: {batch_size: 32, lr: 0.01, max_steps: 8, eval_every: 8, progress: false}
decode: {max_length: 12}
"""
LM = """\
task: lm
data: {path: PATH, tokenizer: char, bptt: 16, val_fraction: 0.2}
model: {kind: rnn_lm, cell: gru, embedding_size: 8, hidden_size: 16}
train: {batch_size: 4, lr: 0.01, max_steps: 8, eval_every: 8, progress: false}
generate: {prompt: "to be", max_new_tokens: 20}
"""
CLASSIFY = """\
task: classify
data: {path: PATH}
model: {kind: classifier, cell: gru, embedding_size: 8, hidden_size: 8,
        pooling: attention, attention_size: 8}
train: {batch_size: 16, lr: 0.02, epochs: 1, progress: false}
"""
CAPTION = """\
task: caption
data: {dataset: shapes, image_size: 16, train_size: 100, val_size: 10, test_size: 10}
model: {kind: captioner, channels: [8, 16], embedding_size: 8, hidden_size: 16,
        decoder: attention}
train: {batch_size: 50, lr: 0.01, max_steps: 2, progress: false}
decode: {max_length: 10}
"""


def _train(tmp: Path, name: str, config: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(config)
    run.train(run.load_run_config(path), tmp / name, log=lambda *a, **k: None)
    return tmp / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("serve")
    corpus = tmp / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question. " * 20)
    rng = random.Random(0)
    intents = ["text\tlabel"] + [
        f"{rng.choice(['please', 'now', 'i'])} {word}\t{label}"
        for label, word in [("greet", "hello"), ("bye", "ciao")] * 60
    ]
    (tmp / "intents.tsv").write_text("\n".join(intents) + "\n")
    return {
        "dates": _train(tmp, "dates", SEQ2SEQ),
        "chars": _train(tmp, "chars", LM.replace("PATH", str(corpus))),
        "intents": _train(
            tmp, "intents", CLASSIFY.replace("PATH", str(tmp / "intents.tsv"))
        ),
        "shapes": _train(tmp, "shapes", CAPTION),
    }


@pytest.fixture(scope="module")
def models(runs):
    return load_models(list(runs.values()))


@pytest.fixture
def client(models):
    with TestClient(create_app(models)) as c:
        yield c


def _error(response, status: int, field: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field, body
    return body["error"]


# ---- endpoints -------------------------------------------------------------------
def test_healthz_and_models(client):
    assert client.get("/healthz").json() == {"status": "ok", "models": 4}
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(listed) == {"dates", "chars", "intents", "shapes"}
    assert listed["shapes"]["kind"] == "caption" and listed["shapes"]["beam"]
    assert listed["dates"]["kind"] == "seq2seq" and listed["dates"]["beam"]
    assert listed["dates"]["endpoint"] == "predict"
    assert listed["chars"]["endpoint"] == "generate"
    assert listed["chars"]["example"] == "to be"
    assert "val_accuracy" in listed["dates"]["metrics"]
    assert listed["dates"]["config"]["model"]["decoder"] == "attention"


def test_predict_seq2seq_returns_output_and_attention(client):
    r = client.post("/v1/predict", json={"model": "dates", "input": "May 5, 1999"})
    result = r.json()["result"]
    assert r.status_code == 200 and result["score"] <= 0
    assert len(result["attention"]) == len(result["output_tokens"])
    assert all(len(row) == len(result["source_tokens"]) for row in result["attention"])
    beam = client.post(
        "/v1/predict", json={"model": "dates", "input": "May 5, 1999", "beam": 3}
    )
    assert beam.status_code == 200 and "output" in beam.json()["result"]


def test_predict_classifier_returns_label_and_token_weights(client):
    r = client.post("/v1/predict", json={"model": "intents", "input": "hello now"})
    result = r.json()["result"]
    assert result["label"] in {"greet", "bye"}
    assert len(result["attention"]) == len(result["tokens"]) == 2


def _png(size=(72, 40), mode="RGBA", colour=(200, 30, 30, 128)) -> bytes:
    Image = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, format="PNG")
    return out.getvalue()


def test_predict_caption_reads_a_picture_in_base64_or_a_data_url(client):
    picture = base64.b64encode(_png()).decode()
    r = client.post("/v1/predict", json={"model": "shapes", "image": picture})
    result = r.json()["result"]
    assert r.status_code == 200 and result["score"] <= 0
    grid = 16 // 4  # image_size / 2 ** len(channels)
    assert len(result["attention"]) == len(result["tokens"])
    for region_map in result["attention"]:
        assert len(region_map) == grid and all(len(row) == grid for row in region_map)
        assert sum(map(sum, region_map)) == pytest.approx(1, abs=1e-3)
    body = {"model": "shapes", "image": "data:image/png;base64," + picture, "beam": 3}
    beam = client.post("/v1/predict", json=body)
    assert beam.status_code == 200 and "caption" in beam.json()["result"]


def test_caption_requests_name_a_missing_bad_or_misplaced_picture(client):
    r = client.post("/v1/predict", json={"model": "shapes"})
    _error(r, 422, "image")
    r = client.post("/v1/predict", json={"model": "shapes", "input": "a red circle"})
    assert "reads image, not input" in _error(r, 422, "input")
    r = client.post("/v1/predict", json={"model": "dates", "image": "AAAA"})
    assert "reads input, not image" in _error(r, 422, "image")
    r = client.post("/v1/predict", json={"model": "shapes", "image": "not base64!"})
    assert "not base64" in _error(r, 422, "image")
    r = client.post("/v1/predict", json={"model": "shapes", "image": ""})
    assert "empty" in _error(r, 422, "image")
    text = base64.b64encode(b"this is no picture").decode()
    r = client.post("/v1/predict", json={"model": "shapes", "image": text})
    assert "not a readable image" in _error(r, 422, "image")
    assert client.get("/healthz").status_code == 200


def test_an_unreadable_picture_fails_only_its_own_request_in_a_batch(models):
    results = models["shapes"].predict_batch([_png(), b"broken", _png((8, 8))], 1)
    assert "caption" in json.loads(results[0]) and "caption" in json.loads(results[2])
    assert results[1].field == "image"


def _sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = (line.split(": ", 1)[1] for line in block.split("\n"))
        events.append((name, json.loads(data)))
    return events


def test_generate_streams_tokens_then_done(client):
    body = {"model": "chars", "prompt": "to", "max_new_tokens": 7, "seed": 1}
    r = client.post("/v1/generate", json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r.text)
    assert [name for name, _ in events] == ["token"] * 7 + ["done"]
    text = "".join(data["text"] for _, data in events[:-1])
    assert events[-1][1]["text"] == text and events[-1][1]["tokens"] == 7
    whole = client.post("/v1/generate", json=body | {"stream": False}).json()
    assert whole["text"] == text  # same seed, same text, streamed or not


def test_bf16_serves_language_models_in_bf16_and_the_rest_in_fp32(runs):
    models = load_models([runs["chars"], runs["dates"]], precision="bf16")
    dtypes = {n: next(a.loaded.model.parameters()).dtype for n, a in models.items()}
    assert dtypes == {"chars": torch.bfloat16, "dates": torch.float32}
    body = {"model": "chars", "prompt": "to", "max_new_tokens": 12, "top_p": 0.9}
    with TestClient(create_app(models)) as c:
        texts = [
            c.post("/v1/generate", json=body | {"seed": 3, "stream": False}).json()
            for _ in range(2)
        ]
        assert texts[0] == texts[1] and len(texts[0]["text"]) > 0  # seeded
        r = c.post("/v1/predict", json={"model": "dates", "input": "May 5, 1999"})
        assert r.status_code == 200
    with pytest.raises(ValueError, match="precision"):
        load_models([runs["chars"]], precision="fp8")


def test_openapi_docs_and_the_page_are_served(client):
    assert client.get("/docs").status_code == 200
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="heatmap"' in page.text
    assert "function heatmap" in client.get("/static/app.js").text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN


# ---- limits and malformed requests -----------------------------------------------
def test_unknown_model_and_wrong_endpoint(client):
    r = client.post("/v1/predict", json={"model": "nope", "input": "x"})
    assert "unknown model 'nope'" in _error(r, 404, "model")
    r = client.post("/v1/generate", json={"model": "dates"})
    assert "/v1/predict" in _error(r, 422, "model")


def test_bad_json_missing_and_unknown_fields(client):
    r = client.post(
        "/v1/predict",
        content=b'{"model": ',
        headers={"content-type": "application/json"},
    )
    _error(r, 422, "body")
    _error(client.post("/v1/predict", json={"model": "dates"}), 422, "input")
    r = client.post("/v1/predict", json={"model": "dates", "input": "x", "bem": 2})
    _error(r, 422, "bem")
    _error(client.post("/v1/predict", json=[1, 2]), 422, "body")
    r = client.post("/v1/predict", content=b"model=x", headers={"content-type": "a/b"})
    _error(r, 422, "body")
    r = client.post("/v1/predict", content=b'{"model": "\xff"}')
    assert r.status_code == 422
    _error(
        client.post("/v1/predict", json={"model": "dates", "input": " "}), 422, "input"
    )
    assert client.get("/healthz").status_code == 200


def test_limits_out_of_range_are_refused_naming_the_option():
    for bad, flag in [
        (dict(max_batch=0), "--max-batch"),
        (dict(workers=-1), "--workers"),
        (dict(timeout_s=float("nan")), "--timeout-s"),
        (dict(batch_linger_ms=-1.0), "--batch-linger-ms"),
    ]:
        with pytest.raises(ValueError, match=flag):
            Limits(**bad)
    assert Limits(batch_linger_ms=0).batch_linger_ms == 0  # no linger is allowed


def test_input_beam_and_token_limits_name_the_field(client):
    r = client.post("/v1/predict", json={"model": "dates", "input": "1" * 2001})
    assert "at most 2000" in _error(r, 422, "input")
    r = client.post("/v1/predict", json={"model": "dates", "input": "1" * 300})
    assert "data.max_source_length" in _error(r, 422, "input")  # the model's own limit
    r = client.post("/v1/predict", json={"model": "dates", "input": "x", "beam": 11})
    _error(r, 422, "beam")
    _error(
        client.post("/v1/predict", json={"model": "dates", "input": "x", "beam": 0}),
        422,
        "beam",
    )
    r = client.post("/v1/predict", json={"model": "intents", "input": "hi", "beam": 2})
    assert "beam must be 1" in _error(r, 422, None)
    r = client.post("/v1/generate", json={"model": "chars", "max_new_tokens": 1001})
    _error(r, 422, "max_new_tokens")
    r = client.post("/v1/generate", json={"model": "chars", "top_p": 1.5})
    _error(r, 422, "top_p")
    r = client.post("/v1/generate", json={"model": "chars", "prompt": "t" * 2001})
    _error(r, 422, "prompt")


def test_a_body_over_the_limit_is_413_whether_announced_or_chunked(client):
    big = json.dumps({"model": "x", "input": "a" * 200_000})
    r = client.post(
        "/v1/predict", content=big, headers={"content-type": "application/json"}
    )
    assert "larger than 65536 bytes" in _error(r, 413, "body")
    chunks = (big[i : i + 10_000].encode() for i in range(0, len(big), 10_000))
    r = client.post(
        "/v1/predict", content=chunks, headers={"content-type": "application/json"}
    )
    _error(r, 413, "body")
    assert client.get("/healthz").status_code == 200


def test_requests_beyond_max_in_flight_get_429(models, monkeypatch):
    adapter, release = models["intents"], threading.Event()
    real = adapter.predict_batch
    monkeypatch.setattr(
        adapter, "predict_batch", lambda *a: release.wait(5) and real(*a)
    )
    body = {"model": "intents", "input": "hello"}
    _second_request_waits_for_a_slot(models, "/v1/predict", body, release)


def test_requests_that_wait_together_are_computed_as_one_batch(models, monkeypatch):
    adapter, release, sizes = models["dates"], threading.Event(), []
    real = adapter.predict_batch

    def recorded(texts, beam):
        sizes.append(len(texts))
        release.wait(5)
        return real(texts, beam)

    monkeypatch.setattr(adapter, "predict_batch", recorded)
    dates = ["May 5, 1999", "3/4/99", "june 1, 2001", "12 jan 1980"]
    answers = {}

    def ask(text):
        body = {"model": "dates", "input": text}
        answers[text] = c.post("/v1/predict", json=body).json()["result"]["output"]

    with TestClient(create_app(models)) as c:
        _first_computes_while_the_rest_queue(c, ask, dates, sizes, release)
    assert sizes == [1, 3]
    for text in dates:  # as if each had come alone
        assert answers[text] == json.loads(real([text], 1)[0])["output"]


def _batch_sizes(linger_s: float, gap_s: float) -> list[int]:
    """Sizes of the batches a Batcher computes: three requests at once, then
    three more, ``gap_s`` apart."""
    sizes = []

    class Echo:  # an adapter that answers at once
        def predict_batch(self, items, beam):
            sizes.append(len(items))
            return [json.dumps(item) for item in items]

    async def scenario():
        batcher = Batcher(Echo(), None, max_batch=8, linger_s=linger_s)
        first = [batcher.submit(i, 1) for i in range(3)]
        assert await asyncio.gather(*first) == ["0", "1", "2"]
        later = []
        for i in range(3):
            later.append(batcher.submit(i, 1))
            await asyncio.sleep(gap_s)
        assert await asyncio.gather(*later) == ["0", "1", "2"]

    asyncio.run(scenario())
    return sizes


def test_a_batch_lingers_for_as_many_requests_as_the_last_one_held():
    assert _batch_sizes(linger_s=0.5, gap_s=0.02) == [3, 3]  # they kept coming
    assert _batch_sizes(linger_s=0.002, gap_s=0.1)[:2] == [3, 1]  # too far apart
    assert _batch_sizes(linger_s=0.0, gap_s=0.02)[:2] == [3, 1]  # no lingering


def test_a_refused_input_fails_only_its_own_request_in_a_batch(models):
    results = models["dates"].predict_batch(["May 5, 1999", "1" * 300], 1)
    assert "output" in json.loads(results[0]) and results[1].field == "input"


GENERATIONS = [  # (prompt, max_new_tokens, options): greedy, seeded, unseeded
    ("to be", 12, {"greedy": True}),
    ("or", 20, {"seed": 3, "temperature": 1.3}),
    ("to be", 7, {"seed": 4, "top_k": 5, "stream": False}),
    ("that", 15, {"greedy": True, "stream": False}),
    ("t", 9, {"temperature": 0.9}),
    ("to be or", 18, {"seed": 3, "temperature": 1.3, "stream": False}),
    ("the", 3, {"top_p": 0.8}),
    ("is", 16, {"seed": 5}),
]


def _generate_together(models, monkeypatch, limits: Limits):
    """GENERATIONS sent at once (the first one's first step held until all are in
    flight); returns the batch size of each model step and each answer's text and
    token count (None for "stream": false)."""
    model, sizes, release = models["chars"].loaded.model, [], threading.Event()
    real = model.step

    def recorded(tokens, state):
        sizes.append(len(tokens))
        release.wait(5)
        return real(tokens, state)

    monkeypatch.setattr(model, "step", recorded)
    answers: dict[int, tuple[str, int | None]] = {}

    def ask(i: int) -> None:
        prompt, n, options = GENERATIONS[i]
        body = {"model": "chars", "prompt": prompt, "max_new_tokens": n, **options}
        r = c.post("/v1/generate", json=body)
        assert r.status_code == 200, r.text
        if options.get("stream", True):
            done = _sse(r.text)[-1][1]
            answers[i] = done["text"], done["tokens"]
        else:
            answers[i] = r.json()["text"], None

    with TestClient(create_app(models, limits)) as c:
        _first_computes_while_the_rest_queue(c, ask, range(8), sizes, release)
        assert c.app.state.runner.in_flight == 0  # each slot freed before its answer
    return sizes, answers


def test_concurrent_generations_share_steps_and_each_gets_its_own_text(
    models, monkeypatch
):
    sizes, together = _generate_together(models, monkeypatch, Limits())
    assert sizes[0] == 1 and max(sizes) == 8  # all in one batch after the first step
    assert len(sizes) < sum(n for _, n, _ in GENERATIONS)  # steps were shared
    monkeypatch.undo()
    with TestClient(create_app(models)) as c:
        for i, (prompt, n, options) in enumerate(GENERATIONS):
            text, tokens = together[i]
            assert tokens in (None, n)  # every stream got all its tokens
            if "seed" in options or options.get("greedy"):  # as if it came alone
                body = {"model": "chars", "prompt": prompt, "max_new_tokens": n}
                body |= options | {"stream": False}
                assert c.post("/v1/generate", json=body).json()["text"] == text


def test_max_batch_bounds_the_generations_stepped_together(models, monkeypatch):
    sizes, together = _generate_together(models, monkeypatch, Limits(max_batch=3))
    assert max(sizes) == 3 and len(together) == 8


def test_a_generation_beyond_max_in_flight_gets_429(models, monkeypatch):
    model, release = models["chars"].loaded.model, threading.Event()
    real = model.step
    monkeypatch.setattr(model, "step", lambda *a: release.wait(5) and real(*a))
    body = {"model": "chars", "max_new_tokens": 3, "stream": False}
    _second_request_waits_for_a_slot(models, "/v1/generate", body, release)


def _first_computes_while_the_rest_queue(c, ask, args, sizes, release) -> None:
    """Ask for each of ``args`` in a thread: the first alone, then, once its forward
    pass has started (``sizes`` records it) and blocks until ``release``, all the
    others, which wait in flight; release them and wait for every answer."""
    threads = [threading.Thread(target=ask, args=(a,)) for a in args]
    threads[0].start()
    while not sizes:
        time.sleep(0.01)
    for t in threads[1:]:
        t.start()
    while c.app.state.runner.in_flight < len(threads):
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join()


def _second_request_waits_for_a_slot(models, path, body, release) -> None:
    """With one slot held by a request blocked until ``release``, a second gets 429;
    once the first is answered, the slot is free again."""
    with TestClient(create_app(models, Limits(max_in_flight=1))) as c:
        first = []
        waiter = threading.Thread(target=lambda: first.append(c.post(path, json=body)))
        waiter.start()
        while c.app.state.runner.in_flight == 0:
            time.sleep(0.01)
        assert "busy" in _error(c.post(path, json=body), 429, None)
        release.set()
        waiter.join()
        assert first[0].status_code == 200
        assert c.post(path, json=body).status_code == 200


def test_a_generation_whose_client_went_leaves_and_frees_its_slot(models):
    adapter, released = models["chars"], []
    batcher = GenerationBatcher(adapter, max_batch=4)
    items: dict[int, list] = {0: [], 1: []}

    def generation(i: int, stop: threading.Event, **sampling) -> Generation:
        channel = Channel(
            put=items[i].append,
            release=lambda: released.append(i),
            stop=stop,
            deadline=time.monotonic() + 30,
        )
        continuation = adapter.continuation(Sampling(prompt="to", **sampling))
        return Generation(continuation, channel, adapter.text)

    gone = threading.Event()
    batcher.submit(generation(0, gone, max_new_tokens=1000))
    batcher.submit(generation(1, threading.Event(), max_new_tokens=30, seed=1))
    while len(items[0]) < 3:
        time.sleep(0.001)
    gone.set()  # the client of the first one went away
    deadline = time.monotonic() + 10
    while batcher.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not batcher.running  # the worker thread ends when it has no work
    assert sorted(released) == [0, 1]
    assert len(items[0]) < 1000 and items[1][-1] is END and len(items[1]) == 31


def test_the_time_limit_is_504_or_an_error_event(models, monkeypatch):
    monkeypatch.setattr(models["intents"], "predict_batch", lambda *a: time.sleep(0.3))
    model = models["chars"].loaded.model
    step = model.step
    slow = lambda *a: time.sleep(0.01) or step(*a)  # noqa: E731
    monkeypatch.setattr(model, "step", slow)  # each token takes 10 ms
    with TestClient(create_app(models, Limits(timeout_s=0.05))) as c:
        r = c.post("/v1/predict", json={"model": "intents", "input": "hello"})
        assert "longer than 0.05 s" in _error(r, 504, None)
        body = {"model": "chars", "max_new_tokens": 50}
        events = _sse(c.post("/v1/generate", json=body).text)
        assert events[-1][0] == "error" and len(events) < 50
        _error(c.post("/v1/generate", json=body | {"stream": False}), 504, None)


def test_an_internal_error_is_a_500_and_the_server_stays_up(models, monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(models["intents"], "predict_batch", broken)
    with TestClient(create_app(models), raise_server_exceptions=False) as c:
        r = c.post("/v1/predict", json={"model": "intents", "input": "hello"})
        assert r.status_code == 500
        assert c.get("/healthz").status_code == 200


# ---- the real server: CLI, loopback, Chromium ------------------------------------
@pytest.fixture(scope="module")
def server(runs):
    with Server(list(runs.values())) as started:  # seqlab serve, a free port
        yield started.url


def test_cli_server_refuses_an_oversized_body_and_stays_up(server):
    big = json.dumps({"model": "x", "input": "a" * 200_000}).encode()
    request = urllib.request.Request(
        server + "/v1/predict", big, {"content-type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 413
    assert urllib.request.urlopen(server + "/healthz", timeout=5).status == 200


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_shows_output_and_heat_map_in_chromium(server):
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(server + "/")
            page.wait_for_selector("#model option", state="attached")
            page.select_option("#model", "dates")
            page.fill("#input", "June 7, 2004")
            page.click("#run")
            page.wait_for_selector("#heatmap td.cell")
            rows = page.locator("#heatmap tbody tr").count()
            assert page.locator("#heatmap td.cell").count() == rows * len(
                "June 7, 2004"
            )
            assert page.locator("#output").inner_text().strip() != "" or rows == 1
            if os.environ.get("SEQLAB_SCREENSHOT"):
                page.screenshot(path=os.environ["SEQLAB_SCREENSHOT"], full_page=True)
            page.select_option("#model", "chars")
            page.fill("#input", "to be")
            page.click("#run")
            page.wait_for_function(
                "document.getElementById('stats').textContent.includes('tokens')"
            )
            assert len(page.locator("#output").inner_text()) > len("to be")
            page.select_option("#model", "shapes")
            assert page.locator("#input").is_hidden()
            page.set_input_files(
                "#image",
                files=[{"name": "red.png", "mimeType": "image/png", "buffer": _png()}],
            )
            page.click("#run")
            page.wait_for_selector("#heatmap figure canvas")
            words = page.locator("#heatmap figcaption").all_inner_texts()
            assert words and all(words)
            assert page.locator("#heatmap canvas").count() == len(words)
        finally:
            browser.close()


def test_the_load_test_counts_answers_and_latencies(server):
    model = {"name": "dates", "endpoint": "predict", "example": "May 5, 1999"}
    cpu = iter([10.0, 10.6, 11.0, 11.3]).__next__  # the server's CPU seconds
    rows = load_test(
        server, model, clients=(1, 4), requests=12, time_cap=20, server_cpu=cpu
    )
    assert [(r.clients, r.sent, r.ok, r.errors) for r in rows] == [
        (1, 12, 12, 0),
        (4, 12, 12, 0),
    ]
    assert all(0 < r.p50_ms <= r.p99_ms for r in rows)
    assert [r.server_cpu_ms for r in rows] == [50.0, 25.0]  # ms per answer
    table = format_table(rows)
    assert "| dates | 4 | 12 | 12 |" in table
    ratio = rows[1].p99_ms / rows[0].p50_ms
    assert f"| {ratio:.1f}x | 25.0 |" in table
    assert load_test(server, model, clients=(1,), requests=2)[0].server_cpu_ms is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(range(1, 101)), 99) == 99


def test_the_load_test_sends_captioners_a_picture(server):
    model = {"name": "shapes", "kind": "caption", "endpoint": "predict"}
    with pytest.raises(ValueError, match="--image"):
        load_test(server, model | {"example": ""}, clients=(1,), requests=2)
    rows = load_test(
        server, model | {"example": ""}, clients=(2,), requests=4, image=_png()
    )
    assert (rows[0].ok, rows[0].errors) == (4, 0)


def test_cpu_lists_parse_and_bad_ones_name_the_option():
    cpu = min(os.sched_getaffinity(0))
    assert parse_cpus(None, "--server-cpus") is None
    assert parse_cpus(str(cpu), "--server-cpus") == {cpu}
    assert parse_cpus(f"{cpu}-{cpu}", "--client-cpus") == {cpu}
    for bad in ("", "a", "0-x", "100000"):
        with pytest.raises(ValueError, match="--client-cpus"):
            parse_cpus(bad, "--client-cpus")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_a_pinned_server_runs_on_its_cpus_only(runs):
    cpu = max(os.sched_getaffinity(0))
    with Server([runs["dates"]], cpus={cpu}) as started:
        assert os.sched_getaffinity(started.process.pid) == {cpu}
        assert started.cpu_seconds() > 0  # loading torch and the run
        assert urllib.request.urlopen(started.url + "/healthz", timeout=5).status == 200
