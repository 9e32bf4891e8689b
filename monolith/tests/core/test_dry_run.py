"""shop.core.dry_run: a write with X-Strangler-Dry-Run runs, answers, and leaves no trace."""

from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.http import HttpRequest, HttpResponse
from django.urls import path
from shop.cart.models import Cart, CartItem
from shop.core.dry_run import dry_run_unsafe


@dry_run_unsafe
def _sends_mail(request: HttpRequest) -> HttpResponse:
    return HttpResponse("sent")


urlpatterns = [path("mail/", _sends_mail)]

DRY = {"HTTP_X_STRANGLER_DRY_RUN": "1"}


def counts() -> tuple[int, int, int]:
    return Cart.objects.count(), CartItem.objects.count(), Session.objects.count()


@pytest.mark.django_db
def test_a_dry_run_write_answers_and_is_rolled_back(api, product) -> None:
    before = counts()
    response = api.post("/api/cart/items/", {"sku": "MUG-RED", "quantity": 2}, format="json", **DRY)
    assert response.status_code == 201, response.content
    assert response["X-Strangler-Dry-Run"] == "rolled-back"
    assert response.json()["count"] == 2
    assert counts() == before
    # the same request without the header writes for real
    response = api.post("/api/cart/items/", {"sku": "MUG-RED", "quantity": 2}, format="json")
    assert response.status_code == 201
    assert "X-Strangler-Dry-Run" not in response
    assert counts() == (before[0] + 1, before[1] + 1, before[2] + 1)


@pytest.mark.django_db
def test_refused_from_an_untrusted_peer(api, product) -> None:
    before = counts()
    response = api.post(
        "/api/cart/items/",
        {"sku": "MUG-RED"},
        format="json",
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="127.0.0.1",  # forwarding headers are not believed
        **DRY,
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "facade" in response.json()["detail"]
    assert counts() == before


@pytest.mark.django_db
def test_trusted_networks_are_configurable(api, product, settings: Any) -> None:
    settings.DRY_RUN_TRUSTED_NETWORKS = ["10.1.0.0/16"]
    response = api.post(
        "/api/cart/items/", {"sku": "MUG-RED"}, format="json", REMOTE_ADDR="10.1.2.3", **DRY
    )
    assert response.status_code == 201
    assert api.post("/api/cart/items/", {"sku": "MUG-RED"}, format="json", **DRY).status_code == 403


@pytest.mark.django_db
def test_refused_when_sessions_live_outside_the_database(api, product, settings: Any) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    response = api.post("/api/cart/items/", {"sku": "MUG-RED"}, format="json", **DRY)
    assert response.status_code == 422
    assert "sessions" in response.json()["detail"]
    assert Cart.objects.count() == 0


@pytest.mark.django_db
def test_refused_for_views_marked_unsafe(client, settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    response = client.post("/mail/", **DRY)
    assert response.status_code == 422
    assert "outside the database" in response.json()["detail"]
    assert client.post("/mail/").content == b"sent"
