"""The legacy clock: naive local wall-clock time (Europe/Berlin, USE_TZ=False).

Every ``created``/``updated`` column in the shop is a naive ``timestamp without time
zone`` holding Berlin local time. This helper is the single place that produces it.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def legacy_now() -> datetime:
    """Naive Europe/Berlin local time (what the legacy schema stores)."""
    # With USE_TZ=False Django's timezone.now() is naive local time already.
    return timezone.now()
