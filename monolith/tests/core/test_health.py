import pytest
from django.db import DatabaseError
from django.test import Client


def test_healthz_needs_no_database():
    # no db fixture: any query would fail the test
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok():
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_readyz_503_when_database_fails(monkeypatch, assert_problem):
    from shop.core import health

    class Broken:
        def cursor(self):
            raise DatabaseError("down")

    monkeypatch.setattr(health, "connection", Broken())
    body = assert_problem(Client().get("/readyz"), 503)
    assert body["type"].endswith("/not-ready")
