"""The same client interface over aiohttp: the benchmark's other candidate."""

from __future__ import annotations

import aiohttp
from multidict import CIMultiDict

from facade.client import Origin, RequestBody, UpstreamResponse
from facade.errors import ConnectFailed, UpstreamDisconnected, UpstreamTimeout
from facade.types import RawHeaders


class _AiohttpResponse:
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: RawHeaders = list(resp.raw_headers)

    def complete_body(self) -> bytes | None:
        return None

    async def read_chunk(self) -> bytes:
        try:
            return await self._resp.content.readany()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout("reading the response body") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamDisconnected(str(exc)) from exc

    def release(self) -> None:
        if self._resp.content.at_eof():
            self._resp.release()
        else:
            self._resp.close()


class AiohttpClient:
    def __init__(self, max_idle: int = 256) -> None:
        self._max_idle = max_idle
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=1.5),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: RawHeaders,
        body: RequestBody,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive_expiry: float,
    ) -> UpstreamResponse:
        session = self._get_session()
        hdrs: CIMultiDict[str] = CIMultiDict(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
        )
        data: object = body.data if body.data is not None else body.stream
        if body.stream is not None:
            body.started = True
        try:
            resp = await session.request(
                method,
                origin.url + target.decode("latin-1"),
                headers=hdrs,
                data=data,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        except aiohttp.ClientConnectorError as exc:
            raise ConnectFailed(str(exc)) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise ConnectFailed(f"connect to {origin.url} timed out") from exc
            raise UpstreamTimeout("waiting for the response headers") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamDisconnected(str(exc)) from exc
        return _AiohttpResponse(resp)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
