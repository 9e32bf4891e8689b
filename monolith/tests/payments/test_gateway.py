from decimal import Decimal

import pytest
from shop.core.errors import InvalidCard
from shop.payments import gateway


def authorise(number, key="k1"):
    return gateway.authorise(
        card_number=number, amount=Decimal(10), currency="EUR", idempotency_key=key
    )


def test_good_card_authorised():
    result = authorise("4242 4242 4242 4242")
    assert result.approved
    assert result.code == "approved"


def test_declined_card(settings):
    result = authorise(settings.PAYMENT_DECLINED_CARD)
    assert not result.approved
    assert result.code == "card_declined"


def test_insufficient_funds():
    assert authorise("4000-0000-0000-9995").code == "insufficient_funds"


@pytest.mark.parametrize("number", ["4242424242424241", "abcd", "", "42", "4" * 25])
def test_invalid_numbers(number):
    with pytest.raises(InvalidCard) as info:
        authorise(number)
    assert "card_number" in info.value.errors


def test_reference_is_deterministic_per_key():
    assert authorise("4242424242424242", "a").ref == authorise("4242424242424242", "a").ref
    assert authorise("4242424242424242", "a").ref != authorise("4242424242424242", "b").ref


def test_luhn():
    assert gateway.luhn_valid("79927398713")
    assert not gateway.luhn_valid("79927398710")
