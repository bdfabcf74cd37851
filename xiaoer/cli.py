"""The ``xiaoer`` console script.

    xiaoer demo        migrate, create the demo shop (once), print logins, serve
    xiaoer serve       serve the ASGI app (settings: docs/configuration.md)
    xiaoer createshop  create a shop with its owner login
    xiaoer <other>     any Django management command (migrate, createsuperuser, ...)
"""

from __future__ import annotations

import os
import sys


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    import django

    django.setup()


def serve() -> None:
    import uvicorn

    from xiaoer.conf import bool_setting, int_setting, setting

    _setup_django()
    if bool_setting("EMBEDDED_WORKER", not setting("REDIS_URL")):
        from xiaoer.tasks_runtime import start_embedded_consumer

        start_embedded_consumer()
    uvicorn.run(
        "xiaoer.asgi:application",
        host=str(setting("HOST", "127.0.0.1")),
        port=int_setting("PORT", 8000),
        workers=int_setting("WORKERS", 1),
        loop="uvloop",
        http="httptools",
        ws="auto",  # the implementation the tests and bench/chat_bench.py run on
        lifespan="on",
        log_level=str(setting("LOG_LEVEL", "info")).lower(),
        proxy_headers=True,
        ws_max_size=16 * 1024 * 1024,
    )


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "help"
    if command == "serve":
        serve()  # configured by settings (XIAOER_HOST, XIAOER_PORT, …), not arguments
        return
    _setup_django()
    from django.core.management import call_command, execute_from_command_line

    if command == "demo":
        call_command("migrate", interactive=False, verbosity=0)
        call_command("demo", *argv[1:])
        serve()
        return
    if command in {"help", "-h", "--help"}:
        print(__doc__)
        argv = ["help"]
    execute_from_command_line(["xiaoer", *argv])


if __name__ == "__main__":
    main()
