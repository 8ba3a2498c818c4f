"""Django settings for Patron, read from the environment (see .env.example)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("PATRON_VAR_DIR", PROJECT_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = os.environ.get("PATRON_ENV", "local") == "production"
DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """Production must set SECRET_KEY; a local install keeps a generated one under var/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise RuntimeError("SECRET_KEY must be set when PATRON_ENV=production")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "django_tasks_db",
    "crontask",
    "patron.accounts",
    "patron.catalog",
    "patron.orders",
    "patron.payments",
    "patron.pricing",
    "patron.cart",
    "patron.analytics",
    "patron.recommendations",
    "patron.loyalty",
    "patron.support",
    "patron.reviews",
    "patron.followups",
    "patron.success",
    "patron.storefront",
    "patron.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "patron.middleware.NotFoundAs404Middleware",
    "patron.analytics.middleware.VisitorMiddleware",
]

ROOT_URLCONF = "patron.urls"
WSGI_APPLICATION = "patron.wsgi.application"

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
                "patron.storefront.context_processors.storefront",
            ],
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'patron.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 600))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE transactions take the write lock up front
    # so that concurrent writers queue on busy_timeout instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Server-side binding lets psycopg prepare a statement once it has run a few times on a connection, so that
    # PostgreSQL stops planning the same hot queries on every request.
    if env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "success:dashboard"
LOGOUT_REDIRECT_URL = "storefront:home"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "patron.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Parallel test workers share one Redis; each keeps its own keys.
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "patron") + os.environ.get("PYTEST_XDIST_WORKER", ""),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "patron"}}

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

# Hashed, compressed static files once `collectstatic` has run (make run, production); plain files
# served from the apps otherwise (tests, a fresh checkout).
_static_manifest = (STATIC_ROOT / "staticfiles.json").exists()
WHITENOISE_USE_FINDERS = not _static_manifest
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _static_manifest
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "custom_domain": os.environ.get("AWS_S3_CUSTOM_DOMAIN") or None,
            "querystring_auth": env_bool("AWS_QUERYSTRING_AUTH", False),
            "file_overwrite": False,
        },
    }
# Local media is served by Patron itself so that `make run` shows product images; with S3 the bucket serves them.
SERVE_MEDIA = env_bool("SERVE_MEDIA", not AWS_STORAGE_BUCKET_NAME)

_smtp_host = os.environ.get("EMAIL_HOST", "")
if _smtp_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _smtp_host,
                "port": env_int("EMAIL_PORT", 587),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", False),
                "use_ssl": env_bool("EMAIL_USE_SSL", False),
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
        }
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Patron <shop@patron.localhost>")

# `patron scheduler` enqueues the periodic jobs (each app's tasks.py marks them with @cron); with Redis, a lock
# keeps a second scheduler from running them twice.
CRONTASK = {"REDIS_URL": REDIS_URL or None}
TASKS = {"default": {"BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}

# API tokens (JWT). The access token is short-lived; refresh tokens rotate and are tracked in the database.
JWT_SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY", SECRET_KEY)
JWT_ISSUER = os.environ.get("JWT_ISSUER", "patron")
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "patron-api")
JWT_ACCESS_TTL_SECONDS = env_int("JWT_ACCESS_TTL_SECONDS", 300)
JWT_REFRESH_TTL_SECONDS = env_int("JWT_REFRESH_TTL_SECONDS", 14 * 24 * 3600)

# Failed-login throttling, per account and per client IP.
LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 20)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
# Password reset: requests per address and per client IP, and invalid reset links per client IP, in one window.
PASSWORD_RESET_MAX_REQUESTS_PER_EMAIL = env_int("PASSWORD_RESET_MAX_REQUESTS_PER_EMAIL", 3)
PASSWORD_RESET_MAX_REQUESTS_PER_IP = env_int("PASSWORD_RESET_MAX_REQUESTS_PER_IP", 10)
PASSWORD_RESET_MAX_LINK_FAILURES_PER_IP = env_int("PASSWORD_RESET_MAX_LINK_FAILURES_PER_IP", 20)
PASSWORD_RESET_WINDOW_SECONDS = env_int("PASSWORD_RESET_WINDOW_SECONDS", 3600)

