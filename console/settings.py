"""Tuku settings, read from the environment.

With no variable set at all Tuku runs on its embedded defaults: SQLite, originals on the local
filesystem and a Celery broker kept in files, all under one data directory. `.env.example` and
the README list every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from console import env
from console.csp import content_security_policy, s3_origins

BASE_DIR = Path(__file__).resolve().parent.parent
# The data directory holds the database (password hashes, sessions), the keys and the originals,
# and libraries create files there with their own modes (SQLite and its WAL, kombu's message
# files, the beat schedule). A umask is the one rule they all obey. It is set here because every
# process of ours loads these settings before it writes anything: manage.py, the gunicorn worker
# (console.wsgi) and Celery (console.celery reads its configuration from here), each after any
# umask its server set while daemonizing.
os.umask(0o077)
DATA_DIR = env.directory("TUKU_DATA_DIR", BASE_DIR / "data", private=True)

SECRET_KEY = env.secret("DJANGO_SECRET_KEY", DATA_DIR / "secret_key", env.token_urlsafe)
# Fernet keys for secrets at rest (Secret Keys). Comma-separated: the first encrypts, all
# decrypt, so a key can be rotated without re-encrypting first.
FIELD_ENCRYPTION_KEYS = env.string_list("TUKU_FIELD_ENCRYPTION_KEYS", []) or [
    env.secret("", DATA_DIR / "field_key", lambda: Fernet.generate_key().decode())
]
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "TUKU_FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes); make one with `python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
        ) from None

DEBUG = env.boolean("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.string_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.string_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Behind TLS (a reverse proxy or a load balancer) every cookie is secure and browsers are told
# to stay on HTTPS. The wire API is exempt from the redirect: SDKs must never be redirected.
HTTPS = env.boolean("TUKU_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^rest/2\.0/", r"^oauth/2\.0/token"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.integer("TUKU_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.boolean("TUKU_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Joining the browsers' preload list binds the whole domain: the operator's call.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "engine",
    "gallery",
]

MIDDLEWARE = [
    # First: wire paths answer JSON even when Django refuses a request early (a bad Host).
    "engine.middleware.WireJsonMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Between the two: Alibaba's POST / skips the console's CSRF check, not ALLOWED_HOSTS.
    "engine.aliyun.middleware.AliyunRouteMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login refused by the limits into its answer (console/logins.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

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
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env.url(
    "DATABASE_URL",
    f"sqlite:///{DATA_DIR / 'tuku.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
)
DATABASES: dict[str, dict[str, Any]] = {
    "default": dict(dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the engine and the worker read while one writes; IMMEDIATE
    # takes the write lock up front so concurrent writers queue instead of failing. The
    # connection is kept (from dj_database_url above): opening one runs the pragmas and
    # registers Django's functions, a millisecond of every request and task otherwise.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache when set ---------------------------------------------------------
REDIS_URL = env.url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))

if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# --- Celery -----------------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env.url(
    "CELERY_BROKER_URL",
    REDIS_URL or "filesystem://",
    schemes=("redis", "rediss", "amqp", "pyamqp", "filesystem"),
)
# A task whose worker died unacknowledged is delivered again after this long (Redis broker): a
# fallback, as the sweeper queues a dead worker's rows again once their lease runs out. It must
# exceed the longest retry countdown (gallery.services.task_base.MAX_BACKOFF): a waiting retry
# is unacknowledged, and a redelivered one would run beside the original.
VISIBILITY_TIMEOUT = env.integer("TUKU_TASK_VISIBILITY_TIMEOUT", 600, minimum=5)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    # Look for such tasks every half timeout (kombu's default waits 10 x 10 s between scans).
    "unacked_restore_interval": max(1, min(60, VISIBILITY_TIMEOUT // 2)),
    "unacked_restore_throttle": 1,
}
if CELERY_BROKER_URL.startswith("filesystem"):
    BROKER_DIR.mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT = "console.broker:Transport"  # messages written atomically
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(BROKER_DIR),
        data_folder_out=str(BROKER_DIR),
        control_folder=str(BROKER_DIR / "control"),
        # The file transport polls, and a worker slot waits for the next poll once its task
        # is done: 0.2 s capped a 2-slot worker at 10 tasks/s, whatever the engine could do.
        # 20 ms costs an idle worker about 1 % of one core (measured; 0.2 s: 0.2 %).
        polling_interval=0.02,
    )
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message per worker slot: every message a worker holds is then a running task that holds
# its rows' lease, so a dead worker's rows go back to the sweeper within LEASE_SECONDS. A message
# prefetched but not started holds no lease and would wait for STALE_AFTER_SECONDS (300 s)
# instead. The short poll above makes up for it on the file broker (bench/ingest.py).
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A web request must not hang on a broker outage: publish fails fast, the row stays pending
# and the sweeper dispatches it again once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
# The sweeper (gallery/services/sweep.py) runs this often: it bounds how soon the rows of a dead
# worker, of a broker outage or of a wait for the backend are queued again.
SWEEP_INTERVAL_SECONDS = env.integer("TUKU_SWEEP_SECONDS", 15, minimum=1)
# A row queued this long ago that no task has taken is queued again (its message may be lost).
STALE_AFTER_SECONDS = env.integer("TUKU_STALE_SECONDS", 300, minimum=1)
# Files no row names (a process killed between storing a file and committing its row) are
# removed once this old, by a sweep this often (gallery/services/orphans.py).
ORPHAN_AGE_SECONDS = env.integer("TUKU_ORPHAN_AGE_SECONDS", 3600, minimum=60)
ORPHAN_SWEEP_SECONDS = env.integer("TUKU_ORPHAN_SWEEP_SECONDS", 3600, minimum=60)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-images": {
        "task": "gallery.tasks.images_sweep",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "sweep-orphan-files": {
        "task": "gallery.tasks.orphan_files_sweep",
        "schedule": float(ORPHAN_SWEEP_SECONDS),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Storage: originals and thumbnails -------------------------------------------------------
STORAGE_BACKEND = env.choice("TUKU_STORAGE", "filesystem", ("filesystem", "s3"))
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

if STORAGE_BACKEND == "s3":
    AWS_STORAGE_BUCKET_NAME = env.string("TUKU_S3_BUCKET")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("TUKU_STORAGE=s3 needs TUKU_S3_BUCKET (the bucket name).")
    _s3_options: dict[str, Any] = {
        "bucket_name": AWS_STORAGE_BUCKET_NAME,
        "endpoint_url": env.url("TUKU_S3_ENDPOINT_URL", "", schemes=("http", "https")) or None,
        "region_name": env.string("TUKU_S3_REGION") or None,
        "access_key": env.string("TUKU_S3_ACCESS_KEY_ID") or None,
        "secret_key": env.string("TUKU_S3_SECRET_ACCESS_KEY") or None,
        "location": env.string("TUKU_S3_PREFIX"),
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
    }
    _media: dict[str, Any] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}
else:
    _media = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _media,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# --- Content-Security-Policy (console/csp.py) ---------------------------------------------------
# Images in S3 reach the page through a redirect to a presigned URL, checked against img-src.
_image_origins: list[str] = []
if STORAGE_BACKEND == "s3":
    _image_origins = s3_origins(
        AWS_STORAGE_BUCKET_NAME, _s3_options["region_name"] or "", _s3_options["endpoint_url"] or ""
    )
CONTENT_SECURITY_POLICY = content_security_policy(_image_origins)

# --- Uploads and the wire ----------------------------------------------------------------------
# A legal 4 MiB base64 image grows to about three times that once URL-encoded (baidu-wire §13).
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
# Django's default chmods every stored file to 0644 whatever the umask.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
APPEND_SLASH = True  # the wire views are registered without slashes and never redirect

# Base URL that built-in applications use to reach the engine.
ENGINE_URL = env.url("TUKU_ENGINE_URL", "http://127.0.0.1:8000", schemes=("http", "https"))
ENGINE_URL_FETCH = env.boolean("TUKU_ENGINE_URL_FETCH", True)
ENGINE_URL_FETCH_PRIVATE = env.boolean("TUKU_ENGINE_URL_FETCH_PRIVATE", False)
# The engine's exported image model: `manage.py engine_model` writes it once, every engine
# process loads it from here.
ENGINE_MODEL_DIR = env.directory("TUKU_ENGINE_MODEL_DIR", DATA_DIR / "models")
# Host names a bce-auth-v1 signature may sign besides the Host the call arrived with. The
# official Node SDK always signs `aip.baidubce.com` (baidu-wire §11.11), so its signing mode
# needs that name here; off by default, since a signature then no longer binds one engine.
ENGINE_SIGNED_HOSTS = env.string_list("TUKU_ENGINE_SIGNED_HOSTS", [])
# What the Alibaba wire's Detail reports as an instance's Region (aliyun-wire §4.1).
ENGINE_ALIYUN_REGION = env.string("TUKU_ENGINE_ALIYUN_REGION", "cn-shanghai")
# A hosted backend's base URL is typed by a user; private, loopback and link-local addresses
# are refused unless the operator runs a backend there (for example an engine on the LAN).
BACKEND_ALLOW_PRIVATE = env.boolean("TUKU_BACKEND_ALLOW_PRIVATE", False)
# Timeouts for calls from the console to any backend: (connect, read) in seconds.
BACKEND_TIMEOUT = (
    float(env.integer("TUKU_BACKEND_CONNECT_TIMEOUT", 5, minimum=1)),
    float(env.integer("TUKU_BACKEND_READ_TIMEOUT", 30, minimum=1)),
)

# --- Accounts ----------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery:home"
LOGOUT_REDIRECT_URL = "login"
# Failed logins (console/logins.py): per user name from one address, per user name from any
# address, per address for any name; each counter expires this long after its last failure.
LOGIN_ATTEMPTS = env.integer("TUKU_LOGIN_ATTEMPTS", 5, minimum=1)
LOGIN_USER_ATTEMPTS = env.integer("TUKU_LOGIN_USER_ATTEMPTS", 10, minimum=1)
LOGIN_ADDRESS_ATTEMPTS = env.integer("TUKU_LOGIN_ADDRESS_ATTEMPTS", 100, minimum=1)
LOGIN_WINDOW_SECONDS = env.integer("TUKU_LOGIN_WINDOW_SECONDS", 300, minimum=1)
# How many reverse proxies in front of Tuku append to X-Forwarded-For: the client address for
# the login limits is the one the outermost of them saw. 0: the connection's own address.
TRUSTED_PROXIES = env.integer("TUKU_TRUSTED_PROXIES", 0, minimum=0)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses before a password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "console.logins.LoginLimits"
AXES_CACHE = "default"
# One counter per entry, in the order of console.logins.limits().
AXES_LOCKOUT_PARAMETERS: list[Any] = [["ip_address", "username"], "username", "ip_address"]
AXES_FAILURE_LIMIT = "console.logins.failure_ceiling"
AXES_USERNAME_CALLABLE = "console.logins.attempt_username"
AXES_LOCKOUT_CALLABLE = "console.logins.locked_out"
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_WINDOW_SECONDS)
AXES_CLIENT_IP_CALLABLE = "console.logins.client_address"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.string("TUKU_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Logging: one line per event, never a secret -----------------------------------------------
LOG_LEVEL = env.choice("TUKU_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "console.logredact.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
    },
}
