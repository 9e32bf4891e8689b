import hashlib

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from shop.catalog.models import Category, Product
from shop.inventory.models import StockMove
from shop.orders.models import Order


def snapshot() -> str:
    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        for query in [
            "SELECT id, name, slug, parent_id, sort_order FROM shop_category ORDER BY id",
            "SELECT id, sku, nm, descr, cat_id, prc, cur, st, qty, attrs, wt, created, updated"
            " FROM shop_product ORDER BY id",
            "SELECT o.id, u.username, o.status, o.total, o.created FROM shop_order o"
            " JOIN auth_user u ON u.id = o.user_id ORDER BY o.id",
            "SELECT order_id, product_id, sku, unit_price, qty FROM shop_orderline ORDER BY id",
            "SELECT order_id, amount, status, idempotency_key FROM shop_payment ORDER BY id",
            "SELECT username, email, is_staff, is_superuser FROM auth_user ORDER BY id",
        ]:
            cursor.execute(query)
            digest.update(repr(cursor.fetchall()).encode())
    return digest.hexdigest()


@pytest.mark.django_db
def test_seed_is_deterministic_and_idempotent(capsys):
    # --reset restarts the id sequences, so ids are comparable whatever ran before
    call_command("seed_shop", "--products", "300", "--seed", "7", "--reset")
    assert "Seeded" in capsys.readouterr().out
    first = snapshot()
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_shop", "--products", "300", "--seed", "7")
    assert snapshot() == first
    call_command("seed_shop", "--products", "300", "--seed", "7", "--reset")
    assert snapshot() == first
    call_command("seed_shop", "--products", "300", "--seed", "8", "--reset")
    assert snapshot() != first


@pytest.mark.django_db
def test_seed_content():
    call_command("seed_shop", "--products", "500", "--seed", "1")
    assert 25 <= Category.objects.count() <= 35
    assert Category.objects.filter(parent__parent__isnull=False).exists()  # three levels
    assert Product.objects.count() == 500
    statuses = set(Product.objects.values_list("st", flat=True))
    assert statuses == {"A", "H", "D"}
    assert Product.objects.filter(sku="sku-000003").exists()
    assert Product.objects.filter(sku=" sku-000007 ").exists()
    assert Product.objects.filter(cur="eur").exists()
    assert Product.objects.filter(attrs="").exists()
    assert Product.objects.filter(wt__isnull=True).exists()
    # the stock ledger explains every product's qty
    ledger = dict(
        StockMove.objects.values("product_id")
        .annotate(s=Sum("delta"))
        .values_list("product_id", "s")
    )
    for pid, qty in Product.objects.values_list("id", "qty"):
        assert ledger.get(pid, 0) == qty
    assert User.objects.get(username="admin").is_superuser
    staff = User.objects.get(username="staff")
    assert staff.is_staff
    assert staff.has_perm("catalog.change_product")
    assert User.objects.get(username="customer1").check_password("demo-pass-123")
    assert Order.objects.exists()
    assert all(o.lines.exists() and o.payments.exists() for o in Order.objects.all()[:20])
    # the next product created through the service gets a fresh id
    from shop.catalog.services import product_create

    assert product_create(sku="AFTER-SEED", name="x", price=1).pk == 501
