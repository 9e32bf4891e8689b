"""The extracted orders service: event-sourced orders, the checkout saga, legacy-compatible API."""
