from django.urls import path

from shop.participants import apis

# Included under /_internal/ (shop/urls.py); the orders service calls these, never a browser.
urlpatterns = [
    path("checkout/cart", apis.CheckoutCartApi.as_view(), name="internal-checkout-cart"),
    path("checkout/cart/clear", apis.CartClearApi.as_view(), name="internal-checkout-cart-clear"),
    path(
        "inventory/reservations",
        apis.ReservationApi.as_view(),
        name="internal-inventory-reservations",
    ),
    path("inventory/releases", apis.ReleaseApi.as_view(), name="internal-inventory-releases"),
]
