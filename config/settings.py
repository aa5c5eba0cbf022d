"""Settings for Zammad → Kimai Sync. Everything deployment-specific comes from the environment.

APP_ENV=production (the Docker image's default) refuses to start without SECRET_KEY, with
DEBUG on, or without ALLOWED_HOSTS. APP_ENV=local (the default outside Docker) generates a
secret key once and keeps it in DATA_DIR. Without DATABASE_URL an embedded PostgreSQL server
is started in DATA_DIR/pgdata.
"""

from __future__ import annotations

import secrets
import sys
import tomllib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.embedded_db import embedded_database
from config.env import env_bool, env_int, env_list, env_secret, env_str
from config.logging import build_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
APP_VERSION = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]

APP_ENV = env_str("APP_ENV", "local")
if APP_ENV not in {"local", "production"}:
    raise ImproperlyConfigured(f"APP_ENV must be 'local' or 'production'; got {APP_ENV!r}")
PRODUCTION = APP_ENV == "production"
TESTING = "pytest" in sys.modules or env_bool("TESTING")

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when APP_ENV=production")


def _local_secret_key() -> str:
    """Generate the local secret key once and keep it, so sessions and encrypted tokens survive."""
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key, encoding="utf-8")
    key_file.chmod(0o600)
    return key


SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when APP_ENV=production"
        )
    SECRET_KEY = _local_secret_key()
if PRODUCTION and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 random characters long")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
# Salts for the Fernet keys of encrypted fields (django-fernet-encrypted-fields); the first
# encrypts, all decrypt. Rotate by prepending a salt and running `manage.py reencrypt_secrets`.
SALT_KEY = env_list("FIELD_ENCRYPTION_SALTS", "zammad-kimai-sync-v1")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1]")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when APP_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Where people and Zammad reach the service (https://sync.example.com): the webhook URL shown
# in Settings and the login address commands print. Unset, pages say so and use the address
# the browser used; commands print the address `run` binds.
PUBLIC_URL = env_str("PUBLIC_URL").strip().rstrip("/")
if PUBLIC_URL and not (
    PUBLIC_URL.startswith(("http://", "https://")) and PUBLIC_URL.split("://", 1)[1]
):
    raise ImproperlyConfigured(
        f"PUBLIC_URL must start with https:// or http:// and name a host; got {PUBLIC_URL!r}"
    )

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",  # intcomma: 70,000 written, not 70000
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Our apps come first so their templates override allauth's.
    "apps.core",
    "apps.accounts",
    "apps.connectors",
    "apps.mappings",
    "apps.sync",
    "apps.gdpr",
    "apps.ui",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "template_partials",
    "ninja",
    "csp",
    "django_q",
]

MIDDLEWARE = [
    "apps.core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.RefuseNulInQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "apps.core.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.ui.context_processors.navigation",
            ],
        },
    }
]

# Database: DATABASE_URL selects PostgreSQL; without it, the embedded server in DATA_DIR.
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or postgresql:// URL")
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    DATABASES = {"default": embedded_database(DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    # Shared by web and worker processes: login throttling must count across processes.
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "core_cache",
    }
}

