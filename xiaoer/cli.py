"""The ``xiaoer`` console script.

    xiaoer demo        migrate, create the demo shop (once), print logins, then serve
    xiaoer serve       serve the ASGI app (settings: docs/configuration.md)
    xiaoer createshop  create a shop with its owner login
    xiaoer <other>     any Django management command (migrate, createsuperuser, ...)
"""

from __future__ import annotations

import os
import sys

SERVE_HELP = """usage: xiaoer serve

Serve the web app, the API and the chat sockets with uvicorn (and, without REDIS_URL, the
task worker in the same process). Run `xiaoer migrate` first. No options: everything is a
setting, from the environment or xiaoer.toml (docs/configuration.md), e.g.

    XIAOER_HOST=0.0.0.0 XIAOER_PORT=8000 xiaoer serve

  HOST (127.0.0.1), PORT (8000), WORKERS (1), LOG_LEVEL (INFO), DATA_DIR (./var),
  DATABASE_URL (SQLite in DATA_DIR), REDIS_URL (unset), EMBEDDED_WORKER (on without Redis)
"""

DEMO_HELP = """usage: xiaoer demo

Try xiaoer in one command. It
  1. migrates the database (creates DATA_DIR, default ./var, and the SQLite database in it),
  2. creates the demo shop 「小二的店」 with sample chats, knowledge and orders (once; later runs
     only print), and prints its logins and addresses,
  3. then serves it like `xiaoer serve` (http://127.0.0.1:8000 unless HOST/PORT are set)
     until Ctrl-C.
Settings: docs/configuration.md. Never use the demo logins in a real deployment.
"""

HELP_FLAGS = {"-h", "--help", "help"}



def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")
    import django

    django.setup()


def serve(argv: list[str] | None = None) -> None:
    if argv and HELP_FLAGS & set(argv):
        print(SERVE_HELP)
        return
    if argv:
        sys.exit(f"xiaoer serve takes no arguments (got {' '.join(argv)}); see xiaoer serve --help")
    import uvicorn

    from xiaoer.conf import bool_setting, int_setting, setting

    _setup_django()
    from django.conf import settings

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
        # X-Forwarded-For/-Proto only from the proxies named in TRUSTED_PROXIES (none by default):
        # otherwise any client could pick its own address (docs/operations.md "Security settings").
        proxy_headers=bool(settings.TRUSTED_PROXIES),
        forwarded_allow_ips=",".join(settings.TRUSTED_PROXIES) or None,
        ws_max_size=16 * 1024 * 1024,
        # The chat's own spread heartbeat finds dead sockets (docs/decisions/180); a second,
        # protocol-level ping per socket would only double the idle work.
        ws_ping_interval=None,
    )


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "help"
    if command == "serve":
        serve(argv[1:])
        return
    if command == "demo" and HELP_FLAGS & set(argv[1:]):
        print(DEMO_HELP)
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
