"""The identity bridge: legacy credentials in, a short-lived signed token out.

Requests that an extracted service answers carry ``X-Strangler-Identity: <JWT>``: who the
user is, as the monolith knows it, signed with the facade's private key (Ed25519 or P-256)
and addressed to that service (``aud`` = the upstream's name). Services verify it with
the public key and never see Django's session cookie or token tables.

Where the identity comes from: ``GET /_internal/identity`` on the monolith, sent the one
credential that decides (``Authorization: Token ...`` first, like the monolith's API, else
the session cookie) and nothing else. Answers, anonymous ones included, are cached for a
few seconds in a bounded LRU keyed by a hash of that credential, and each signed token is
reused while more than half of its lifetime is left. An unanswered lookup is not cached:
the request goes on without a token, so a monolith outage degrades to anonymous, never to
someone else.

CSRF: a session cookie is an ambient credential, so a cookie-authenticated write that an
extracted service answers must prove it comes from the shop's own pages, as it would have
to on the monolith. For such a write the lookup also carries what Django's CSRF check
reads (``X-CSRFToken``, ``Origin``, ``Referer``, the csrftoken cookie) and the scheme and
host the client used; the monolith runs its own ``CsrfViewMiddleware`` on them and
answers the verdict with the identity. That lookup is made for every such write, never
answered from the cache nor shared with other requests: a verdict belongs to one request.
API tokens need no CSRF check (as in DRF): nothing sends them on the user's behalf.

Logout: the monolith marks the response to every login and logout
(``X-Strangler-Identity-Revoked``); the facade, which proxies it, drops the cached entry
of that request's credentials at once, and tells the other replicas through Redis when
one is configured. Anything the monolith does not announce (a session deleted by hand, a
staff flag removed) lasts at most the cache lifetime.

Secrets stay out of the logs: the cache key is a SHA-256 of the credential, and only
outcomes are logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from prometheus_client import CollectorRegistry, Counter

from facade._headers import IDENTITY_HEADER, IncomingHeaders
from facade.settings import FacadeSettings
from facade.state import log_event
from facade.types import RawHeaders

DEFAULT_MONOLITH = "http://127.0.0.1:8000"
IDENTITY_PATH = "/_internal/identity"
# What Django's CSRF check reads of a request, besides the csrftoken cookie.
CSRF_HEADERS = frozenset({b"x-csrftoken", b"origin", b"referer"})


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    is_staff: bool
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Credential:
    """The one credential the monolith is asked about, and its cache key."""

    key: bytes
    header: tuple[bytes, bytes]

    @property
    def is_session(self) -> bool:
        return self.header[0] == b"cookie"


@dataclass(frozen=True, slots=True)
class CsrfInputs:
    """A write as Django's CSRF check sees it: method, the client's scheme and host (as
    the facade forwards them), the headers it reads and the csrftoken cookie."""

    method: str
    scheme: bytes
    host: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    cookie: str | None = None


class CsrfFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def csrf_inputs(
    incoming: IncomingHeaders, *, method: str, scheme: bytes, host: bytes, cookie_name: str
) -> CsrfInputs:
    headers = tuple((n, v) for n, v in incoming.forward if n in CSRF_HEADERS)
    cookie = _cookie(incoming.cookie, cookie_name) if incoming.cookie is not None else None
    return CsrfInputs(method, scheme, host, headers, cookie)


def credential(incoming: IncomingHeaders, cookie_name: str) -> Credential | None:
    return _token(incoming) or _session(incoming, cookie_name)


def _token(incoming: IncomingHeaders) -> Credential | None:
    for name, value in incoming.forward:
        if name == b"authorization" and value[:6].lower() == b"token ":
            return Credential(b"t:" + hashlib.sha256(value).digest(), (name, value))
    return None


def _session(incoming: IncomingHeaders, cookie_name: str) -> Credential | None:
    if incoming.cookie is None:
        return None
    session = _cookie(incoming.cookie, cookie_name)
    if not session:
        return None
    return Credential(
        b"s:" + hashlib.sha256(session.encode()).digest(),
        (b"cookie", f"{cookie_name}={session}".encode()),
    )


def _cookie(raw: bytes, name: str) -> str | None:
    jar = SimpleCookie()
    with contextlib.suppress(CookieError):
        jar.load(raw.decode("latin-1"))
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class TokenSigner:
    """Signs identity tokens with an Ed25519 (EdDSA) or P-256 (ES256) private key."""

    def __init__(self, private_key_pem: bytes, *, issuer: str, ttl: int) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = "EdDSA"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
            self.algorithm = "ES256"
        else:
            raise ValueError("the identity key must be an Ed25519 or P-256 (ES256) private key")
        self._key = key
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = hashlib.sha256(public).hexdigest()[:16]
        self.issuer = issuer
        self.ttl = ttl

    def sign(self, identity: Identity, audience: str, now: float) -> str:
        issued = int(now)
        claims = {
            "sub": identity.user_id,
            "staff": identity.is_staff,
            "scopes": list(identity.scopes),
            "iat": issued,
            "exp": issued + self.ttl,
            "iss": self.issuer,
            "aud": audience,
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers={"kid": self.key_id})


@dataclass(slots=True)
class _Entry:
    identity: Identity | None
    expires: float
    tokens: dict[str, tuple[bytes, float]] = field(default_factory=dict)


class IdentityCache:
    """A bounded LRU of lookups with a lifetime; the least recently used goes first."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, identity: Identity | None) -> _Entry:
        entry = _Entry(identity, self.clock() + self.ttl)
        if self.ttl <= 0:
            return entry
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return entry

    def drop(self, key: bytes) -> bool:
        return self._entries.pop(key, None) is not None


