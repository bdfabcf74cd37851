from django.db import migrations, models


def txid_default(apps, schema_editor):
    # PostgreSQL: each outbox row records its writing transaction (docs/decisions/050).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE events_outboxevent ALTER COLUMN txid "
                              "SET DEFAULT (pg_current_xact_id()::text::bigint)")


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="txid",
            field=models.BigIntegerField(db_default=0, editable=False),
        ),
        migrations.AlterModelOptions(
            name="outboxevent",
            options={"ordering": ["txid", "id"], "verbose_name": "outbox event"},
        ),
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(fields=["txid", "id"], name="events_outbox_order"),
        ),
        migrations.CreateModel(
            name="ListenerCursor",
            fields=[
                ("name", models.CharField(max_length=120, primary_key=True, serialize=False)),
                ("position_txid", models.BigIntegerField(default=0)),
                ("position_id", models.BigIntegerField(default=0)),
                ("handled", models.BigIntegerField(default=0)),
                ("handled_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("failing_event_id", models.BigIntegerField(blank=True, null=True)),
                ("failing_since", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
            ],
            options={"ordering": ["name"], "verbose_name": "event listener"},
        ),
        migrations.RunPython(txid_default, migrations.RunPython.noop),
    ]
