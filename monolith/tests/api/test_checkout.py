import pytest
from rest_framework.test import APIClient
from shop.catalog.models import Product
from shop.inventory.services import stock_set
from shop.orders.models import Order
from shop.payments.models import Payment

URL = "/api/checkout/"
FORM = {
    "email": "guest@example.com",
    "name": "Guest G",
    "line1": "Weg 1",
    "line2": "",
    "city": "Berlin",
    "zip": "10115",
    "country": "DE",
    "card_number": "4242 4242 4242 4242",
}


@pytest.fixture
def cart_api(api, product):
    api.post("/api/cart/items/", {"product_id": product.pk, "quantity": 2}, format="json")
    return api


@pytest.mark.django_db
class TestCheckoutApi:
    def test_guest_checkout(self, cart_api, product):
        response = cart_api.post(URL, FORM, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == {
            "id",
            "status",
            "email",
            "total",
            "currency",
            "shipping",
            "lines",
            "payments",
            "created",
            "updated",
        }
        assert (body["status"], body["total"], body["currency"]) == ("paid", "25.00", "EUR")
        assert body["shipping"] == {
            "name": "Guest G",
            "line1": "Weg 1",
            "line2": "",
            "city": "Berlin",
            "zip": "10115",
            "country": "DE",
        }
        assert body["lines"] == [
            {
                "product_id": product.pk,
                "sku": "MUG-RED",
                "name": "Red Mug",
                "unit_price": "12.50",
                "quantity": 2,
                "line_total": "25.00",
            }
        ]
        assert body["payments"][0]["status"] == "captured"
        assert response["Location"] == f"/api/orders/{body['id']}/"
        assert cart_api.get("/api/cart/").json()["count"] == 0
        assert Product.objects.get(pk=product.pk).qty == 5

    def test_idempotency_key_replays(self, cart_api, product):
        first = cart_api.post(URL, FORM, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
        second = cart_api.post(URL, FORM, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] == second.json()["id"]
        assert second["Idempotent-Replayed"] == "true"
        assert Payment.objects.count() == 1
        assert Order.objects.count() == 1
        assert Product.objects.get(pk=product.pk).qty == 5

    def test_declined_is_402(self, cart_api, product, assert_problem):
        body = assert_problem(
            cart_api.post(URL, {**FORM, "card_number": "4000000000000002"}, format="json"), 402
        )
        assert body["type"].endswith("/payment-declined")
        assert body["reason"] == "card_declined"
        assert Order.objects.get(pk=body["order_id"]).status == "cancelled"
        assert Product.objects.get(pk=product.pk).qty == 7
        assert cart_api.get("/api/cart/").json()["count"] == 2

    def test_invalid_card_is_400(self, cart_api, assert_problem):
        body = assert_problem(
            cart_api.post(URL, {**FORM, "card_number": "4242424242424241"}, format="json"),
            400,
            fields=("card_number",),
        )
        assert body["type"].endswith("/invalid-card")
        assert not Order.objects.exists()

    def test_empty_cart(self, api, db, assert_problem):
        body = assert_problem(api.post(URL, FORM, format="json"), 409)
        assert body["type"].endswith("/empty-cart")

    def test_insufficient_stock_is_409(self, cart_api, product, assert_problem):
        stock_set(product_id=product.pk, quantity=1, ref="test")
        body = assert_problem(cart_api.post(URL, FORM, format="json"), 409)
        assert body["type"].endswith("/insufficient-stock")
        assert not Order.objects.exists()

    @pytest.mark.parametrize(
        "field", ["email", "name", "line1", "city", "zip", "country", "card_number"]
    )
    def test_missing_field(self, cart_api, field, assert_problem):
        assert_problem(
            cart_api.post(URL, {k: v for k, v in FORM.items() if k != field}, format="json"),
            400,
            fields=(field,),
        )

    def test_bad_values(self, cart_api, assert_problem):
        assert_problem(
            cart_api.post(URL, {**FORM, "email": "nope", "country": "DEU"}, format="json"),
            400,
            fields=("email", "country"),
        )

    def test_overlong_idempotency_key(self, cart_api, assert_problem):
        assert_problem(
            cart_api.post(URL, FORM, format="json", HTTP_IDEMPOTENCY_KEY="k" * 65),
            400,
            fields=("idempotency_key",),
        )

    def test_logged_in_checkout_then_orders(self, customer, product):
        client = APIClient()
        client.force_authenticate(customer)
        client.post("/api/cart/items/", {"product_id": product.pk}, format="json")
        order_id = client.post(URL, FORM, format="json").json()["id"]
        assert Order.objects.get(pk=order_id).user == customer
        assert [o["id"] for o in client.get("/api/orders/").json()["results"]] == [order_id]