# Payments (used by the checkout): the offline test provider is the default.
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "test")
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")

# Orders still unpaid this long after they were placed are cancelled and their stock released.
ORDER_PAYMENT_TIMEOUT_MINUTES = env_int("ORDER_PAYMENT_TIMEOUT_MINUTES", 30)
# Shared secret for carriers' signed tracking updates (POST /api/shipping/carrier-webhook); unset = refused.
CARRIER_WEBHOOK_SECRET = os.environ.get("CARRIER_WEBHOOK_SECRET", "")

# Delivered items may be returned for this many days after delivery.
ORDER_RETURN_WINDOW_DAYS = env_int("ORDER_RETURN_WINDOW_DAYS", 30)
STORE_NAME = os.environ.get("STORE_NAME", "Patron Demo Store")
STORE_CURRENCY = os.environ.get("STORE_CURRENCY", "USD")
# Anonymous catalog pages are cached this long; any catalog change invalidates them at once.
CATALOG_PAGE_CACHE_SECONDS = env_int("CATALOG_PAGE_CACHE_SECONDS", 300)
# Behaviour analytics (patron.analytics): events wait in Redis (or in each process's memory without Redis) and are
# stored in batches of ANALYTICS_BATCH_SIZE; in memory, also once the oldest is ANALYTICS_FLUSH_SECONDS old. Redis
# keeps at most ANALYTICS_BUFFER_MAX waiting events. Events older than ANALYTICS_RETENTION_DAYS are purged nightly.
ANALYTICS_ENABLED = env_bool("ANALYTICS_ENABLED", True)
ANALYTICS_RETENTION_DAYS = env_int("ANALYTICS_RETENTION_DAYS", 180)
ANALYTICS_BATCH_SIZE = env_int("ANALYTICS_BATCH_SIZE", 100)
ANALYTICS_FLUSH_SECONDS = env_int("ANALYTICS_FLUSH_SECONDS", 10)
ANALYTICS_BUFFER_MAX = env_int("ANALYTICS_BUFFER_MAX", 100_000)
# Events a page's script may report per minute (POST /api/analytics/events), per visitor and per client address.
ANALYTICS_COLLECT_PER_MINUTE = env_int("ANALYTICS_COLLECT_PER_MINUTE", 60)
ANALYTICS_COLLECT_PER_MINUTE_PER_IP = env_int("ANALYTICS_COLLECT_PER_MINUTE_PER_IP", 600)
# Google Analytics 4 (e.g. G-ABC123XYZ): off when empty. When set, visitors get a consent banner and gtag.js is
# loaded only after they accept.
GA4_MEASUREMENT_ID = os.environ.get("GA4_MEASUREMENT_ID", "")
# `make bench` adds a bare reference page under /bench/; never set in normal use.
BENCH_URLS = env_bool("PATRON_BENCH")

