"""The orders write freeze flag (shop.orders.ownership): one row, writable by the switch."""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS orders_write_freeze (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    frozen boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orders_write_freeze (id, frozen) VALUES (true, false) ON CONFLICT DO NOTHING;
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]
    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP TABLE IF EXISTS orders_write_freeze")
    ]
