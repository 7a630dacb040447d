"""Configuration: defaults, the file, environment overrides, and errors that name the key."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import Config, ConfigError, load_config, secret_keys
from tests.processes import ROOT, affbot_env


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml", environ={})
    assert config.database.url.get_secret_value() == "sqlite:///affbot.db"
    assert config.web.port == 8080
    assert config.discord.api_base_url == "https://discord.com/api/v10"
    assert config.telegram.api_base_url == "https://api.telegram.org"
    assert config.discord.token is None
    assert config.timezone == "UTC"


def test_example_config_is_valid_and_complete() -> None:
    """config.example.toml must load as-is: it documents every key with its default."""
    example = ROOT / "config.example.toml"
    config = load_config(example, environ={}, required=True)
    assert config == load_config(Path("/nonexistent.toml"), environ={})
    text = example.read_text(encoding="utf-8")
    sections = re.split(r"^\[([\w.]+)\]\s*$", text, flags=re.M)
    documented = {("", key) for key in re.findall(r"^#? ?(\w+) =", sections[0], flags=re.M)}
    for name, body in zip(sections[1::2], sections[2::2], strict=True):
        documented |= {(name, key) for key in re.findall(r"^#? ?(\w+) =", body, flags=re.M)}
    expected = _keys(Config, "")
    assert expected - documented == set(), "keys missing from config.example.toml"
    assert documented - expected == set(), "config.example.toml documents unknown keys"


def _keys(model: type[BaseModel], section: str) -> set[tuple[str, str]]:
    """(section, key) for every leaf key; nested models are sections like delivery.telegram."""
    keys: set[tuple[str, str]] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _keys(annotation, f"{section}.{name}".lstrip("."))
        else:
            keys.add((section, name))
    return keys


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        timezone = "Europe/Berlin"
        [web]
        port = 9000
        public_base_url = "https://go.example.com/"
        [telegram]
        manager_user_ids = [1, 2]
        """,
    )
    config = load_config(
        path,
        environ={
            "AFFBOT_WEB__PORT": "9100",
            "AFFBOT_DISCORD__MANAGER_ROLE_IDS": "10, 11",
            "AFFBOT_TELEGRAM__ANNOUNCE_CHAT_IDS": "[-100123]",
            "AFFBOT_DATABASE__URL": "postgresql://u:p@db/affbot",
            "TELEGRAM_TOKEN": "123:abc",
            "AFFBOT_TEST_DATABASE_URL": "ignored: reserved for the test suite",
        },
    )
    assert config.web.port == 9100
    assert config.web.public_base_url == "https://go.example.com"
    assert config.zone.key == "Europe/Berlin"
    assert config.telegram.manager_user_ids == [1, 2]
    assert config.discord.manager_role_ids == [10, 11]
    assert config.telegram.announce_chat_ids == [-100123]
    assert config.telegram.token is not None
    assert config.telegram.token.get_secret_value() == "123:abc"
    assert config.database.url.get_secret_value() == "postgresql://u:p@db/affbot"


def test_secrets_never_print(tmp_path: Path) -> None:
    config = load_config(
        tmp_path / "none.toml",
        environ={"DISCORD_TOKEN": "very-secret", "AFFBOT_DATABASE__URL": "postgresql://u:pw@h/d"},
    )
    shown = repr(config) + str(config)
    assert "very-secret" not in shown
    assert "pw@" not in shown


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("[web]\nport = 'abc'", {}, "web.port: Input should be a valid integer"),
        ("[web]\nport = 70000", {}, "web.port: Input should be less than or equal to 65535"),
        ("[web]\nprot = 1", {}, "web.prot: unknown key"),
        ("[wbe]\nport = 1", {}, "wbe: unknown key"),
        ("timezone = 'Mars/Olympus'", {}, "timezone: expected an IANA time zone"),
        ("[database]\nurl = 'mysql://x'", {}, "database.url: expected a sqlite:///PATH"),
        ("[web]\npublic_base_url = 'ftp://x'", {}, "web.public_base_url: expected an absolute"),
        ("[discord]\ngateway_url = 'https://x'", {}, "discord.gateway_url: expected a ws://"),
        ("[telegram]\nmanager_user_ids = ['a']", {}, "telegram.manager_user_ids.0:"),
        ("", {"AFFBOT_WEB__PORT": "eighty"}, "from environment variable AFFBOT_WEB__PORT"),
        ("", {"AFFBOT_WEB__NOPE": "1"}, "web.nope: unknown key"),
        ("", {"AFFBOT_LOGGING__LEVEL": "LOUD"}, "logging.level: Input should be"),
        ("[web\nport=1", {}, "not valid TOML"),
    ],
)
def test_errors_name_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    assert expected in str(caught.value)


