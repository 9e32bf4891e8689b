import pytest
from shop.catalog.models import Product
from shop.core.errors import InvalidOrderTransition
from shop.orders.models import ALLOWED_TRANSITIONS, OrderStatus
from shop.orders.services import checkout, order_bulk_transition, order_transition
from shop.payments.models import Payment

from .conftest import GOOD_CARD

ALL = list(OrderStatus.values)


@pytest.fixture
def paid_order(filled_cart, address):
    return checkout(
        cart=filled_cart, email="a@example.com", address=address, card_number=GOOD_CARD
    ).order


@pytest.mark.django_db
class TestPipeline:
    def test_happy_path(self, paid_order):
        order_transition(order=paid_order, to_status="shipped")
        order_transition(order=paid_order, to_status="delivered")
        paid_order.refresh_from_db()
        assert paid_order.status == "delivered"

    @pytest.mark.parametrize(
        ("start", "target"), [(s, t) for s in ALL for t in ALL if t not in ALLOWED_TRANSITIONS[s]]
    )
    def test_every_invalid_transition_raises(self, paid_order, start, target):
        type(paid_order).objects.filter(pk=paid_order.pk).update(status=start)
        with pytest.raises(InvalidOrderTransition) as info:
            order_transition(order=paid_order, to_status=target)
        assert info.value.status == 409
        paid_order.refresh_from_db()
        assert paid_order.status == start

    def test_unknown_status(self, paid_order):
        with pytest.raises(InvalidOrderTransition):
            order_transition(order=paid_order, to_status="lost")

    def test_cancel_paid_refunds_and_restocks(self, paid_order, product):
        order_transition(order=paid_order, to_status="cancelled")
        assert Product.objects.get(pk=product.pk).qty == 7
        assert Payment.objects.get(order=paid_order).status == "refunded"

    def test_bulk_reports_problems(self, paid_order):
        done, problems = order_bulk_transition(order_ids=[paid_order.pk], to_status="delivered")
        assert (done, len(problems)) == (0, 1)
        done, problems = order_bulk_transition(order_ids=[paid_order.pk], to_status="shipped")
        assert (done, problems) == (1, [])
