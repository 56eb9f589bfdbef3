"""``seqlab serve``: trained runs behind an HTTP API and a web page.

Needs the ``serve`` extra (FastAPI, uvicorn): ``pip install 'seqlab[serve]'``.
:mod:`seqlab.serve.app` builds the ASGI app, :mod:`seqlab.serve.adapters` says how
each kind of run is called, :mod:`seqlab.serve.batching` computes concurrent
requests together, :mod:`seqlab.serve.loadtest` measures it under load.
"""

from __future__ import annotations

import gc
from pathlib import Path


def serve(
    run_dirs: list[str | Path],
    host: str = "127.0.0.1",
    port: int = 8000,
    limits=None,
    log=print,
    precision: str = "fp32",
) -> None:
    """Load ``run_dirs`` once and serve them until interrupted."""
    import uvicorn

    from seqlab.serve.app import create_app, load_models
    from seqlab.serve.limits import Limits

    limits = limits or Limits()
    models = load_models(run_dirs, precision)
    app = create_app(models, limits)
    # What is loaded lives as long as the server: out of the collector's sight, a
    # full collection no longer walks torch and the models (150 ms pauses under load)
    gc.collect()
    gc.freeze()
    for name, adapter in models.items():
        log(f"model {name}: {adapter.loaded.cfg.task} ({adapter.loaded.run_dir})")
    log(f"serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        limit_concurrency=limits.max_in_flight + 64,  # connections; beyond: 503
        timeout_keep_alive=5,
    )
