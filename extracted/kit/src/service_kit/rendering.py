"""Fast JSON rendering that is byte-identical to the monolith's (DRF ``JSONRenderer``).

orjson writes compact UTF-8 JSON like DRF; the one difference is U+2028/U+2029, which
DRF escapes. A test checks equality with ``acl.catalog.legacy_json.render``.
"""

from __future__ import annotations

import orjson


def render_json(document: object) -> bytes:
    body = orjson.dumps(document)
    if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
        body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return body
