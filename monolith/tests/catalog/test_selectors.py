import pytest
from shop.catalog import selectors
from shop.catalog.models import Product
from shop.core.errors import NotFound, ValidationFailed


@pytest.mark.django_db
class TestProductList:
    def test_only_active_products_public(self, make_product):
        active = make_product()
        make_product(status="H")
        make_product(status="D")
        assert list(selectors.product_list()) == [active]
        assert selectors.product_list(include_hidden=True).count() == 3

    def test_category_includes_descendants(self, make_product, categories):
        mug = make_product(category=categories["mugs"])
        cup = make_product(category=categories["cups"])
        make_product(category=categories["garden"])
        make_product()
        assert set(selectors.product_list(category_slug="kitchen")) == {mug, cup}
        assert list(selectors.product_list(category_slug="mugs")) == [mug]

    def test_unknown_category(self, categories):
        with pytest.raises(ValidationFailed):
            selectors.product_list(category_slug="nope")

    def test_search_name_sku_description(self, make_product):
        a = make_product(name="Blue Teapot")
        b = make_product(sku="TEA-42")
        c = make_product(description="Great for tea lovers")
        make_product(name="Shovel")
        assert set(selectors.product_list(search="tea")) == {a, b, c}

    def test_ordering(self, make_product):
        cheap = make_product(price="1.00", name="B")
        dear = make_product(price="9.00", name="A")
        assert list(selectors.product_list(ordering="price")) == [cheap, dear]
        assert list(selectors.product_list(ordering="-price")) == [dear, cheap]
        assert list(selectors.product_list(ordering="name")) == [dear, cheap]
        with pytest.raises(ValidationFailed) as info:
            selectors.product_list(ordering="qty")
        assert "ordering" in info.value.errors


@pytest.mark.django_db
class TestProductGet:
    def test_hidden_is_not_found_publicly(self, make_product):
        hidden = make_product(status="H")
        with pytest.raises(NotFound):
            selectors.product_get(product_id=hidden.pk)
        assert selectors.product_get(product_id=hidden.pk, include_hidden=True) == hidden

    def test_sku_lookup_is_case_and_space_insensitive(self):
        legacy = Product.objects.create(sku=" sku-000007 ", nm="legacy", prc=1)
        assert selectors.product_get_by_sku(sku="SKU-000007") == legacy
        assert selectors.product_get_by_sku(sku=" Sku-000007") == legacy
        with pytest.raises(NotFound):
            selectors.product_get_by_sku(sku="SKU-404")

    def test_out_of_range_id_is_not_found(self):
        with pytest.raises(NotFound):
            selectors.product_get(product_id=10**12)


@pytest.mark.django_db
def test_category_paths(categories):
    nodes = {n.slug: n for n in selectors.category_nodes()}
    assert nodes["mugs"].path == "Kitchen / Cups / Mugs"
    assert nodes["kitchen"].parent_id is None
    assert [n.slug for n in selectors.category_nodes()] == ["kitchen", "cups", "mugs", "garden"]
    assert set(selectors.category_descendant_ids(slug="cups")) == {
        categories["cups"].pk,
        categories["mugs"].pk,
    }
