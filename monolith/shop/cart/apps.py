from django.apps import AppConfig


class CartConfig(AppConfig):
    name = "shop.cart"
    label = "cart"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from shop.cart.signals import merge_guest_cart_on_login

        user_logged_in.connect(merge_guest_cart_on_login, dispatch_uid="shop.cart.merge_on_login")
