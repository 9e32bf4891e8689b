"""The provider-state endpoint exists only for contract tests, and only for loopback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from shop.catalog.models import Product
from shop.pact_states.views import provider_states

MONOLITH = Path(__file__).resolve().parents[2]
BODY = json.dumps({"state": "a product exists", "params": {"id": 42}, "action": "setup"})


@pytest.mark.django_db
def test_not_mounted_without_the_test_only_setting() -> None:
    response = Client().post("/_pact/provider-states", BODY, content_type="application/json")
    assert response.status_code == 404
    assert not Product.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote_addr", "forwarded"),
    [("10.0.0.7", None), ("203.0.113.9", None), ("127.0.0.1", "203.0.113.9")],
)
def test_refuses_anything_but_direct_loopback(remote_addr: str, forwarded: str | None) -> None:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded  # came through a proxy such as the facade
    request = RequestFactory().post(
        "/_pact/provider-states", BODY, content_type="application/json", **extra
    )
    assert provider_states(request).status_code == 404
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_loopback_seeds_through_the_services() -> None:
    request = RequestFactory().post(
        "/_pact/provider-states", BODY, content_type="application/json", REMOTE_ADDR="127.0.0.1"
    )
    assert provider_states(request).status_code == 200
    assert list(Product.objects.values_list("id", flat=True)) == [42]


def test_the_setting_is_refused_outside_local() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SHOP_ENV", "SECRET_KEY"}}
    env |= {
        "SHOP_ENV": "production",
        "SECRET_KEY": "s" * 50,
        "ALLOWED_HOSTS": "shop.example.com",
        "PACT_PROVIDER_STATES": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import shop.settings"],
        cwd=MONOLITH,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "PACT_PROVIDER_STATES is for contract tests" in result.stderr
