"""Real servers on loopback for the facade tests: upstream apps and the facade itself."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn
import yaml
from facade.app import Facade, create_app
from facade.server import serve as serve_facade
from facade.settings import FacadeSettings

ADMIN_TOKEN = "test-admin-token"


class ServerThread:
    """A uvicorn server on 127.0.0.1:<free port> in a thread of its own."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="error",
            access_log=False,
            lifespan="on",
            server_header=False,
            date_header=False,
            proxy_headers=False,
            **config,
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def start(self) -> ServerThread:
        self.thread.start()
        wait_for(lambda: self.server.started, 10, "server start")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class NativeServerThread:
    """The facade's own front-end (``facade.server``) on 127.0.0.1:<free port>, in a thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(addresses: list[tuple[str, int]]) -> None:
                self.port = addresses[0][1]

            await serve_facade(self.app, "127.0.0.1", 0, on_ready=ready, stop=self._stop)

        asyncio.run(main())

    def start(self) -> NativeServerThread:
        self.thread.start()
        wait_for(lambda: self.port, 10, "server start")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(15)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class UpstreamApp:
    """A small ASGI upstream that reports what it received; counts hits per path."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits: list[str] = []
        self.origin = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        self.hits.append(path)
        query = parse_qs(scope["query_string"].decode())
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        body = await _read_body(receive)

        async def respond(status: int, payload: bytes, extra: list[tuple[bytes, bytes]]) -> None:
            await send({"type": "http.response.start", "status": status, "headers": extra})
            await send({"type": "http.response.body", "body": payload})

        if path.startswith("/slow"):
            await asyncio.sleep(float(query.get("delay", ["1"])[0]))
        if "/status/" in path:
            code = int(path.rsplit("/", 1)[1])
            return await respond(
                code, b"status " + str(code).encode(), [(b"x-upstream", self.name.encode())]
            )
        if path == "/cookies":
            return await respond(
                200,
                b"ok",
                [(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2; Path=/; HttpOnly")],
            )
        if path == "/redirect":
            return await respond(
                302,
                b"",
                [(b"location", f"{self.origin}/target?x=1".encode()), (b"content-length", b"0")],
            )
        if path == "/redirect-elsewhere":
            return await respond(
                302, b"", [(b"location", b"https://example.org/x"), (b"content-length", b"0")]
            )
        if path == "/gzip":
            data = gzip.compress(b'{"hello": "world"}' * 50)
            return await respond(
                200,
                data,
                [
                    (b"content-encoding", b"gzip"),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            )
        if path == "/etag":
            if dict(headers).get("if-none-match") == '"v1"':
                return await respond(304, b"", [(b"etag", b'"v1"')])
            return await respond(200, b"fresh", [(b"etag", b'"v1"'), (b"content-length", b"5")])
        if path == "/big":
            size = int(query.get("size", ["1048576"])[0])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            chunk = b"x" * 65536
            sent = 0
            while sent < size:
                part = chunk[: min(len(chunk), size - sent)]
                sent += len(part)
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/hop":
            return await respond(
                200,
                b"ok",
                [
                    (b"connection", b"x-private, keep-alive"),
                    (b"x-private", b"secret"),
                    (b"keep-alive", b"timeout=5"),
                    (b"x-kept", b"yes"),
                ],
            )
        doc = {
            "upstream": self.name,
            "method": scope["method"],
            "path": path,
            "raw_path": scope.get("raw_path", b"").decode(),
            "query": scope["query_string"].decode(),
            "headers": headers,
            "body_len": len(body),
            "body_sha": __import__("hashlib").sha256(body).hexdigest(),
        }
        payload = json.dumps(doc).encode()
        await respond(
            200,
            payload,
            [(b"content-type", b"application/json"), (b"x-upstream", self.name.encode())],
        )


@pytest.fixture
def upstream_factory() -> Iterator[Callable[[str], tuple[UpstreamApp, ServerThread]]]:
    servers: list[ServerThread] = []

    def make(name: str) -> tuple[UpstreamApp, ServerThread]:
        app = UpstreamApp(name)
        server = ServerThread(app).start()
        app.origin = server.url
        servers.append(server)
        return app, server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def monolith(upstream_factory: Any) -> tuple[UpstreamApp, ServerThread]:
    return upstream_factory("monolith")  # type: ignore[no-any-return]


@pytest.fixture
def catalog(upstream_factory: Any) -> tuple[UpstreamApp, ServerThread]:
    return upstream_factory("catalog")  # type: ignore[no-any-return]


def free_port_url() -> str:
    """A loopback URL nobody listens on (bound then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def routes_doc(monolith_url: str, catalog_url: str, **route_overrides: Any) -> dict[str, Any]:
    product: dict[str, Any] = {
        "id": "products",
        "path": "/api/products/**",
        "upstream": "catalog",
        "mode": "monolith",
    }
    product.update(route_overrides)
    return {
        "upstreams": {
            "monolith": {"instances": [monolith_url], "retries": 1, "retry_backoff": 0.01},
            "catalog": {
                "instances": [catalog_url],
                "connect_timeout": 0.5,
                "read_timeout": 2,
                "retries": 0,
                "breaker": {"failure_threshold": 3, "reset_timeout": 0.5},
            },
        },
        "routes": [
            product,
            {"id": "default", "path": "/**", "upstream": "monolith"},
        ],
    }


class FacadeServer:
    def __init__(
        self, app: Facade, server: ServerThread | NativeServerThread, routes_file: Path
    ) -> None:
        self.app = app
        self.server = server
        self.routes_file = routes_file

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def facade_server() -> str:
    """Which front-end serves the facade; test_proxy.py runs every test against both."""
    return "uvicorn"


@pytest.fixture
def facade_factory(tmp_path: Path, facade_server: str) -> Iterator[Callable[..., FacadeServer]]:
    started: list[FacadeServer] = []

    def make(doc: dict[str, Any], name: str = "routes.yaml", **settings: Any) -> FacadeServer:
        routes_file = tmp_path / name
        routes_file.write_text(yaml.safe_dump(doc))
        values: dict[str, Any] = {
            "routes_file": routes_file,
            "admin_token": ADMIN_TOKEN,
            "redis_url": None,
            "access_log": False,
            "reload_interval": 0.05,
            "health_interval": 0.2,
            "audit_log_file": tmp_path / f"{name}.audit.jsonl",
        }
        values.update(settings)
        app = create_app(FacadeSettings(**values))
        server: ServerThread | NativeServerThread
        if facade_server == "native":
            server = NativeServerThread(app).start()
        else:
            server = ServerThread(app, loop="asyncio", http="httptools").start()
        handle = FacadeServer(app, server, routes_file)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def no_env(*names: str) -> Iterator[None]:
    import os

    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@pytest.fixture(name="routes_doc")
def _routes_doc_fixture() -> Callable[..., dict[str, Any]]:
    return routes_doc


@pytest.fixture(name="dead_url")
def _dead_url() -> str:
    return free_port_url()


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    servers: list[ServerThread] = []

    def start(app: Any, **config: Any) -> ServerThread:
        server = ServerThread(app, **config).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
