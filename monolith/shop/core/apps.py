from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting bits: domain errors, the legacy clock, health checks, the seed command,
    the read-only admins of retired capabilities."""

    name = "shop.core"
    label = "core"

    def ready(self) -> None:
        # django.contrib.admin comes first in INSTALLED_APPS: every admin is registered by
        # now. The wrappers check SHOP_RETIRED per request.
        from shop.core import retired_admin

        retired_admin.install()
