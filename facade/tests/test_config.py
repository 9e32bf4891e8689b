from pathlib import Path

import pytest
from facade.config import ConfigError, load_config, parse_config, parse_text

EXAMPLE = Path(__file__).resolve().parents[1] / "routes.example.yaml"


def base(**route: object) -> dict:
    r = {"id": "products", "path": "/api/products/**", "upstream": "catalog", "mode": "monolith"}
    r.update(route)
    return {
        "upstreams": {
            "monolith": {"instances": "http://m:8000"},
            "catalog": {"instances": "http://c:8001"},
        },
        "routes": [r, {"id": "default", "path": "/**", "upstream": "monolith"}],
    }


def problems(doc: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, env={})
    return info.value.problems


def test_example_file_is_valid_and_interpolates_env() -> None:
    config = load_config(EXAMPLE, env={"MONOLITH_URL": "http://monolith:8000"})
    assert config.upstreams["monolith"].instances == ["http://monolith:8000"]
    assert config.upstreams["catalog"].instances == ["http://127.0.0.1:8001"]
    ids = [r.id for r in config.routes]
    assert ids == ["catalog-products", "catalog-categories", "default"]
    assert {r.mode for r in config.routes} == {"monolith"}


def test_instance_list_from_comma_separated_env() -> None:
    doc = base()
    doc["upstreams"]["monolith"]["instances"] = "${MONO}"
    config = parse_config(doc, env={"MONO": "http://a:1, http://b:2"})
    assert config.upstreams["monolith"].instances == ["http://a:1", "http://b:2"]


def test_missing_env_without_default_is_named() -> None:
    doc = base()
    doc["upstreams"]["monolith"]["instances"] = "${NOPE_URL}"
    assert problems(doc) == [
        "upstreams.monolith.instances: environment variable NOPE_URL is not set"
    ]


def test_errors_name_route_field_and_reason() -> None:
    assert problems(base(mode="canary")) == [
        "routes[products].percent: canary needs a percent between 0 and 100"
    ]
    assert problems(base(mode="sideways")) == [
        "routes[products].mode: Input should be 'monolith', 'shadow', 'canary' or 'extracted'"
    ]
    assert problems(base(upstream="nowhere")) == [
        "routes[products].upstream: unknown upstream 'nowhere'"
    ]
    assert problems(base(path="/api/{x:path}/y")) == [
        "routes[products].path: {x:path} must be the last segment"
    ]
    assert problems(base(colour="red")) == ["routes[products].colour: unknown field"]
    assert problems(base(methods=["FETCH"])) == [
        "routes[products].methods: unknown HTTP method(s) FETCH"
    ]


def test_default_route_is_mandatory_and_catches_all() -> None:
    doc = base()
    doc["routes"] = doc["routes"][:1]
    assert problems(doc) == ["routes: a route with id 'default' (path '/**') is mandatory"]
    doc = base()
    doc["routes"][1]["path"] = "/api/**"
    assert problems(doc) == [
        "routes[default].path: the default route must match everything ('/**')"
    ]


def test_candidate_must_differ_from_fallback_and_ids_unique() -> None:
    doc = base(mode="extracted", upstream="monolith")
    assert "needs a candidate upstream different from the fallback 'monolith'" in problems(doc)[0]
    doc = base()
    doc["routes"].insert(0, dict(doc["routes"][0]))
    assert problems(doc) == ["routes[products].id: duplicate route id"]


def test_pools_need_a_valid_active_pool_and_urls_are_origins() -> None:
    doc = base()
    doc["upstreams"]["catalog"] = {
        "pools": {"blue": "http://b:1", "green": "http://g:1"},
        "active_pool": "red",
    }
    assert problems(doc) == ["upstreams[catalog].active_pool: 'red' is not a pool (blue, green)"]
    doc["upstreams"]["catalog"]["active_pool"] = "green"
    assert parse_config(doc, env={}).upstreams["catalog"].active_instances() == ["http://g:1"]
    doc = base()
    doc["upstreams"]["catalog"]["instances"] = "ftp://c/x"
    assert problems(doc) == [
        "upstreams[catalog].instances: 'ftp://c/x' must be an http:// or https:// URL"
    ]


def test_yaml_syntax_error_has_a_line_number() -> None:
    with pytest.raises(ConfigError, match=r"r.yaml: line 3 column 1: invalid YAML"):
        parse_text("upstreams:\n  - [unclosed\n", env={}, source="r.yaml")
