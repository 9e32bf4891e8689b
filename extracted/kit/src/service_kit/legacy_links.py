"""Django's and DRF's link building, so paginated legacy answers carry the same URLs.

``next``/``previous`` in a DRF page are absolute URLs built from the request (honouring
``X-Forwarded-Host``/``-Proto`` behind the facade, like the monolith's ``BEHIND_FACADE``)
with the ``page`` query parameter replaced or removed and the query re-sorted, exactly as
DRF's ``replace_query_param``/``remove_query_param`` do.
"""

from __future__ import annotations

from urllib import parse

from starlette.requests import Request


def positive_int(raw: str | None, default: int, cutoff: int) -> int:
    """DRF's ``_positive_int(strict=True, cutoff=...)`` with its silent fallback."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return default if value <= 0 else min(value, cutoff)


def absolute_uri(request: Request, trust_forwarded: bool) -> str:
    """Django's ``request.build_absolute_uri()`` for this request."""
    headers = request.headers
    scheme = request.url.scheme
    host = headers.get("host", "")
    if trust_forwarded:
        proto = headers.get("x-forwarded-proto")
        if proto is not None:
            scheme = "https" if proto.split(",", 1)[0].strip() == "https" else "http"
        host = headers.get("x-forwarded-host", host)
    path = parse.quote(request.url.path, safe="/:@&+$,-_.!~*'()")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def replace_query_param(url: str, key: str, value: object) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict[key] = [str(value)]
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))
