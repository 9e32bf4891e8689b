"""The outbox tables (outbox, per-aggregate versions, NOTIFY trigger; inbox side for the
later reverse sync), as the library's own SQL."""

from django.db import migrations
from outbox.schema import ddl, drop_ddl


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunSQL(ddl(), reverse_sql=drop_ddl())]
