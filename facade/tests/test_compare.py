"""facade.compare: each rule, each normaliser, noise learning and redaction."""

import gzip
import json
from typing import Any

import pytest
from facade.compare import (
    MASK,
    NORMALISERS,
    CompareRules,
    NoiseModel,
    Observed,
    PathPattern,
    RuleError,
    compare,
    field_of,
    learn_noise,
    register_normaliser,
)
from facade.redact import mask_body, mask_target, redact_diffs, redact_headers
from hypothesis import given
from hypothesis import strategies as st

JSON = [(b"content-type", b"application/json")]


def obs(body: Any, status: int = 200, headers: Any = None) -> Observed:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Observed(status, JSON if headers is None else headers, raw)


def diffs(a: Any, b: Any, **rules: Any) -> list[tuple[str, str, str | None, str | None]]:
    result = compare(obs(a), obs(b), CompareRules.build(**rules))
    return [(d.path, d.kind, d.primary, d.candidate) for d in result.diffs]


def test_equal_bodies_match() -> None:
    doc = {"results": [{"id": 1, "price": "12.50"}], "count": 1}
    assert compare(obs(doc), obs(doc)).matched


def test_structural_diffs_with_paths_and_kinds() -> None:
    a = {"results": [{"id": 1, "price": "12.50", "name": "Mug"}], "count": 1, "flag": True}
    b = {"results": [{"id": 1, "price": "12.49", "sku": "M"}], "count": "1", "flag": 1}
    assert diffs(a, b) == [
        ("$.results[0].price", "changed", "12.50", "12.49"),
        ("$.results[0].name", "missing-in-candidate", "Mug", None),
        ("$.results[0].sku", "extra-in-candidate", None, "M"),
        ("$.count", "type-changed", "1", "1"),
        ("$.flag", "type-changed", "true", "1"),
    ]


def test_arrays_by_position_report_missing_and_extra_elements() -> None:
    assert diffs([1, 2, 3], [1, 2]) == [("$[2]", "missing-in-candidate", "3", None)]
    assert diffs([1], [1, {"a": 1}]) == [("$[1]", "extra-in-candidate", None, '{"a":1}')]


def test_odd_keys_are_quoted_in_paths() -> None:
    assert diffs({"a b": 1}, {"a b": 2})[0][0] == '$["a b"]'


def test_status_and_chosen_headers() -> None:
    a = Observed(200, [(b"content-type", b"application/json"), (b"x-v", b"1")], b"{}")
    b = Observed(
        404, [(b"Content-Type", b"application/json; charset=utf-8"), (b"x-v", b"2")], b"{}"
    )
    result = compare(a, b, CompareRules.build(headers=["content-type"]))
    assert [(d.path, d.kind) for d in result.diffs] == [
        ("status", "status"),
        ("header:content-type", "header"),
    ]
    # x-v is not compared unless named; content-type ignores case and spaces
    same_type = Observed(200, [(b"content-type", b"Application/JSON")], b"{}")
    assert compare(a, same_type).matched


def test_secret_header_values_never_appear() -> None:
    a = Observed(200, [(b"set-cookie", b"sessionid=abc")], b"")
    b = Observed(200, [(b"set-cookie", b"sessionid=xyz")], b"")
    (diff,) = compare(a, b, CompareRules.build(headers=["set-cookie"])).diffs
    assert (diff.primary, diff.candidate) == (MASK, MASK)


def test_non_json_bodies_compare_bytewise() -> None:
    html = [(b"content-type", b"text/html")]
    a, b = Observed(200, html, b"<p>hi</p>"), Observed(200, html, b"<p>ho</p>")
    assert [(d.path, d.kind) for d in compare(a, b).diffs] == [("$", "changed")]
    assert compare(a, Observed(200, html, b"<p>hi</p>")).matched
    # JSON on one side, an HTML error page on the other
    result = compare(obs({"a": 1}), Observed(200, JSON, b"<html>oops</html>"))
    assert [(d.path, d.kind) for d in result.diffs] == [("$", "type-changed")]


def test_gzip_bodies_are_compared_decoded() -> None:
    headers = [*JSON, (b"content-encoding", b"gzip")]
    a = Observed(200, headers, gzip.compress(b'{"a": 1, "b": 2}'))
    b = Observed(200, headers, gzip.compress(b'{"b": 2, "a": 1}', mtime=5))
    assert compare(a, b).matched


def test_bodies_not_captured_are_not_compared() -> None:
    result = compare(Observed(200, JSON, None), obs({"a": 1}))
    assert result.matched
    assert not result.body_compared


