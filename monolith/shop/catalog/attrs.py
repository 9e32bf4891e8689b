"""The legacy ``attrs`` text column: ``key=value;key=value``.

Parsing rules (documented in monolith/README.md, relied on by the ACL):

* the empty string means "no attributes";
* segments are separated by ``;``; empty segments (``a=1;;b=2``, a trailing ``;``) are skipped;
* each segment splits at its FIRST ``=``; key and value are stripped of surrounding
  whitespace; values may contain inner spaces and further ``=`` characters;
* a segment without ``=`` or with an empty key is ignored (old hand-typed rows have them);
* a repeated key: the last one wins;
* there is no escaping: a value can never contain ``;``.
"""

from __future__ import annotations

from collections.abc import Mapping


def parse_attrs(raw: str | None) -> dict[str, str]:
    result: dict[str, str] = {}
    if not raw:
        return result
    for segment in raw.split(";"):
        key, sep, value = segment.partition("=")
        key = key.strip()
        if not sep or not key:
            continue
        result[key] = value.strip()
    return result


def attrs_errors(attributes: Mapping[str, object]) -> list[str]:
    """Why ``attributes`` cannot be packed into the legacy text, or [] when it can."""
    problems = []
    for key, value in attributes.items():
        if not isinstance(key, str) or not key.strip():
            problems.append("Attribute names must be non-empty strings.")
        elif ";" in key or "=" in key:
            problems.append(f"Attribute name {key!r} may not contain ';' or '='.")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append(f"Attribute {key!r} must be a string or a number.")
        elif ";" in str(value):
            problems.append(f"Attribute {key!r} may not contain ';'.")
    return problems


def format_attrs(attributes: Mapping[str, object]) -> str:
    """Pack a mapping into the legacy text (insertion order kept). Validate first."""
    return ";".join(f"{key.strip()}={str(value).strip()}" for key, value in attributes.items())
