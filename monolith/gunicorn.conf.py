"""gunicorn settings for the shop: ``gunicorn -c gunicorn.conf.py shop.wsgi``.

HOST (default 127.0.0.1), PORT (default 8000), WEB_CONCURRENCY (workers, default 2),
GUNICORN_THREADS (threads per worker, default 4).
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
wsgi_app = "shop.wsgi:application"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Trust X-Forwarded-* only from the facade on loopback (or what FORWARDED_ALLOW_IPS says).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Import the project from this folder whatever the working directory.
chdir = os.path.dirname(os.path.abspath(__file__))
