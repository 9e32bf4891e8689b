import pytest
from shop.orders.models import Order, OrderLine


def make_order(user, product, email="x@example.com"):
    order = Order.objects.create(
        user=user,
        email=email,
        total="12.50",
        status="paid",
        ship_name="n",
        ship_line1="l",
        ship_city="c",
        ship_zip="z",
        ship_country="DE",
    )
    OrderLine.objects.create(
        order=order,
        product=product,
        sku=product.sku,
        name=product.nm,
        unit_price=product.prc,
        qty=1,
    )
    return order


@pytest.mark.django_db
class TestOrdersApi:
    def test_anonymous_401(self, api, assert_problem):
        assert_problem(api.get("/api/orders/"), 401)
        assert_problem(api.get("/api/orders/1/"), 401)

    def test_own_orders_only(self, customer_api, customer, other_customer, product, assert_problem):
        mine = make_order(customer, product)
        theirs = make_order(other_customer, product)
        body = customer_api.get("/api/orders/").json()
        assert body["count"] == 1
        assert body["results"][0]["id"] == mine.pk
        assert customer_api.get(f"/api/orders/{mine.pk}/").json()["lines"][0]["sku"] == "MUG-RED"
        assert_problem(customer_api.get(f"/api/orders/{theirs.pk}/"), 404)
        assert_problem(customer_api.get("/api/orders/999999/"), 404)

    def test_staff_sees_all(self, staff_api, customer, other_customer, product):
        make_order(customer, product)
        make_order(other_customer, product)
        make_order(None, product)
        assert staff_api.get("/api/orders/").json()["count"] == 3
