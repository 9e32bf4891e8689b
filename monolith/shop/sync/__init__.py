"""The reverse syncs: the catalog service's product events (step 4) and the orders service's
order events (step 5) -> the legacy tables. One Celery app, ``shop.sync.consumer``."""
