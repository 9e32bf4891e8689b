from decimal import Decimal

import pytest
from shop.catalog.models import Product
from shop.catalog.services import (
    category_create,
    category_update,
    product_bulk_set_status,
    product_create,
    product_delete,
    product_set_status,
    product_update,
)
from shop.core.errors import Conflict, DuplicateSku, ValidationFailed
from shop.inventory.models import StockMove


@pytest.mark.django_db
class TestProductCreate:
    def test_normalises_sku_and_currency_and_packs_attributes(self, categories):
        product = product_create(
            sku="  mug-1 ",
            name=" Mug ",
            price="3.5",
            currency="eur",
            category=categories["mugs"],
            attributes={"color": "dark red", "size": 2},
            weight_grams=300,
        )
        assert product.sku == "MUG-1"
        assert product.nm == "Mug"
        assert product.prc == Decimal("3.50")
        assert product.cur == "EUR"
        assert product.attrs == "color=dark red;size=2"
        assert product.descr == ""
        assert product.created.tzinfo is None  # naive local time

    def test_initial_stock_is_a_stock_move(self):
        product = product_create(sku="S-1", name="x", price=1, stock=5, actor="tester")
        assert product.qty == 5
        move = StockMove.objects.get(product=product)
        assert (move.delta, move.reason, move.ref) == (5, "initial", "tester")

    def test_without_stock_writes_no_move(self):
        product = product_create(sku="S-2", name="x", price=1)
        assert product.qty == 0
        assert not StockMove.objects.filter(product=product).exists()

    @pytest.mark.parametrize(
        ("field", "kwargs"),
        [
            ("price", {"price": "-1"}),
            ("price", {"price": "1.234"}),
            ("price", {"price": "abc"}),
            ("price", {"price": "NaN"}),
            ("price", {"price": "100000000"}),
            ("currency", {"currency": "XYZ"}),
            ("currency", {"currency": "EURO"}),
            ("sku", {"sku": "   "}),
            ("sku", {"sku": "A" * 33}),
            ("sku", {"sku": "HAS SPACE"}),
            ("name", {"name": ""}),
            ("status", {"status": "X"}),
            ("attributes", {"attributes": {"a": "x;y"}}),
            ("weight_grams", {"weight_grams": -5}),
            ("stock", {"stock": -1}),
        ],
    )
    def test_invalid_input(self, field, kwargs):
        fields = {"sku": "OK-1", "name": "x", "price": "1.00", **kwargs}
        with pytest.raises(ValidationFailed) as info:
            product_create(**fields)
        assert field in info.value.errors
        assert not Product.objects.exists()

    def test_duplicate_sku_compares_normalised(self):
        product_create(sku="DUP-1", name="x", price=1)
        with pytest.raises(DuplicateSku) as info:
            product_create(sku=" dup-1", name="y", price=1)
        assert info.value.status == 409
        assert "sku" in info.value.errors

    def test_duplicate_against_legacy_lower_case_row(self):
        Product.objects.create(sku=" old-1 ", nm="legacy", prc=1)
        with pytest.raises(DuplicateSku):
            product_create(sku="OLD-1", name="new", price=1)


@pytest.mark.django_db
class TestProductUpdate:
    def test_changes_only_given_fields(self, product):
        before = product.updated
        updated = product_update(product=product, price="9.99", attributes={"color": "blue"})
        assert updated.prc == Decimal("9.99")
        assert updated.attrs == "color=blue"
        assert updated.nm == "Red Mug"
        assert updated.updated >= before

    def test_category_can_be_cleared(self, product):
        assert product_update(product=product, category=None).category is None

    def test_stock_is_a_stock_take(self, product):
        updated = product_update(product=product, stock=3, actor="api")
        assert updated.qty == 3
        move = StockMove.objects.filter(product=product).first()
        assert (move.delta, move.reason) == (-4, "adjust")

    def test_legacy_sku_kept_when_unchanged(self):
        legacy = Product.objects.create(sku=" abc-1 ", nm="legacy", prc=1)
        updated = product_update(product=legacy, sku="ABC-1", name="renamed")
        assert updated.sku == " abc-1 "
        assert updated.nm == "renamed"

    def test_sku_change_to_taken_sku(self, make_product):
        a, b = make_product(sku="A-1"), make_product(sku="B-1")
        with pytest.raises(DuplicateSku):
            product_update(product=b, sku="a-1")
        assert Product.objects.get(pk=a.pk).sku == "A-1"

    def test_negative_price_rejected(self, product):
        with pytest.raises(ValidationFailed):
            product_update(product=product, price=-1)
        product.refresh_from_db()
        assert product.prc == Decimal("12.50")


@pytest.mark.django_db
class TestStatus:
    def test_soft_delete(self, product):
        product_delete(product=product)
        product.refresh_from_db()
        assert product.st == "D"
        assert Product.objects.filter(pk=product.pk).exists()

    def test_set_status_validates(self, product):
        with pytest.raises(ValidationFailed):
            product_set_status(product=product, status="Z")
        assert product_set_status(product=product, status="H").st == "H"

    def test_bulk_set_status_is_one_update(self, make_product, django_assert_max_num_queries):
        ids = [make_product().pk for _ in range(5)]
        # savepoint, the write-freeze flag, ONE UPDATE ... RETURNING, ONE outbox statement
        # for all rows, release
        with django_assert_max_num_queries(5):
            changed = product_bulk_set_status(product_ids=ids, status="H")
        assert changed == 5
        assert set(Product.objects.filter(pk__in=ids).values_list("st", flat=True)) == {"H"}
        assert product_bulk_set_status(product_ids=ids, status="H") == 0
        assert product_bulk_set_status(product_ids=[], status="H") == 0


@pytest.mark.django_db
class TestCategories:
    def test_slug_derived_and_unique(self):
        category = category_create(name="Tea Cups")
        assert category.slug == "tea-cups"
        with pytest.raises(Conflict):
            category_create(name="Tea cups")

    def test_blank_name(self):
        with pytest.raises(ValidationFailed):
            category_create(name=" ")

    def test_no_cycles(self, categories):
        with pytest.raises(ValidationFailed) as info:
            category_update(category=categories["kitchen"], parent=categories["mugs"])
        assert "parent" in info.value.errors

    def test_update(self, categories):
        updated = category_update(category=categories["garden"], name="Outdoor", slug="outdoor")
        assert (updated.name, updated.slug) == ("Outdoor", "outdoor")
