from django.conf import settings
from django.urls import path, re_path

from shop.api.problems import api_not_found
from shop.cart import apis as cart
from shop.catalog import apis as catalog
from shop.core.retirement import retired_route_names
from shop.customers import apis as auth
from shop.orders import apis as orders

app_name = "api"

urlpatterns = [
    path("products/", catalog.ProductListApi.as_view(), name="product-list"),
    path("products/<int:product_id>/", catalog.ProductDetailApi.as_view(), name="product-detail"),
    path("products/sku/<str:sku>/", catalog.ProductBySkuApi.as_view(), name="product-by-sku"),
    path("categories/", catalog.CategoryListApi.as_view(), name="category-list"),
    path("categories/<slug:slug>/", catalog.CategoryDetailApi.as_view(), name="category-detail"),
    path("cart/", cart.CartApi.as_view(), name="cart"),
    path("cart/items/", cart.CartItemsApi.as_view(), name="cart-items"),
    path("cart/items/<int:product_id>/", cart.CartItemApi.as_view(), name="cart-item"),
    path("checkout/", orders.CheckoutApi.as_view(), name="checkout"),
    path("orders/", orders.OrderListApi.as_view(), name="order-list"),
    path("orders/<int:order_id>/", orders.OrderDetailApi.as_view(), name="order-detail"),
    path("auth/login/", auth.LoginApi.as_view(), name="login"),
    path("auth/logout/", auth.LogoutApi.as_view(), name="logout"),
    path("auth/token/", auth.TokenApi.as_view(), name="token"),
    path("auth/me/", auth.MeApi.as_view(), name="me"),
    # Anything else under /api/ is a problem+json 404 (also with DEBUG on, and without
    # the APPEND_SLASH redirect that would turn a POST into a GET).
    re_path(r"^.*$", api_not_found),
]

# Retired capabilities (step 6, SHOP_RETIRED) leave the URL config: the facade sends their
# paths to the services, so only a misrouted call still lands here, on the catch-all 404.
_retired = retired_route_names(settings.SHOP_RETIRED)
urlpatterns = [p for p in urlpatterns if f"{app_name}:{p.name}" not in _retired]
