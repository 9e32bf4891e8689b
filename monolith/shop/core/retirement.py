"""Capabilities the monolith no longer serves (step 6, ``SHOP_RETIRED``).

Once a capability lives in its own service and the facade sends its paths there, the
monolith's copy of the code path is switched off: its URL patterns are left out of the
URL config (a misrouted request gets the API's problem+json 404) and its admin pages turn
read-only (the rows are the reverse sync's read copy). The storefront pages, the cart and
the admin stay: that is what the monolith still serves.

``RETIRED_ROUTES`` names the URL patterns as the metrics label them (``api:product-list``,
see ``shop.core.observability.route_name``); the decommission report of the tooling lists
the same names in ``migrations-plan/step-6-retire/step.yaml``, since the tooling does not
import the monolith. ``monolith/tests/core/test_retirement.py`` keeps both lists equal.

Nothing here imports models: ``shop.settings`` validates ``SHOP_RETIRED`` with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured

CATALOG = "catalog"
ORDERS = "orders"

RETIRED_ROUTES: dict[str, tuple[str, ...]] = {
    # The legacy JSON API of the catalog, reads and writes (GET/POST /api/products/,
    # GET/PUT/PATCH/DELETE /api/products/<id>/, by sku, categories).
    CATALOG: (
        "api:product-list",
        "api:product-detail",
        "api:product-by-sku",
        "api:category-list",
        "api:category-detail",
    ),
    # POST /api/checkout/, GET /api/orders/, GET /api/orders/<id>/
    ORDERS: ("api:checkout", "api:order-list", "api:order-detail"),
}

# Admin pages that turn read-only: "<app label>.<model name>".
RETIRED_ADMIN_MODELS: dict[str, tuple[str, ...]] = {
    CATALOG: ("catalog.product", "catalog.category"),
    ORDERS: ("orders.order", "payments.payment"),
}

# Where the capability's writes go once it is retired (shown in the admin).
NEW_OWNER: dict[str, str] = {CATALOG: "the catalog service", ORDERS: "the orders service"}

CAPABILITIES = tuple(RETIRED_ROUTES)


def parse_retired(raw: str | None, *, name: str = "SHOP_RETIRED") -> frozenset[str]:
    """``"catalog, orders"`` -> ``{"catalog", "orders"}``; an unknown name fails loudly."""
    values = [part.strip().lower() for part in (raw or "").split(",") if part.strip()]
    unknown = sorted(set(values) - set(CAPABILITIES))
    if unknown:
        raise ImproperlyConfigured(
            f"{name}={raw!r} names unknown capabilities {', '.join(map(repr, unknown))}; "
            f"use a comma-separated list of {', '.join(CAPABILITIES)} (or leave it empty)"
        )
    return frozenset(values)


def retired_route_names(retired: Iterable[str]) -> frozenset[str]:
    """Every URL pattern name switched off for the given capabilities."""
    return frozenset(name for cap in retired for name in RETIRED_ROUTES[cap])


def retired_capabilities() -> frozenset[str]:
    """The capabilities retired in the running configuration (``settings.SHOP_RETIRED``)."""
    from django.conf import settings

    return frozenset(getattr(settings, "SHOP_RETIRED", frozenset()))


def is_retired(capability: str) -> bool:
    return capability in retired_capabilities()
