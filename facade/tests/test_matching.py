import pytest
from facade.config import parse_config
from facade.matching import PatternError, RouteTable, compile_pattern


def table(*routes: dict) -> RouteTable:
    doc = {
        "upstreams": {
            "monolith": {"instances": "http://m:1"},
            "catalog": {"instances": "http://c:1"},
        },
        "routes": [*routes, {"id": "default", "path": "/**", "upstream": "monolith"}],
    }
    return RouteTable.build(parse_config(doc, env={}))


def test_recursive_pattern_matches_itself_with_or_without_slash_and_children() -> None:
    p = compile_pattern("/api/products/**")
    for path in ("/api/products", "/api/products/", "/api/products/3/", "/api/products/3/reviews"):
        assert p.match(path) == {}, path
    assert p.match("/api/productsX") is None
    assert p.match("/api/product") is None


def test_parameters_and_types() -> None:
    p = compile_pattern("/api/orders/{order_id:int}/lines/{line}")
    assert p.match("/api/orders/12/lines/ab") == {"order_id": "12", "line": "ab"}
    assert p.match("/api/orders/x/lines/ab") is None
    assert p.match("/api/orders/12/lines/a/b") is None
    assert compile_pattern("/static/{rest:path}").match("/static/css/a.css") == {
        "rest": "css/a.css"
    }


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("api/x", "must start with '/'"),
        ("/a/{x:path}/b", "last segment"),
        ("/a/*/b", "use {name}"),
        ("/a/{x}/{x}", "appears twice"),
        ("/a?b=1", "query"),
    ],
)
def test_bad_patterns_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason):
        compile_pattern(pattern)


def test_first_match_wins_and_default_is_last() -> None:
    t = table(
        {"id": "one", "path": "/api/products/{id:int}/", "upstream": "catalog"},
        {"id": "all", "path": "/api/products/**", "upstream": "catalog"},
    )
    assert t.match("GET", "/api/products/5/")[0].id == "one"
    assert t.match("GET", "/api/products/5/")[1] == {"id": "5"}
    assert t.match("GET", "/api/products/x/")[0].id == "all"
    assert t.match("GET", "/cart/")[0].id == "default"


def test_methods_get_implies_head() -> None:
    t = table(
        {"id": "reads", "path": "/api/products/**", "methods": ["get"], "upstream": "catalog"}
    )
    assert t.match("GET", "/api/products/")[0].id == "reads"
    assert t.match("HEAD", "/api/products/")[0].id == "reads"
    assert t.match("POST", "/api/products/")[0].id == "default"


def test_header_and_cookie_conditions() -> None:
    t = table(
        {
            "id": "beta",
            "path": "/api/**",
            "headers": {"X-Beta": "1"},
            "cookies": {"cohort": "*"},
            "upstream": "catalog",
        }
    )
    headers = {"x-beta": "1", "cookie": "sessionid=abc; cohort=b"}
    assert t.match("GET", "/api/x", headers.get)[0].id == "beta"
    assert t.match("GET", "/api/x", {"x-beta": "1"}.get)[0].id == "default"
    assert t.match("GET", "/api/x", {"cookie": "cohort=b"}.get)[0].id == "default"
