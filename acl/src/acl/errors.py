"""The one error every translator raises when a record cannot be translated faithfully."""

from __future__ import annotations

import logging

logger = logging.getLogger("acl")


class FieldProblem(ValueError):
    """A single field of a record cannot be translated; carries the field and the reason.

    Raised by the field-level helpers, which do not know which record they are looking at;
    the record-level translators turn it into :class:`UntranslatableRecord`.
    """

    def __init__(self, field: str, reason: str, value: object = None) -> None:
        self.field = field
        self.reason = reason
        self.value = value
        super().__init__(f"{field}: {reason} (got {value!r})")


class UntranslatableRecord(ValueError):
    """A legacy record (row, JSON document or event) that the ACL refuses to guess about.

    ``record`` names the kind of record (``shop_product``, ``legacy product JSON``, an event
    type), ``record_id`` its identity when known, ``field`` the offending field and
    ``reason`` what is wrong with it.
    """

    def __init__(
        self,
        *,
        record: str,
        record_id: object,
        field: str,
        reason: str,
        value: object = None,
    ) -> None:
        self.record = record
        self.record_id = record_id
        self.field = field
        self.reason = reason
        self.value = value
        super().__init__(
            f"untranslatable {record} id={record_id!r}: field {field!r}: {reason} (got {value!r})"
        )


def untranslatable(record: str, record_id: object, problem: FieldProblem) -> UntranslatableRecord:
    """Build (and log, once, here) the record-level error for a field problem."""
    error = UntranslatableRecord(
        record=record,
        record_id=record_id,
        field=problem.field,
        reason=problem.reason,
        value=problem.value,
    )
    logger.warning(
        "%s",
        error,
        extra={
            "acl_record": record,
            "acl_record_id": record_id,
            "acl_field": problem.field,
            "acl_reason": problem.reason,
        },
    )
    return error
