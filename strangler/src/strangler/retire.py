"""Read-only legacy tables (step 6): the database refuses what the retired code no longer does.

Switching the monolith's routes off stops the writes we know of; a trigger stops the rest
(a forgotten cron job, a script, a hand-typed ``UPDATE``) with a message that says where
the writes go now. One trigger function serves every table: a row trigger for INSERT,
UPDATE and DELETE and a statement trigger for TRUNCATE, all BEFORE, all named
``strangler_retired_*``. The function lets a write through when

* the transaction is marked with one of the table's allowed origins
  (``current_setting('outbox.origin', true)``, set by ``outbox.mark_transaction_origin``):
  the reverse sync keeps the read copy current;
* it is an UPDATE that changes only the table's writable columns (``shop_product.qty`` and
  ``updated``: stock stays with the monolith's inventory).

The arguments travel with each trigger (``TG_ARGV``): retiring is one ``CREATE TRIGGER``
per table and kind, undoing it one ``DROP TRIGGER``; both are idempotent and take the
table's lock only for the moment of the DDL. ``DROP TABLE`` (the final migration) removes
the triggers with the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

ORIGIN_SETTING = "outbox.origin"  # outbox.writer.ORIGIN_SETTING
FUNCTION = "strangler_retired_table_guard"
ROW_TRIGGER = "strangler_retired_rows"
TRUNCATE_TRIGGER = "strangler_retired_truncate"
RETIRED_SINCE = "step 6"

# TG_ARGV: [0] the new owner, [1] allowed origins (comma-separated), [2] when,
# [3] writable columns (comma-separated).
_FUNCTION_DDL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $guard$
DECLARE
    origin text := coalesce(current_setting('{ORIGIN_SETTING}', true), '');
    allowed text[] := string_to_array(TG_ARGV[1], ',');
    writable text[] := string_to_array(TG_ARGV[3], ',');
BEGIN
    IF origin <> '' AND origin = ANY(allowed) THEN
        RETURN CASE WHEN TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' AND cardinality(writable) > 0
       AND (to_jsonb(OLD) - writable) = (to_jsonb(NEW) - writable) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'table % is retired (read-only since %); writes go to %',
        TG_TABLE_NAME, TG_ARGV[2], TG_ARGV[0]
        USING ERRCODE = 'read_only_sql_transaction',
              HINT = CASE WHEN cardinality(writable) > 0
                     THEN 'only ' || array_to_string(writable, ', ') || ' may still change here'
                     ELSE 'the reverse sync (' || TG_ARGV[1] || ') keeps this copy current'
                     END;
END
$guard$
"""


@dataclass(frozen=True)
class RetiredTable:
    name: str
    writable_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Protection:
    """A table's read-only guard as installed: what ``status`` reads back."""

    table: str
    owner: str
    allow_origins: tuple[str, ...]
    since: str
    writable_columns: tuple[str, ...]
    truncate_guarded: bool


def _tables(tables: Iterable[RetiredTable | str]) -> list[RetiredTable]:
    return [RetiredTable(t) if isinstance(t, str) else t for t in tables]


def _check(name: str, what: str) -> None:
    if not name or "," in name:
        raise ValueError(f"{what} {name!r}: empty, or contains a comma")


def make_read_only(
    dsn: str,
    tables: Iterable[RetiredTable | str],
    allow_origins: Sequence[str],
    *,
    owner: str,
    since: str = RETIRED_SINCE,
) -> list[str]:
    """Guard ``tables`` (names or ``RetiredTable``) in one transaction; the names guarded.

    A table guarded already gets its guard replaced (new origins, owner, columns). A table
    that does not exist fails the whole call: nothing is guarded then.
    """
    chosen = _tables(tables)
    for origin in allow_origins:
        _check(origin, "origin")
    for table in chosen:
        for column in table.writable_columns:
            _check(column, "column")
    args = [owner, ",".join(allow_origins), since]
    with psycopg.connect(dsn) as conn:
        conn.execute("SET LOCAL lock_timeout = '30s'")
        conn.execute(_FUNCTION_DDL)
        for table in chosen:
            columns = _columns(conn, table.name)
            unknown = sorted(set(table.writable_columns) - columns)
            if unknown:
                raise ValueError(f"table {table.name} has no column(s) {', '.join(unknown)}")
            argv = sql.SQL(", ").join(
                sql.Literal(a) for a in [*args, ",".join(table.writable_columns)]
            )
            ident = sql.Identifier(table.name)
            for trigger, when in (
                (ROW_TRIGGER, "BEFORE INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW"),
                (TRUNCATE_TRIGGER, "BEFORE TRUNCATE ON {table} FOR EACH STATEMENT"),
            ):
                conn.execute(
                    sql.SQL(
                        "CREATE OR REPLACE TRIGGER {name} " + when + " EXECUTE FUNCTION "
                    ).format(name=sql.Identifier(trigger), table=ident)
                    + sql.SQL("{fn}({argv})").format(fn=sql.Identifier(FUNCTION), argv=argv)
                )
    return [t.name for t in chosen]


def make_writable(dsn: str, tables: Iterable[RetiredTable | str]) -> list[str]:
    """Drop the guards of ``tables`` (the rollback); the names that had one."""
    released: list[str] = []
    with psycopg.connect(dsn) as conn:
        conn.execute("SET LOCAL lock_timeout = '30s'")
        guarded = {p.table for p in _status(conn)}
        for table in _tables(tables):
            if table.name not in guarded:
                continue
            for trigger in (ROW_TRIGGER, TRUNCATE_TRIGGER):
                conn.execute(
                    sql.SQL("DROP TRIGGER IF EXISTS {name} ON {table}").format(
                        name=sql.Identifier(trigger), table=sql.Identifier(table.name)
                    )
                )
            released.append(table.name)
    return released


def status(dsn: str) -> list[Protection]:
    """Every guarded table of the database, by name."""
    with psycopg.connect(dsn) as conn:
        return _status(conn)


def _columns(conn: psycopg.Connection[tuple[object, ...]], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
        " AND attnum > 0 AND NOT attisdropped",
        (table,),
    ).fetchall()
    if not rows:
        raise ValueError(f"table {table} does not exist")
    return {str(r[0]) for r in rows}


def _status(conn: psycopg.Connection[tuple[object, ...]]) -> list[Protection]:
    rows = conn.execute(
        """
        SELECT c.relname, t.tgname, t.tgargs
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
         WHERE t.tgname IN (%s, %s) AND NOT t.tgisinternal
           AND pg_catalog.pg_table_is_visible(c.oid)
         ORDER BY c.relname, t.tgname
        """,
        (ROW_TRIGGER, TRUNCATE_TRIGGER),
    ).fetchall()
    found: dict[str, Protection] = {}
    truncate: set[str] = set()
    for relname, tgname, tgargs in rows:
        table = str(relname)
        if tgname == TRUNCATE_TRIGGER:
            truncate.add(table)
            continue
        # tgargs: the arguments, each ended by a NUL byte.
        raw = bytes(tgargs).decode() if isinstance(tgargs, bytes | memoryview) else str(tgargs)
        args = raw.split("\x00")
        owner, origins, since, columns = [*args, "", "", "", ""][:4]
        found[table] = Protection(
            table=table,
            owner=owner,
            allow_origins=tuple(o for o in origins.split(",") if o),
            since=since,
            writable_columns=tuple(c for c in columns.split(",") if c),
            truncate_guarded=False,
        )
    return [
        Protection(**{**p.__dict__, "truncate_guarded": p.table in truncate})
        for p in sorted(found.values(), key=lambda p: p.table)
    ]
