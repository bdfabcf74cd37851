"""Shops, the seats customers see, and the staff persons who operate them (docs/design.md "Layers")."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class Shop(models.Model):
    slug = models.SlugField(unique=True, max_length=50)
    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="Asia/Shanghai")
    # Per-shop secret: signs buyer links and webhook bodies. Never shown after creation in logs.
    secret = models.CharField(max_length=64, default=_new_secret)
    max_concurrent_per_seat = models.PositiveIntegerField(default=10)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class Role(models.TextChoices):
    OWNER = "owner", _("店主")
    SUPERVISOR = "supervisor", _("客服主管")
    AGENT = "agent", _("客服")
    WAREHOUSE = "warehouse", _("库管")
    AFTERSALES = "aftersales", _("售后")


class Staff(models.Model):
    """A person who logs in. One login belongs to exactly one shop."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(max_length=50)
    is_active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["shop", "role"])]

    def __str__(self) -> str:
        return f"{self.display_name} [{self.get_role_display()}]"

    @property
    def is_supervisor(self) -> bool:
        return self.role in {Role.OWNER, Role.SUPERVISOR}

    @property
    def can_chat(self) -> bool:
        return self.role in {Role.OWNER, Role.SUPERVISOR, Role.AGENT}


class Seat(models.Model):
    """What the customer sees (「小美」). Outlives any one person operating it."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="seats")
    name = models.CharField(max_length=50, help_text="sub-account name, unique in the shop")
    display_name = models.CharField(max_length=50)
    operator = models.ForeignKey(
        Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="operated_seats"
    )
    max_concurrent = models.PositiveIntegerField(null=True, blank=True, help_text="empty: the shop's default")
    is_online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Sent once as this seat when a conversation first gets it (variables {顾客} {客服});
    # empty: no greeting. Set on the supervisor page (docs/decisions/120-seat-greeting-and-phrase-groups.md).
    greeting = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "name"], name="seat_name_unique_in_shop")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def capacity(self) -> int:
        return self.max_concurrent or self.shop.max_concurrent_per_seat


class SeatAssignment(models.Model):
    """Who operated which seat when: KPIs are attributed to seat and person by time."""

    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="assignments")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="assignments")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["seat", "started_at"])]

    def __str__(self) -> str:
        return f"{self.staff} → {self.seat} from {self.started_at:%Y-%m-%d %H:%M}"


class LoginFailure(models.Model):
    """Failed logins per username+address, for throttling; old rows are ignored by time."""

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["username", "at"])]

    def __str__(self) -> str:
        return f"{self.username} @ {self.address}"
