"""Settings come from the environment; production refuses to start without a secret key."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

MANAGE = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]


def manage(*args, **env_overrides) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL"))
    }
    env.update(env_overrides)
    return subprocess.run([*MANAGE, *args], env=env, capture_output=True, text=True, timeout=120)


def test_debug_off_without_secret_key_refuses_to_start():
    result = manage("check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr


def test_production_settings_pass_the_deployment_check():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="k" * 20 + "a-production-like-secret-of-fifty-chars-or-more-xyz",
        DJANGO_ALLOWED_HOSTS="lancar.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_settings_defaults_for_a_local_run():
    result = manage(
        "shell",
        "-v0",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.TIME_ZONE, s.LANGUAGE_CODE, s.DATABASES['default']['ENGINE'])",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "Asia/Jakarta", "id", "django.db.backends.sqlite3"]


def test_database_url_selects_postgresql():
    result = manage(
        "shell",
        "-v0",
        "-c",
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(d['ENGINE'], d['NAME'], d['HOST'])",
        DATABASE_URL="postgres://lancar:secret@db.internal:5432/lancar",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "lancar", "db.internal"]


def test_every_environment_variable_is_documented():
    """Each variable the settings read is listed in .env.example and the README's table."""
    import re

    base = Path(settings.BASE_DIR)
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (base / "clinic/settings.py").read_text()))
    assert {"LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT", "LANCAR_TRUSTED_PROXY_COUNT"} <= read
    example = (base / ".env.example").read_text()
    readme = (base / "README.md").read_text()
    assert [name for name in sorted(read) if f"\n{name}=" not in example] == []
    assert [name for name in sorted(read) if f"| `{name}` |" not in readme] == []