def test_ignore_paths_with_wildcards_and_subtrees() -> None:
    a = {"generated_at": 1, "results": [{"id": 1, "updated_at": "x"}], "meta": {"a": 1}}
    b = {"generated_at": 2, "results": [{"id": 1, "updated_at": "y"}], "meta": {"a": 2, "b": 3}}
    assert diffs(a, b, ignore=["$.generated_at", "$.results[*].updated_at", "$.meta"]) == []
    assert diffs(a, b, ignore=["$..updated_at", "$.generated_at", "$.meta.*"]) == []
    assert [d[0] for d in diffs(a, b, ignore=["$.results[1].updated_at"])] == [
        "$.generated_at",
        "$.results[0].updated_at",
        "$.meta.a",
        "$.meta.b",
    ]


def test_numeric_tolerance_absolute_relative_and_by_path() -> None:
    assert diffs({"p": 10.0}, {"p": 10.004}, tolerance={"absolute": 0.01}) == []
    assert diffs({"p": 10.0}, {"p": 10.02}, tolerance={"absolute": 0.01}) != []
    assert diffs({"p": 1000}, {"p": 1009}, tolerance={"relative": 0.01}) == []
    assert diffs({"p": 1000}, {"p": 1011}, tolerance={"relative": 0.01}) != []
    scoped = {"absolute": 1, "paths": ["$.p"]}
    assert diffs({"p": 1, "q": 1}, {"p": 2, "q": 2}, tolerance=scoped) == [
        ("$.q", "changed", "1", "2")
    ]
    # with the decimal normaliser, tolerance applies to decimal strings too
    assert (
        diffs({"p": "12.50"}, {"p": "12.49"}, tolerance={"absolute": 0.01}, normalisers=["decimal"])
        == []
    )


def test_unordered_arrays_by_equality_and_by_key() -> None:
    assert diffs({"tags": ["a", "b", "c"]}, {"tags": ["c", "a", "b"]}, unordered=["$.tags"]) == []
    assert diffs({"tags": ["a", "b"]}, {"tags": ["b", "x"]}, unordered=["$.tags"]) == [
        ("$.tags[0]", "changed", "a", "x")
    ]
    a = {"results": [{"id": 1, "price": 1}, {"id": 2, "price": 2}, {"id": 3, "price": 3}]}
    b = {"results": [{"id": 2, "price": 2}, {"id": 1, "price": 9}, {"id": 4, "price": 4}]}
    found = diffs(a, b, unordered=[{"path": "$.results", "key": "id"}])
    assert found == [
        ("$.results[0].price", "changed", "1", "9"),
        ("$.results[2]", "missing-in-candidate", '{"id":3,"price":3}', None),
        ("$.results[2]", "extra-in-candidate", None, '{"id":4,"price":4}'),
    ]
    # without the rule, order matters
    assert len(diffs(a, b)) > 3


@pytest.mark.parametrize(
    ("name", "primary", "candidate", "different"),
    [
        ("decimal", "12.50", 12.5, "12.51"),
        ("decimal", 3, "3.00", "3.01"),
        ("url-trailing-slash", "http://x/api/p/1/", "http://x/api/p/1", "http://x/api/p/2"),
        ("url-trailing-slash", "/api/p/?page=2", "/api/p?page=2", "/api/p?page=3"),
        (
            "iso-timestamp",
            "2026-11-25T14:00:00Z",
            "2026-11-25T15:00:00+01:00",
            "2026-11-25T14:00:01Z",
        ),
        ("casefold", "Alice@Example.com", "alice@example.COM", "bob@example.com"),
        ("trim", " x ", "x", "y"),
    ],
)
def test_each_normaliser(name: str, primary: Any, candidate: Any, different: Any) -> None:
    assert diffs({"v": primary}, {"v": candidate}, normalisers=[name]) == []
    assert diffs({"v": primary}, {"v": different}, normalisers=[name]) != []
    assert diffs({"v": primary}, {"v": candidate}) != []  # only with the normaliser


def test_decimal_normaliser_keeps_booleans_apart() -> None:
    assert diffs({"v": True}, {"v": 1}, normalisers=["decimal"])[0][1] == "type-changed"


def test_normalisers_can_be_scoped_and_registered() -> None:
    scoped = [{"name": "casefold", "paths": ["$..email"]}]
    assert diffs({"email": "A", "name": "A"}, {"email": "a", "name": "a"}, normalisers=scoped) == [
        ("$.name", "changed", "A", "a")
    ]
    register_normaliser("no-dashes", lambda v: v.replace("-", "") if isinstance(v, str) else v)
    try:
        assert diffs({"sku": "AB-1"}, {"sku": "AB1"}, normalisers=["no-dashes"]) == []
    finally:
        NORMALISERS.pop("no-dashes")  # the registry is process-wide
    with pytest.raises(RuleError, match="unknown normaliser 'nope'"):
        CompareRules.build(normalisers=["nope"])


