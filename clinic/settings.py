"""Lancar settings: everything that differs between machines comes from the environment.

See `.env.example` and the README for the variables. With DJANGO_DEBUG off the app refuses to
start without DJANGO_SECRET_KEY and turns on the HTTPS-only cookie and HSTS settings.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=True)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# `make run` (a clinic's laptop) keeps a key generated once in an untracked 0600 file
# (clinic/local_secret.py); a server sets DJANGO_SECRET_KEY, so production never reads a file.
_secret_key_file = env.str("LANCAR_SECRET_KEY_FILE", default="")
if not SECRET_KEY and _secret_key_file:
    from clinic.local_secret import read as _read_secret_key

    SECRET_KEY = _read_secret_key(_secret_key_file)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (production)."
        )
    # Only ever used for a local debug run; production cannot reach this line.
    SECRET_KEY = "insecure-local-development-key-not-for-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "studies.apps.LancarAdminConfig",  # django.contrib.admin with the role-checking site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "studies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so that static files carry the two policies as well.
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "studies.access.IdleTimeoutMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "studies.headers.NoStoreForSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "studies.safety.UnstorableInputMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "studies.access.RoleRequiredMiddleware",
    # Axes must come last so that it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "studies.access.RoleModelBackend",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

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
                "studies.context_processors.role",
            ],
        },
    },
]

_database_url = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(_database_url)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes concurrent writers wait for the lock instead of failing mid-transaction;
    # WAL lets readers go on while a midwife's save is being written.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    # Keep a worker's connection between requests (opening one costs ~7 ms), checked before use.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT compiler takes ~0.4 s to compile a cohort query whose estimated cost is
    # high but which runs in a tenth of that (make bench); the app's queries never gain from it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studies:home"
LOGOUT_REDIRECT_URL = "login"

# A shared clinic phone must not stay signed in: 30 minutes without a request ends the session.
# studies.access.IdleTimeoutMiddleware renews a signed-in session once a minute of activity.
SESSION_COOKIE_AGE = 30 * 60

# Repeated failed logins lock the username; the address they come from is locked only at a much
# higher count, because a whole clinic shares one address (studies/login_protection.py).
AXES_FAILURE_LIMIT = env.int("LANCAR_LOGIN_FAILURE_LIMIT", default=5)
LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "studies.login_protection.LancarAxesHandler"
# A success clears that username's own failures (the handler never clears another account's).
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_CALLABLE = "studies.login_protection.attempted_username"
# Reverse proxies in front of the app whose X-Forwarded-For entries are believed; 0 = none, the
# connection's own address is used and the header (which anyone can send) is ignored.
LANCAR_TRUSTED_PROXY_COUNT = env.int("LANCAR_TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "studies.login_protection.client_ip"

LANGUAGE_CODE = "id"
LANGUAGES = [("id", _("Bahasa Indonesia")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Jakarta"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# `make run` serves a clinic's laptop over plain http://127.0.0.1 with debug off: HTTPS-only
# cookies and the HTTPS redirect would make signing in impossible there. Only that target sets
# LANCAR_LOCAL_HTTP, and it is refused unless the server answers to this machine alone.
LOCAL_HTTP = env.bool("LANCAR_LOCAL_HTTP", default=False)
if LOCAL_HTTP and not set(ALLOWED_HOSTS) <= {"localhost", "127.0.0.1", "[::1]"}:
    raise ImproperlyConfigured(
        "LANCAR_LOCAL_HTTP is for a server on this machine only (DJANGO_ALLOWED_HOSTS must be "
        "localhost, 127.0.0.1 or [::1])."
    )
if not DEBUG and not LOCAL_HTTP:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere: scripts and stylesheets are files under static/, charts
# are inline SVG drawn with presentation attributes (studies/charts.py). data: images are
# Bootstrap's and the admin's small icons inside their stylesheets (and the empty favicon).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Powerful browser features Lancar never uses, switched off for the page and anything it embeds.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "fullscreen",
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "lancar": {"handlers": ["console"], "level": "INFO"},
        "axes": {"handlers": ["console"], "level": "WARNING"},
        # Server errors with their tracebacks (with debug off Django would only mail them to
        # ADMINS, and there are none).
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# Uploaded cohort files wait here between the dry-run preview and the confirmation, on disk so
# that any worker can finish the import.
LANCAR_IMPORT_DIR = env.str("LANCAR_IMPORT_DIR", default="") or str(BASE_DIR / "var" / "imports")
LANCAR_IMPORT_MAX_BYTES = env.int("LANCAR_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
# An uploaded file that was never confirmed is removed after this many hours.
LANCAR_IMPORT_MAX_AGE_HOURS = env.int("LANCAR_IMPORT_MAX_AGE_HOURS", default=24)

# Import previews and imports run as background tasks (studies/tasks.py), queued in the
# database: no broker to run on a small clinic server. `manage.py db_worker` runs them
# (`make run` starts it beside the server; README, Deployment).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
