"""POST /_internal/inventory/reservations and /releases: the saga's stock commands."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from shop.catalog.models import Product
from shop.inventory.models import InventoryCommand, StockMove

from .conftest import Internal


def stock(*products: Product) -> list[int]:
    return [Product.objects.get(pk=p.pk).qty for p in products]


def outbox_rows() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM outbox")
        return int(cur.fetchone()[0])


@pytest.mark.django_db
class TestReserve:
    def test_reserves_every_line_with_order_refs_and_events(
        self, internal: Internal, make_product: Callable[..., Product]
    ) -> None:
        a, b = make_product(stock=5), make_product(stock=3)
        events = outbox_rows()
        command = str(uuid.uuid4())
        response = internal.reserve(1_000_000_001, [(b.pk, 2), (a.pk, 1), (a.pk, 1)], command)
        assert response.status_code == 200
        body = response.json()
        assert body["command_id"] == command
        assert (body["outcome"], body["replayed"], body["sku"], body["available"]) == (
            "reserved", False, None, None
        )  # fmt: skip
        assert isinstance(body["detail"], str)
        assert stock(a, b) == [3, 1]
        moves = StockMove.objects.filter(ref="order:1000000001").order_by("product_id")
        assert [(m.product_id, m.delta, m.reason) for m in moves] == [
            (a.pk, -2, "sale"), (b.pk, -2, "sale")
        ]  # fmt: skip
        assert outbox_rows() == events + 2  # one stock event per product, as for a checkout
        recorded = InventoryCommand.objects.get(command_id=command)
        assert (recorded.kind, recorded.order_id, str(recorded.reservation_id)) == (
            "reserve", 1_000_000_001, command
        )  # fmt: skip
        assert recorded.lines == [
            {"product_id": a.pk, "quantity": 2}, {"product_id": b.pk, "quantity": 2}
        ]  # fmt: skip

    def test_a_repeated_command_replays_and_changes_nothing(
        self, internal: Internal, make_product: Callable[..., Product]
    ) -> None:
        a = make_product(stock=5)
        command = str(uuid.uuid4())
        first = internal.reserve(7, [(a.pk, 2)], command).json()
        moves, events = StockMove.objects.count(), outbox_rows()
        again = internal.reserve(7, [(a.pk, 2)], command).json()
        assert again == {**first, "replayed": True}
        assert stock(a) == [3]
        assert (StockMove.objects.count(), outbox_rows()) == (moves, events)

    def test_all_or_nothing_when_one_line_is_short(
        self, internal: Internal, make_product: Callable[..., Product]
    ) -> None:
        a, b = make_product(stock=5), make_product(sku="short-1", stock=1)
        moves = StockMove.objects.count()
        command = str(uuid.uuid4())
        body = internal.reserve(8, [(a.pk, 2), (b.pk, 2)], command).json()
        assert (body["outcome"], body["sku"], body["available"]) == ("insufficient_stock",
                                                                     "SHORT-1", 1)  # fmt: skip
        assert "SHORT-1" in body["detail"]
        assert stock(a, b) == [5, 1]
        assert StockMove.objects.count() == moves
        # The outcome is recorded: the same command stays refused even after a restock.
        Product.objects.filter(pk=b.pk).update(qty=10)
        again = internal.reserve(8, [(a.pk, 2), (b.pk, 2)], command).json()
        assert (again["outcome"], again["replayed"], again["available"]) == (
            "insufficient_stock", True, 1
        )  # fmt: skip
        assert stock(a, b) == [5, 10]

    def test_an_unknown_product_takes_nothing(
        self, internal: Internal, make_product: Callable[..., Product]
    ) -> None:
        a = make_product(stock=5)
        body = internal.reserve(9, [(a.pk, 1), (999_999, 1)]).json()
        assert body["outcome"] == "unknown_product"
        assert "999999" in body["detail"]
        assert (body["sku"], body["available"]) == (None, None)
        assert stock(a) == [5]

    def test_a_command_id_of_another_kind_or_order_is_a_conflict(
        self, internal: Internal, make_product: Callable[..., Product], assert_problem: Any
    ) -> None:
        a = make_product(stock=5)
        command = str(uuid.uuid4())
        internal.reserve(10, [(a.pk, 1)], command)
        body = assert_problem(internal.reserve(11, [(a.pk, 1)], command), 409)
        assert body["type"].endswith("/command-id-reused")
        assert_problem(internal.release(str(uuid.uuid4()), 10, command_id=command), 409)
        assert stock(a) == [4]


@pytest.mark.django_db
class TestRelease:
    def test_gives_back_exactly_what_the_reservation_took_once(
        self, internal: Internal, make_product: Callable[..., Product]
    ) -> None:
        a, b = make_product(stock=5), make_product(stock=5)
        reservation = str(uuid.uuid4())
        internal.reserve(20, [(a.pk, 2), (b.pk, 1)], reservation)
        command = str(uuid.uuid4())
        response = internal.release(reservation, 20, command)
        assert response.status_code == 200
        assert response.json() == {"command_id": command, "outcome": "released",
                                   "replayed": False}  # fmt: skip
        assert stock(a, b) == [5, 5]
        cancels = StockMove.objects.filter(ref="order:20", reason="cancel").order_by("product_id")
        assert [(m.product_id, m.delta) for m in cancels] == [(a.pk, 2), (b.pk, 1)]
        # The same command replays; another release of the same reservation gives nothing.
        assert internal.release(reservation, 20, command).json() == {
            "command_id": command, "outcome": "released", "replayed": True
        }  # fmt: skip
        other = internal.release(reservation, 20).json()
        assert (other["outcome"], other["replayed"]) == ("nothing_reserved", False)
        assert stock(a, b) == [5, 5]

    def test_release_before_reserve_leaves_a_tombstone(
        self, internal: Internal, make_product: Callable[..., Product]
    ) -> None:
        a = make_product(stock=5)
        reservation = str(uuid.uuid4())
        early = internal.release(reservation, 21).json()
        assert (early["outcome"], early["replayed"]) == ("nothing_reserved", False)
        late = internal.reserve(21, [(a.pk, 3)], reservation).json()
        assert (late["outcome"], late["replayed"]) == ("cancelled", False)
        assert stock(a) == [5]
        assert not StockMove.objects.filter(ref="order:21").exists()
        assert internal.reserve(21, [(a.pk, 3)], reservation).json()["outcome"] == "cancelled"
        assert internal.release(reservation, 21).json()["outcome"] == "nothing_reserved"
        assert stock(a) == [5]

    def test_a_reservation_that_took_nothing_releases_nothing(
        self, internal: Internal, make_product: Callable[..., Product]
    ) -> None:
        a = make_product(stock=1)
        reservation = str(uuid.uuid4())
        assert internal.reserve(22, [(a.pk, 5)], reservation).json()["outcome"] == (
            "insufficient_stock"
        )
        assert internal.release(reservation, 22).json()["outcome"] == "nothing_reserved"
        assert stock(a) == [1]

    def test_another_orders_reservation_is_a_conflict(
        self, internal: Internal, make_product: Callable[..., Product], assert_problem: Any
    ) -> None:
        a = make_product(stock=5)
        reservation = str(uuid.uuid4())
        internal.reserve(23, [(a.pk, 1)], reservation)
        assert_problem(internal.release(reservation, 24), 409)
        assert stock(a) == [4]


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call in a thread of its own (its own connection), all released together."""
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[Any] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcome: Any = call()
        except Exception as exc:  # collected and asserted on below
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.django_db(transaction=True)
def test_identical_commands_at_once_apply_once(make_product: Callable[..., Product]) -> None:
    a = make_product(stock=10)
    reservation = str(uuid.uuid4())
    reserved = _at_once([lambda: Internal().reserve(30, [(a.pk, 3)], reservation).json()] * 6)
    assert all(isinstance(r, dict) for r in reserved), reserved
    assert {r["outcome"] for r in reserved} == {"reserved"}
    assert sorted(r["replayed"] for r in reserved) == [False] + [True] * 5
    assert stock(a) == [7]
    release = str(uuid.uuid4())
    released = _at_once([lambda: Internal().release(reservation, 30, release).json()] * 6)
    assert all(isinstance(r, dict) for r in released), released
    assert {r["outcome"] for r in released} == {"released"}
    assert sorted(r["replayed"] for r in released) == [False] + [True] * 5
    assert stock(a) == [10]
    assert InventoryCommand.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_release_racing_its_reservation_never_leaks_stock(
    make_product: Callable[..., Product],
) -> None:
    a = make_product(stock=10)
    for order_id in range(40, 46):
        reservation = str(uuid.uuid4())
        results = _at_once(
            [
                lambda o=order_id, r=reservation: Internal().reserve(o, [(a.pk, 2)], r).json(),
                lambda o=order_id, r=reservation: Internal().release(r, o).json(),
            ]
        )
        assert all(isinstance(r, dict) for r in results), results
        outcomes = sorted(r["outcome"] for r in results)
        # Either the release came first (a tombstone: the reservation is cancelled) or the
        # reservation did (and the release gave it back): no stock is held either way.
        assert outcomes in (["cancelled", "nothing_reserved"], ["released", "reserved"]), results
        assert stock(a) == [10]
