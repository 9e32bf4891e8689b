import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_are_complete():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_legacy_table_and_column_names():
    from django.db import connection

    with connection.cursor() as cursor:
        columns = {
            table: {c.name for c in connection.introspection.get_table_description(cursor, table)}
            for table in [
                "shop_product",
                "shop_category",
                "shop_stockmove",
                "shop_order",
                "shop_orderline",
                "shop_payment",
                "shop_cart",
                "shop_cartitem",
                "shop_customer",
                "shop_address",
            ]
        }
    assert {
        "id",
        "sku",
        "nm",
        "descr",
        "cat_id",
        "prc",
        "cur",
        "st",
        "qty",
        "attrs",
        "wt",
        "created",
        "updated",
    } <= columns["shop_product"]
    assert {"id", "name", "slug", "parent_id", "sort_order"} <= columns["shop_category"]
    assert {"product_id", "delta", "reason", "ref", "created"} <= columns["shop_stockmove"]
    assert {"user_id", "email", "status", "total", "cur", "created", "updated"} <= columns[
        "shop_order"
    ]
    assert {"order_id", "product_id", "sku", "name", "unit_price", "qty"} <= columns[
        "shop_orderline"
    ]
    assert {
        "order_id",
        "amount",
        "cur",
        "status",
        "gateway_ref",
        "idempotency_key",
        "created",
    } <= columns["shop_payment"]
    assert {"session_key", "user_id"} <= columns["shop_cart"]
    assert {"user_id", "phone", "marketing_opt_in"} <= columns["shop_customer"]
    assert {
        "customer_id",
        "name",
        "line1",
        "line2",
        "city",
        "zip",
        "country",
        "is_default",
    } <= columns["shop_address"]
