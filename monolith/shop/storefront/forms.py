from __future__ import annotations

from django import forms
from django.conf import settings


class AddToCartForm(forms.Form):
    product_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    quantity = forms.IntegerField(min_value=1, max_value=settings.SHOP_MAX_LINE_QUANTITY, initial=1)


class UpdateCartForm(forms.Form):
    product_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    # 0 removes the line (the storefront's "set to zero" habit).
    quantity = forms.IntegerField(min_value=0, max_value=settings.SHOP_MAX_LINE_QUANTITY)


class RemoveFromCartForm(forms.Form):
    product_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class CheckoutForm(forms.Form):
    email = forms.EmailField(max_length=254)
    name = forms.CharField(max_length=200, label="Full name")
    line1 = forms.CharField(max_length=200, label="Address")
    line2 = forms.CharField(max_length=200, required=False, label="Address (line 2)")
    zip = forms.CharField(max_length=20, label="Postcode")
    city = forms.CharField(max_length=100)
    country = forms.CharField(min_length=2, max_length=2, initial="DE", label="Country code")
    card_number = forms.CharField(
        max_length=40,
        label="Card number",
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    # Rendered into the form so a double submit replays instead of charging twice.
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput, required=False)


class RegisterForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)
    marketing_opt_in = forms.BooleanField(required=False, label="Send me offers")