class IdentityUnavailable(Exception):
    pass


class MonolithLookup:
    """``GET /_internal/identity`` with one credential; one long-lived client."""

    def __init__(self, url: str, timeout: float, csrf_cookie: str = "csrftoken") -> None:
        self.url = url
        self.csrf_cookie = csrf_cookie
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def __call__(self, cred: Credential, request_id: bytes) -> Identity | None:
        doc = await self._ask([cred.header], request_id)
        return None if doc is None else _identity(doc)

    async def check_csrf(
        self, cred: Credential, request_id: bytes, csrf: CsrfInputs
    ) -> tuple[Identity | None, str | None]:
        """The identity and Django's CSRF verdict on one write: None, or why it failed."""
        name, value = cred.header
        if csrf.cookie is not None:
            value += f"; {self.csrf_cookie}={csrf.cookie}".encode()
        headers = [
            (name, value),
            *csrf.headers,
            (b"x-strangler-csrf-check", csrf.method.encode()),
            (b"x-strangler-csrf-scheme", csrf.scheme),
            (b"x-strangler-csrf-host", csrf.host),
        ]
        doc = await self._ask(headers, request_id)
        if doc is None:
            return None, None
        verdict = doc.get("csrf")
        if not isinstance(verdict, dict):
            # A monolith that cannot judge gets no benefit of the doubt.
            return _identity(doc), "the monolith gave no CSRF verdict"
        if verdict.get("passed") is True:
            return _identity(doc), None
        return _identity(doc), str(verdict.get("reason") or "CSRF verification failed")

    async def _ask(self, headers: RawHeaders, request_id: bytes) -> dict[str, Any] | None:
        headers = [*headers, (b"accept", b"application/json"), (b"x-request-id", request_id)]
        try:
            resp = await self._client.get(self.url, headers=headers)
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(exc.__class__.__name__) from None
        if resp.status_code == 401:
            return None
        if resp.status_code != 200:
            raise IdentityUnavailable(f"status {resp.status_code}")
        try:
            doc = resp.json()
        except ValueError:
            raise IdentityUnavailable("malformed answer") from None
        if not isinstance(doc, dict):
            raise IdentityUnavailable("malformed answer")
        return doc

    async def aclose(self) -> None:
        await self._client.aclose()


