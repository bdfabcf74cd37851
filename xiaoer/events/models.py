"""The outbox (every domain event, written in the transaction of the write it describes) and one
cursor per durable listener (how far it got, and whether it is failing). docs/events.md."""

from __future__ import annotations

from django.db import models


class OutboxEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=80, db_index=True)
    shop_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Delivery order is (txid, id). On PostgreSQL txid is the writing transaction's id (a column
    # default set by migration 0002), so an id taken by a transaction that commits late is never
    # passed over; on SQLite writers are serialised, txid stays 0 and the order is the id.
    # docs/decisions/050-event-outbox-delivery.md.
    txid = models.BigIntegerField(db_default=0, editable=False)

    class Meta:
        ordering = ["txid", "id"]
        indexes = [models.Index(fields=["txid", "id"], name="events_outbox_order")]
        verbose_name = "outbox event"

    def __str__(self) -> str:
        return f"#{self.id} {self.name}"


class ListenerCursor(models.Model):
    """A durable listener's progress: the last outbox position it handled, advanced in the same
    transaction as the listener's own writes, and its retry state."""

    name = models.CharField(max_length=120, primary_key=True)
    position_txid = models.BigIntegerField(default=0)
    position_id = models.BigIntegerField(default=0)
    handled = models.BigIntegerField(default=0)
    handled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failing_event_id = models.BigIntegerField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "event listener"

    def __str__(self) -> str:
        return self.name
