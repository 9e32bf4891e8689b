"""Writes to carts. Carts hold intent only: stock is taken at checkout, not here."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction

from shop.cart.models import Cart, CartItem
from shop.catalog.models import Product, ProductStatus
from shop.catalog.services import normalize_sku
from shop.core.clock import legacy_now
from shop.core.errors import InsufficientStock, NotFound, ValidationFailed

SESSION_CART_ID = "cart_id"


def _check_quantity(quantity: object) -> int:
    limit = settings.SHOP_MAX_LINE_QUANTITY
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= limit:
        raise ValidationFailed(
            "Invalid quantity.",
            errors={"quantity": [f"Must be a whole number from 1 to {limit}."]},
        )
    return quantity


def cart_find(*, user: User | AnonymousUser, session: SessionBase) -> Cart | None:
    """The cart of this user or guest session, without creating one."""
    if user.is_authenticated:
        return Cart.objects.filter(user=user).first()
    cart_id = session.get(SESSION_CART_ID)
    if cart_id is None:
        return None
    return Cart.objects.filter(pk=cart_id, user__isnull=True).first()


@transaction.atomic
def cart_get_or_create(*, user: User | AnonymousUser, session: SessionBase) -> Cart:
    if user.is_authenticated:
        cart, _ = Cart.objects.get_or_create(user=user)
        return cart
    found = cart_find(user=user, session=session)
    if found is not None:
        return found
    if session.session_key is None:
        session.save()
    cart = Cart.objects.create(session_key=session.session_key)
    session[SESSION_CART_ID] = cart.pk
    return cart


def _resolve_product(*, product_id: int | None, sku: str | None) -> Product:
    products = Product.objects.filter(st=ProductStatus.ACTIVE)
    if product_id is not None:
        product = products.filter(pk=product_id).first()
        missing = f"Product {product_id} not found."
    elif sku is not None:
        from shop.catalog.selectors import product_get_by_sku

        try:
            return product_get_by_sku(sku=sku)
        except NotFound:
            product, missing = None, f"Product with SKU {normalize_sku(sku)!r} not found."
    else:
        raise ValidationFailed(
            "Give a product.", errors={"product_id": ["Give either sku or product_id."]}
        )
    if product is None:
        raise NotFound(missing)
    return product


def _check_stock(product: Product, wanted: int) -> None:
    if wanted > product.qty:
        raise InsufficientStock(
            f"Only {product.qty} of {product.sku.strip()} in stock, {wanted} wanted.",
            sku=product.sku,
            available=product.qty,
        )


def _touch(cart: Cart) -> None:
    Cart.objects.filter(pk=cart.pk).update(updated=legacy_now())


@transaction.atomic
def cart_add_item(
    *, cart: Cart, quantity: int, product_id: int | None = None, sku: str | None = None
) -> CartItem:
    """Add ``quantity`` of a product (by id or SKU); adds up with what is already there."""
    _check_quantity(quantity)
    product = _resolve_product(product_id=product_id, sku=sku)
    item = CartItem.objects.select_for_update().filter(cart=cart, product=product).first()
    total = quantity + (item.qty if item else 0)
    if total > settings.SHOP_MAX_LINE_QUANTITY:
        raise ValidationFailed(
            "Invalid quantity.",
            errors={"quantity": [f"At most {settings.SHOP_MAX_LINE_QUANTITY} per product."]},
        )
    _check_stock(product, total)
    if item is None:
        item = CartItem.objects.create(cart=cart, product=product, qty=total)
    else:
        item.qty = total
        item.save(update_fields=["qty"])
    _touch(cart)
    return item


@transaction.atomic
def cart_set_quantity(*, cart: Cart, product_id: int, quantity: int) -> CartItem:
    _check_quantity(quantity)
    item = CartItem.objects.select_for_update().filter(cart=cart, product_id=product_id).first()
    if item is None:
        raise NotFound(f"Product {product_id} is not in the cart.")
    _check_stock(item.product, quantity)
    item.qty = quantity
    item.save(update_fields=["qty"])
    _touch(cart)
    return item


@transaction.atomic
def cart_remove_item(*, cart: Cart, product_id: int) -> None:
    deleted, _ = CartItem.objects.filter(cart=cart, product_id=product_id).delete()
    if not deleted:
        raise NotFound(f"Product {product_id} is not in the cart.")
    _touch(cart)


@transaction.atomic
def cart_clear(*, cart: Cart) -> None:
    CartItem.objects.filter(cart=cart).delete()
    _touch(cart)


@transaction.atomic
def cart_merge(*, source: Cart, target: Cart) -> Cart:
    """Move a guest cart's items into a user's cart (quantities add up), then drop it."""
    if source.pk == target.pk:
        return target
    limit = settings.SHOP_MAX_LINE_QUANTITY
    existing = {
        item.product_id: item for item in CartItem.objects.select_for_update().filter(cart=target)
    }
    for item in CartItem.objects.filter(cart=source):
        mine = existing.get(item.product_id)
        if mine is None:
            CartItem.objects.create(
                cart=target, product_id=item.product_id, qty=min(item.qty, limit)
            )
        else:
            mine.qty = min(mine.qty + item.qty, limit)
            mine.save(update_fields=["qty"])
    source.delete()
    _touch(target)
    return target