def _identity(doc: dict[str, Any]) -> Identity:
    try:
        return Identity(
            user_id=str(int(doc["user_id"])),
            is_staff=bool(doc["is_staff"]),
            scopes=tuple(str(s) for s in doc.get("scopes", ())),
        )
    except (ValueError, KeyError, TypeError):
        raise IdentityUnavailable("malformed answer") from None


Lookup = Callable[[Credential, bytes], Any]
CsrfCheck = Callable[[Credential, bytes, CsrfInputs], Awaitable[tuple[Identity | None, str | None]]]


class IdentityBridge:
    def __init__(
        self,
        signer: TokenSigner,
        lookup: Lookup,
        *,
        cache_size: int,
        cache_ttl: float,
        cookie_name: str,
        csrf_check: CsrfCheck | None = None,
        csrf_cookie: str = "csrftoken",
        registry: CollectorRegistry | None = None,
        redis_url: str | None = None,
        redis_channel: str = "strangler:facade:identity-revoked",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.lookup = lookup
        self.cache = IdentityCache(cache_size, cache_ttl, clock)
        self.cookie_name = cookie_name
        self.csrf_check = csrf_check
        self.csrf_cookie = csrf_cookie
        self._wall = wall_clock
        self._pending: dict[bytes, asyncio.Future[Identity | None]] = {}
        self._redis_url = redis_url
        self._channel = redis_channel
        self._redis: Any = None
        self._listener: asyncio.Task[None] | None = None
        self.lookups = Counter(
            "facade_identity_lookups",
            "Identity resolutions for extracted services, by outcome.",
            ["outcome"],
            registry=registry,
        )

    async def start(self) -> None:
        if self._redis_url is None:
            return
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(self._redis_url)
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose()
        closer = getattr(self.lookup, "aclose", None)
        if closer is not None:
            await closer()

    async def header(
        self, incoming: IncomingHeaders, audience: str, request_id: bytes
    ) -> tuple[bytes, bytes] | None:
        """The identity header for ``audience``, or None for anonymous requests."""
        cred = credential(incoming, self.cookie_name)
        if cred is None:
            return None
        entry = self.cache.get(cred.key)
        if entry is None:
            try:
                identity = await self._resolve(cred, request_id)
            except IdentityUnavailable as exc:
                self.lookups.labels("unavailable").inc()
                log_event("identity_lookup_failed", error=str(exc))
                return None
            entry = self.cache.put(cred.key, identity)
        else:
            self.lookups.labels("cached").inc()
        return self._signed(entry, audience)

    async def write_header(
        self,
        incoming: IncomingHeaders,
        audience: str,
        request_id: bytes,
        *,
        method: str,
        scheme: bytes,
        host: bytes,
    ) -> tuple[bytes, bytes] | None:
        """The identity header for a write ``audience`` answers; ``CsrfFailed`` when the
        identity comes from the session cookie and Django's CSRF check refuses the write."""
        cred = credential(incoming, self.cookie_name)
        if cred is None or not cred.is_session:
            return await self.header(incoming, audience, request_id)
        if self.csrf_check is None:
            raise CsrfFailed("the facade has no way to check CSRF for this write")
        inputs = csrf_inputs(
            incoming, method=method, scheme=scheme, host=host, cookie_name=self.csrf_cookie
        )
        try:
            identity, reason = await self.csrf_check(cred, request_id, inputs)
        except IdentityUnavailable as exc:
            # Anonymous, as for any failed lookup: the service refuses an anonymous write.
            self.lookups.labels("unavailable").inc()
            log_event("identity_lookup_failed", error=str(exc))
            return None
        # The identity is as fresh as any lookup's; the verdict is this request's alone.
        entry = self.cache.put(cred.key, identity)
        if identity is None:
            self.lookups.labels("anonymous").inc()
            return None
        if reason is not None:
            self.lookups.labels("csrf_failed").inc()
            log_event("identity_csrf_failed", audience=audience, method=method)
            raise CsrfFailed(reason)
        self.lookups.labels("csrf_passed").inc()
        return self._signed(entry, audience)

    def _signed(self, entry: _Entry, audience: str) -> tuple[bytes, bytes] | None:
        if entry.identity is None:
            return None
        now = self._wall()
        cached = entry.tokens.get(audience)
        if cached is None or cached[1] <= now:
            token = self.signer.sign(entry.identity, audience, now).encode()
            cached = (token, now + self.signer.ttl / 2)
            entry.tokens[audience] = cached
        return (IDENTITY_HEADER, cached[0])

    async def _resolve(self, cred: Credential, request_id: bytes) -> Identity | None:
        # Concurrent misses for one credential share one lookup.
        pending = self._pending.get(cred.key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Identity | None] = asyncio.get_running_loop().create_future()
        self._pending[cred.key] = future
        try:
            identity: Identity | None = await self.lookup(cred, request_id)
        except BaseException as exc:
            # Waiters see a failed lookup, also when this request was cancelled.
            failure = (
                exc
                if isinstance(exc, IdentityUnavailable)
                else IdentityUnavailable(exc.__class__.__name__)
            )
            future.set_exception(failure)
            future.exception()  # marked as retrieved: there may be no waiter
            raise
        else:
            future.set_result(identity)
            self.lookups.labels("anonymous" if identity is None else "resolved").inc()
            return identity
        finally:
            del self._pending[cred.key]

    def revoke(self, incoming: IncomingHeaders) -> None:
        """The monolith announced a login/logout for this request's credentials."""
        found = (_token(incoming), _session(incoming, self.cookie_name))
        keys = [c.key for c in found if c is not None]
        for key in keys:
            self.cache.drop(key)
        self.lookups.labels("revoked").inc()
        if self._redis is not None and keys:
            payload = b",".join(k.hex().encode() for k in keys)
            asyncio.get_running_loop().create_task(self._publish(payload))

    async def _publish(self, payload: bytes) -> None:
        try:
            await self._redis.publish(self._channel, payload)
        except Exception as exc:
            log_event("identity_revoke_publish_failed", error=exc.__class__.__name__)

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            for key in bytes(message["data"]).split(b","):
                                with contextlib.suppress(ValueError):
                                    self.cache.drop(bytes.fromhex(key.decode()))
                finally:
                    await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_event("identity_pubsub_failed", error=exc.__class__.__name__)
                await asyncio.sleep(1.0)


def private_key_pem(settings: FacadeSettings) -> bytes | None:
    if settings.identity_private_key is not None:
        return settings.identity_private_key.get_secret_value().encode()
    if settings.identity_private_key_file is not None:
        return Path(settings.identity_private_key_file).read_bytes()
    return None


def identity_url(settings: FacadeSettings) -> str:
    if settings.identity_url:
        return settings.identity_url
    base = os.environ.get("MONOLITH_URL") or DEFAULT_MONOLITH
    return base.split(",")[0].strip().rstrip("/") + IDENTITY_PATH


def make_bridge(
    settings: FacadeSettings, registry: CollectorRegistry | None = None
) -> IdentityBridge | None:
    """The bridge, or None when no signing key is configured (no tokens are sent)."""
    pem = private_key_pem(settings)
    if pem is None:
        return None
    signer = TokenSigner(pem, issuer=settings.identity_issuer, ttl=settings.identity_token_ttl)
    csrf_cookie = settings.identity_csrf_cookie
    lookup = MonolithLookup(identity_url(settings), settings.identity_timeout, csrf_cookie)
    return IdentityBridge(
        signer,
        lookup,
        cache_size=settings.identity_cache_size,
        cache_ttl=settings.identity_cache_ttl,
        cookie_name=settings.identity_session_cookie,
        csrf_check=lookup.check_csrf,
        csrf_cookie=csrf_cookie,
        registry=registry,
        redis_url=settings.redis_url,
        redis_channel=f"{settings.redis_prefix}:identity-revoked",
    )


def with_identity(headers: RawHeaders, identity: tuple[bytes, bytes] | None) -> RawHeaders:
    return headers if identity is None else [*headers, identity]
