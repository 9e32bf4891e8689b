from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The transactional outbox: catalog and inventory events, written with the change."""

    name = "shop.outbox"
    label = "shop_outbox"

    # No process-wide ``outbox.configure()``: the origin "monolith" travels in each event's
    # headers (``context.event_headers``), and a transaction marked with another origin
    # (``mark_transaction_origin``, the future reverse sync) still overrides it.
