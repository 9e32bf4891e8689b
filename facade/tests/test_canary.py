from facade.canary import bucket, goes_to_candidate, sticky_key


def test_bucket_is_deterministic_and_spreads() -> None:
    assert bucket("r", "user-1") == bucket("r", "user-1")
    share = sum(goes_to_candidate("r", 10, f"user-{i}", 0.0) for i in range(5000)) / 5000
    assert 0.08 < share < 0.12
    assert not goes_to_candidate("r", 0, "x", 0.0)
    assert goes_to_candidate("r", 100, "x", 0.99)


def test_sticky_key_sources_in_order() -> None:
    sources = ["header:x-user-id", "cookie:sessionid", "client"]
    assert sticky_key(sources, {"x-user-id": "42"}.get, "1.2.3.4") == "h:42"
    assert sticky_key(sources, {"cookie": "a=1; sessionid=s1"}.get, "1.2.3.4") == "c:s1"
    assert sticky_key(sources, {}.get, "1.2.3.4") == "a:1.2.3.4"
    assert sticky_key(["header:x"], {}.get, None) is None
