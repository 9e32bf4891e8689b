"""The via-facade runs really pass through the facade, and the direct runs do not."""

import httpx
import pytest


def test_requests_take_the_expected_path(shop_url: str, request: pytest.FixtureRequest) -> None:
    via = request.node.callspec.params["shop_url"]
    response = httpx.get(f"{shop_url}/accounts/login/", headers={"X-Request-ID": "e2e-hop-check"})
    assert response.status_code == 200
    if via == "via-facade":
        # the facade echoes the request id it propagated to the monolith
        assert response.headers["x-request-id"] == "e2e-hop-check"
        assert httpx.get(f"{shop_url}/metrics").text.count("# TYPE") > 0
    else:
        assert "x-request-id" not in response.headers
