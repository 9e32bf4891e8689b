"""Client mistakes are 4xx problem+json, never a 500 or an HTML page."""

import pytest
from django.test import Client


@pytest.fixture
def client_plain():
    return Client()


@pytest.mark.django_db
class TestProblems:
    def test_malformed_json(self, client_plain, assert_problem):
        body = assert_problem(
            client_plain.post("/api/cart/items/", "{not json", content_type="application/json"), 400
        )
        assert body["type"].endswith("/malformed-request")

    def test_wrong_content_type(self, client_plain, assert_problem):
        assert_problem(
            client_plain.post(
                "/api/cart/items/", "sku=x", content_type="application/x-www-form-urlencoded"
            ),
            415,
        )
        assert_problem(client_plain.post("/api/cart/items/", "x", content_type="text/plain"), 415)

    def test_json_not_an_object(self, client_plain, assert_problem):
        assert_problem(
            client_plain.post("/api/cart/items/", "[1, 2]", content_type="application/json"), 400
        )

    @pytest.mark.parametrize(
        "path", ["/api/nope/", "/api/products/1/extra/", "/api/", "/api/products"]
    )
    def test_unknown_api_path(self, client_plain, path, assert_problem):
        assert_problem(client_plain.get(path), 404)
        assert_problem(client_plain.post(path, "{}", content_type="application/json"), 404)

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("delete", "/api/cart/"),
            ("put", "/api/categories/"),
            ("get", "/api/checkout/"),
            ("get", "/api/auth/login/"),
            ("post", "/api/products/sku/X/"),
        ],
    )
    def test_wrong_method(self, client_plain, method, path, assert_problem):
        body = assert_problem(getattr(client_plain, method)(path), 405)
        assert body["type"].endswith("/method-not-allowed")

    def test_html_404_outside_api(self, client_plain):
        response = client_plain.get("/no-such-page/")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")

    def test_server_error_is_a_problem_under_api(self, client_plain, monkeypatch, assert_problem):
        from shop.catalog import selectors

        def boom(**kwargs):
            raise RuntimeError("kaboom")

        monkeypatch.setattr(selectors, "category_nodes", boom)
        client_plain.raise_request_exception = False
        body = assert_problem(client_plain.get("/api/categories/"), 500)
        assert "kaboom" not in body["detail"]