def test_file_errors_say_where_the_value_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\nport = 'abc'")
    with pytest.raises(ConfigError, match=r"from .*config\.toml"):
        load_config(path, environ={})


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml", environ={}, required=True)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(None, environ={"AFFBOT_CONFIG": str(tmp_path / "missing.toml")})


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\nport = 8123")
    assert load_config(None, environ={"AFFBOT_CONFIG": str(path)}).web.port == 8123


SECRET = "987654321987654321"
SECRET_KEYS = secret_keys()
# Each wrong kind of value a person might give a secret key in the file, with the secret
# text inside it (TOML integers, floats, lists and tables; strings are tried below).
TOML_VALUES = [SECRET, f"{SECRET}.5", f'["{SECRET}"]', f'{{ value = "{SECRET}" }}']


def test_every_secret_key_is_known() -> None:
    assert set(SECRET_KEYS) >= {
        "database.url",
        "tracking.ip_hash_salt",
        "discord.token",
        "telegram.token",
        "telegram.webhook_secret",
    }


def _error(tmp_path: Path, text: str, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=environ)
    return str(caught.value)


@pytest.mark.parametrize("value", TOML_VALUES)
@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_wrong_secret_in_the_file_is_named_but_never_shown(
    tmp_path: Path, key: str, value: str
) -> None:
    section, name = key.split(".")
    message = _error(tmp_path, f"[{section}]\n{name} = {value}\n", {})
    assert f"{key}: Input should be a valid string" in message
    assert "the value is a secret and is not shown" in message
    assert SECRET not in message


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_wrong_secret_in_the_environment_is_named_but_never_shown(
    tmp_path: Path, key: str
) -> None:
    section, name = (part.upper() for part in key.split("."))
    nested = _error(tmp_path, "", {f"AFFBOT_{section}__{name}__PART": SECRET})
    assert f"{key}: Input should be a valid string" in nested
    # The secret set one level too high, on the section's name.
    too_high = _error(tmp_path, "", {f"AFFBOT_{section}": SECRET})
    assert f"{section.lower()}: Input should be a valid dictionary" in too_high
    for message in (nested, too_high):
        assert SECRET not in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("database.url", f"x{SECRET}", "expected a sqlite:///PATH or postgresql://"),
        ("database.url", f"mysql://root:{SECRET}@db/x", "got one starting with 'mysql'"),
        ("telegram.webhook_secret", f"{SECRET} !", "expected 16-256 characters"),
    ],
)
def test_a_secret_failing_its_own_check_is_not_quoted(
    tmp_path: Path, key: str, value: str, expected: str
) -> None:
    section, name = key.split(".")
    for message in (
        _error(tmp_path, f'[{section}]\n{name} = "{value}"\n', {}),
        _error(tmp_path, "", {f"AFFBOT_{section.upper()}__{name.upper()}": value}),
    ):
        assert f"{key}: expected " in message
        assert expected in message
        assert SECRET not in message


def test_plain_values_are_still_quoted(tmp_path: Path) -> None:
    assert "web.port: Input should be a valid integer" in _error(
        tmp_path, "", {"AFFBOT_WEB__PORT": "eighty"}
    )
    assert "(got 'eighty')" in _error(tmp_path, "[web]\nport = 'eighty'\n", {})


def test_the_reported_token_stops_affbot_run_without_showing_it(tmp_path: Path) -> None:
    env = affbot_env(tmp_path)
    path = write(
        tmp_path, f"[discord]\ntoken = {SECRET}\n[tracking]\nip_hash_salt = ['{SECRET}']\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "discord.token: Input should be a valid string" in result.stderr
    assert "tracking.ip_hash_salt: Input should be a valid string" in result.stderr
    assert SECRET not in result.stderr
    supervised = subprocess.run(
        [sys.executable, "-m", "bot", "deliver", "--supervised"],
        input=json.dumps({"telegram": {"token": int(SECRET)}}) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert supervised.returncode == 2
    assert "telegram.token: Input should be a valid string" in supervised.stderr
    assert SECRET not in supervised.stderr
