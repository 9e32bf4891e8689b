"""WSGI entry point (gunicorn: ``gunicorn -c gunicorn.conf.py shop.wsgi``).

gunicorn imports this in each worker after the fork (no ``preload_app``), so every
worker starts its own tracer provider and span-export thread here.
"""

import os

from django.core.wsgi import get_wsgi_application
from shop_telemetry import configure_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

configure_tracing("monolith")
application = get_wsgi_application()
