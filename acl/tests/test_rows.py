from __future__ import annotations

from acl.catalog import quirks
from acl.catalog.domain import Category, Product
from acl.catalog.legacy import LegacyCategoryRow, LegacyProductRow
from acl.catalog.rows import category_from_row, category_to_row, product_from_row, product_to_row
from acl.testing import category_rows, product_rows, products
from hypothesis import given


@given(product_rows())
def test_row_to_domain_to_row_is_the_identity(row: LegacyProductRow) -> None:
    assert product_to_row(product_from_row(row)) == row


@given(products())
def test_domain_to_row_to_domain_is_the_identity(product: Product) -> None:
    assert product_from_row(product_to_row(product), version=product.version) == product


@given(product_rows())
def test_translated_products_are_canonical(row: LegacyProductRow) -> None:
    product = product_from_row(row, version=3)
    assert product.version == 3
    assert product.sku == row["sku"].strip().upper()
    assert product.price.to_decimal() == row["prc"]
    assert product.created_at.utcoffset() is not None
    assert (product.description is None) == (row["descr"] == "")
    assert product.in_stock == (row["qty"] > 0)
    assert quirks.pack_attrs(product.attributes) == row["attrs"]


@given(category_rows())
def test_category_rows_round_trip(row: LegacyCategoryRow) -> None:
    category = category_from_row(row, version=2)
    assert isinstance(category, Category)
    assert category_to_row(category) == row
