"""The outbox's tables as plain SQL text, for any migration tool.

Django runs it with ``migrations.RunSQL(outbox.schema.ddl(), outbox.schema.drop_ddl())``,
Alembic with ``op.execute(outbox.schema.ddl())``. Every statement is idempotent
(``IF NOT EXISTS`` / ``OR REPLACE``), so running it twice is harmless.

Producer side (``outbox_ddl``): the outbox itself, the per-aggregate version counter and
the statement-level NOTIFY trigger that wakes the relay. Consumer side (``inbox_ddl``):
the inbox (dedupe), the applied-version table, the delivery counter and the parked
(dead-letter) events. ``ddl`` is both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_CHANNEL = "outbox_events"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,39}")


def _checked(name: str, what: str) -> str:
    if name and not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{what} must match [a-z_][a-z0-9_]*, got {name!r}")
    return name


@dataclass(frozen=True)
class Tables:
    """The table names for one ``table_prefix`` (validated: it is pasted into SQL)."""

    prefix: str = ""

    def __post_init__(self) -> None:
        _checked(self.prefix, "table_prefix")

    @property
    def outbox(self) -> str:
        return f"{self.prefix}outbox"

    @property
    def aggregate_version(self) -> str:
        return f"{self.prefix}outbox_aggregate_version"

    @property
    def inbox(self) -> str:
        return f"{self.prefix}inbox"

    @property
    def applied_version(self) -> str:
        return f"{self.prefix}inbox_applied_version"

    @property
    def deliveries(self) -> str:
        return f"{self.prefix}inbox_deliveries"

    @property
    def parked(self) -> str:
        return f"{self.prefix}parked_events"


def outbox_ddl(table_prefix: str = "", channel: str = DEFAULT_CHANNEL) -> str:
    """The producer side: outbox, version counter, indexes and the NOTIFY trigger."""
    t = Tables(table_prefix)
    _checked(channel, "channel")
    return f"""
CREATE TABLE IF NOT EXISTS {t.aggregate_version} (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE IF NOT EXISTS {t.outbox} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    headers jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    published_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    next_attempt_at timestamptz
);

-- The relay's claim: unpublished rows in (txid, id) order.
CREATE INDEX IF NOT EXISTS {t.outbox}_pending_idx
    ON {t.outbox} (txid, id) WHERE published_at IS NULL;
-- Per-aggregate gating: is a lower version of this aggregate still unpublished?
CREATE INDEX IF NOT EXISTS {t.outbox}_pending_aggregate_idx
    ON {t.outbox} (aggregate_type, aggregate_id, version) WHERE published_at IS NULL;
-- Events in publish backoff (a handful at most): they hold their aggregate back.
CREATE INDEX IF NOT EXISTS {t.outbox}_backoff_idx
    ON {t.outbox} (aggregate_type, aggregate_id)
    WHERE published_at IS NULL AND next_attempt_at IS NOT NULL;
-- Pruning of published rows past the retention.
CREATE INDEX IF NOT EXISTS {t.outbox}_published_idx
    ON {t.outbox} (published_at) WHERE published_at IS NOT NULL;

CREATE OR REPLACE FUNCTION {t.outbox}_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at commit, folded to one per transaction: wakes the relay at once.
    PERFORM pg_notify('{channel}', '');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER {t.outbox}_notify_trigger
    AFTER INSERT ON {t.outbox}
    FOR EACH STATEMENT EXECUTE FUNCTION {t.outbox}_notify();
"""


def inbox_ddl(table_prefix: str = "") -> str:
    """The consumer side: inbox, applied versions, delivery counter, parked events."""
    t = Tables(table_prefix)
    return f"""
CREATE TABLE IF NOT EXISTS {t.inbox} (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    aggregate_type text,
    aggregate_id text,
    version bigint,
    created_at timestamptz,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS {t.inbox}_applied_idx ON {t.inbox} (applied_at);

CREATE TABLE IF NOT EXISTS {t.applied_version} (
    consumer text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, aggregate_type, aggregate_id)
);

-- Counted in its own committed transaction before each attempt, so an event that kills
-- the worker (OOM, segfault, SIGKILL) is still counted and eventually parked.
CREATE TABLE IF NOT EXISTS {t.deliveries} (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    deliveries integer NOT NULL,
    last_error text,
    first_seen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);

-- Dead letters, per aggregate: the poison event and every later event of its aggregate.
CREATE TABLE IF NOT EXISTS {t.parked} (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint NOT NULL,
    event_type text NOT NULL,
    envelope jsonb NOT NULL,
    error text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    parked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS {t.parked}_aggregate_idx
    ON {t.parked} (consumer, aggregate_type, aggregate_id, version);
"""


def ddl(table_prefix: str = "", channel: str = DEFAULT_CHANNEL) -> str:
    """Both sides: what a database that publishes and consumes events needs."""
    return outbox_ddl(table_prefix, channel) + inbox_ddl(table_prefix)


def drop_ddl(table_prefix: str = "") -> str:
    """The reverse of ``ddl`` (for ``RunSQL(reverse_sql=...)`` and Alembic downgrades)."""
    t = Tables(table_prefix)
    return f"""
DROP TABLE IF EXISTS {t.parked};
DROP TABLE IF EXISTS {t.deliveries};
DROP TABLE IF EXISTS {t.applied_version};
DROP TABLE IF EXISTS {t.inbox};
DROP TABLE IF EXISTS {t.outbox};
DROP FUNCTION IF EXISTS {t.outbox}_notify();
DROP TABLE IF EXISTS {t.aggregate_version};
"""
