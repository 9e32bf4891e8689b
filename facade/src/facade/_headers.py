"""Header plumbing of the proxy: hop-by-hop stripping, forwarding headers, ids, Location."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from facade.types import RawHeaders

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The identity bridge (facade.identity): the signed identity only the facade may send, and
# the monolith's note that a login/logout ended an identity (never shown to clients).
IDENTITY_HEADER = b"x-strangler-identity"
IDENTITY_REVOKED = b"x-strangler-identity-revoked"
# Request-only: the facade streams the body itself, so it never needs the client's Expect,
# and the ids/forwarding headers are (re)written below.
_REQUEST_DROP = HOP_BY_HOP | {
    b"expect",
    b"host",
    b"x-request-id",
    b"traceparent",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"forwarded",
    b"content-length",
    # Only the facade may ask for a dry run (shadow copies of writes): a client's copy of
    # the header would otherwise reach an upstream that trusts the facade's address.
    b"x-strangler-dry-run",
    # A client's identity header would be a forged identity: an upstream trusts only the
    # facade's, which is added after this.
    IDENTITY_HEADER,
}
# Checked in the hop-by-hop branch, so the loop over ordinary headers costs nothing more.
_RESPONSE_DROP = HOP_BY_HOP | {IDENTITY_REVOKED}
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")
_TRACEPARENT = re.compile(rb"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(slots=True)
class IncomingHeaders:
    forward: RawHeaders = field(default_factory=list)
    host: bytes = b""
    content_length: int | None = None
    bad_content_length: bool = False
    chunked: bool = False
    request_id: bytes | None = None
    traceparent: bytes | None = None
    cookie: bytes | None = None
    forwarded_for: bytes | None = None
    forwarded_proto: bytes | None = None
    forwarded_host: bytes | None = None
    all: dict[str, str] | None = None


def split_request_headers(raw: RawHeaders) -> IncomingHeaders:
    """One pass over the client's headers (ASGI gives them lower-cased)."""
    out = IncomingHeaders()
    forward = out.forward
    connection_tokens: list[bytes] | None = None
    for name, value in raw:
        if name not in _REQUEST_DROP:
            if name == b"cookie":
                out.cookie = value if out.cookie is None else out.cookie + b"; " + value
            forward.append((name, value))
            continue
        if name == b"host":
            out.host = value
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                out.bad_content_length = True
            else:
                if length < 0 or (out.content_length is not None and out.content_length != length):
                    out.bad_content_length = True
                out.content_length = length
        elif name == b"transfer-encoding":
            out.chunked = out.chunked or b"chunked" in value.lower()
        elif name == b"x-request-id":
            out.request_id = value
        elif name == b"traceparent":
            out.traceparent = value
        elif name == b"x-forwarded-for":
            out.forwarded_for = (
                value if out.forwarded_for is None else out.forwarded_for + b", " + value
            )
        elif name == b"x-forwarded-proto":
            out.forwarded_proto = value
        elif name == b"x-forwarded-host":
            out.forwarded_host = value
        elif name == b"connection":
            connection_tokens = (connection_tokens or []) + [
                t.strip().lower() for t in value.split(b",") if t.strip()
            ]
    if connection_tokens:
        drop = set(connection_tokens)
        out.forward = [(n, v) for n, v in forward if n not in drop]
    return out


def header_dict(raw: RawHeaders) -> dict[str, str]:
    """For route conditions: last value wins, cookies joined."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        if key == "cookie" and key in out:
            out[key] += "; " + text
        else:
            out[key] = text
    return out


class _Entropy:
    """Random bytes from the OS, fetched 4 KiB at a time: one getrandom() per ~100 requests."""

    __slots__ = ("_block", "_pos")

    def __init__(self) -> None:
        self._block = b""
        self._pos = 0

    def hex(self, size: int) -> bytes:
        """``size`` random bytes as lower-case hex (``2 * size`` characters)."""
        chars = 2 * size
        pos = self._pos
        if pos + chars > len(self._block):
            # Hex-encoded once per block: an id is then a single slice.
            self._block, pos = os.urandom(4096).hex().encode(), 0
        self._pos = pos + chars
        return self._block[pos : pos + chars]


_entropy = _Entropy()
random_hex = _entropy.hex


def request_id(incoming: bytes | None) -> bytes:
    if incoming is not None and _REQUEST_ID.match(incoming):
        return incoming
    return random_hex(16)


def traceparent(incoming: bytes | None) -> bytes:
    """Continue the caller's trace with a new span of ours, or start one (W3C Trace Context)."""
    span = random_hex(8)
    if incoming is not None:
        found = _TRACEPARENT.match(incoming.strip().lower())
        if found:
            version, trace, _parent, flags, rest = found.groups()
            valid = (
                version != b"ff"
                and trace != b"0" * 32
                and _parent != b"0" * 16
                and (version != b"00" or rest is None)
            )
            if valid:
                return b"00-" + trace + b"-" + span + b"-" + flags
    return b"00-" + random_hex(16) + b"-" + span + b"-01"


def response_headers(
    raw: RawHeaders,
    request_id_value: bytes,
    upstream_origins: frozenset[bytes],
    facade_origin: bytes,
    on_identity_revoked: Callable[[], None] | None = None,
) -> RawHeaders:
    out: RawHeaders = []
    connection_tokens: set[bytes] | None = None
    has_request_id = False
    for name, value in raw:
        lname = name.lower()
        if lname in _RESPONSE_DROP:
            if lname == IDENTITY_REVOKED:
                if on_identity_revoked is not None:
                    on_identity_revoked()
            elif lname == b"connection":
                lvalue = value.lower()
                if lvalue not in (b"keep-alive", b"close"):  # those name no other header
                    connection_tokens = (connection_tokens or set()) | {
                        t.strip() for t in lvalue.split(b",") if t.strip()
                    }
            continue
        if lname == b"location" and value[:4].lower() == b"http":
            value = rewrite_location(value, upstream_origins, facade_origin)
        elif lname == b"x-request-id":
            has_request_id = True
        out.append((name, value))
    if connection_tokens:
        out = [(n, v) for n, v in out if n.lower() not in connection_tokens]
    if not has_request_id:
        out.append((b"x-request-id", request_id_value))
    return out


def rewrite_location(
    value: bytes, upstream_origins: frozenset[bytes], facade_origin: bytes
) -> bytes:
    """``http://10.0.0.5:8000/x`` (an upstream's own origin) becomes ``<facade origin>/x``."""
    scheme_end = value.find(b"://")
    if scheme_end < 0:
        return value
    path_start = value.find(b"/", scheme_end + 3)
    origin = value if path_start < 0 else value[:path_start]
    if origin.lower() in upstream_origins:
        return facade_origin + (b"/" if path_start < 0 else value[path_start:])
    return value
