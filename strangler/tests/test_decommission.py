"""The decommission report: metrics parsed from real Prometheus text, the report built from
fabricated snapshots (resets said, not hidden), table counters and the CLI on a real
PostgreSQL with metrics served over HTTP."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from contracts.servers import UvicornThread
from facade.metrics import Metrics
from prometheus_client import CollectorRegistry, Counter, generate_latest
from strangler.cli import app
from strangler.decommission import (
    Snapshot,
    build_report,
    database_counters,
    facade_route_counts,
    load_retirement,
    load_snapshots,
    monolith_view_counts,
    parse_samples,
    save_snapshot,
)
from strangler.retire import make_read_only
from strangler.steps import PLAN_DIR, PlanError, Retirement, load_manifest, load_plan
from strangler.testing.databases import scratch_database
from typer.testing import CliRunner

RETIREMENT = Retirement.model_validate(
    {
        "capabilities": {
            "catalog": {
                "cutover": "step-4-catalog-writes",
                "owner": "the catalog service",
                "sync_origin": "sync:catalog",
                "views": ["api:product-list", "api:product-detail"],
                "routes": ["catalog-products", "catalog-product-writes"],
                "tables": ["shop_category", {"name": "shop_product",
                                             "writable_columns": ["qty", "updated"]}],
            },
            "orders": {
                "cutover": "step-5-orders-saga",
                "owner": "the orders service",
                "sync_origin": "sync:orders",
                "views": ["api:checkout", "api:order-list"],
                "routes": ["orders-checkout", "orders-reads"],
                "tables": ["shop_order", "shop_payment"],
            },
        }
    }
)  # fmt: skip
SERVER = {"server_started": "2026-01-01T00:00:00+00:00", "stats_reset": None}


def tables(**writes: int) -> dict[str, dict[str, int]]:
    """``shop_order=5`` -> five inserts; the report adds all three counters up."""
    return {name: {"inserted": n, "updated": 0, "deleted": 0} for name, n in writes.items()}


def snap(
    label: str,
    at: str,
    *,
    table_writes: dict[str, int],
    guarded: list[str] | None = None,
    views: dict[str, float] | None = None,
    routes: dict[str, dict[str, float]] | None = None,
    server: dict[str, Any] | None = None,
    created: dict[str, float] | None = None,
) -> Snapshot:
    return Snapshot(
        label=label,
        taken_at=f"2026-03-{at}T12:00:00+00:00",
        database={**(server or SERVER), "tables": tables(**table_writes),
                  "guarded": guarded or []},
        monolith_views=views if views is not None else {},
        facade_routes=routes if routes is not None else {},
        facade_created=created or {},
    )  # fmt: skip


BASE_TABLES = dict(shop_category=10, shop_product=100, shop_order=50, shop_payment=50, shop_cart=5)
STEP4 = snap(
    "step-4-catalog-writes", "01", table_writes=BASE_TABLES,
    views={"api:product-list": 900, "api:product-detail": 300, "api:checkout": 40,
           "product-list": 10},
    routes={"catalog-products": {"catalog": 1000, "monolith": 3}, "default": {"monolith": 500}},
)  # fmt: skip
STEP5 = snap(
    "step-5-orders-saga", "10",
    table_writes={**BASE_TABLES, "shop_product": 140, "shop_order": 80, "shop_payment": 80},
    views={"api:product-list": 900, "api:product-detail": 300, "api:checkout": 70,
           "api:order-list": 20, "product-list": 30},
    routes={"catalog-products": {"catalog": 3000, "monolith": 3}, "default": {"monolith": 900},
            "orders-reads": {"orders": 10, "monolith": 20}},
)  # fmt: skip
# The step 6 snapshot is taken right after the tables turned read-only.
STEP6 = snap(
    "step-6-retire", "20",
    table_writes={**BASE_TABLES, "shop_product": 150, "shop_order": 90, "shop_payment": 90},
    guarded=["shop_category", "shop_product", "shop_order", "shop_payment"],
    views=STEP5.monolith_views, routes=STEP5.facade_routes,
)  # fmt: skip
SNAPSHOTS = {s.label: s for s in (STEP4, STEP5, STEP6)}


def now_snapshot(**changes: Any) -> Snapshot:
    values: dict[str, Any] = dict(
        table_writes={**BASE_TABLES, "shop_product": 170, "shop_order": 95, "shop_payment": 95,
                      "shop_cart": 40},
        guarded=["shop_category", "shop_product", "shop_order", "shop_payment"],
        views={"api:product-list": 900, "api:product-detail": 300, "api:checkout": 70,
               "api:order-list": 20, "product-list": 80, "cart": 12},
        routes={"catalog-products": {"catalog": 9000, "monolith": 3},
                "default": {"monolith": 1500}, "orders-reads": {"orders": 400, "monolith": 20}},
    )  # fmt: skip
    values.update(changes)
    return snap("now", "25", **values)


# -- Prometheus text


def test_the_facade_and_monolith_counters_parse_from_their_real_exposition() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.observe("orders-reads", "monolith", "extracted", 200, 0.01)
    metrics.observe("orders-reads", "monolith", "extracted", 404, 0.01)
    metrics.observe("orders-reads", "orders", "extracted", 200, 0.01)
    metrics.observe("default", "monolith", "monolith", 200, 0.01)
    metrics.observe("blocked", "-", "monolith", 503, 0.01)
    routes, created = facade_route_counts(generate_latest(metrics.registry).decode())
    assert routes == {
        "orders-reads": {"monolith": 4.0, "orders": 1.0},
        "default": {"monolith": 1.0},
        "blocked": {"-": 1.0},
    }
    assert set(created) == {"orders-reads\x00monolith", "orders-reads\x00orders",
                            "default\x00monolith", "blocked\x00-"}  # fmt: skip

    registry = CollectorRegistry()
    requests = Counter("http_requests", "as shop.core.observability", ["method", "route", "status"],
                       registry=registry)  # fmt: skip
    requests.labels("GET", "api:product-list", "200").inc(5)
    requests.labels("GET", "api:product-list", "404").inc(2)
    requests.labels("POST", "api:checkout", "201").inc()
    requests.labels("GET", 'odd "route", with\\escapes', "200").inc()
    requests.labels("GET", "<unmatched>", "404").inc(4)
    views = monolith_view_counts(generate_latest(registry).decode())
    assert views == {
        "api:product-list": 7.0,
        "api:checkout": 1.0,
        'odd "route", with\\escapes': 1.0,
        "<unmatched>": 4.0,
    }


def test_odd_lines_are_skipped_not_fatal() -> None:
    text = "\n".join([
        "# HELP x y", 'x_total{a="1"} 2', 'x_total{a="1" 3', "x_total{a=1} 4", "x_total nan?",
        'x_total{a="2",} 5 1700000000000', "",
    ])  # fmt: skip
    assert [(s.labels, s.value) for s in parse_samples(text, ["x_total"])] == [
        ({"a": "1"}, 2.0),
        ({"a": "2"}, 5.0),
    ]


# -- the report from fabricated snapshots


def test_a_clean_retirement_is_ready_to_drop() -> None:
    report = build_report(RETIREMENT, SNAPSHOTS, now_snapshot(
        routes={"catalog-products": {"catalog": 9000, "monolith": 3},
                "default": {"monolith": 1500}, "orders-reads": {"orders": 400, "monolith": 20}},
    ))  # fmt: skip
    assert report.missing == []
    assert report.blockers == []
    assert report.ready
    assert report.verdict.startswith("ready to drop")
    # Still served: the monolith's own traffic, since the latest cut-over.
    assert [(r.route, r.capability, r.since, r.answered.value) for r in report.served_routes] == [
        ("default", None, "step-5-orders-saga", 600.0)
    ]
    assert [(v.view, v.requests.value) for v in report.served_views if v.requests] == [
        ("cart", 12.0),
        ("product-list", 50.0),
    ]
    idle = {v.view: (v.capability, v.since) for v in report.idle_views}
    assert idle == {
        "api:product-list": ("catalog", "step-4-catalog-writes"),
        "api:product-detail": ("catalog", "step-4-catalog-writes"),
        "api:checkout": ("orders", "step-5-orders-saga"),
        "api:order-list": ("orders", "step-5-orders-saga"),
    }
    verdicts = {t.table: (t.verdict, t.writes.value if t.writes else None) for t in report.tables}
    assert verdicts == {
        "shop_category": ("not written", 0.0),
        "shop_product": ("sync only", 70.0),
        "shop_order": ("sync only", 15.0),
        "shop_payment": ("sync only", 15.0),
    }
    product = next(t for t in report.tables if t.table == "shop_product")
    assert "read-only since step-6-retire: 20 write(s) since" in product.detail
    assert "sync:catalog or the monolith's changes to qty, updated only" in product.detail
    assert "50 between step-4-catalog-writes and step-6-retire (not attributed)" in product.detail


def test_traffic_to_retired_parts_and_unguarded_writes_block_it() -> None:
    now = now_snapshot(
        views={**now_snapshot().monolith_views, "api:checkout": 75},  # type: ignore[dict-item]
        routes={"catalog-products": {"catalog": 9000, "monolith": 9},
                "default": {"monolith": 1500}, "orders-reads": {"orders": 400, "monolith": 20}},
        guarded=["shop_category", "shop_product", "shop_payment"],
    )  # fmt: skip
    report = build_report(RETIREMENT, SNAPSHOTS, now)
    assert not report.ready
    assert report.blockers == [
        "facade route catalog-products (catalog) answered by the monolith 6x",
        "retired view api:checkout got 5 request(s)",
        "table shop_order still written: not read-only: `strangler decommission read-only` "
        "guards it",
    ]
    assert report.verdict.startswith("not ready: 3 blocker(s): facade route catalog-products")


def test_a_missing_cutover_snapshot_is_said() -> None:
    report = build_report(RETIREMENT, {"step-4-catalog-writes": STEP4}, now_snapshot())
    assert report.missing == ["step-5-orders-saga"]
    assert "snapshot step-5-orders-saga missing" in report.blockers
    orders_tables = [t for t in report.tables if t.capability == "orders"]
    assert {t.verdict for t in orders_tables} == {"unknown"}


def test_guarded_now_but_in_no_snapshot_cannot_be_attributed() -> None:
    snapshots = {"step-4-catalog-writes": STEP4, "step-5-orders-saga": STEP5}
    report = build_report(RETIREMENT, snapshots, now_snapshot())
    order = next(t for t in report.tables if t.table == "shop_order")
    assert order.verdict == "unknown"
    assert "no snapshot shows it read-only yet" in order.detail


def test_a_counter_that_went_back_is_a_reset_not_a_negative_difference() -> None:
    restarted = {"server_started": "2026-03-22T08:00:00+00:00", "stats_reset": None}
    now = now_snapshot(
        table_writes={name: 3 for name in BASE_TABLES},  # the server restarted: counts from 0
        server=restarted,
        views={"api:checkout": 2, "product-list": 5},  # the monolith restarted too
    )
    report = build_report(RETIREMENT, SNAPSHOTS, now)
    category = next(t for t in report.tables if t.table == "shop_category")
    assert category.writes is not None
    assert category.writes.reset
    assert category.writes.show() == ">= 3 (counter reset)"
    assert any("PostgreSQL restarted since step-4-catalog-writes" in n for n in report.notes)
    checkout = next(v for v in report.served_views if v.view == "api:checkout")
    assert checkout.requests is not None
    assert checkout.requests.show() == ">= 2 (counter reset)"
    assert any("request counters went back" in n for n in report.notes)
    assert not report.ready


def test_a_facade_series_created_after_the_snapshot_is_a_reset() -> None:
    step5 = snap("step-5-orders-saga", "10", table_writes=BASE_TABLES,
                 routes={"orders-reads": {"monolith": 20}},
                 created={"orders-reads\x00monolith": 1000.0})  # fmt: skip
    now = now_snapshot(routes={"orders-reads": {"monolith": 25}},
                       created={"orders-reads\x00monolith": 2000.0})  # fmt: skip
    report = build_report(RETIREMENT, {**SNAPSHOTS, step5.label: step5}, now)
    row = next(r for r in report.served_routes if r.route == "orders-reads")
    assert row.answered.show() == ">= 25 (counter reset)"


def test_the_report_is_json_serialisable() -> None:
    data = build_report(RETIREMENT, SNAPSHOTS, now_snapshot()).to_json()
    assert json.loads(json.dumps(data))["ready"] is True


# -- snapshots on disk and the plan's retire: section


def test_snapshots_round_trip_and_replace_by_label(tmp_path: Path) -> None:
    save_snapshot(tmp_path, STEP4)
    save_snapshot(tmp_path, STEP5)
    save_snapshot(tmp_path, Snapshot(**{**STEP5.__dict__, "taken_at": "later"}))
    loaded = load_snapshots(tmp_path)
    assert set(loaded) == {"step-4-catalog-writes", "step-5-orders-saga"}
    assert loaded["step-4-catalog-writes"] == STEP4
    assert loaded["step-5-orders-saga"].taken_at == "later"
    assert sorted(p.name for p in (tmp_path / "decommission").iterdir()) == [
        "step-4-catalog-writes.json",
        "step-5-orders-saga.json",
    ]


def test_step_6_declares_what_it_retires() -> None:
    step_id, retirement = load_retirement(PLAN_DIR)
    assert step_id == "step-6-retire"
    assert set(retirement.capabilities) == {"catalog", "orders"}
    orders = retirement.capabilities["orders"]
    assert orders.cutover == "step-5-orders-saga"
    assert orders.sync_origin == "sync:orders"
    assert [t.name for t in orders.tables] == ["shop_order", "shop_orderline", "shop_payment"]
    product = retirement.capabilities["catalog"].tables[1]
    assert (product.name, product.writable_columns) == ("shop_product", ["qty", "updated"])
    manifest = load_manifest(PLAN_DIR / "step-6-retire" / "step.yaml")
    assert manifest.status in ("in-progress", "done")


def test_a_cutover_must_be_an_earlier_step(tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, plan, ignore=shutil.ignore_patterns("*.md"))
    path = plan / "step-6-retire" / "step.yaml"
    document = yaml.safe_load(path.read_text())
    document["retire"]["capabilities"]["orders"]["cutover"] = "step-9-later"
    document["retire"]["capabilities"]["orders"]["routes"].append("no-such-route")
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    assert f"{path}: retire.capabilities.orders.cutover: 'step-9-later' is not an earlier " \
        "step of the plan" in caught.value.problems  # fmt: skip
    assert f"{path}: retire.capabilities.orders.routes: no route 'no-such-route' in " \
        "routes.yaml" in caught.value.problems  # fmt: skip


# -- real PostgreSQL and HTTP


@pytest.fixture
def shop_dsn() -> Iterator[str]:
    with scratch_database("decommission_test") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for table in ("shop_category", "shop_product", "shop_orderline", "shop_cart"):
                conn.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, qty integer)")
            conn.execute("CREATE TABLE shop_order (id serial PRIMARY KEY, status text)")
            conn.execute("CREATE TABLE shop_payment (id serial PRIMARY KEY, status text)")
            conn.execute("ALTER TABLE shop_product ADD COLUMN updated timestamptz")
        yield url


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def flushed_write(dsn: str, *statements: str) -> None:
    """Run the writes and make the server publish their statistics at once."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")  # the flush happens when the session goes idle


