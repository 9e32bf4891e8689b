"""GET /_internal/identity: who a session or token belongs to, for the facade only."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from ..conftest import PASSWORD

URL = "/_internal/identity"


@pytest.mark.django_db
def test_a_session_resolves_to_its_user_with_catalog_scopes(staff, assert_problem) -> None:
    client = Client()
    client.login(username="clerk", password=PASSWORD)
    body = client.get(URL).json()
    assert (body["user_id"], body["is_staff"], body["via"]) == (staff.pk, True, "session")
    assert "catalog.change_product" in body["scopes"]
    assert all(scope.startswith("catalog.") for scope in body["scopes"])


@pytest.mark.django_db
def test_a_token_wins_over_the_session(staff, customer, assert_problem) -> None:
    client = Client()
    client.login(username="clerk", password=PASSWORD)
    key = Token.objects.create(user=customer).key
    body = client.get(URL, HTTP_AUTHORIZATION=f"Token {key}").json()
    assert (body["user_id"], body["is_staff"], body["via"]) == (customer.pk, False, "token")
    assert_problem(client.get(URL, HTTP_AUTHORIZATION="Token nope"), 401)


@pytest.mark.django_db
def test_anonymous_and_inactive_users_are_401(customer, assert_problem) -> None:
    assert_problem(Client().get(URL), 401)
    key = Token.objects.create(user=customer).key
    customer.is_active = False
    customer.save()
    assert_problem(Client().get(URL, HTTP_AUTHORIZATION=f"Token {key}"), 401)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra",
    [
        {"REMOTE_ADDR": "10.1.2.3"},
        {"HTTP_X_FORWARDED_PROTO": "http"},  # what every request the facade proxies carries
        {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},
    ],
)
def test_only_the_facade_itself_may_ask(staff, assert_problem, extra) -> None:
    client = Client()
    client.login(username="clerk", password=PASSWORD)
    body = assert_problem(client.get(URL, **extra), 404)
    assert "user_id" not in body


@pytest.mark.django_db
def test_login_and_logout_answers_tell_the_facade_to_forget(customer) -> None:
    client = Client()
    response = client.post(
        "/api/auth/login/", {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )  # fmt: skip
    assert response["X-Strangler-Identity-Revoked"] == "1"
    assert "X-Strangler-Identity-Revoked" not in client.get("/api/auth/me/")
    response = client.post("/accounts/logout/")
    assert response["X-Strangler-Identity-Revoked"] == "1"
    assert Client().get(URL).status_code == 401


# -- the CSRF verdict the facade asks for on writes to extracted services ---------------

SECRET = "k" * 32  # a csrftoken cookie value; the X-CSRFToken header may be it unmasked
SAME_SITE = {
    "HTTP_X_STRANGLER_CSRF_CHECK": "PATCH",
    "HTTP_X_STRANGLER_CSRF_SCHEME": "http",
    "HTTP_X_STRANGLER_CSRF_HOST": "shop.example:8080",
}


def _verdict(client: Client, **extra: str) -> dict[str, object]:
    body = client.get(URL, **extra).json()
    verdict: dict[str, object] = body["csrf"]
    return verdict


@pytest.mark.django_db
def test_a_session_write_with_its_token_from_the_same_site_passes(staff) -> None:
    client = Client()
    client.login(username="clerk", password=PASSWORD)
    client.cookies["csrftoken"] = SECRET
    verdict = _verdict(client, **SAME_SITE, HTTP_X_CSRFTOKEN=SECRET,
                       HTTP_ORIGIN="http://shop.example:8080")  # fmt: skip
    assert verdict == {"passed": True, "reason": None}
    # Without the check header the answer has no verdict: reads never pay for it.
    assert "csrf" not in client.get(URL).json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"HTTP_X_CSRFTOKEN": SECRET, "HTTP_ORIGIN": "https://evil.example"}, "Origin checking"),
        ({"HTTP_ORIGIN": "http://shop.example:8080"}, "CSRF token missing"),
        ({"HTTP_X_CSRFTOKEN": "w" * 32, "HTTP_ORIGIN": "http://shop.example:8080"}, "incorrect"),
        # https without Origin: the Referer must name this site, as Django requires.
        (
            {
                "HTTP_X_CSRFTOKEN": SECRET,
                "HTTP_X_STRANGLER_CSRF_SCHEME": "https",
                "HTTP_REFERER": "https://evil.example/page",
            },
            "Referer checking",
        ),
    ],
    ids=["cross-site origin", "no token", "wrong token", "cross-site referer"],
)
def test_django_refuses_what_it_would_refuse_on_the_monolith(staff, extra, reason) -> None:
    client = Client()
    client.login(username="clerk", password=PASSWORD)
    client.cookies["csrftoken"] = SECRET
    verdict = _verdict(client, **{**SAME_SITE, **extra})
    assert verdict["passed"] is False
    assert reason in str(verdict["reason"])


@pytest.mark.django_db
def test_trusted_origins_and_api_tokens(staff, customer, settings) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.shop.example"]
    client = Client()
    client.login(username="clerk", password=PASSWORD)
    client.cookies["csrftoken"] = SECRET
    cross = {**SAME_SITE, "HTTP_X_CSRFTOKEN": SECRET, "HTTP_ORIGIN": "https://admin.shop.example"}
    assert _verdict(client, **cross)["passed"] is True
    # An API token is no ambient credential: nothing to forge, nothing to check.
    key = Token.objects.create(user=customer).key
    verdict = _verdict(Client(), **SAME_SITE, HTTP_AUTHORIZATION=f"Token {key}",
                       HTTP_ORIGIN="https://evil.example")  # fmt: skip
    assert verdict == {"passed": True, "reason": None}
