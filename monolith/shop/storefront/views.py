"""The server-rendered storefront: thin views over the same selectors and services as the API.

All links and redirects are host-relative paths so the pages work behind the facade.

Checkout once the orders service owns it (``shop.orders.ownership``, step 5): the page is
the same, but a valid form is sent to the public checkout API through the facade
(``shop.storefront.delegation``) and its answer is shown as the local checkout's would be.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shop.cart import services as cart_services
from shop.cart.selectors import cart_summary
from shop.catalog import selectors as catalog
from shop.catalog.attrs import parse_attrs
from shop.core import dry_run
from shop.core.errors import DomainError, NotFound, PaymentDeclined, ValidationFailed
from shop.customers.selectors import address_default
from shop.customers.services import customer_register
from shop.orders import selectors as orders
from shop.orders.ownership import orders_writes_frozen
from shop.orders.services import ShippingAddress, checkout
from shop.orders.session import (
    guest_order_ids,
    placed_order_ids,
    remember_guest_order,
    remember_placed_order,
)
from shop.storefront import delegation
from shop.storefront.forms import (
    AddToCartForm,
    CheckoutForm,
    RegisterForm,
    RemoveFromCartForm,
    UpdateCartForm,
)

PAGE_SIZE = 24
SORTS = [
    ("", "Default"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
    ("name", "Name"),
    ("-created", "Newest"),
]


def _is_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and request.user.is_staff)


@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    category_slug = request.GET.get("category", "").strip()
    ordering = request.GET.get("sort", "").strip()
    error = None
    try:
        products = catalog.product_list(
            category_slug=category_slug or None, search=search or None, ordering=ordering or None
        )
    except ValidationFailed as exc:
        error, category_slug, ordering = exc.detail, "", ""
        products = catalog.product_list(search=search or None)
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    current_category = None
    if category_slug:
        current_category = catalog.category_get(slug=category_slug)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "storefront/product_list.html",
        {
            "page": page,
            "categories": catalog.category_nodes(),
            "current_category": current_category,
            "search": search,
            "sort": ordering,
            "sorts": SORTS,
            "query": query.urlencode(),
            "error": error,
        },
    )


@require_GET
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    try:
        product = catalog.product_get(product_id=product_id, include_hidden=_is_staff(request))
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    return render(
        request,
        "storefront/product_detail.html",
        {
            "product": product,
            "attributes": parse_attrs(product.attrs),
            "form": AddToCartForm(initial={"product_id": product.pk, "quantity": 1}),
        },
    )


@require_GET
def cart_view(request: HttpRequest) -> HttpResponse:
    cart = cart_services.cart_find(user=request.user, session=request.session)
    return render(request, "storefront/cart.html", {"summary": cart_summary(cart=cart)})


def _cart(request: HttpRequest) -> Any:
    return cart_services.cart_get_or_create(user=request.user, session=request.session)


def _form_error(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        label = "" if field == "__all__" else f"{field}: "
        for error in errors:
            messages.error(request, f"{label}{error}")


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("/cart/")
    try:
        cart_services.cart_add_item(
            cart=_cart(request),
            product_id=form.cleaned_data["product_id"],
            quantity=form.cleaned_data["quantity"],
        )
        messages.success(request, "Added to your cart.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("/cart/")


@require_POST
def cart_update(request: HttpRequest) -> HttpResponse:
    form = UpdateCartForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("/cart/")
    product_id, quantity = form.cleaned_data["product_id"], form.cleaned_data["quantity"]
    try:
        if quantity == 0:
            cart_services.cart_remove_item(cart=_cart(request), product_id=product_id)
        else:
            cart_services.cart_set_quantity(
                cart=_cart(request), product_id=product_id, quantity=quantity
            )
        messages.success(request, "Cart updated.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("/cart/")


@require_POST
def cart_remove(request: HttpRequest) -> HttpResponse:
    form = RemoveFromCartForm(request.POST)
    if form.is_valid():
        try:
            cart_services.cart_remove_item(
                cart=_cart(request), product_id=form.cleaned_data["product_id"]
            )
            messages.success(request, "Removed from your cart.")
        except DomainError as exc:
            messages.error(request, exc.detail)
    else:
        _form_error(request, form)
    return redirect("/cart/")


def _checkout_initial(request: HttpRequest) -> dict[str, Any]:
    initial: dict[str, Any] = {"idempotency_key": uuid.uuid4().hex, "country": "DE"}
    if request.user.is_authenticated:
        initial["email"] = request.user.email
        address = address_default(user=request.user)
        if address is not None:
            initial.update(
                name=address.name,
                line1=address.line1,
                line2=address.line2,
                city=address.city,
                zip=address.zip,
                country=address.country,
            )
    return initial


@require_http_methods(["GET", "POST"])
def checkout_view(request: HttpRequest) -> HttpResponse:
    cart = cart_services.cart_find(user=request.user, session=request.session)
    summary = cart_summary(cart=cart)
    if request.method == "GET":
        if summary.is_empty:
            messages.info(request, "Your cart is empty.")
            return redirect("/cart/")
        form = CheckoutForm(initial=_checkout_initial(request))
        return render(request, "storefront/checkout.html", {"form": form, "summary": summary})

    form = CheckoutForm(request.POST)
    error = None
    kept_key: str | None = None
    if form.is_valid() and orders_writes_frozen():
        placed, error, kept_key = _checkout_through_facade(request, form)
        if placed is not None:
            return placed
    elif form.is_valid():
        data = form.cleaned_data
        try:
            result = checkout(
                cart=_cart(request),
                email=data["email"],
                address=ShippingAddress(
                    name=data["name"],
                    line1=data["line1"],
                    line2=data["line2"],
                    city=data["city"],
                    zip=data["zip"],
                    country=data["country"],
                ),
                card_number=data["card_number"],
                user=request.user,
                idempotency_key=data["idempotency_key"] or None,
            )
        except PaymentDeclined as exc:
            error = f"Payment declined: {exc.detail}"
        except DomainError as exc:
            error = exc.detail
            for field, msgs in exc.errors.items():
                if field in form.fields:
                    for msg in msgs:
                        form.add_error(field, msg)
        else:
            if not request.user.is_authenticated:
                remember_guest_order(request.session, result.order.pk)
            messages.success(request, "Thank you! Your order has been placed.")
            return redirect(f"/orders/{result.order.pk}/")
    # A fresh key, so the next attempt (another card) is a new payment; the same key when
    # the outcome is unknown, so the next attempt replays the order if it was placed.
    post = request.POST.copy()
    post["idempotency_key"] = kept_key or uuid.uuid4().hex
    form.data = post
    return render(
        request,
        "storefront/checkout.html",
        {"form": form, "summary": cart_summary(cart=cart), "error": error},
    )


CHECKOUT_UNAVAILABLE = (
    "We could not place your order just now; your cart is as it was. Please try again in a "
    "moment: sending the form again will not order twice."
)


def _checkout_through_facade(
    request: HttpRequest, form: CheckoutForm
) -> tuple[HttpResponse | None, str | None, str | None]:
    """(the redirect to the new order, or the error to show and the key to keep)."""
    if request.headers.get(dry_run.HEADER):
        # A dry run rolls back this database only; the orders service would keep the order.
        return None, "Checkout cannot be tried as a dry run here.", None
    key = delegation.idempotency_key(request, form.cleaned_data)
    answer = delegation.checkout_through_facade(request, form.cleaned_data, key=key)
    order_id = answer.body.get("id")
    if answer.status == 201 and isinstance(order_id, int) and not isinstance(order_id, bool):
        if not request.user.is_authenticated:
            remember_guest_order(request.session, order_id)
        remember_placed_order(request.session, order_id)
        messages.success(request, "Thank you! Your order has been placed.")
        return redirect(f"/orders/{order_id}/"), None, None
    if answer.status is None or answer.status < 400 or answer.status >= 500:
        return None, CHECKOUT_UNAVAILABLE, key  # no answer, or none we understand
    if answer.status == 402:
        return None, f"Payment declined: {answer.detail or 'Your card was declined.'}", None
    for name, msgs in answer.errors.items():
        if name in form.fields:
            for msg in msgs:
                form.add_error(name, msg)
    return None, answer.detail or "Your order could not be placed.", None


@login_required
@require_GET
def order_history(request: HttpRequest) -> HttpResponse:
    page = Paginator(orders.order_list(user=request.user), 20).get_page(request.GET.get("page"))
    return render(request, "storefront/order_history.html", {"page": page})


@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    try:
        order = orders.order_get(
            order_id=order_id, user=request.user, guest_order_ids=guest_order_ids(request.session)
        )
    except NotFound as exc:
        if order_id in placed_order_ids(request.session):
            # Placed by the orders service; the reverse sync has not brought it here yet.
            pending = render(request, "storefront/order_pending.html", {"order_id": order_id})
            pending["Refresh"] = "2"
            return pending
        raise Http404(exc.detail) from exc
    return render(request, "storefront/order_detail.html", {"order": order})


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = customer_register(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                marketing_opt_in=form.cleaned_data["marketing_opt_in"],
            )
        except DomainError as exc:
            for field, msgs in exc.errors.items():
                for msg in msgs:
                    form.add_error(field if field in form.fields else None, msg)
        else:
            login(request, customer.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account has been created.")
            return redirect("/")
    return render(request, "registration/register.html", {"form": form})
