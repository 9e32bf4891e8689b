"""Anti-corruption layer between the legacy shop and the extracted services.

Pure, typed translators with no framework imports. ``acl.catalog`` holds the catalog
domain model (``domain``), the legacy shapes (``legacy``), the field-level quirk rules
(``quirks``) and the translators for rows (``rows``), public JSON (``legacy_json``) and
integration events (``events``).
"""

from acl.errors import FieldProblem, UntranslatableRecord

__all__ = ["FieldProblem", "UntranslatableRecord"]