@pytest.mark.parametrize("bad", ["results", "$.[", "$.a[x]", "$..", "$.a b"])
def test_invalid_paths_are_refused(bad: str) -> None:
    with pytest.raises(RuleError):
        PathPattern.parse(bad)


def test_values_are_truncated_and_pii_masked() -> None:
    rules = CompareRules.build(mask=["email"], max_value_chars=10)
    a = {"text": "x" * 50, "customer": {"email": "a@x.org", "n": 1}}
    b = {"text": "y" * 50, "customer": {"email": "b@x.org", "n": 2}}
    result = compare(obs(a), obs(b), rules)
    assert [(d.path, d.primary, d.candidate) for d in result.diffs] == [
        ("$.text", "x" * 9 + "…", "y" * 9 + "…"),
        ("$.customer.email", MASK, MASK),
        ("$.customer.n", "1", "2"),
    ]
    gone = compare(
        obs({"customer": {"email": "a@x.org"}}), obs({}), CompareRules.build(mask=["email"])
    )
    assert gone.diffs[0].primary == '{"email":"[masked]"}'


def test_noise_learned_from_two_primary_answers() -> None:
    first = obs({"generated_at": "t1", "results": [{"id": 1, "rnd": 5}, {"id": 2, "rnd": 6}]})
    second = obs({"generated_at": "t2", "results": [{"id": 1, "rnd": 7}, {"id": 2, "rnd": 6}]})
    rules = CompareRules()
    learned = learn_noise(first, second, rules)
    assert learned == {"$.generated_at", "$.results[*].rnd"}
    candidate = obs({"generated_at": "t3", "results": [{"id": 1, "rnd": 1}, {"id": 3, "rnd": 6}]})
    result = compare(first, candidate, rules, NoiseModel(learned))
    assert [d.path for d in result.diffs] == ["$.results[1].id"]
    assert {d.path for d in result.noise} == {"$.generated_at", "$.results[0].rnd"}
    assert not result.matched


def test_noise_covers_subtrees_but_not_siblings() -> None:
    noise = NoiseModel(frozenset({"$.meta", "$.a[*].b"}))
    assert noise.covers("$.meta.x[3]")
    assert noise.covers("$.a[7].b")
    assert not noise.covers("$.metadata")
    assert not noise.covers("$.a[1].bc")
    assert field_of("$.a[12].b[0]") == "$.a[*].b[*]"


def test_max_diffs_truncates() -> None:
    result = compare(obs(list(range(50))), obs(list(range(1, 51))), CompareRules.build(max_diffs=5))
    assert len(result.diffs) == 5
    assert result.truncated


def test_redaction_helpers() -> None:
    assert redact_headers([(b"Cookie", b"s=1"), (b"Authorization", b"Bearer x"), (b"a", b"b")]) == [
        ("Cookie", MASK),
        ("Authorization", MASK),
        ("a", "b"),
    ]
    assert (
        mask_target("/p/?access_token=abc&page=2&email=a@b.c&apikey=k", frozenset({"email"}))
        == f"/p/?access_token={MASK}&page=2&email={MASK}&apikey={MASK}"
    )
    assert mask_body({"u": [{"Email": "x", "id": 1}]}, frozenset({"email"})) == {
        "u": [{"Email": MASK, "id": 1}]
    }
    result = compare(obs({"customer": {"phone": "1"}}), obs({"customer": {"phone": "2"}}))
    assert redact_diffs(result.diffs, frozenset({"phone"})) == [
        {"path": "$.customer.phone", "kind": "changed", "primary": MASK, "candidate": MASK}
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_a_document_always_matches_itself(doc: Any) -> None:
    assert compare(obs(doc), obs(doc)).matched


@given(json_values, json_values)
def test_diffs_are_symmetric_in_count(a: Any, b: Any) -> None:
    forward = compare(obs(a), obs(b))
    backward = compare(obs(b), obs(a))
    assert forward.matched == backward.matched
    assert len(forward.diffs) == len(backward.diffs)


@given(st.lists(st.integers(), max_size=8), st.randoms())
def test_unordered_arrays_match_any_permutation(items: list[int], rnd: Any) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert compare(
        obs({"x": items}), obs({"x": shuffled}), CompareRules.build(unordered=["$.x"])
    ).matched
