"""gunicorn settings for the shop: ``gunicorn -c gunicorn.conf.py shop.wsgi``.

HOST (default 127.0.0.1), PORT (default 8000), WEB_CONCURRENCY (workers, default 2),
GUNICORN_THREADS (threads per worker, default 4). Logs: LOG_LEVEL, LOG_FORMAT (json or
console), the same format as the shop's own loggers. PROMETHEUS_MULTIPROC_DIR: where the
workers keep their metrics for /metrics (default: a fresh temporary folder per start).
"""

import os
import shutil
import tempfile
from typing import Any

from shop_telemetry.logs import logging_config

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
wsgi_app = "shop.wsgi:application"
# The shop's middleware logs each request with its route, request id and trace id; gunicorn's
# own access line (written after the request's context is gone) would only repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logconfig_dict = logging_config("monolith", loglevel)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Trust X-Forwarded-* only from the facade on loopback (or what FORWARDED_ALLOW_IPS says).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Import the project from this folder whatever the working directory.
chdir = os.path.dirname(os.path.abspath(__file__))

_metrics_dir_created: list[str] = []


def on_starting(server: Any) -> None:
    """Before any worker forks: an empty metrics folder the workers share. Left-over files
    of an earlier run would add its counts to this one's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))
    else:
        folder = tempfile.mkdtemp(prefix="shop-metrics-")
        _metrics_dir_created.append(folder)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    from shop_telemetry import shutdown_tracing

    shutdown_tracing()  # the spans still queued in this worker go out before it exits


def on_exit(server: Any) -> None:
    for folder in _metrics_dir_created:
        shutil.rmtree(folder, ignore_errors=True)
