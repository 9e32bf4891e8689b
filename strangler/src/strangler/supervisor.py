"""Run the stack's processes side by side with prefixed logs; stop them all cleanly.

A small foreman: each component is a child process whose stdout/stderr lines are
printed with a coloured ``name |`` prefix. Startup waits for each component's readiness
URL before the next one starts; any component dying takes the stack down with a clear
message and its last log lines.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
from rich.console import Console
from rich.text import Text

from strangler.embedded import RunAs

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan")


class StackError(RuntimeError):
    """The stack could not be brought up; the message says which part and why."""


@dataclass
class Component:
    name: str
    command: Sequence[str]
    ready_url: str | None = None  # polled until it answers 200
    ready_check: Callable[[], bool] | None = None  # or a custom check
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    run_as: RunAs | None = None  # an unprivileged user for servers that refuse root
    ready_timeout: float = 60.0
    public_urls: dict[str, str] = field(default_factory=dict)


@dataclass
class _Running:
    component: Component
    process: subprocess.Popen[bytes]
    colour: str
    tail: collections.deque[str]
    reader: threading.Thread


class Supervisor:
    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console()
        self.quiet = quiet  # keep logs in the tail buffers only (demo-check)
        self._running: list[_Running] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # -- starting ---------------------------------------------------------------------

    def start(self, component: Component) -> None:
        colour = COLOURS[len(self._running) % len(COLOURS)]
        self.console.print(Text.assemble(("» starting ", "bold"), (component.name, colour)))
        try:
            process = subprocess.Popen(
                list(component.command),
                cwd=component.cwd,
                env=component.env or None,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Ctrl-C reaches the runner only; it stops the children in order.
                start_new_session=True,
                user=component.run_as.user if component.run_as else None,
                group=component.run_as.group if component.run_as else None,
            )
        except OSError as exc:
            raise StackError(
                f"{component.name}: cannot start {component.command[0]}: {exc}"
            ) from exc
        tail: collections.deque[str] = collections.deque(maxlen=40)
        reader = threading.Thread(
            target=self._pump, args=(component.name, colour, process, tail), daemon=True
        )
        running = _Running(component, process, colour, tail, reader)
        with self._lock:
            self._running.append(running)
        reader.start()
        self._wait_ready(running)

    def _pump(
        self, name: str, colour: str, process: subprocess.Popen[bytes], tail: collections.deque[str]
    ) -> None:
        assert process.stdout is not None
        width = 9
        for raw in iter(process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            tail.append(line)
            if not self.quiet:
                self.console.print(
                    Text.assemble((f"{name:<{width}}| ", colour), line),
                    highlight=False,
                    soft_wrap=True,
                )

    def _wait_ready(self, running: _Running) -> None:
        component = running.component
        if component.ready_url is None and component.ready_check is None:
            return
        deadline = time.monotonic() + component.ready_timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if running.process.poll() is not None:
                    raise StackError(
                        f"{component.name} exited with code {running.process.returncode} "
                        f"while starting. Last lines:\n" + "\n".join(running.tail)
                    )
                if component.ready_check is not None:
                    with contextlib.suppress(Exception):
                        if component.ready_check():
                            return
                else:
                    assert component.ready_url is not None
                    try:
                        response = client.get(component.ready_url)
                        if response.status_code == 200:
                            self.console.print(
                                Text.assemble(
                                    ("✓ ", "green"), (component.name, running.colour), " ready"
                                )
                            )
                            return
                        last = f"HTTP {response.status_code}"
                    except httpx.HTTPError as exc:
                        last = type(exc).__name__
                time.sleep(0.2)
        raise StackError(
            f"{component.name} was not ready at {component.ready_url} within "
            f"{component.ready_timeout:.0f}s ({last}). Last lines:\n" + "\n".join(running.tail)
        )

    # -- watching and stopping ----------------------------------------------------------

    def wait(self) -> int:
        """Block until Ctrl-C/SIGTERM or until a component dies; returns an exit code."""
        stop = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while not stop.wait(0.5):
                for running in list(self._running):
                    code = running.process.poll()
                    if code is not None:
                        self.console.print(
                            f"[bold red]{running.component.name} exited with code {code}; "
                            "stopping the stack[/]"
                        )
                        return 1
            self.console.print("[bold]» stopping the stack[/]")
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop_all()

    def restart(self, name: str, env: dict[str, str], timeout: float = 15.0) -> None:
        """Stop one component and start it again with ``env`` added to its environment (a
        redeploy with new settings); waits until it is ready again."""
        with self._lock:
            found = next((r for r in self._running if r.component.name == name), None)
            if found is None:
                raise StackError(f"{name} is not running")
            self._running.remove(found)
        self._stop_one(found, timeout)
        component = found.component
        self.start(replace(component, env={**component.env, **env}))

    def stop_all(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        with self._lock:
            running = list(reversed(self._running))
            self._running.clear()
        # Reverse start order, one at a time: the facade drains before the monolith, the
        # applications before the databases they use.
        for item in running:
            self._stop_one(item, timeout)

    def _stop_one(self, item: _Running, timeout: float) -> None:
        if item.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(item.process.pid, signal.SIGTERM)
        try:
            item.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.console.print(f"[yellow]{item.component.name} did not stop; killing it[/]")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(item.process.pid, signal.SIGKILL)
            item.process.wait()
        item.reader.join(timeout=2)
        if item.process.stdout is not None:
            item.process.stdout.close()
        self.console.print(
            Text.assemble(("■ ", "dim"), (item.component.name, item.colour), " stopped")
        )

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