# Reviews: customer photos are re-encoded as JPEG no larger than this many pixels on their longer side.
REVIEWS_PHOTO_MAX_MB = env_int("REVIEWS_PHOTO_MAX_MB", 8)
REVIEWS_PHOTO_MAX_EDGE = env_int("REVIEWS_PHOTO_MAX_EDGE", 1600)
REVIEWS_MAX_PHOTOS = env_int("REVIEWS_MAX_PHOTOS", 5)
# How long the "write a review" links in review-request emails work without signing in.
REVIEWS_LINK_MAX_AGE_DAYS = env_int("REVIEWS_LINK_MAX_AGE_DAYS", 60)
# "N people bought this in the last 24 hours" shows from this many buyers on (never invented, never padded).
REVIEWS_RECENT_BUYERS_MIN = env_int("REVIEWS_RECENT_BUYERS_MIN", 2)
# Follow-up emails: how long their links (survey, unsubscribe, tracked links, cart restore) stay valid, and how
# often at most one customer gets an abandoned-cart reminder.
FOLLOWUPS_LINK_MAX_AGE_DAYS = env_int("FOLLOWUPS_LINK_MAX_AGE_DAYS", 90)
FOLLOWUPS_CART_REMINDER_COOLDOWN_DAYS = env_int("FOLLOWUPS_CART_REMINDER_COOLDOWN_DAYS", 7)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Support assistant (patron.support). Intents come from SUPPORT_INTENTS_FILE (default: the shipped
# support/data/intents.yaml); the model trained from them is cached in SUPPORT_MODEL_DIR. Below
# SUPPORT_CONFIDENCE_THRESHOLD the assistant asks what the shopper means instead of guessing.
SUPPORT_INTENTS_FILE = os.environ.get("SUPPORT_INTENTS_FILE", "")
SUPPORT_MODEL_DIR = Path(os.environ.get("SUPPORT_MODEL_DIR") or VAR_DIR / "support-model")
SUPPORT_CONFIDENCE_THRESHOLD = float(os.environ.get("SUPPORT_CONFIDENCE_THRESHOLD") or "0.5")
# Optional generative mode: an OpenAI-compatible chat endpoint (e.g. http://127.0.0.1:11434/v1 for Ollama) phrases
# the replies, grounded in the articles and tool results. Off when SUPPORT_LLM_BASE_URL is empty.
SUPPORT_LLM_BASE_URL = os.environ.get("SUPPORT_LLM_BASE_URL", "")
SUPPORT_LLM_MODEL = os.environ.get("SUPPORT_LLM_MODEL", "")
SUPPORT_LLM_API_KEY = os.environ.get("SUPPORT_LLM_API_KEY", "")
SUPPORT_LLM_TIMEOUT_SECONDS = float(os.environ.get("SUPPORT_LLM_TIMEOUT_SECONDS") or "20")
# Shared secret of the mail provider's inbound webhook (POST /api/support/inbound-email, HMAC-SHA256 of the raw
# message in X-Patron-Signature); unset = the endpoint refuses every call.
SUPPORT_INBOUND_EMAIL_SECRET = os.environ.get("SUPPORT_INBOUND_EMAIL_SECRET", "")
# Text messages through Twilio (docs/support.md#text-messages-sms-whatsapp): the account's SID and auth token (which
# also verifies Twilio's webhook signatures, computed over SITE_URL + path), and the sender of each channel. SMS is on
# when TWILIO_SMS_FROM (E.164, +14155550100) is set, WhatsApp when TWILIO_WHATSAPP_FROM (whatsapp:+14155550100) is.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_SMS_FROM = os.environ.get("TWILIO_SMS_FROM", "")
TWILIO_WHATSAPP_FROM = os.environ.get("TWILIO_WHATSAPP_FROM", "")
# Facebook Messenger and Instagram Direct through Meta's Messenger Platform (docs/support.md, "Social messages"): the
# app secret signs webhooks (X-Hub-Signature-256), the verify token answers Meta's subscription handshake, the Page
# access token sends replies, and the Page and Instagram account ids say which recipients are the store's (a channel
# whose id is empty is off). META_GRAPH_URL: the Graph API's address and version.
META_APP_SECRET = os.environ.get("META_APP_SECRET", "")
META_VERIFY_TOKEN = os.environ.get("META_VERIFY_TOKEN", "")
META_PAGE_ACCESS_TOKEN = os.environ.get("META_PAGE_ACCESS_TOKEN", "")
META_PAGE_ID = os.environ.get("META_PAGE_ID", "")
META_INSTAGRAM_ID = os.environ.get("META_INSTAGRAM_ID", "")
META_GRAPH_URL = os.environ.get("META_GRAPH_URL") or "https://graph.facebook.com/v21.0"
