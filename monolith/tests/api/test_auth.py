import pytest
from rest_framework.test import APIClient


@pytest.mark.django_db
class TestSessionAuth:
    def test_login_me_logout(self, customer, assert_problem):
        client = APIClient(enforce_csrf_checks=True)
        response = client.post(
            "/api/auth/login/", {"username": "alice", "password": "test-pass-123"}, format="json"
        )
        assert response.status_code == 200
        assert response.json() == {
            "id": customer.pk,
            "username": "alice",
            "email": "alice@example.com",
            "is_staff": False,
        }
        assert client.get("/api/auth/me/").json()["username"] == "alice"
        # unsafe requests on a session need the CSRF token
        body = assert_problem(client.post("/api/auth/logout/"), 403)
        assert "CSRF" in body["detail"]
        token = client.cookies["csrftoken"].value
        assert client.post("/api/auth/logout/", HTTP_X_CSRFTOKEN=token).status_code == 204
        assert_problem(client.get("/api/auth/me/"), 401)

    def test_session_write_needs_csrf(self, staff, assert_problem):
        client = APIClient(enforce_csrf_checks=True)
        client.post(
            "/api/auth/login/", {"username": "clerk", "password": "test-pass-123"}, format="json"
        )
        payload = {"sku": "C-1", "name": "x", "price": "1.00"}
        assert_problem(client.post("/api/products/", payload, format="json"), 403)
        token = client.cookies["csrftoken"].value
        assert (
            client.post(
                "/api/products/", payload, format="json", HTTP_X_CSRFTOKEN=token
            ).status_code
            == 201
        )

    def test_bad_credentials(self, customer, assert_problem):
        assert_problem(
            APIClient().post(
                "/api/auth/login/", {"username": "alice", "password": "wrong"}, format="json"
            ),
            400,
        )
        assert_problem(
            APIClient().post("/api/auth/login/", {"username": "alice"}, format="json"),
            400,
            fields=("password",),
        )


@pytest.mark.django_db
class TestTokenAuth:
    def test_token_needs_no_csrf(self, staff):
        client = APIClient(enforce_csrf_checks=True)
        token = client.post(
            "/api/auth/token/", {"username": "clerk", "password": "test-pass-123"}, format="json"
        ).json()["token"]
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get("/api/auth/me/").json()["is_staff"] is True
        assert (
            client.post(
                "/api/products/", {"sku": "T-1", "name": "x", "price": "1"}, format="json"
            ).status_code
            == 201
        )
        assert (
            client.post(
                "/api/auth/token/",
                {"username": "clerk", "password": "test-pass-123"},
                format="json",
            ).json()["token"]
            == token
        )

    def test_bad_token_is_401(self, db, assert_problem):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token nope")
        response = assert_problem(client.get("/api/auth/me/"), 401)
        assert response["title"]

    def test_bad_credentials(self, customer, assert_problem):
        assert_problem(
            APIClient().post(
                "/api/auth/token/", {"username": "alice", "password": "x"}, format="json"
            ),
            400,
        )
