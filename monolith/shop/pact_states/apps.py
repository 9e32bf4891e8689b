from django.apps import AppConfig


class PactStatesConfig(AppConfig):
    name = "shop.pact_states"
    label = "pact_states"
    verbose_name = "Pact provider states (contract tests only)"
