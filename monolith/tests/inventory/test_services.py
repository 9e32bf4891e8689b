import pytest
from django.db.models import Sum
from shop.catalog.models import Product
from shop.core.errors import InsufficientStock, NotFound, ValidationFailed
from shop.inventory import services
from shop.inventory.models import StockMove


def ledger(product):
    return StockMove.objects.filter(product=product).aggregate(s=Sum("delta"))["s"] or 0


@pytest.mark.django_db
class TestStock:
    def test_reserve_and_release_write_moves(self, product):
        assert services.stock_reserve(product_id=product.pk, quantity=3, ref="order:1") == 4
        assert services.stock_release(product_id=product.pk, quantity=1, ref="order:1") == 5
        reasons = list(
            StockMove.objects.filter(product=product).order_by("id").values_list("reason", "delta")
        )
        assert reasons == [("initial", 7), ("sale", -3), ("cancel", 1)]
        assert ledger(product) == Product.objects.get(pk=product.pk).qty

    def test_reserve_more_than_on_hand_changes_nothing(self, product):
        with pytest.raises(InsufficientStock) as info:
            services.stock_reserve(product_id=product.pk, quantity=8, ref="x")
        assert info.value.available == 7
        assert Product.objects.get(pk=product.pk).qty == 7
        assert StockMove.objects.filter(product=product).count() == 1

    def test_reserve_exactly_all(self, product):
        assert services.stock_reserve(product_id=product.pk, quantity=7, ref="x") == 0

    @pytest.mark.parametrize("quantity", [0, -1, 1.5, True, "2"])
    def test_quantity_must_be_positive_int(self, product, quantity):
        with pytest.raises(ValidationFailed):
            services.stock_reserve(product_id=product.pk, quantity=quantity, ref="x")

    def test_unknown_product(self, db):
        with pytest.raises(NotFound):
            services.stock_adjust(product_id=999999, delta=-1, ref="x")
        with pytest.raises(NotFound):
            services.stock_set(product_id=999999, quantity=1, ref="x")

    def test_adjust_updates_timestamp(self, product):
        before = product.updated
        services.stock_adjust(product_id=product.pk, delta=2, ref="count")
        assert Product.objects.get(pk=product.pk).updated >= before

    def test_set_absolute(self, product):
        assert services.stock_set(product_id=product.pk, quantity=0, ref="stocktake") == 0
        assert ledger(product) == 0
        with pytest.raises(ValidationFailed):
            services.stock_set(product_id=product.pk, quantity=-1, ref="x")

    def test_reserve_many_is_all_or_nothing(self, make_product):
        a, b = make_product(stock=5), make_product(stock=1)
        with pytest.raises(InsufficientStock):
            services.stock_reserve_many(lines=[(a.pk, 2), (b.pk, 2)], ref="o")
        assert Product.objects.get(pk=a.pk).qty == 5

    def test_bulk_restock_one_update(self, make_product, django_assert_max_num_queries):
        products = [make_product(stock=1) for _ in range(4)]
        with django_assert_max_num_queries(5):
            changed = services.stock_bulk_restock(
                product_ids=[p.pk for p in products] + [999999], quantity=10, ref="admin:x"
            )
        assert changed == 4
        for p in products:
            assert Product.objects.get(pk=p.pk).qty == 11
            assert ledger(p) == 11
