"""Failures of a proxied exchange, classified by what the facade may do about them."""

from __future__ import annotations


class UpstreamError(Exception):
    kind = "error"


class ConnectFailed(UpstreamError):
    """Nothing was sent: safe to retry on another instance, whatever the method."""

    kind = "connect"


class UpstreamTimeout(UpstreamError):
    kind = "timeout"


class UpstreamDisconnected(UpstreamError):
    """The connection broke or the response was not valid HTTP/1.1."""

    kind = "disconnect"


class BodyTooLarge(Exception):
    pass


class ClientDisconnected(Exception):
    pass
