"""Read-only admin pages for retired capabilities (step 6, ``SHOP_RETIRED``).

Staff keep looking products and orders up where they always did, but the rows are the
reverse sync's read copy now: a form that saved would write past the new owner (and the
database refuses it anyway once the tables are read-only). Each admin registered for a
retired model is wrapped at start-up by a subclass that, while its capability is retired,
grants no add/change/delete permission and no bulk action, and says where edits go now.
The check runs per request, so the admins of capabilities still served are unchanged.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model
from django.http import HttpRequest

from shop.core.retirement import NEW_OWNER, RETIRED_ADMIN_MODELS, is_retired


def _read_only(base: type[admin.ModelAdmin[Any]], capability: str) -> type[admin.ModelAdmin[Any]]:
    class RetiredAdmin(base):  # type: ignore[valid-type,misc]
        def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
            return not is_retired(capability) and bool(super().has_add_permission(request, *args))

        def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return not is_retired(capability) and bool(super().has_change_permission(request, obj))

        def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return not is_retired(capability) and bool(super().has_delete_permission(request, obj))

        def get_actions(self, request: HttpRequest) -> dict[str, Any]:
            return {} if is_retired(capability) else dict(super().get_actions(request))

        def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
            if is_retired(capability):
                messages.info(
                    request,
                    f"The monolith's {capability} is retired: these rows are a read-only "
                    f"copy kept current by the reverse sync; {NEW_OWNER[capability]} "
                    "owns their writes.",
                )
            return super().changelist_view(request, extra_context)

    RetiredAdmin.__name__ = RetiredAdmin.__qualname__ = f"Retired{base.__name__}"
    return RetiredAdmin


def install(site: admin.AdminSite | None = None) -> list[type[Model]]:
    """Wrap the admins of every retirable model registered on ``site``; the models wrapped."""
    site = site or admin.site
    wrapped: list[type[Model]] = []
    for capability, labels in RETIRED_ADMIN_MODELS.items():
        for model, model_admin in list(site._registry.items()):
            if model._meta.label_lower not in labels:
                continue
            if type(model_admin).__name__.startswith("Retired"):
                continue  # installed already (a second call)
            site.unregister(model)
            site.register(model, _read_only(type(model_admin), capability))
            wrapped.append(model)
    return wrapped
