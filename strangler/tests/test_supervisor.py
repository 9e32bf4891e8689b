import io
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from strangler.embedded import free_port
from strangler.supervisor import Component, StackError, Supervisor

SERVER = textwrap.dedent(
    """
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    print("serving", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def quiet() -> Supervisor:
    return Supervisor(Console(file=io.StringIO()), quiet=True)


def test_starts_waits_for_readiness_and_stops_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    supervisor = quiet()
    supervisor.start(
        Component(
            "web", [sys.executable, str(script), str(port)], ready_url=f"http://127.0.0.1:{port}/"
        )
    )
    assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
    process = supervisor._running[0].process
    supervisor.stop_all()
    assert process.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")


def test_a_component_dying_at_start_is_reported_with_its_last_lines() -> None:
    supervisor = quiet()
    crash = [sys.executable, "-c", "print('boom: bad config', flush=True); raise SystemExit(3)"]
    with pytest.raises(StackError, match=r"(?s)crasher exited with code 3.*boom: bad config"):
        supervisor.start(Component("crasher", crash, ready_url=f"http://127.0.0.1:{free_port()}/"))
    supervisor.stop_all()


def test_not_ready_in_time_is_an_error_and_the_process_is_stopped() -> None:
    supervisor = quiet()
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(StackError, match="was not ready"):
        supervisor.start(
            Component(
                "slow", sleeper, ready_url=f"http://127.0.0.1:{free_port()}/", ready_timeout=1
            )
        )
    process = supervisor._running[0].process
    supervisor.stop_all()
    assert process.poll() is not None


def test_missing_executable_is_a_stack_error() -> None:
    with pytest.raises(StackError, match="cannot start"):
        quiet().start(Component("ghost", ["/nonexistent/binary"]))