# Authentication: one admin user (V1), e-mail login through django-allauth, no sign-up.
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "ui:dashboard"
ACCOUNT_ADAPTER = "apps.accounts.adapter.SingleAdminAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_SESSION_REMEMBER = None
# Failed logins are throttled per account *and* source (apps/accounts/throttle.py adds the
# client address to allauth's per-key limit): five wrong passwords from one address make that
# address wait up to five minutes, while the admin still logs in from any other address.
# Per address across all accounts: 10 failures and 30 attempts a minute. Throttled answers are
# 429 with Retry-After; `manage.py createadmin` clears the account's counters.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "change_password": "5/m/user",
    "reauthenticate": "10/m/user",
}
# The client address is REMOTE_ADDR unless a reverse proxy is declared: with
# TRUSTED_PROXY_COUNT=N the N-th address from the right of X-Forwarded-For counts, with
# TRUSTED_CLIENT_IP_HEADER (e.g. X-Real-IP) that header. Never set either without such a proxy:
# callers could then choose their own address and escape the throttle.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env_str("TRUSTED_CLIENT_IP_HEADER") or None
# Optional second factor (allauth.mfa): an authenticator app (TOTP) with recovery codes, off
# until the admin switches it on under Account. API keys are not affected.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Zammad → Kimai Sync"
# A code of the 30-second step before or after the server's is accepted too (RFC 6238 §5.2: one
# step for transmission delay and clock drift). allauth's default, 0, refuses a code typed just
# before the phone showed the next one, and each code still works once only.
MFA_TOTP_TOLERANCE = 1
MFA_ADAPTER = "apps.accounts.mfa.EncryptingMFAAdapter"

ADMIN_EMAIL = env_str("ADMIN_EMAIL")
ADMIN_PASSWORD = env_secret("ADMIN_PASSWORD")

# Security headers and cookies.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp): no inline script, no third-party origins. The API docs
# page (Swagger UI, served from ninja's bundled static files) needs inline styles.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [
    # TLS termination, HSTS subdomains and preload are decided by the reverse proxy in front
    # of us (SECURE_SSL_REDIRECT and SECURE_HSTS_INCLUDE_SUBDOMAINS can still be switched on).
    "security.W005",
    "security.W008",
    "security.W021",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Collected into the image at build time; locally, static files are served from the apps.
STATIC_ROOT = Path(
    env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles" if PRODUCTION else DATA_DIR / "static"))
)
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# API: Django Ninja.
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 500
# Limit and offset bounded to what PostgreSQL can hold (apps/core/api_types.py).
NINJA_PAGINATION_CLASS = "apps.core.api_types.Pagination"

# django-q2 on the ORM broker (no Redis). `timeout` stays well below `retry` so a slow task is
# killed before the broker hands it to a second worker; attempts are bounded.
Q_CLUSTER = {
    "name": "zks",
    "orm": "default",
    "workers": env_int("WORKER_CONCURRENCY", 2, minimum=1),
    "timeout": env_int("TASK_TIMEOUT_SECONDS", 900, minimum=10),
    "retry": env_int("TASK_TIMEOUT_SECONDS", 900, minimum=10) + 300,
    "max_attempts": 3,
    "ack_failures": True,
    "save_limit": 500,
    "catch_up": False,
    # An enqueue NOTIFYs the workers (apps/core/broker.py); the poll is only the safety net.
    "broker_class": "apps.core.broker.NotifyingORM",
    "poll": 2.0,
    "label": "Task queue",
}
# Refuse connector base URLs outside 127.0.0.0/8, ::1 and localhost before any DNS lookup or
# request (the API fuzzing step in CI sets it: generated URLs must never leave the machine).
OUTBOUND_LOOPBACK_ONLY = env_bool("OUTBOUND_LOOPBACK_ONLY", False)
# Run queued tasks in the calling process instead of the worker (tests and the `sync` command).
TASKS_INLINE = env_bool("TASKS_INLINE", False)
# Refused webhook requests from one address within one minute before it gets 429 without its
# body being read (apps/connectors/rejections.py).
WEBHOOK_REJECTIONS_PER_MINUTE = env_int("WEBHOOK_REJECTIONS_PER_MINUTE", 30, minimum=1)
# A worker is "alive" for /readyz when its heartbeat is younger than this.
WORKER_HEARTBEAT_INTERVAL = env_int("WORKER_HEARTBEAT_INTERVAL", 10, minimum=1)
WORKER_HEARTBEAT_MAX_AGE = env_int("WORKER_HEARTBEAT_MAX_AGE", 60, minimum=5)

# Logging: structlog; JSON lines in production, readable console output locally.
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "console")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING_CONFIG = None
build_logging_config(json_output=LOG_FORMAT == "json", level=LOG_LEVEL)
