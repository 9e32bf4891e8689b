from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "shop.customers"
    label = "customers"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from shop.customers.identity import mark_revoked

        user_logged_in.connect(mark_revoked, dispatch_uid="shop.customers.identity.login")
        user_logged_out.connect(mark_revoked, dispatch_uid="shop.customers.identity.logout")
