import pytest
from shop.cart.models import Cart


@pytest.mark.django_db
class TestGuestCart:
    def test_empty(self, api):
        assert api.get("/api/cart/").json() == {
            "id": None,
            "items": [],
            "count": 0,
            "total": "0.00",
            "currency": "EUR",
        }

    def test_add_update_remove(self, api, product):
        response = api.post("/api/cart/items/", {"sku": "mug-red", "quantity": 2}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["items"] == [
            {
                "product_id": product.pk,
                "sku": "MUG-RED",
                "name": "Red Mug",
                "unit_price": "12.50",
                "currency": "EUR",
                "quantity": 2,
                "line_total": "25.00",
                "available": True,
            }
        ]
        assert (body["count"], body["total"]) == (2, "25.00")
        api.post(
            "/api/cart/items/", {"product_id": product.pk}, format="json"
        )  # quantity defaults to 1
        assert api.get("/api/cart/").json()["count"] == 3
        response = api.patch(f"/api/cart/items/{product.pk}/", {"quantity": 5}, format="json")
        assert response.status_code == 200
        assert response.json()["count"] == 5
        assert api.delete(f"/api/cart/items/{product.pk}/").status_code == 204
        assert api.get("/api/cart/").json()["items"] == []

    @pytest.mark.parametrize("quantity", [0, -1, "abc", 1.5, 10**12, None, True])
    def test_bad_quantity(self, api, product, quantity, assert_problem):
        assert_problem(
            api.post(
                "/api/cart/items/", {"product_id": product.pk, "quantity": quantity}, format="json"
            ),
            400,
            fields=("quantity",),
        )

    @pytest.mark.parametrize("quantity", [0, -3, "x", 1000])
    def test_bad_patch_quantity(self, api, product, quantity, assert_problem):
        api.post("/api/cart/items/", {"product_id": product.pk}, format="json")
        assert_problem(
            api.patch(f"/api/cart/items/{product.pk}/", {"quantity": quantity}, format="json"),
            400,
            fields=("quantity",),
        )

    def test_unknown_product(self, api, db, assert_problem):
        assert_problem(
            api.post("/api/cart/items/", {"product_id": 99999, "quantity": 1}, format="json"), 404
        )
        assert_problem(api.post("/api/cart/items/", {"sku": "NOPE"}, format="json"), 404)

    def test_needs_exactly_one_product_reference(self, api, product, assert_problem):
        assert_problem(
            api.post("/api/cart/items/", {"quantity": 1}, format="json"),
            400,
            fields=("product_id",),
        )
        assert_problem(
            api.post(
                "/api/cart/items/", {"sku": "MUG-RED", "product_id": product.pk}, format="json"
            ),
            400,
        )

    def test_more_than_stock(self, api, product, assert_problem):
        body = assert_problem(
            api.post("/api/cart/items/", {"product_id": product.pk, "quantity": 8}, format="json"),
            409,
        )
        assert body["type"].endswith("/insufficient-stock")
        assert body["available"] == 7

    def test_not_in_cart(self, api, product, assert_problem):
        assert_problem(
            api.patch(f"/api/cart/items/{product.pk}/", {"quantity": 1}, format="json"), 404
        )
        assert_problem(api.delete(f"/api/cart/items/{product.pk}/"), 404)

    def test_guests_do_not_share_carts(self, api, product):
        from rest_framework.test import APIClient

        api.post("/api/cart/items/", {"product_id": product.pk}, format="json")
        assert APIClient().get("/api/cart/").json()["count"] == 0


@pytest.mark.django_db
def test_user_cart_and_login_merge(api, customer, product):
    api.post("/api/cart/items/", {"product_id": product.pk, "quantity": 2}, format="json")
    response = api.post(
        "/api/auth/login/", {"username": "alice", "password": "test-pass-123"}, format="json"
    )
    assert response.status_code == 200
    assert api.get("/api/cart/").json()["count"] == 2
    assert Cart.objects.get(user=customer).items.count() == 1
