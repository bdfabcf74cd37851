"""Django settings. Everything a deployment changes comes from xiaoer.conf (docs/configuration.md)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from xiaoer.conf import bool_setting, int_setting, list_setting, setting

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(setting("DATA_DIR", "var")).resolve()
# Owner-only: the data dir holds the database, the task queue, uploads and the generated key.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)



def _local_secret_key() -> str:
    """No SECRET_KEY configured: make one per data dir, so nothing secret lives in the repo."""
    import secrets

    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = setting("SECRET_KEY") or _local_secret_key()
DEBUG = bool_setting("DEBUG", False)
ALLOWED_HOSTS = list_setting("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = list_setting("CSRF_TRUSTED_ORIGINS", "")

# --- security (docs/operations.md "Security settings") -------------------------------------------
# The address customers and staff reach the site at, e.g. https://desk.example.com: the chat
# widget's iframe URL is built from it (never from the request's Host header).
PUBLIC_URL = str(setting("PUBLIC_URL", "")).rstrip("/")
# Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated addresses, or *).
# Empty: the connecting address is the client, whatever the headers say (login throttling counts it).
TRUSTED_PROXIES = list_setting("TRUSTED_PROXIES", "")
# Behind a TLS-terminating proxy: the header it sets for https, e.g. "X-Forwarded-Proto: https".
_https_header = str(setting("HTTPS_PROXY_HEADER", "")).strip()
if _https_header:
    _name, _, _value = _https_header.partition(":")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip() or "https")
SECURE_COOKIES = bool_setting("SECURE_COOKIES", PUBLIC_URL.startswith("https://"))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_HSTS_SECONDS = int_setting("HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = bool_setting("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sites allowed to embed the shopper chat (the widget's iframe), e.g. https://shop.example.com.
EMBED_ORIGINS = list_setting("EMBED_ORIGINS", "")
CONTENT_SECURITY_POLICY = str(setting("CONTENT_SECURITY_POLICY", "on")).lower() not in {"off", "0", "false"}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves the API docs page from its own static files, not a CDN (closed networks)
    "huey.contrib.djhuey",
    "xiaoer.events",
    "xiaoer.accounts",
    "xiaoer.customers",
    "xiaoer.chat",
    "xiaoer.knowledge",
    "xiaoer.assistant",
    "xiaoer.orders",
    "xiaoer.notify",
    "xiaoer.crm",
    "xiaoer.aftersales",
    "xiaoer.training",
    "xiaoer.drafting",
    "xiaoer.kpi",
    "xiaoer.demo",  # site level: the demo command seeds every app
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "xiaoer.security.ContentSecurityPolicyMiddleware",
    "xiaoer.accounts.middleware.ShopTimezoneMiddleware",
]

ROOT_URLCONF = "xiaoer.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    }
]
ASGI_APPLICATION = "xiaoer.asgi.application"

# --- database -------------------------------------------------------------------------------
# Every SQLite database, however configured (the default file in DATA_DIR, or DATABASE_URL=
# sqlite:///path), gets the same connection set-up: WAL so readers never block the chat writer, a
# busy timeout so a writer waits for the lock instead of failing, and IMMEDIATE transactions so a
# transaction that read first cannot fail with "database is locked" when it then writes
# (docs/configuration.md, docs/decisions/070-one-sqlite-setup.md).
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
    "transaction_mode": "IMMEDIATE",
}


def _private_file(path: Path) -> None:
    """Create PATH (an empty file is an empty SQLite database) readable by the owner only: it holds
    password hashes and signing secrets. SQLite gives its -wal and -shm files the same mode."""
    if str(path) in {"", ":memory:"} or str(path).startswith("file:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _sqlite(db: dict, test_name: Path) -> dict:
    db["OPTIONS"] = {**SQLITE_OPTIONS, **db.get("OPTIONS", {})}
    # A file, not :memory:, so socket tests can serve the test database from a live server.
    db.setdefault("TEST", {}).setdefault("NAME", str(test_name))
    _private_file(Path(db["NAME"]))
    return db


DATABASE_URL = setting("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # The group-commit writer's statements must not stick to a generic plan made on empty
        # tables (docs/design.md "The chat hot path").
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c plan_cache_mode=force_custom_plan"
        DATABASES["default"]["TEST"] = {"NAME": setting("TEST_DATABASE_NAME", "test_xiaoer")}
    elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        _name = Path(str(DATABASES["default"]["NAME"]))
        _sqlite(DATABASES["default"], DATA_DIR / "test.sqlite3" if str(_name) == ":memory:"
                else _name.with_name(f"test_{_name.name}"))
else:
    DATABASES = {"default": _sqlite({"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "xiaoer.sqlite3"},
                                    DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- real-time hub and task queue ----------------------------------------------------------------
REDIS_URL = setting("REDIS_URL") or ""
HUEY_IMMEDIATE = bool_setting("HUEY_IMMEDIATE", False)
HUEY_NAME = str(setting("HUEY_NAME", "xiaoer"))  # queue name: several sites (or test runs) on one Redis
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": HUEY_NAME,
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": int_setting("HUEY_WORKERS", 2), "worker_type": "thread"},
    }
else:
    _private_file(DATA_DIR / "huey.sqlite3")
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": HUEY_NAME,
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
        # SQLite has no blocking dequeue: an idle worker polls, by default backing off to every
        # 10 s — the delay before an event's listeners start after a quiet spell. Poll at most
        # every 0.5 s (one indexed SELECT); Redis blocks on the queue instead.
        "consumer": {"workers": int_setting("HUEY_WORKERS", 2), "worker_type": "thread",
                     "initial_delay": 0.02, "max_delay": 0.5},
    }

# Domain events (docs/events.md): outbox retention, delivery batch, retry back-off ceiling,
# attempts after which a listener counts as failing, pending age that counts as lagging.
EVENTS_RETENTION_DAYS = int_setting("EVENTS_RETENTION_DAYS", 30)
EVENTS_BATCH = int_setting("EVENTS_BATCH", 200)
EVENTS_RETRY_MAX_SECONDS = int_setting("EVENTS_RETRY_MAX_SECONDS", 600)
EVENTS_FAILING_AFTER = int_setting("EVENTS_FAILING_AFTER", 3)
EVENTS_LAG_WARN_SECONDS = int_setting("EVENTS_LAG_WARN_SECONDS", 300)

# --- auth ----------------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "/desk/login"
LOGIN_REDIRECT_URL = "/desk"
LOGIN_MAX_FAILURES = int_setting("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = int_setting("LOGIN_LOCKOUT_SECONDS", 300)
# Data minimisation (docs/configuration.md): roles that see receivers' names and addresses, and
# roles that see phone numbers whole (everyone else who sees a phone sees it masked, 138****0000).
ORDER_CONTACT_ROLES = list_setting("ORDER_CONTACT_ROLES", "owner,supervisor,agent")
PHONE_VISIBLE_ROLES = list_setting("PHONE_VISIBLE_ROLES", "owner,supervisor")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- i18n / time ---------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"

# --- files ---------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "xiaoer.kpi.staticfinder.PackageDataFinder",  # plotly.min.js from the plotly wheel (decision 164)
]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(setting("MEDIA_ROOT", DATA_DIR / "media"))
MAX_IMAGE_BYTES = int_setting("MAX_IMAGE_BYTES", 10 * 1024 * 1024)
# Largest image accepted, in pixels: decoding costs ~3-4 bytes a pixel whatever the file's size.
MAX_IMAGE_PIXELS = int_setting("MAX_IMAGE_PIXELS", 24_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_IMAGE_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- chat ----------------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = 5000
CHAT_BATCH_MAX = int_setting("CHAT_BATCH_MAX", 256)
CHAT_BATCH_WAIT_MS = float(setting("CHAT_BATCH_WAIT_MS", 2))
CHAT_SEND_QUEUE = int_setting("CHAT_SEND_QUEUE", 1000)
CHAT_HEARTBEAT_SECONDS = int_setting("CHAT_HEARTBEAT_SECONDS", 25)
CHAT_SHOPPER_RATE = float(setting("CHAT_SHOPPER_RATE", 5))  # messages per second, sustained
CHAT_SHOPPER_BURST = int_setting("CHAT_SHOPPER_BURST", 20)
CHAT_SHOPPER_UPLOADS_PER_MINUTE = int_setting("CHAT_SHOPPER_UPLOADS_PER_MINUTE", 10)
# the leave-a-message form shown while no seat is online (docs/decisions/125-leave-a-message.md)
CHAT_LEAVE_MESSAGE_MAX_CHARS = 1000
CHAT_SHOPPER_LEAVE_MESSAGES_PER_MINUTE = int_setting("CHAT_SHOPPER_LEAVE_MESSAGES_PER_MINUTE", 5)
# a seat stays routable this long after its operator's last workbench socket closed (reconnects)
CHAT_PRESENCE_GRACE_SECONDS = float(setting("CHAT_PRESENCE_GRACE_SECONDS", 30))
# sync, history, typing and read frames per socket (per second sustained, burst)
CHAT_SHOPPER_REQUEST_RATE = float(setting("CHAT_SHOPPER_REQUEST_RATE", 5))
CHAT_SHOPPER_REQUEST_BURST = int_setting("CHAT_SHOPPER_REQUEST_BURST", 30)
CHAT_STAFF_REQUEST_RATE = float(setting("CHAT_STAFF_REQUEST_RATE", 50))
CHAT_STAFF_REQUEST_BURST = int_setting("CHAT_STAFF_REQUEST_BURST", 500)
SHOPPER_TOKEN_MAX_AGE = int_setting("SHOPPER_TOKEN_MAX_AGE", 60 * 60 * 24 * 365)

# Side-panel sections of the workbench: (title, url name taking conversation_id). Apps add theirs;
# names that do not resolve are skipped, so an app can be left out of a deployment.
XIAOER_SIDE_PANELS = [
    ("顾客", "desk-panel-customer"),
    ("顾客画像", "crm-panel"),
    ("顾客类型与待确认资料", "crm-panel-type-attributes"),
    ("机器人建议", "assistant-panel"),
    ("订单", "orders-panel"),
    ("内部任务", "orders-tasks-panel"),
    ("问卷与优惠券", "crm-care-panel"),
    ("售后", "aftersales-panel"),
]
# Sections of the supervisor page other apps add: (title, url name taking no argument); each loads
# itself with htmx; names that do not resolve are skipped.
XIAOER_SUPERVISOR_SECTIONS = [
    ("超时的售后单", "aftersales-overdue-section"),
]

# --- order webhook (docs/webhooks.md) ---------------------------------------------------------------
WEBHOOK_TOLERANCE_SECONDS = int_setting("WEBHOOK_TOLERANCE_SECONDS", 300)
WEBHOOK_EVENT_RETENTION_DAYS = int_setting("WEBHOOK_EVENT_RETENTION_DAYS", 7)

# --- outbound email (notify app; Django's SMTP backend) -------------------------------------------
EMAIL_BACKEND = str(setting("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"))
EMAIL_HOST = str(setting("EMAIL_HOST", "localhost"))
EMAIL_PORT = int_setting("EMAIL_PORT", 25)
EMAIL_HOST_USER = str(setting("EMAIL_HOST_USER", ""))
EMAIL_HOST_PASSWORD = str(setting("EMAIL_HOST_PASSWORD", ""))
EMAIL_USE_TLS = bool_setting("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int_setting("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = str(setting("DEFAULT_FROM_EMAIL", "xiaoer@localhost"))

LOG_LEVEL = str(setting("LOG_LEVEL", "INFO")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "jieba": {"level": "WARNING"}},
}

# KPIs (docs/kpis.md): service hours "HH:MM-HH:MM" in the shop's time zone; empty = the whole day.
KPI_SERVICE_HOURS = str(setting("KPI_SERVICE_HOURS", "") or "")
