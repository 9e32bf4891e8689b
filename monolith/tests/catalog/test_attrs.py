from hypothesis import given
from hypothesis import strategies as st
from shop.catalog.attrs import attrs_errors, format_attrs, parse_attrs


def test_empty_string_means_no_attributes():
    assert parse_attrs("") == {}
    assert parse_attrs(None) == {}


def test_values_keep_inner_spaces_and_equals():
    assert parse_attrs("color=dark red;formula=a=b") == {"color": "dark red", "formula": "a=b"}


def test_legacy_oddities():
    raw = "fragile;color = dark red ;;note=handle with care; "
    assert parse_attrs(raw) == {"color": "dark red", "note": "handle with care"}


def test_last_key_wins_and_empty_keys_are_skipped():
    assert parse_attrs("a=1;a=2;=x") == {"a": "2"}


def test_validation_rejects_separators():
    assert attrs_errors({"a;b": "1"})
    assert attrs_errors({"a": "x;y"})
    assert attrs_errors({"": "x"})
    assert attrs_errors({"ok": "fine value"}) == []


keys = (
    st.text(st.characters(blacklist_characters=";=", blacklist_categories=("Cs",)), min_size=1)
    .map(str.strip)
    .filter(bool)
)
values = st.text(st.characters(blacklist_characters=";", blacklist_categories=("Cs",))).map(
    str.strip
)


@given(st.dictionaries(keys, values, max_size=6))
def test_format_then_parse_round_trips(attributes):
    assert parse_attrs(format_attrs(attributes)) == attributes
