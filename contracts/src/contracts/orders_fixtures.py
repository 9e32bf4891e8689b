"""The fixed values the orders pacts and their provider states share.

A guest is a session cookie, a signed-in customer an API token: both are data the
provider states create under exactly these values, so the replayed requests find them.
"""

from __future__ import annotations

SESSION_COOKIE = "sessionid"
GUEST_SESSION = "pactguestsession00000000000000001"
CUSTOMER_ID = 7
CUSTOMER_TOKEN = "0123456789abcdef0123456789abcdef01234567"
CUSTOMER_EMAIL = "ada@example.com"
CUSTOMER_ORDER_ID = 1_000_000_042
PRODUCT_ID = 42
PRODUCT_SKU = "SKU-0042"
CART_ID = 5
DECLINED_CARD = "4000 0000 0000 0002"
APPROVED_CARD = "4242 4242 4242 4242"
