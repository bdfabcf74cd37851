"""KPI facts per buyer and daily rollups (docs/kpis.md "How it computes", decision 155).

Ids of seats, staff, customers and orders are plain integers, not foreign keys: a projection
keeps counting what happened even when a seat or a login is deleted later, and rebuilds compare
row for row. Days are calendar days in the shop's time zone.
"""

from __future__ import annotations

from django.db import models

from xiaoer.accounts.models import Shop


class TurnFact(models.Model):
    """One turn: a run of consecutive shopper messages and who answered it."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField()
    conversation_id = models.BigIntegerField()
    day = models.DateField()
    started_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True)
    seat_id = models.BigIntegerField(null=True)
    staff_id = models.BigIntegerField(null=True)
    response_s = models.IntegerField(null=True)  # whole seconds, service hours applied
    shopper_messages = models.IntegerField()
    first_of_day = models.BooleanField(default=False)  # the buyer's first answered turn that day

    class Meta:
        indexes = [models.Index(fields=["shop", "day"]), models.Index(fields=["customer_id", "day"])]

    def __str__(self) -> str:
        return f"turn {self.customer_id} {self.day}"


class ActivityFact(models.Model):
    """A seat's (person's) messages, served conversations and transfers with one buyer on a day."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField()
    day = models.DateField()
    seat_id = models.BigIntegerField(null=True)
    staff_id = models.BigIntegerField(null=True)
    person_messages = models.IntegerField(default=0)
    conversations = models.IntegerField(default=0)
    transfers_in = models.IntegerField(default=0)
    transfers_out = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["shop", "day"]), models.Index(fields=["customer_id", "day"])]

    def __str__(self) -> str:
        return f"activity {self.customer_id} {self.day}"


class InquiryFact(models.Model):
    """A buyer on a day with a turn answered by a person (询单)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField()
    day = models.DateField()
    seat_id = models.BigIntegerField(null=True)
    staff_id = models.BigIntegerField(null=True)
    first_shopper_at = models.DateTimeField()
    window_end = models.DateTimeField()  # the end of the next day
    products = models.JSONField(default=list)  # product ids asked about that day
    ordered = models.BooleanField(default=False)
    paid = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["shop", "day"])]
        constraints = [models.UniqueConstraint(fields=["customer_id", "day"], name="kpi_inquiry_once_a_day")]

    def __str__(self) -> str:
        return f"inquiry {self.customer_id} {self.day}"


class OrderFact(models.Model):
    """An order's attribution to an inquiry (or silent) and its main/related split."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    order_id = models.BigIntegerField(unique=True)
    customer_id = models.BigIntegerField(null=True)
    day = models.DateField()  # creation day
    inquiry_day = models.DateField(null=True)  # None: a silent order
    seat_id = models.BigIntegerField(null=True)
    staff_id = models.BigIntegerField(null=True)
    paid = models.BooleanField(default=False)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    main_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    related_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    main_quantity = models.IntegerField(default=0)
    related_quantity = models.IntegerField(default=0)
    reminded_day = models.DateField(null=True)
    recovered = models.BooleanField(default=False)  # paid after the reminder

    class Meta:
        indexes = [models.Index(fields=["shop", "day"]), models.Index(fields=["shop", "inquiry_day"]),
                   models.Index(fields=["customer_id", "day"])]

    def __str__(self) -> str:
        return f"order {self.order_id}"


class DailyRollup(models.Model):
    """Figures of one shop, day, seat and person; seat and staff None: nobody's (unserved turns,
    silent orders, reminders). Reports sum these rows and merge the histograms."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    seat_id = models.BigIntegerField(null=True)
    staff_id = models.BigIntegerField(null=True)
    turns = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    within_180 = models.IntegerField(default=0)
    response_sum = models.BigIntegerField(default=0)
    response_hist = models.JSONField(default=dict)  # {"seconds": count}
    first_count = models.IntegerField(default=0)
    first_sum = models.BigIntegerField(default=0)
    first_hist = models.JSONField(default=dict)
    shopper_messages = models.IntegerField(default=0)
    person_messages = models.IntegerField(default=0)
    conversations = models.IntegerField(default=0)
    transfers_in = models.IntegerField(default=0)
    transfers_out = models.IntegerField(default=0)
    inquiries = models.IntegerField(default=0)
    ordered = models.IntegerField(default=0)
    paid = models.IntegerField(default=0)
    attributed_orders = models.IntegerField(default=0)  # attributed paid orders
    attributed_sales = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    main_sales = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    related_sales = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    main_quantity = models.IntegerField(default=0)
    related_quantity = models.IntegerField(default=0)
    silent_orders = models.IntegerField(default=0)
    reminded = models.IntegerField(default=0)
    recovered = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["shop", "day"])]

    def __str__(self) -> str:
        return f"{self.day} seat {self.seat_id} staff {self.staff_id}"


class Dirty(models.Model):
    """A buyer (or a day) whose facts and rollups must be recomputed: written by the listener in
    the event's transaction (cheap), worked off by ``compute.process_dirty`` in short transactions
    (decision 155: the embedded SQLite has one writer; the chat must not wait behind KPI work)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField(null=True)  # None: only DAY's rollups
    messages_at = models.DateTimeField(null=True)  # earliest new message
    orders_day = models.DateField(null=True)  # earliest creation day of a changed order
    full = models.BooleanField(default=False)
    day = models.DateField(null=True)

    def __str__(self) -> str:
        return f"dirty {self.customer_id} {self.day}"
