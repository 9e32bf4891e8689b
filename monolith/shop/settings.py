"""Settings for the legacy shop. Everything that differs between machines comes from the
environment (see ``.env.example`` at the repository root); nothing secret is committed."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from shop_telemetry.logs import logging_config

from shop.core.retirement import parse_retired

BASE_DIR = Path(__file__).resolve().parent.parent

PLACEHOLDER_SECRET = "change-me"  # the value in .env.example


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no, on/off"
    )


# "local" is a developer machine or the test suite; anything else is treated as production.
ENVIRONMENT = os.environ.get("SHOP_ENV", "local")
DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY or SECRET_KEY == PLACEHOLDER_SECRET or SECRET_KEY.startswith("django-insecure"):
    if ENVIRONMENT != "local":
        raise ImproperlyConfigured(
            "SECRET_KEY is unset or a placeholder; set a real secret (SHOP_ENV="
            f"{ENVIRONMENT!r} is not local)"
        )
    SECRET_KEY = "local-only-insecure-key-never-used-outside-local"

# Locally any host will do; elsewhere the hosts must be named.
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "*" if ENVIRONMENT == "local" else "").split(",")
    if h.strip()
]
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        f"ALLOWED_HOSTS is empty; name the shop's hosts (SHOP_ENV={ENVIRONMENT!r} is not local)"
    )
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
# The facade sets X-Forwarded-Proto/Host; trust them only when told the facade is in front.
if env_bool("BEHIND_FACADE", default=True):
    USE_X_FORWARDED_HOST = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "shop.catalog",
    "shop.inventory",
    "shop.customers",
    "shop.cart",
    "shop.orders",
    "shop.payments",
    "shop.core",
    "shop.outbox",
]

MIDDLEWARE = [
    # First: its span and request id cover everything below, the outbox writes included.
    "shop.core.observability.RequestTelemetryMiddleware",
    "shop.outbox.context.TraceContextMiddleware",
    # Before the session middleware: a dry run rolls the session's writes back too.
    "shop.core.dry_run.DryRunMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks login/logout answers so the facade forgets the old identity (identity bridge).
    "shop.customers.identity.IdentityRevokedMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Peers (socket address, never X-Forwarded-For) whose X-Strangler-Dry-Run the shop honours:
# the facade's address. See shop/core/dry_run.py.
DRY_RUN_TRUSTED_NETWORKS = [
    n.strip()
    for n in os.environ.get("DRY_RUN_TRUSTED_NETWORKS", "127.0.0.0/8,::1/128").split(",")
    if n.strip()
]

# Peers (socket address) allowed to ask GET /_internal/identity: the facade's address.
# See shop/customers/identity.py.
IDENTITY_TRUSTED_NETWORKS = [
    n.strip()
    for n in os.environ.get("IDENTITY_TRUSTED_NETWORKS", "127.0.0.0/8,::1/128").split(",")
    if n.strip()
]

# Where staff edit products once the catalog service owns catalog writes (step 4): the
# read-only product admin links there.
CATALOG_STAFF_URL = os.environ.get("CATALOG_STAFF_URL", "/v2/products")

# Capabilities whose monolith code path is switched off (step 6): their API routes leave the
# URL config and their admin pages turn read-only. Comma-separated: catalog, orders.
SHOP_RETIRED = parse_retired(os.environ.get("SHOP_RETIRED"))

# Once the orders service owns checkout (step 5): where staff find orders (the read-only
# order admin links there), and the public address the storefront's checkout page sends
# its order to (POST /api/checkout/ through the facade, see shop/storefront/delegation.py).
ORDERS_STAFF_URL = os.environ.get("ORDERS_STAFF_URL") or (
    os.environ.get("ORDERS_URL", "http://127.0.0.1:8002") + "/docs"
)
FACADE_URL = os.environ.get("FACADE_URL", "http://127.0.0.1:8080").rstrip("/")
# Below gunicorn's worker timeout (30 s): the saga answers within its own deadline or not.
FACADE_CHECKOUT_TIMEOUT = float(os.environ.get("FACADE_CHECKOUT_TIMEOUT", "25"))

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "shop" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.cart.context_processors.cart",
            ],
        },
    },
]

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/shop"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"  # the legacy schema uses 32-bit ids

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# The legacy shop stores naive local times (see monolith/README.md).
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = False

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATICFILES_DIRS = [BASE_DIR / "shop" / "static"]
WHITENOISE_USE_FINDERS = True  # serve admin CSS without a collectstatic step
# Without a collected STATIC_ROOT (a checkout, the test suite) look files up per request.
WHITENOISE_AUTOREFRESH = DEBUG or not STATIC_ROOT.is_dir()

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns "not logged in" into 401, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "PAGE_SIZE": 20,
    # Legacy wire format: naive local time, seconds precision, no offset.
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S",
    "COERCE_DECIMAL_TO_STRING": True,
    "EXCEPTION_HANDLER": "shop.api.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# JSON lines on stdout with request and trace ids (LOG_FORMAT=console for a human format);
# gunicorn.conf.py gives gunicorn's own loggers the same document.
LOGGING = logging_config("monolith", os.environ.get("LOG_LEVEL") or "INFO")

# The simulated payment gateway (see shop/payments/gateway.py).
PAYMENT_DECLINED_CARD = "4000000000000002"

# Shop rules that the legacy code kept in settings.
SHOP_CURRENCIES = ("EUR", "USD", "GBP", "CHF")
SHOP_DEFAULT_CURRENCY = "EUR"
SHOP_MAX_LINE_QUANTITY = 999  # per cart line; larger quantities are a client error
# Problem details (RFC 9457) "type" URIs are this prefix plus a slug, e.g. .../insufficient-stock
PROBLEM_TYPE_BASE = os.environ.get("PROBLEM_TYPE_BASE", "https://shop.example.com/problems/")
CSRF_FAILURE_VIEW = "shop.core.errorviews.csrf_failure"

# Contract tests only: the Pact provider-state endpoint POST /_pact/provider-states
# (shop/pact_states), answering on loopback only. It wipes and seeds catalog data, so it
# refuses to exist outside local.
PACT_PROVIDER_STATES = env_bool("PACT_PROVIDER_STATES", default=False)
if PACT_PROVIDER_STATES and ENVIRONMENT != "local":
    raise ImproperlyConfigured("PACT_PROVIDER_STATES is for contract tests; SHOP_ENV is not local")
if PACT_PROVIDER_STATES:
    INSTALLED_APPS.append("shop.pact_states")
