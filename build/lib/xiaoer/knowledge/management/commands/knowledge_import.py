"""``xiaoer knowledge_import SHOP_SLUG KIND FILE [--skip-bad-rows]`` with a progress bar (tqdm)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from xiaoer.accounts.models import Shop
from xiaoer.knowledge import services
from xiaoer.knowledge.importer import FileProblem


class Command(BaseCommand):
    help = "Import standard answers, quick phrases or products (CSV UTF-8/GBK or .xlsx) into a shop."

    def add_arguments(self, parser) -> None:
        parser.add_argument("shop", help="shop slug")
        parser.add_argument("kind", choices=services.KINDS)
        parser.add_argument("file")
        parser.add_argument("--skip-bad-rows", action="store_true", help="import the good rows, report the bad")

    def handle(self, *args, **opts) -> None:
        from tqdm import tqdm

        shop = Shop.objects.filter(slug=opts["shop"]).first()
        if shop is None:
            raise CommandError(f"no shop {opts['shop']!r}")
        try:
            data = Path(opts["file"]).read_bytes()
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        bar = tqdm(total=0, unit="row", disable=not self.stdout.isatty() if hasattr(self.stdout, "isatty") else True)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            result = services.import_file(shop, opts["kind"], data, opts["file"],
                                          skip_bad_rows=opts["skip_bad_rows"], progress=progress)
        except FileProblem as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        for error in result.errors:
            self.stderr.write(str(error))
        if not result.imported:
            raise CommandError(f"{len(result.errors)} bad rows; nothing imported (use --skip-bad-rows)")
        self.stdout.write(f"created {result.created}, updated {result.updated}, skipped {result.skipped}")
