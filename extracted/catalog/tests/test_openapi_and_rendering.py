from __future__ import annotations

from acl.catalog.legacy_json import render
from catalog_service.entrypoints.cli import OPENAPI_PATH, openapi_document
from hypothesis import given
from hypothesis import strategies as st
from service_kit.rendering import render_json


def test_committed_openapi_matches_the_code() -> None:
    assert OPENAPI_PATH.read_text() == openapi_document(), (
        "extracted/catalog/openapi.json is stale: run `uv run python -m catalog_service openapi`"
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_fast_renderer_is_byte_identical_to_the_drf_reference(value: object) -> None:
    assert render_json(value) == render(value)
