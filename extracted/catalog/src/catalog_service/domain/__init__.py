"""The catalog domain. The model itself is the ACL's published language (``acl.catalog.
domain``): the service and the translators must agree on it, and the ACL may not import the
service, so it lives there and is re-exported here. Sync rules that are the service's own
(which version wins) are defined below.
"""

from __future__ import annotations

import enum

from acl.catalog.domain import (
    Attribute,
    Category,
    CategoryNode,
    CategoryRef,
    Money,
    Product,
    ProductStatus,
    category_tree,
)


class ApplyOutcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this event id was handled before: nothing happens
    STALE = "stale"  # an equal or newer version is already stored: skipped


def is_newer(incoming_version: int, stored_version: int | None) -> bool:
    """Events apply only over older state; equal versions are the same state."""
    return stored_version is None or incoming_version > stored_version


__all__ = [
    "ApplyOutcome",
    "Attribute",
    "Category",
    "CategoryNode",
    "CategoryRef",
    "Money",
    "Product",
    "ProductStatus",
    "category_tree",
    "is_newer",
]
