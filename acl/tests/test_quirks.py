from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from acl.catalog import quirks
from acl.catalog.domain import Attribute, Money, ProductStatus
from acl.catalog.rows import product_from_row
from acl.errors import FieldProblem

from acl import UntranslatableRecord


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": 12,
        "sku": "SKU-000012",
        "nm": "Mug",
        "descr": "",
        "cat_id": 3,
        "prc": Decimal("12.50"),
        "cur": "EUR",
        "st": "A",
        "qty": 7,
        "attrs": "color=red",
        "wt": 250,
        "created": datetime(2024, 5, 1, 10, 0),
        "updated": datetime(2024, 5, 1, 10, 0),
    }
    base.update(overrides)
    return base


def test_a_clean_row_translates() -> None:
    product = product_from_row(row())
    assert product.sku == "SKU-000012"
    assert product.legacy_sku is None
    assert product.price == Money(1250, "EUR")
    assert product.status is ProductStatus.ACTIVE
    assert product.description is None
    assert product.attributes == (Attribute("color", "red"),)
    assert product.created_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["sku-12", "  SKU-12 ", " sku-12"])
def test_old_skus_are_canonicalised_and_the_raw_spelling_kept(raw: str) -> None:
    product = product_from_row(row(sku=raw))
    assert product.sku == "SKU-12"
    assert product.legacy_sku == raw
    assert product.sku_as_legacy == raw


@pytest.mark.parametrize("raw", ["eur", "EUR", "eur ", "Eur"])
def test_currency_spellings(raw: str) -> None:
    product = product_from_row(row(cur=raw))
    assert product.price.currency == "EUR"
    assert product.currency_as_legacy == raw


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("cur", "XXX", "ISO 4217"),
        ("cur", "", "ISO 4217"),
        ("prc", Decimal("-1.00"), "negative"),
        ("prc", Decimal("NaN"), "finite"),
        ("prc", Decimal("1.005"), "two decimals"),
        ("prc", Decimal("100000000.00"), "numeric(10,2)"),
        ("st", "X", "'A', 'H', 'D'"),
        ("st", "a", "'A', 'H', 'D'"),
        ("descr", None, "''"),
        ("sku", "   ", "empty"),
        ("wt", -5, ">= 0"),
        ("qty", "7", "integer"),
        ("cat_id", True, "integer"),
        ("created", datetime(2024, 3, 31, 2, 30), "DST gap"),
        ("attrs", "color", "malformed"),
        ("attrs", "=red", "malformed"),
        ("attrs", "a=1;a=2", "repeated"),
        ("attrs", None, "packed"),
    ],
)
def test_untranslatable_rows_name_field_and_reason(
    field: str, value: object, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="acl"), pytest.raises(UntranslatableRecord) as exc:
        product_from_row(row(**{field: value}))
    assert exc.value.field == field
    assert reason in exc.value.reason
    assert exc.value.record == "shop_product"
    assert exc.value.record_id == 12
    assert any("untranslatable shop_product" in r.getMessage() for r in caplog.records)


def test_yen_with_cents_is_refused() -> None:
    with pytest.raises(UntranslatableRecord, match="more decimals than JPY"):
        product_from_row(row(cur="JPY", prc=Decimal("12.50")))
    assert product_from_row(row(cur="JPY", prc=Decimal("1200.00"))).price == Money(1200, "JPY")


def test_missing_column_and_bad_id() -> None:
    broken = row()
    del broken["attrs"]
    with pytest.raises(UntranslatableRecord, match="attrs"):
        product_from_row(broken)
    with pytest.raises(UntranslatableRecord) as exc:
        product_from_row(row(id=0))
    assert exc.value.field == "id"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        ("color=red", (("color", "red"),)),
        ("a=1;;b=2;", (("a", "1"), ("b", "2"))),
        (" size = large box ;x=a=b", (("size", "large box"), ("x", "a=b"))),
        ("note=", (("note", ""),)),
    ],
)
def test_attrs_parsing_matches_the_monolith(
    raw: str, expected: tuple[tuple[str, str], ...]
) -> None:
    assert quirks.parse_attrs(raw) == tuple(Attribute(k, v) for k, v in expected)


def test_legacy_attrs_policy_reads_like_the_monolith_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="acl"):
        parsed = quirks.parse_attrs("a=1;junk;=x;a=2;b=3", policy=quirks.AttrsPolicy.LEGACY)
    assert parsed == (Attribute("a", "2"), Attribute("b", "3"))
    assert len(caplog.records) == 3


def test_pack_refuses_what_cannot_round_trip() -> None:
    for key, value in [
        ("a;b", "1"),
        ("a=b", "1"),
        (" a", "1"),
        ("", "1"),
        ("a", "x;y"),
        ("a", " x"),
    ]:
        with pytest.raises(FieldProblem):
            quirks.pack_attrs([Attribute(key, value)])


def test_dst_ambiguous_time_reads_as_the_first_occurrence() -> None:
    # 2024-10-27 02:30 happened twice in Berlin (CEST then CET); we read the first.
    utc = quirks.local_to_utc(datetime(2024, 10, 27, 2, 30), "created")
    assert utc == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert quirks.utc_to_local(utc, "created") == datetime(2024, 10, 27, 2, 30)
    # the second occurrence maps to the same wall-clock value (the legacy side cannot tell)
    later = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert quirks.utc_to_local(later, "created") == datetime(2024, 10, 27, 2, 30)


def test_microseconds_survive() -> None:
    naive = datetime(2024, 5, 1, 10, 0, 0, 123456)
    assert quirks.utc_to_local(quirks.local_to_utc(naive, "t"), "t") == naive


def test_parse_local_iso_refuses_other_spellings() -> None:
    assert quirks.parse_local_iso("2024-05-01T10:00:00", "c") == datetime(2024, 5, 1, 10)
    for bad in ["2024-05-01 10:00:00", "2024-05-01T10:00:00Z", "2024-05-01T10:00", "yesterday", 5]:
        with pytest.raises(FieldProblem):
            quirks.parse_local_iso(bad, "c")


def test_a_timestamptz_value_read_from_the_table_is_an_exact_instant() -> None:
    # Django's columns are timestamptz even with USE_TZ=False: read straight from the
    # table, the second 02:30 of 2024-10-27 (CET) is not confused with the first.
    from zoneinfo import ZoneInfo

    second = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin"))
    assert quirks.local_to_utc(second, "created") == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
