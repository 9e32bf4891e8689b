"""Auth endpoints: session login/logout for browsers, DRF tokens for API clients."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import User
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.core.errors import ValidationFailed


def me_json(user: Any) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "is_staff": user.is_staff,
    }


class CredentialsInput(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


def _authenticate(request: Request) -> User:
    serializer = CredentialsInput(data=request.data)
    serializer.is_valid(raise_exception=True)
    user = authenticate(
        request._request,
        username=serializer.validated_data["username"],
        password=serializer.validated_data["password"],
    )
    if user is None:
        raise ValidationFailed(
            "Wrong username or password.",
            errors={"non_field_errors": ["Wrong username or password."]},
        )
    return user


class LoginApi(APIView):
    """Session login. JSON only, so a cross-site form cannot post here (no CSRF needed)."""

    authentication_classes: list[type] = []

    def post(self, request: Request) -> Response:
        user = _authenticate(request)
        login(request._request, user)  # rotates the session key and the CSRF token
        return Response(me_json(user))


class LogoutApi(APIView):
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenApi(APIView):
    authentication_classes: list[type] = []

    def post(self, request: Request) -> Response:
        user = _authenticate(request)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


@method_decorator(ensure_csrf_cookie, name="dispatch")
class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(me_json(request.user))
