"""A bounded load test of ``seqlab serve`` on loopback (``seqlab bench serve``).

For each served model and each number of concurrent clients, ``requests`` requests
are sent (fewer if ``time_cap`` seconds pass first: the test always stops by itself);
each client (a thread with one keep-alive connection of the standard library's
http.client: an asyncio client on the same core measured itself more than the
server) sends its next request when its last one is answered, after one untimed
request that opens its connection; this process collects no garbage while it
measures. Reported per level: requests/s, p50 and p99 latency of the answered (200)
requests, the 429s (turned away by the in-flight limit), every other error (status
or exception), and, when the server is a process this test started
(:class:`Server`), the server's CPU time per answered request.
"""

from __future__ import annotations

import base64
import gc
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

from seqlab.utils import markdown_table

CLIENTS = (1, 8, 32)


@dataclass(frozen=True)
class LoadRow:
    """One (model, clients) level of the load test; latencies in milliseconds."""

    model: str
    clients: int
    sent: int
    ok: int
    rejected: int  # 429
    errors: int  # any other status, time-outs, refused connections
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float | None = None  # per answered request; None: not measured

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _level(
    url: str, path: str, body: dict, clients: int, requests: int, time_cap: float
) -> tuple[list[float], int, int, float]:
    """Latencies (ms) of the 200s, the 429s, the other errors, and the seconds."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    counts = {"sent": 0, "rejected": 0, "errors": 0}
    lock, ready = threading.Lock(), threading.Barrier(clients + 1)
    deadline = [float("inf")]

    def take_turn() -> bool:
        with lock:
            go = counts["sent"] < requests and time.perf_counter() < deadline[0]
            counts["sent"] += go
            return go

    def client() -> None:
        http = HTTPConnection(host, int(port), timeout=30)
        try:  # one untimed request first: the connection opens before the clock
            http.request("POST", path, payload, headers)
            http.getresponse().read()
        except (OSError, HTTPException):
            http.close()
        ready.wait()
        while take_turn():
            sent = time.perf_counter()
            try:
                http.request("POST", path, payload, headers)
                response = http.getresponse()
                response.read()
                status = response.status
            except (OSError, HTTPException):
                http.close()  # reconnects on the next request
                status = None
            with lock:
                if status == 200:
                    latencies.append((time.perf_counter() - sent) * 1000)
                else:
                    counts["rejected" if status == 429 else "errors"] += 1
        http.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    # no collection in this process while it measures: a full one walks everything
    # imported (torch too) and would stall every client at once
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        deadline[0] = start + time_cap
        ready.wait()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    finally:
        gc.enable()
    return latencies, counts["rejected"], counts["errors"], seconds


def load_test(
    url: str,
    model: dict[str, Any],
    *,
    clients: tuple[int, ...] = CLIENTS,
    requests: int = 200,
    time_cap: float = 60.0,
    text: str | None = None,
    max_new_tokens: int = 32,
    image: bytes | None = None,
    server_cpu: Callable[[], float | None] = lambda: None,
) -> list[LoadRow]:
    """Rows for one model (an entry of ``GET /v1/models``) at each client count.
    A captioner is sent ``image`` (a picture file's bytes) in every request.
    ``server_cpu`` gives the server's CPU seconds so far (None: unknown)."""
    text = text if text is not None else model["example"] or "hello"
    if model.get("kind") == "caption":
        if image is None:
            raise ValueError(f"{model['name']} captions pictures: give it --image FILE")
        path = "/v1/predict"
        body = {"model": model["name"], "image": base64.b64encode(image).decode()}
    elif model["endpoint"] == "generate":
        path = "/v1/generate"
        body = {
            "model": model["name"],
            "prompt": text,
            "max_new_tokens": max_new_tokens,
            "stream": False,
        }
    else:
        path, body = "/v1/predict", {"model": model["name"], "input": text}
    rows = []
    for n in clients:
        cpu_before = server_cpu()
        latencies, rejected, errors, seconds = _level(
            url, path, body, n, requests, time_cap
        )
        cpu_after = server_cpu()
        cpu_ms = None
        if cpu_before is not None and cpu_after is not None and latencies:
            cpu_ms = round((cpu_after - cpu_before) * 1000 / len(latencies), 3)
        sent = len(latencies) + rejected + errors
        rows.append(
            LoadRow(
                model=model["name"],
                clients=n,
                sent=sent,
                ok=len(latencies),
                rejected=rejected,
                errors=errors,
                seconds=round(seconds, 2),
                requests_per_s=round(len(latencies) / seconds, 1),
                p50_ms=round(percentile(latencies, 50), 1),
                p99_ms=round(percentile(latencies, 99), 1),
                server_cpu_ms=cpu_ms,
            )
        )
    return rows


def format_table(rows: list[LoadRow]) -> str:
    """The rows as a markdown table; "p99 / p50 at 1" is a row's p99 over its
    model's single-client p50 (the serve issue's goal: at most 5 at 32 clients)."""
    alone = {r.model: r.p50_ms for r in rows if r.clients == 1}
    header = (
        "model | clients | sent | ok | 429 | errors | req/s | p50 ms | p99 ms"
        " | p99 / p50 at 1 | server CPU ms/req"
    )
    cells = [
        (
            r.model,
            r.clients,
            r.sent,
            r.ok,
            r.rejected,
            r.errors,
            r.requests_per_s,
            r.p50_ms,
            r.p99_ms,
            f"{r.p99_ms / alone[r.model]:.1f}x" if alone.get(r.model) else "",
            "" if r.server_cpu_ms is None else r.server_cpu_ms,
        )
        for r in rows
    ]
    return markdown_table(header, cells)


# ---- a server of its own ---------------------------------------------------------
def parse_cpus(text: str | None, option: str) -> set[int] | None:
    """CPU numbers from "0", "0,2" or "0-3"; None for None. ValueError, naming
    ``option``, for a malformed list or a CPU this process may not run on."""
    if text is None:
        return None
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    except ValueError:
        message = f"{option}: expected CPUs like 0, 0,2 or 0-3, got {text!r}"
        raise ValueError(message) from None
    if not hasattr(os, "sched_setaffinity"):
        raise ValueError(f"{option}: CPU pinning needs Linux (os.sched_setaffinity)")
    allowed = os.sched_getaffinity(0)
    if not cpus or not cpus <= allowed:
        raise ValueError(
            f"{option}: {text!r} names CPUs outside those this process may use "
            f"({', '.join(map(str, sorted(allowed)))})"
        )
    return cpus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``seqlab serve`` in a child process on a free loopback port (a context
    manager: it is stopped on exit), pinned to ``cpus`` when given."""

    def __init__(
        self,
        run_dirs: list[str | Path],
        options: list[str] = (),
        cpus: set[int] | None = None,
    ) -> None:
        self.cpus = cpus
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "seqlab", "serve"]
        self.command += [str(d) for d in run_dirs]
        self.command += ["--port", str(self.port), *options]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.log = tempfile.TemporaryFile()
        cpus = self.cpus
        self.process = subprocess.Popen(
            self.command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
        )
        for _ in range(1200):  # loading torch and the runs: up to two minutes
            if self.process.poll() is not None:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")
                raise RuntimeError(f"seqlab serve exited: {output.strip()}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"seqlab serve did not answer on {self.url} in 2 minutes")

    def cpu_seconds(self) -> float | None:
        """The server process's CPU time so far (user + system; Linux's /proc),
        None where that cannot be read."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, AttributeError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()
