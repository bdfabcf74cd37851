"""``xiaoer assistant eval --kb KB_FILE --questions QUESTIONS.jsonl`` (and ``tune``): docs/assistant.md."""

from __future__ import annotations

import json
import secrets
import tempfile
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from xiaoer.knowledge.importer import FileProblem


class _Rollback(Exception):
    pass


@contextmanager
def _migrated_database(stderr):
    """The command works in a rolled-back transaction of the configured database. When that database
    has no tables yet (a fresh data dir, no ``xiaoer migrate``), it works in a throw-away database of
    its own instead, created and migrated here and dropped afterwards."""
    if "accounts_shop" in connection.introspection.table_names():
        yield
        return
    stderr.write("The database has no tables yet (xiaoer migrate was not run): "
                 "evaluating in a throw-away database.")
    with tempfile.TemporaryDirectory(prefix="xiaoer-eval-") as tmp:
        if connection.vendor == "sqlite":
            connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(tmp) / "eval.sqlite3")
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            yield
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)


class Command(BaseCommand):
    help = "Measure (eval) or tune the answer-suggestion robot against a knowledge file and questions."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ev = sub.add_parser("eval", help="print one JSON object of metrics, with a BM25 baseline")
        ev.add_argument("--kb", required=True, help="standard answers file (CSV or .xlsx, import format)")
        ev.add_argument("--questions", required=True, help="QUESTIONS.jsonl")
        ev.add_argument("--products", help="optional products file (import format)")
        ev.add_argument("--no-encoder", action="store_true", help="lexical matching only")
        tune = sub.add_parser("tune", help="fit score weights and the reject model on dev questions")
        tune.add_argument("--set", nargs=2, action="append", metavar=("KB_FILE", "DEV_JSONL"), required=True)
        tune.add_argument("--out", help="default: assistant/data/tuning.json (tuning-lexical.json with --no-encoder)")
        tune.add_argument("--no-encoder", action="store_true")

    def handle(self, *args, **opts) -> None:
        from xiaoer.assistant import encoder as enc

        if opts.get("no_encoder"):
            enc.set_encoder(None)
        with _migrated_database(self.stderr):
            self._run(opts)

    def _run(self, opts) -> None:
        if opts["action"] == "eval":
            result = self._in_throwaway_shops([(opts["kb"], opts["questions"])], opts.get("products"), "eval")
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            tuning = self._in_throwaway_shops([tuple(s) for s in opts["set"]], None, "tune")
            data_dir = Path(__file__).resolve().parents[2] / "data"
            out = opts["out"] or data_dir / ("tuning-lexical.json" if opts.get("no_encoder") else "tuning.json")
            Path(out).write_text(json.dumps(tuning, indent=2) + "\n", encoding="utf-8")
            self.stdout.write(json.dumps(tuning))

    def _in_throwaway_shops(self, sets, products_file, action):
        """Each KB is loaded into a shop created inside a transaction that is rolled back at the end."""
        from xiaoer.accounts import services as account_services
        from xiaoer.assistant import evaluation, services
        from xiaoer.knowledge import services as knowledge_services

        holder: dict = {}
        try:
            with transaction.atomic():
                loaded = []
                for kb, questions_path in sets:
                    slug = "eval-" + secrets.token_hex(4)
                    shop = account_services.do_create_shop(slug=slug, name="eval", owner_username=slug,
                                                           owner_password=secrets.token_urlsafe(16))
                    if products_file:
                        self._import(knowledge_services, shop, "products", products_file)
                    self._import(knowledge_services, shop, "answers", kb)
                    entries = services.entries_for(shop.id)
                    try:
                        questions = evaluation.load_questions(questions_path, {e.code for e in entries})
                    except (OSError, ValueError) as exc:
                        raise CommandError(f"{questions_path}: {exc}") from exc
                    loaded.append((services.build_index(shop.id), entries, questions))
                if action == "eval":
                    index, entries, questions = loaded[0]
                    holder["result"] = evaluation.evaluate(entries, questions, index=index, tuning=index.tuning)
                else:
                    holder["result"] = asdict(evaluation.tune(loaded))
                raise _Rollback
        except _Rollback:
            pass
        return holder["result"]

    def _import(self, knowledge_services, shop, kind, path) -> None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        try:
            result = knowledge_services.import_file(shop, kind, data, path)
        except FileProblem as exc:
            raise CommandError(f"{path}: {exc}") from exc
        if not result.imported:
            raise CommandError(f"{path}: " + "; ".join(str(e) for e in result.errors[:20]))
