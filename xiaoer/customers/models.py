"""Customers belong to the shop, not to an agent (docs/decisions/001-layout-and-tenancy.md)."""

from __future__ import annotations

from django.db import models

from xiaoer.accounts.models import Seat, Shop, Staff


class Customer(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customers")
    # A known buyer (platform member name / id) arrives through a signed link; an anonymous
    # visitor has only visitor_id until the shop links it to a buyer.
    # NULL, not "": the per-shop unique constraints must allow many customers without one.
    buyer_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    visitor_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    wechat = models.CharField(max_length=40, blank=True)  # left with an offline message (decision 125)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    last_seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop", "buyer_id"], name="customer_buyer_unique_in_shop"),
            models.UniqueConstraint(fields=["shop", "visitor_id"], name="customer_visitor_unique_in_shop"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.buyer_id or f"访客{(self.visitor_id or str(self.pk))[:6]}"


class CustomerNote(models.Model):
    """Shop-level note about a customer; records the seat and the person who wrote it."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    seat = models.ForeignKey(Seat, null=True, blank=True, on_delete=models.SET_NULL)
    author = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:40]
