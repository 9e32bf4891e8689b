import pytest
from shop.core.errors import NotFound
from shop.orders import selectors
from shop.orders.models import Order


def make_order(user=None, email="x@example.com"):
    return Order.objects.create(
        user=user,
        email=email,
        total=1,
        ship_name="n",
        ship_line1="l",
        ship_city="c",
        ship_zip="z",
        ship_country="DE",
    )


@pytest.mark.django_db
def test_visibility(customer, other_customer, staff):
    mine, theirs, guest = make_order(customer), make_order(other_customer), make_order()
    assert list(selectors.order_list(user=customer)) == [mine]
    assert set(selectors.order_list(user=staff)) == {mine, theirs, guest}
    assert selectors.order_get(order_id=mine.pk, user=customer) == mine
    with pytest.raises(NotFound):
        selectors.order_get(order_id=theirs.pk, user=customer)
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotFound):
        selectors.order_get(order_id=guest.pk, user=AnonymousUser())
    assert (
        selectors.order_get(order_id=guest.pk, user=AnonymousUser(), guest_order_ids=[guest.pk])
        == guest
    )
    # a guest session can never claim a registered user's order
    with pytest.raises(NotFound):
        selectors.order_get(order_id=mine.pk, user=AnonymousUser(), guest_order_ids=[mine.pk])
