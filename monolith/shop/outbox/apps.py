from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The transactional outbox: catalog and inventory events, written with the change."""

    name = "shop.outbox"
    label = "shop_outbox"

    # The origin "monolith" travels in each event's headers (``context.event_headers``); a
    # transaction marked with another origin overrides it. The one process-wide setting:
    # a transaction a sync consumer marks (``sync:catalog``, ``sync:orders``; shop.sync)
    # records nothing, whatever code path writes in it, so no applied change echoes back.

    def ready(self) -> None:
        from outbox import configure
        from shop.outbox.context import ORDERS_SYNC_ORIGIN, SYNC_ORIGIN

        configure(suppress_origins={SYNC_ORIGIN, ORDERS_SYNC_ORIGIN})
