"""``xiaoer events status|replay|deliver|retry|prune`` (docs/events.md)."""

from __future__ import annotations

import datetime as dt
import json
import re

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from xiaoer.events import delivery
from xiaoer.events.base import durable_listeners


def parse_since(text: str) -> dt.datetime:
    """ISO date or date-time (naive: the server's time zone), or an age like 90m, 12h, 7d."""
    if m := re.fullmatch(r"(\d+)\s*([mhd])", text.strip()):
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m[2]]
        return timezone.now() - dt.timedelta(**{unit: int(m[1])})
    value = parse_datetime(text)
    if value is None and (day := parse_date(text)) is not None:
        value = dt.datetime.combine(day, dt.time())
    if value is None:
        raise CommandError(f"--since: not a date, date-time or age (7d, 12h, 90m): {text!r}")
    return value if timezone.is_aware(value) else timezone.make_aware(value)


class Command(BaseCommand):
    help = "Domain event delivery: status of the durable listeners, replay, retry, prune."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="listeners, position, lag, failures")
        status.add_argument("--json", action="store_true")
        replay = sub.add_parser("replay", help="rebuild a listener's projection from the outbox")
        replay.add_argument("--listener", required=True)
        replay.add_argument("--since", help="ISO date/time or age (7d); default: the oldest retained event")
        replay.add_argument("--no-deliver", action="store_true",
                            help="only move the cursor back; the task workers redeliver")
        deliver = sub.add_parser("deliver", help="run pending deliveries now, in this process")
        deliver.add_argument("--listener", action="append", help="only these listeners (repeatable)")
        retry = sub.add_parser("retry", help="retry a failing listener now instead of after its back-off")
        retry.add_argument("--listener", required=True)
        prune = sub.add_parser("prune", help="delete handled outbox rows older than the retention")
        prune.add_argument("--days", type=int, help="default: EVENTS_RETENTION_DAYS")

    def handle(self, *args, **opts) -> None:
        getattr(self, f"do_{opts['action']}")(opts)

    def _listener(self, name: str) -> str:
        if name not in durable_listeners():
            known = ", ".join(sorted(durable_listeners())) or "none"
            raise CommandError(f"no durable listener {name!r} (registered: {known})")
        return name

    def do_status(self, opts: dict) -> None:
        rows = delivery.status()
        if opts["json"]:
            self.stdout.write(json.dumps([vars(r) for r in rows], default=str, ensure_ascii=False, indent=1))
            return
        self.stdout.write(f"{'listener':<36} {'position':>9} {'handled':>9} {'pending':>8} {'lag s':>8} "
                          f"{'attempts':>8}  state")
        for r in rows:
            state = ("not registered" if not r.registered else
                     f"FAILING on #{r.failing_event_id} since {r.failing_since:%Y-%m-%d %H:%M:%S}, "
                     f"next try {r.next_attempt_at:%H:%M:%S}: {r.last_error[:120]}" if r.failing else
                     f"retrying #{r.failing_event_id}: {r.last_error[:120]}" if r.attempts else "ok")
            self.stdout.write(f"{r.name:<36} {r.position_id:>9} {r.handled:>9} {r.pending:>8} "
                              f"{r.lag_seconds:>8.1f} {r.attempts:>8}  {state}")

    def do_replay(self, opts: dict) -> None:
        name = self._listener(opts["listener"])
        since = parse_since(opts["since"]) if opts["since"] else None
        cur = delivery.replay(name, since)
        self.stdout.write(f"{name}: cursor moved back to #{cur.position_id}")
        if opts["no_deliver"]:
            from xiaoer.events.queue import enqueue

            enqueue(name, force=True)
            return
        handled = delivery.deliver(name, budget_seconds=float("inf"))
        self.stdout.write(f"{name}: {handled} events redelivered")

    def do_deliver(self, opts: dict) -> None:
        names = [self._listener(n) for n in opts["listener"]] if opts["listener"] else sorted(durable_listeners())
        for name in names:
            handled = delivery.deliver(name, budget_seconds=float("inf"))
            self.stdout.write(f"{name}: {handled} events handled")

    def do_retry(self, opts: dict) -> None:
        name = self._listener(opts["listener"])
        handled = delivery.deliver(name, budget_seconds=float("inf"), ignore_backoff=True)
        self.stdout.write(f"{name}: {handled} events handled")

    def do_prune(self, opts: dict) -> None:
        self.stdout.write(f"{delivery.prune(days=opts['days'])} outbox events deleted")
