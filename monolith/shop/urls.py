from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from shop.core import health, observability
from shop.customers import identity

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    # Asked by the facade only (trusted peers, never proxied): see shop/customers/identity.py
    path("_internal/identity", identity.identity, name="internal-identity"),
    path("_internal/", include("shop.participants.urls")),  # checkout saga participant
    path("api/", include("shop.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("shop.storefront.urls")),
]

if settings.PACT_PROVIDER_STATES:  # contract tests only (shop/pact_states)
    urlpatterns.insert(0, path("_pact/", include("shop.pact_states.urls")))

handler400 = "shop.core.errorviews.bad_request"
handler403 = "shop.core.errorviews.permission_denied"
handler404 = "shop.core.errorviews.not_found"
handler500 = "shop.core.errorviews.server_error"

admin.site.site_header = "Shop administration"
admin.site.site_title = "Shop admin"
