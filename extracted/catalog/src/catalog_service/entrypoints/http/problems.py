"""The catalog's own problem: the monolith's ``ValidationFailed``.

Problem details themselves (the body, the handlers) are ``service_kit.problems``; unexpected
errors are logged under this module's logger.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from service_kit.problems import Problem

logger = logging.getLogger(__name__)


def invalid(detail: str, errors: Mapping[str, Sequence[str]]) -> Problem:  # ValidationFailed
    return Problem(400, "validation-error", detail, title="Invalid input", errors=errors)
