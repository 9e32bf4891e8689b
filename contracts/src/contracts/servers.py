"""Real HTTP servers on loopback for provider verification (port 0, read back, no sleeps).

* ``MonolithServer``: the Django shop under gunicorn in a subprocess, on a socket this
  process bound to port 0 and hands over as ``fd://N`` (no find-a-free-port race), with
  its own migrated database and the test-only provider-state endpoint switched on.
* ``UvicornThread``: an ASGI app (the catalog service) in a thread of this process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
import uvicorn

from contracts.paths import REPO_ROOT

MONOLITH_DIR = REPO_ROOT / "monolith"


def _wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def monolith_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SHOP_ENV": "local",
        "DEBUG": "0",
        "PACT_PROVIDER_STATES": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(MONOLITH_DIR),
        "DJANGO_SETTINGS_MODULE": "shop.settings",
    }
    env.update(extra)
    return env


def migrate_monolith(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(MONOLITH_DIR / "manage.py"), "migrate", "--noinput", "-v", "0"],
        env=monolith_env(database_url),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"monolith migrate failed:\n{result.stdout}\n{result.stderr}")


class MonolithServer:
    def __init__(self, database_url: str, *, log: Path | None = None) -> None:
        self.database_url = database_url
        self.log = log
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.set_inheritable(True)
        self._sock = sock
        port = sock.getsockname()[1]
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "shop.wsgi:application",
                "--bind",
                f"fd://{sock.fileno()}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
            env=monolith_env(self.database_url),
            cwd=MONOLITH_DIR,
            pass_fds=(sock.fileno(),),
            stdout=out,
            stderr=out,
        )
        if self.log:
            out.close()  # type: ignore[union-attr]  # the child keeps its own descriptor
        self.url = f"http://127.0.0.1:{port}"
        try:
            _wait_until(self._healthy, 60, f"monolith at {self.url}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.url

    def _healthy(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self._proc.returncode} (see {self.log})")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._sock is not None:
            self._sock.close()


class UvicornThread:
    def __init__(self, app: Any, *, lifespan: Literal["auto", "on", "off"] = "on") -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    def __enter__(self) -> str:
        self.thread.start()
        _wait_until(lambda: self.server.started or not self.thread.is_alive(), 30, "uvicorn server")
        if not self.server.started:
            raise RuntimeError("uvicorn did not start (see the log above)")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
