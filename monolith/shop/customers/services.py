from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from shop.core.errors import Conflict, ValidationFailed
from shop.customers.models import Address, Customer


@transaction.atomic
def customer_register(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    marketing_opt_in: bool = False,
) -> Customer:
    username = username.strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["This field may not be blank."]
    if len(password or "") < 8:
        errors["password"] = ["At least 8 characters."]
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("Username taken.", errors={"username": ["This username is taken."]})
    user = User.objects.create_user(
        username=username,
        email=email.strip(),
        password=password,
        first_name=first_name,
        last_name=last_name,
    )
    return Customer.objects.create(
        user=user, phone=phone, marketing_opt_in="Y" if marketing_opt_in else "N"
    )


def customer_for_user(*, user: User) -> Customer:
    """The profile of ``user``, created on first use (staff made in the admin have none)."""
    customer, _ = Customer.objects.get_or_create(user=user)
    return customer


@transaction.atomic
def address_create(
    *,
    customer: Customer,
    name: str,
    line1: str,
    city: str,
    zip: str,
    country: str,
    line2: str = "",
    is_default: bool = False,
) -> Address:
    if is_default:
        customer.addresses.filter(is_default=True).update(is_default=False)
    return Address.objects.create(
        customer=customer,
        name=name,
        line1=line1,
        line2=line2,
        city=city,
        zip=zip,
        country=country.upper(),
        is_default=is_default,
    )
