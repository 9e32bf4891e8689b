"""``python -m facade``: the facade's own HTTP/1.1 front-end (or uvicorn), uvloop.

``FACADE_SERVER=native`` (default) serves with ``facade.server``; ``FACADE_SERVER=uvicorn``
with uvicorn's httptools protocol and the settings a transparent proxy needs. Both run the
same ASGI app; the benchmark (bench/facade_bench.py) measures both. Logs follow
``LOG_FORMAT``/``LOG_LEVEL`` (shop_telemetry); spans are exported, one per request, only
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
"""

from __future__ import annotations

import asyncio
import gc
import os

import uvicorn
import uvloop
from shop_telemetry import configure_logging, configure_tracing, logging_config

from facade.app import Facade, create_app


def served_app() -> Facade:
    """The app of a serving process: tracing first, so the proxy sees whether it exports."""
    configure_tracing("facade")
    return create_app()


def main() -> None:
    # A proxied request allocates a few hundred short-lived objects; the default threshold
    # (700) runs a young-generation pass every couple of requests.
    gc.set_threshold(20_000, 20, 50)
    host = os.environ.get("FACADE_HOST", "0.0.0.0")  # noqa: S104 - a proxy listens
    port = int(os.environ.get("FACADE_PORT", "8080"))
    keepalive = int(os.environ.get("FACADE_KEEPALIVE", "75"))
    if os.environ.get("FACADE_SERVER", "native") == "uvicorn":
        uvicorn.run(
            "facade.__main__:served_app",
            factory=True,
            log_config=logging_config("facade"),
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            # The upstream's Server and Date headers pass through; uvicorn must not add its
            # own, and X-Forwarded-* are the facade's to set, not uvicorn's to trust.
            server_header=False,
            date_header=False,
            proxy_headers=False,
            access_log=False,
            timeout_keep_alive=keepalive,
        )
        return
    from facade.server import serve

    configure_logging("facade")
    uvloop.install()
    asyncio.run(serve(served_app(), host, port, keepalive=keepalive))


if __name__ == "__main__":
    main()
