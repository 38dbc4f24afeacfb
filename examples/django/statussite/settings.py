"""
Settings of the example project: the database from DATABASE_URL, else from libpq's PG*
variables, so the Django app and status-reconciler read the same environment. No package
beyond Django and psycopg2 (Debian: python3-django python3-psycopg2).
"""
import os
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = []

INSTALLED_APPS = [
    "django.contrib.postgres",
    "tracking",
]

# Aware datetimes, stored as timestamptz: see docs/django.md for USE_TZ = False.
USE_TZ = True
TIME_ZONE = "UTC"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database_from_environment():
    """DATABASES["default"] from DATABASE_URL (postgres://USER:PASSWORD@HOST:PORT/NAME?OPTIONS)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        # libpq reads PGHOST, PGPORT, PGUSER, PGPASSWORD (and PGSSLMODE, ...) itself when
        # Django passes none of them; Django only insists on a database name.
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "tracking"),
        }
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL: expected postgres://USER:PASSWORD@HOST:PORT/NAME, got scheme {parts.scheme!r}"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # ?sslmode=require&application_name=... go to psycopg2 as they are.
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


DATABASES = {"default": database_from_environment()}