def writes_of(dsn: str, table: str) -> int:
    row = database_counters(dsn)["tables"][table]
    return int(row["inserted"] + row["updated"] + row["deleted"])


def test_table_counters_come_from_pg_stat_user_tables(shop_dsn: str) -> None:
    flushed_write(
        shop_dsn,
        "INSERT INTO shop_order (status) VALUES ('new'), ('new'), ('paid')",
        "UPDATE shop_order SET status = 'shipped' WHERE status = 'paid'",
        "DELETE FROM shop_order WHERE id = 1",
    )
    wait_for(lambda: writes_of(shop_dsn, "shop_order") == 5, "the order writes in the stats")
    counters = database_counters(shop_dsn)
    assert counters["tables"]["shop_order"] == {"inserted": 3, "updated": 1, "deleted": 1}
    assert counters["tables"]["shop_cart"] == {"inserted": 0, "updated": 0, "deleted": 0}
    assert counters["server_started"]
    assert counters["guarded"] == []
    make_read_only(shop_dsn, ["shop_order"], ["sync:orders"], owner="the orders service")
    assert database_counters(shop_dsn)["guarded"] == ["shop_order"]


class MetricsText:
    """An ASGI app answering GET /metrics with whatever ``text`` holds now."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4")]})  # fmt: skip
        await send({"type": "http.response.body", "body": self.text.encode()})


def monolith_text(**counts: int) -> str:
    registry = CollectorRegistry()
    requests = Counter("http_requests", "", ["method", "route", "status"], registry=registry)
    for view, n in counts.items():
        requests.labels("GET", view.replace("_", ":", 1).replace("_", "-"), "200").inc(n)
    return generate_latest(registry).decode()


def test_snapshot_then_report_through_the_cli(
    shop_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facade = Metrics()
    facade.observe("orders-reads", "orders", "extracted", 200, 0.01)
    facade.observe("default", "monolith", "monolith", 200, 0.01)
    monolith = MetricsText(monolith_text(api_order_list=4, api_checkout=2))
    facade_app = MetricsText(generate_latest(facade.registry).decode())
    runner = CliRunner()
    with (
        UvicornThread(monolith, lifespan="off") as monolith_url,
        UvicornThread(facade_app, lifespan="off") as facade_url,
    ):
        monkeypatch.setenv("STRANGLER_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("MONOLITH_PORT", monolith_url.rsplit(":", 1)[1])
        monkeypatch.setenv("FACADE_PORT", facade_url.rsplit(":", 1)[1])
        monkeypatch.setenv("FACADE_ADMIN_TOKEN", "decommission-test")
        dsn = ["--monolith-dsn", shop_dsn]
        flushed_write(shop_dsn, "INSERT INTO shop_order (status) VALUES ('new')")
        wait_for(lambda: writes_of(shop_dsn, "shop_order") == 1, "the first order in the stats")
        for label in ("step-4-catalog-writes", "step-5-orders-saga"):
            result = runner.invoke(app, ["decommission", "snapshot", "--label", label, *dsn])
            assert result.exit_code == 0, result.output
            assert f"snapshot {label}: 6 table(s), 2 monolith view(s), 2 facade route(s)" in (
                " ".join(result.output.split())
            )
        result = runner.invoke(app, ["decommission", "read-only", *dsn])
        assert result.exit_code == 0, result.output
        assert "shop_order, shop_orderline, shop_payment" in result.output
        result = runner.invoke(app, ["decommission", "snapshot", "--label", "step-6-retire", *dsn])
        assert result.exit_code == 0, result.output

        # After the retirement: the reverse sync writes an order, a client still calls the
        # monolith's order list, nobody checks out there.
        flushed_write(
            shop_dsn,
            "BEGIN",
            "SELECT set_config('outbox.origin', 'sync:orders', true)",
            "INSERT INTO shop_order (status) VALUES ('paid')",
            "COMMIT",
        )
        wait_for(lambda: writes_of(shop_dsn, "shop_order") == 2, "the synced order in the stats")
        monolith.text = monolith_text(api_order_list=5, api_checkout=2)
        result = runner.invoke(app, ["decommission", "report", "--json", *dsn])
        assert result.exit_code == 1, result.output
        report = json.loads(result.output)
        assert report["blockers"] == ["retired view api:order-list got 1 request(s)"]
        order = next(t for t in report["tables"] if t["table"] == "shop_order")
        assert order["verdict"] == "sync only"
        assert order["writes"] == {"value": 1.0, "reset": False}
        idle = {v["view"] for v in report["idle_views"]}
        assert {"api:checkout", "api:product-list", "api:category-detail"} <= idle

        monolith.text = monolith_text(api_order_list=4, api_checkout=2)  # as at the cut-over
        save_snapshot(tmp_path / "state", load_snapshots(tmp_path / "state")["step-5-orders-saga"])
        result = runner.invoke(app, ["decommission", "report", *dsn])
        text = " ".join(result.output.split())
        assert "Legacy tables" in text
        assert "verdict:" in text
        result = runner.invoke(app, ["decommission", "tables", *dsn])
        assert result.exit_code == 0, result.output
        assert "shop_order" in result.output
        result = runner.invoke(app, ["decommission", "writable", "--capability", "orders", *dsn])
        assert result.exit_code == 0, result.output
        assert "writable again: shop_order, shop_orderline, shop_payment" in result.output
