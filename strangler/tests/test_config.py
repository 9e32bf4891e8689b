from pathlib import Path

import pytest
from strangler.config import ConfigError, load_config, load_dotenv


def test_dotenv_parses_comments_quotes_and_export(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\n\nexport A=1\nB='two words'\nC=\"x=y\"\n")
    assert load_dotenv(env_file) == {"A": "1", "B": "two words", "C": "x=y"}


def test_dotenv_names_the_bad_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("A=1\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        load_dotenv(env_file)


def test_embedded_servers_when_urls_are_unset(tmp_path: Path) -> None:
    config = load_config({"STRANGLER_STATE_DIR": str(tmp_path)})
    assert config.embedded_postgres
    assert config.embedded_redis
    assert config.db_url("catalog") == "postgresql://postgres@127.0.0.1:15432/catalog"
    assert config.cache_url() == "redis://127.0.0.1:16379/0"
    # a local admin token is generated once and kept private in the state folder
    token_file = tmp_path / "admin-token"
    assert token_file.read_text().strip() == config.admin_token
    assert token_file.stat().st_mode & 0o077 == 0
    assert load_config({"STRANGLER_STATE_DIR": str(tmp_path)}).admin_token == config.admin_token


def test_given_urls_are_used_and_sibling_databases_derived(tmp_path: Path) -> None:
    config = load_config(
        {
            "STRANGLER_STATE_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u:p@db.internal:5433/shop",
            "REDIS_URL": "redis://cache:6379/2",
            "FACADE_ADMIN_TOKEN": "given",
        }
    )
    assert not config.embedded_postgres
    assert config.db_url("shop") == "postgresql://u:p@db.internal:5433/shop"
    assert config.db_url("catalog") == "postgresql://u:p@db.internal:5433/catalog"
    env = config.component_env()
    assert env["REDIS_URL"] == "redis://cache:6379/2"
    assert env["CATALOG_DATABASE_URL"] == "postgresql://u:p@db.internal:5433/catalog"
    assert env["FACADE_ADMIN_TOKEN"] == "given"


@pytest.mark.parametrize("value", ["eighty", "0", "70000"])
def test_bad_port_is_a_readable_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="MONOLITH_PORT"):
        load_config({"STRANGLER_STATE_DIR": str(tmp_path), "MONOLITH_PORT": value})
