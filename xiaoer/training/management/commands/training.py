"""``xiaoer training eval --kb KB_FILE --pairs PAIRS.jsonl``: docs/training.md."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from xiaoer.knowledge.importer import FileProblem


class Command(BaseCommand):
    help = "Measure the training reply scorer against judged (question, reply, label) pairs."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ev = sub.add_parser("eval", help="print one JSON object: n, auc (good vs bad), word-overlap baseline")
        ev.add_argument("--kb", required=True, help="standard answers file (CSV or .xlsx, import format)")
        ev.add_argument("--pairs", required=True, help="PAIRS.jsonl")
        ev.add_argument("--encoder", action="store_true",
                        help="find the standard answer with the sentence encoder too (default: words only)")

    def handle(self, *args, **opts) -> None:
        from xiaoer.training import evaluation

        try:
            entries = evaluation.load_entries(opts["kb"])
        except FileProblem as exc:
            raise CommandError(f"{opts['kb']}: {exc}") from exc
        try:
            pairs = evaluation.load_pairs(opts["pairs"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"{opts['pairs']}: {exc}") from exc
        encoder = None
        if opts["encoder"]:
            from xiaoer.assistant.encoder import get_encoder

            encoder = get_encoder()
        result = evaluation.evaluate(entries, pairs, encoder=encoder)
        self.stdout.write(json.dumps(result, ensure_ascii=False))
