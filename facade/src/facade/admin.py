"""The admin API under ``/_strangler/api/``: bearer token from FACADE_ADMIN_TOKEN.

GET  routes | routes/{id} | upstreams | audit?limit=N | shadow | match?method=&path=
GET  overview              what the dashboard shows: routes, breakers, last-minute stats
PUT  routes/{id}            {"mode": "canary", "percent": 10}   (PATCH works too; canary and
                            extracted pass the contract gate first, "force": true overrides)
POST upstreams/{name}/active {"pool": "green"}
POST reload                 re-read FACADE_ROUTES_FILE
GET  parity | parity/{id}   shadow comparison results (ROUTE_PARITY, see facade.parity)
DELETE parity/{id}          reset one route's results (audited)
PUT  config[?force=true]    replace the whole routes document (JSON); every route it moves
                            to canary or extracted passes the contract gate first
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any
from urllib.parse import parse_qs

import orjson

from facade.config import ConfigError, dump_config
from facade.dashboard import overview
from facade.gate import GateSettings, guard_document_change, guard_route_change
from facade.parity import MemoryParityStore, ParityStore
from facade.problem import send_json, send_problem
from facade.settings import FacadeSettings
from facade.shadow import ShadowQueue
from facade.state import RouteState
from facade.types import Receive, Scope, Send
from facade.window import RollingStats

PREFIX = "/_strangler/api"
_MAX_ADMIN_BODY = 1024 * 1024


class AdminAPI:
    def __init__(
        self,
        settings: FacadeSettings,
        state: RouteState,
        shadow: ShadowQueue,
        *,
        window: RollingStats | None = None,
    ) -> None:
        token = settings.admin_token.get_secret_value() if settings.admin_token else ""
        self._token = token.encode()
        self.state = state
        self.shadow = shadow
        self.parity: ParityStore = MemoryParityStore()  # the app hands its own store in
        self.gate = GateSettings.from_env()
        self.window = window if window is not None else RollingStats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._token:
            return await send_problem(
                send, 503, "the admin API is disabled: set FACADE_ADMIN_TOKEN to enable it"
            )
        auth = _header(scope, b"authorization")
        if auth is None or not auth.lower().startswith(b"bearer "):
            return await send_problem(
                send,
                401,
                "missing bearer token (Authorization: Bearer <FACADE_ADMIN_TOKEN>)",
                [(b"www-authenticate", b'Bearer realm="strangler"')],
            )
        if not hmac.compare_digest(auth[7:].strip(), self._token):
            return await send_problem(send, 403, "wrong admin token")
        actor = _header(scope, b"x-actor")
        who = f"admin:{actor.decode('latin-1')}" if actor else "admin"
        parts = [p for p in scope["path"][len(PREFIX) :].split("/") if p]
        method = scope["method"]
        try:
            await self._dispatch(scope, receive, send, method, parts, who)
        except ConfigError as exc:
            await send_problem(send, 422, "; ".join(exc.problems), problems=exc.problems)
        except _BadRequest as exc:
            await send_problem(send, 400, str(exc))

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, method: str, parts: list[str], who: str
    ) -> None:
        state = self.state
        snap = state.snapshot
        match (method, parts):
            case ("GET", ["routes"]):
                await send_json(
                    send,
                    200,
                    {
                        "version": snap.version,
                        "routes": [_route(r, snap) for r in snap.table.routes],
                    },
                )
            case ("GET", ["routes", rid]):
                route = snap.table.by_id.get(rid)
                if route is None:
                    return await send_problem(send, 404, f"no route {rid!r}")
                await send_json(send, 200, _route(route, snap))
            case ("PUT" | "PATCH", ["routes", rid]):
                changes = await _json_body(receive)
                if not isinstance(changes, dict):
                    raise _BadRequest('expected a JSON object such as {"mode": "extracted"}')
                force = changes.pop("force", False) is True
                refusal = await guard_route_change(
                    state, rid, changes, who=who, force=force, settings=self.gate
                )
                if refusal is not None:
                    return await send_problem(
                        send, 409, refusal.summary(), reasons=list(refusal.reasons)
                    )
                try:
                    new = await state.set_route(rid, changes, who=who)
                except KeyError:
                    return await send_problem(send, 404, f"no route {rid!r}")
                await send_json(send, 200, _route(new.table.by_id[rid], new))
            case ("GET", ["upstreams"]):
                await send_json(send, 200, {name: u.health() for name, u in snap.upstreams.items()})
            case ("POST" | "PUT", ["upstreams", name, "active"]):
                data = await _json_body(receive)
                pool = data.get("pool") if isinstance(data, dict) else None
                if not isinstance(pool, str):
                    raise _BadRequest('expected {"pool": "<name>"}')
                try:
                    new = await state.switch_pool(name, pool, who=who)
                except KeyError:
                    return await send_problem(send, 404, f"no upstream {name!r}")
                await send_json(send, 200, new.upstreams[name].health())
            case ("POST", ["reload"]):
                new_snap = await state.reload_file(who=who)
                await send_json(
                    send,
                    200,
                    {"changed": new_snap is not None, "version": state.snapshot.version},
                )
            case ("GET", ["config"]):
                await send_json(send, 200, dump_config(state.config))
            case ("PUT", ["config"]):
                document = await _json_body(receive)
                force = _flag_param(scope, "force")
                refusals = await guard_document_change(
                    state, document, who=who, force=force, settings=self.gate
                )
                if refusals:
                    reasons = [f"{r.route}: {reason}" for r in refusals for reason in r.reasons]
                    return await send_problem(
                        send, 409, "; ".join(r.summary() for r in refusals), reasons=reasons
                    )
                new = await state.propose(document, who=who, source="admin", action="replace")
                await send_json(send, 200, {"version": new.version})
            case ("GET", ["audit"]):
                limit = _int_param(scope, "limit", 100)
                await send_json(send, 200, {"entries": await state.audit.recent(limit)})
            case ("GET", ["overview"]):
                await send_json(send, 200, await overview(snap, self.window, state.audit))
            case ("GET", ["shadow"]):
                await send_json(send, 200, {k: dict(v) for k, v in self.shadow.stats.items()})
            case ("GET", ["parity"]):
                ids = [r.id for r in snap.table.routes if r.config.mode == "shadow"]
                ids += [rid for rid in await self.parity.route_ids() if rid not in ids]
                routes = [await self.parity.route(rid) for rid in ids]
                await send_json(send, 200, {"routes": routes})
            case ("GET", ["parity", rid]):
                if rid not in snap.table.by_id and rid not in await self.parity.route_ids():
                    return await send_problem(send, 404, f"no route {rid!r}")
                await send_json(send, 200, await self.parity.route(rid))
            case ("DELETE", ["parity", rid]):
                if rid not in snap.table.by_id and rid not in await self.parity.route_ids():
                    return await send_problem(send, 404, f"no route {rid!r}")
                before = await self.parity.route(rid)
                await self.parity.reset(rid)
                await state.audit.record(
                    {
                        "at": _now(),
                        "who": who,
                        "source": "admin",
                        "action": "reset-parity",
                        "result": "applied",
                        "version": snap.version,
                        "route": rid,
                        "old": {k: before[k] for k in ("compared", "matched", "mismatched")},
                    }
                )
                await send_json(send, 200, await self.parity.route(rid))
            case ("GET", ["match"]):
                qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                path = (qs.get("path") or ["/"])[0]
                verb = (qs.get("method") or ["GET"])[0].upper()
                route, params = snap.table.match(verb, path)
                await send_json(send, 200, {"route": _route(route, snap), "params": params})
            case _:
                await send_problem(send, 404, f"no admin endpoint {method} {scope['path']}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class _BadRequest(ValueError):
    pass


def _route(route: Any, snap: Any) -> dict[str, Any]:
    data: dict[str, Any] = route.config.model_dump(mode="json")
    data["fallback"] = route.fallback
    data["serving"] = (
        route.fallback
        if route.config.mode in ("monolith", "shadow")
        else (route.config.upstream if route.config.mode == "extracted" else "split")
    )
    return data


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _flag_param(scope: Scope, name: str) -> bool:
    qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return qs.get(name, ["false"])[-1].lower() in ("1", "true", "yes")


def _int_param(scope: Scope, name: str, default: int) -> int:
    qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        return max(1, min(1000, int((qs.get(name) or [default])[0])))
    except ValueError:
        return default


async def _json_body(receive: Receive) -> Any:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _BadRequest("client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_ADMIN_BODY:
            raise _BadRequest("request body too large")
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        return orjson.loads(b"".join(parts) or b"{}")
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"invalid JSON: {exc}") from None
