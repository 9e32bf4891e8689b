from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from facade.compare import MASK
from facade.recorder import TrafficRecorder

from .conftest import FacadeServer, ServerThread, UpstreamApp, wait_for


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.mark.anyio
async def test_a_sampled_request_is_written_without_credentials(tmp_path: Path) -> None:
    out = tmp_path / "traffic.jsonl"
    recorder = TrafficRecorder(out, 1.0)
    recorder.start()
    assert recorder.wants("GET")
    recorder.record(
        "GET",
        "/api/products/?page=2&token=abc&email=a@b.c",
        [
            (b"accept", b"application/json"),
            (b"cookie", b"sessionid=s3cret"),
            (b"authorization", b"Bearer s3cret"),
            (b"x-tag", b"a"),
            (b"x-tag", b"b"),
        ],
        None,
        "products",
        frozenset({"email"}),
    )
    await recorder.aclose()
    [line] = _lines(out)
    assert line["method"] == "GET"
    assert line["path"] == f"/api/products/?page=2&token={MASK}&email={MASK}"
    assert line["headers"] == {"accept": "application/json", "x-tag": "a, b"}
    assert line["body"] is None
    assert line["route"] == "products"
    assert line["at"].endswith("Z")
    assert "s3cret" not in out.read_text()


@pytest.mark.anyio
async def test_rate_zero_and_unlisted_methods_are_never_sampled(tmp_path: Path) -> None:
    off = TrafficRecorder(tmp_path / "off.jsonl", 0.0, draw=lambda: 0.0)
    assert not any(off.wants("GET") for _ in range(100))
    on = TrafficRecorder(tmp_path / "on.jsonl", 1.0)
    assert on.wants("HEAD")
    assert not on.wants("POST")
    half = TrafficRecorder(tmp_path / "half.jsonl", 0.5, draw=iter([0.1, 0.9]).__next__)
    assert [half.wants("GET"), half.wants("GET")] == [True, False]


@pytest.mark.anyio
async def test_a_full_queue_drops_instead_of_waiting(tmp_path: Path) -> None:
    recorder = TrafficRecorder(tmp_path / "t.jsonl", 1.0, queue_size=2)
    for _ in range(5):
        recorder.record("GET", "/x", [], None, "default")
    assert recorder.dropped == 3
    recorder.start()
    await recorder.aclose()
    assert len(_lines(tmp_path / "t.jsonl")) == 2
    assert recorder.recorded == 2


def test_the_facade_records_every_sampled_request_at_rate_one(
    tmp_path: Path,
    monolith: tuple[UpstreamApp, ServerThread],
    catalog: tuple[UpstreamApp, ServerThread],
    routes_doc: Callable[..., dict[str, Any]],
    facade_factory: Callable[..., FacadeServer],
) -> None:
    out = tmp_path / "traffic.jsonl"
    facade = facade_factory(
        routes_doc(monolith[1].url, catalog[1].url),
        record_file=out,
        record_sample=1.0,
        record_methods="GET,HEAD,POST",
    )
    with httpx.Client(base_url=facade.url, timeout=10) as client:
        for n in range(3):
            response = client.get(
                f"/api/products/{n}/?token=t0k&page={n}",
                headers={"cookie": "sessionid=abc", "authorization": "Bearer xyz"},
            )
            assert response.status_code == 200
        assert client.post("/orders/", content=b'{"qty": 2}').status_code == 200
        assert client.get("/healthz").status_code == 200  # the facade's own: not proxied
    lines = wait_for(lambda: len(_lines(out)) == 4 and _lines(out), 10, "4 recorded lines")
    gets = [line for line in lines if line["method"] == "GET"]
    assert sorted(line["path"] for line in gets) == [
        f"/api/products/{n}/?token={MASK}&page={n}" for n in range(3)
    ]
    assert {line["route"] for line in gets} == {"products"}
    assert all("cookie" not in line["headers"] for line in lines)
    assert all("authorization" not in line["headers"] for line in lines)
    [post] = [line for line in lines if line["method"] == "POST"]
    assert base64.b64decode(post["body"]) == b'{"qty": 2}'
    assert post["route"] == "default"
    # The recorded POST still reached the monolith whole: buffering did not eat the body.
    assert "/orders/" in monolith[0].hits


def test_the_facade_records_nothing_at_rate_zero(
    tmp_path: Path,
    monolith: tuple[UpstreamApp, ServerThread],
    catalog: tuple[UpstreamApp, ServerThread],
    routes_doc: Callable[..., dict[str, Any]],
    facade_factory: Callable[..., FacadeServer],
) -> None:
    out = tmp_path / "traffic.jsonl"
    facade = facade_factory(routes_doc(monolith[1].url, catalog[1].url), record_file=out)
    assert facade.app.recorder is None
    assert facade.app.proxy.recorder is None
    with httpx.Client(base_url=facade.url, timeout=10) as client:
        for n in range(5):
            assert client.get(f"/api/products/{n}/").status_code == 200
    wait_for(lambda: len(monolith[0].hits) == 5, 10, "requests proxied")
    assert not out.exists()


def test_only_listed_methods_are_recorded(
    tmp_path: Path,
    monolith: tuple[UpstreamApp, ServerThread],
    catalog: tuple[UpstreamApp, ServerThread],
    routes_doc: Callable[..., dict[str, Any]],
    facade_factory: Callable[..., FacadeServer],
) -> None:
    out = tmp_path / "traffic.jsonl"
    facade = facade_factory(
        routes_doc(monolith[1].url, catalog[1].url), record_file=out, record_sample=1.0
    )
    with httpx.Client(base_url=facade.url, timeout=10) as client:
        assert client.post("/orders/", content=b"{}").status_code == 200
        assert client.get("/api/products/1/").status_code == 200
    lines = wait_for(lambda: _lines(out), 10, "a recorded line")
    assert [line["method"] for line in lines] == ["GET"]
