from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting bits: domain errors, the legacy clock, health checks, the seed command."""

    name = "shop.core"
    label = "core"
