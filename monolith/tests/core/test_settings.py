"""Settings come from the environment; unsafe production settings are refused at start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

MONOLITH = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SHOP_ENV", "DEBUG"}}
    code = "import shop.settings as s; print(s.DEBUG, s.ALLOWED_HOSTS, len(s.SECRET_KEY))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=MONOLITH,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_local_defaults_run_without_a_secret_and_debug_is_off() -> None:
    result = load_settings(SHOP_ENV="local")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("False ['*']")


@pytest.mark.parametrize("secret", ["", "change-me", "django-insecure-abc"])
def test_placeholder_secret_is_refused_outside_local(secret: str) -> None:
    result = load_settings(
        SHOP_ENV="production", SECRET_KEY=secret, ALLOWED_HOSTS="shop.example.com"
    )
    assert result.returncode != 0
    assert "SECRET_KEY is unset or a placeholder" in result.stderr


def test_production_needs_named_hosts() -> None:
    result = load_settings(SHOP_ENV="production", SECRET_KEY="s" * 50)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is empty" in result.stderr


def test_production_with_real_settings_loads() -> None:
    result = load_settings(
        SHOP_ENV="production", SECRET_KEY="s" * 50, ALLOWED_HOSTS="shop.example.com", DEBUG="0"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['shop.example.com'] 50"


def test_a_malformed_boolean_is_a_readable_error() -> None:
    result = load_settings(DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr
