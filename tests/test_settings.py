"""Settings: defaults, the YAML file, environment overrides, and one-line errors naming the
setting at fault (in the library and in the real `switchboard` command)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
SWITCHBOARD = Path(sys.executable).parent / "switchboard"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def empty_file(tmp_path: Path) -> Path:
    return write(tmp_path, "empty.yaml", "")


def load_error(path: Path | None, environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ=environ)
    return str(caught.value)


# ---- values ------------------------------------------------------------------------------


def test_an_empty_file_and_no_environment_give_the_defaults(empty_file: Path) -> None:
    settings = load_settings(empty_file, environ={})

    assert settings == Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8080
    assert settings.bot.threshold == 0.5 and settings.bot.default_locale == "en"
    assert settings.chat.max_message_chars == 4000
    assert settings.auth.token_ttl_hours == 12
    assert (
        settings.effective_database_url == f"sqlite+aiosqlite:///{Path('var') / 'switchboard.db'}"
    )
    assert settings.effective_public_url == "http://127.0.0.1:8080"


def test_the_shipped_config_file_is_used_by_default_and_is_valid() -> None:
    settings = load_settings(environ={})

    assert settings.port == 8080
    assert settings.bot.threshold == 0.5
    assert settings.kb.demo_file == "config/demo_kb.yaml"


def test_values_come_from_the_yaml_file(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "switchboard.yaml",
        """
host: 0.0.0.0
port: 9001
database_url: postgresql+asyncpg://app@db.internal/switchboard
public_url: https://help.example.com/
bot:
  threshold: 0.7
  default_locale: th
chat:
  max_message_chars: 500
""",
    )

    settings = load_settings(file, environ={})

    assert settings.host == "0.0.0.0" and settings.port == 9001
    assert settings.effective_database_url == "postgresql+asyncpg://app@db.internal/switchboard"
    assert settings.effective_public_url == "https://help.example.com"
    assert settings.bot.threshold == 0.7 and settings.bot.default_locale == "th"
    assert settings.bot.suggestions == 2  # not in the file: the default
    assert settings.chat.max_message_chars == 500


def test_top_level_settings_are_overridden_by_the_environment(
    empty_file: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(
        empty_file,
        environ={
            "SWITCHBOARD_PORT": "9100",
            "SWITCHBOARD_HOST": "0.0.0.0",
            "SWITCHBOARD_DATA_DIR": str(data_dir),
        },
    )

    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{data_dir / 'switchboard.db'}"


def test_the_database_url_is_overridden_by_the_environment(empty_file: Path) -> None:
    url = "postgresql+asyncpg://app:secret@db.internal:5433/switchboard"
    settings = load_settings(empty_file, environ={"SWITCHBOARD_DATABASE_URL": url})

    assert settings.effective_database_url == url


def test_section_settings_are_overridden_with_a_double_underscore(empty_file: Path) -> None:
    settings = load_settings(
        empty_file,
        environ={"SWITCHBOARD_BOT__THRESHOLD": "0.65", "SWITCHBOARD_CHAT__MAX_MESSAGE_CHARS": "80"},
    )

    assert settings.bot.threshold == 0.65
    assert settings.chat.max_message_chars == 80


def test_the_environment_wins_over_the_file_and_keeps_the_rest_of_its_section(
    tmp_path: Path,
) -> None:
    file = write(
        tmp_path,
        "switchboard.yaml",
        "port: 9001\nhost: 10.0.0.1\nbot:\n  threshold: 0.7\n  default_locale: th\n",
    )

    settings = load_settings(
        file, environ={"SWITCHBOARD_PORT": "9200", "SWITCHBOARD_BOT__THRESHOLD": "0.9"}
    )

    assert settings.port == 9200
    assert settings.bot.threshold == 0.9
    assert settings.host == "10.0.0.1"
    assert settings.bot.default_locale == "th"


def test_the_email_settings_come_from_their_documented_environment_names(
    empty_file: Path,
) -> None:
    environ = {
        "SWITCHBOARD_EMAIL__ADDRESS": "support@acme.test",
        "SWITCHBOARD_EMAIL__RECEIVER_HOST": "0.0.0.0",
        "SWITCHBOARD_EMAIL__RECEIVER_PORT": "2525",
        "SWITCHBOARD_EMAIL__SMTP_HOST": "smtp.acme.test",
        "SWITCHBOARD_EMAIL__SMTP_PORT": "465",
        "SWITCHBOARD_EMAIL__SMTP_USER": "mailer",
        "SWITCHBOARD_EMAIL__SMTP_PASSWORD": "s3cret",
        "SWITCHBOARD_EMAIL__SMTP_TLS": "ssl",
        "SWITCHBOARD_EMAIL__IMAP_HOST": "imap.acme.test",
        "SWITCHBOARD_EMAIL__IMAP_PORT": "143",
        "SWITCHBOARD_EMAIL__IMAP_USER": "support",
        "SWITCHBOARD_EMAIL__IMAP_PASSWORD": "t0ps3cret",
        "SWITCHBOARD_EMAIL__IMAP_FOLDER": "Support",
        "SWITCHBOARD_EMAIL__IMAP_TLS": "starttls",
    }

    email = load_settings(empty_file, environ=environ).email

    assert (email.address, email.receiver_host, email.receiver_port) == (
        "support@acme.test",
        "0.0.0.0",
        2525,
    )
    assert (email.smtp_host, email.smtp_port, email.smtp_user, email.smtp_password) == (
        "smtp.acme.test",
        465,
        "mailer",
        "s3cret",
    )
    assert email.smtp_tls == "ssl" and email.imap_tls == "starttls"
    assert (email.imap_host, email.imap_port, email.imap_user, email.imap_folder) == (
        "imap.acme.test",
        143,
        "support",
        "Support",
    )
    assert email.imap_password == "t0ps3cret"
    assert email.accepted_domains == ("acme.test",)


def test_the_test_suites_own_variables_are_not_settings(empty_file: Path) -> None:
    environ = {
        "SWITCHBOARD_TEST_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/test",
        "SWITCHBOARD_TEST_BACKENDS": "sqlite",
        "SWITCHBOARD_PORT": "9301",
    }

    assert load_settings(empty_file, environ=environ).port == 9301


def test_switchboard_config_in_the_environment_picks_the_file(tmp_path: Path) -> None:
    file = write(tmp_path, "other.yaml", "port: 9300\n")

    settings = load_settings(environ={"SWITCHBOARD_CONFIG": str(file)})

    assert settings.port == 9300


# ---- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_text", "environ", "named"),
    [
        pytest.param("", {"SWITCHBOARD_PORT": "abc"}, "port", id="port-not-a-number"),
        pytest.param("", {"SWITCHBOARD_PORT": "70000"}, "port", id="port-out-of-range"),
        pytest.param("port: 80.5\n", {}, "port", id="port-fraction-in-file"),
        pytest.param("port: [80]\n", {}, "port", id="port-list-in-file"),
        pytest.param(
            "", {"SWITCHBOARD_BOT__THRESHOLD": "7"}, "bot.threshold", id="threshold-env-7"
        ),
        pytest.param("bot:\n  threshold: 7\n", {}, "bot.threshold", id="threshold-file-7"),
        pytest.param("bot:\n  threshold: high\n", {}, "bot.threshold", id="threshold-word"),
        pytest.param("colour: blue\n", {}, "colour", id="unknown-key-in-file"),
        pytest.param("bot:\n  colour: blue\n", {}, "bot.colour", id="unknown-key-in-section"),
        pytest.param("bot: 5\n", {}, "bot", id="section-not-a-mapping"),
        pytest.param("", {"SWITCHBOARD_NOPE": "1"}, "nope", id="unknown-env-key"),
        pytest.param("", {"SWITCHBOARD_BOT__NOPE": "1"}, "bot.nope", id="unknown-env-section-key"),
        pytest.param(
            "", {"SWITCHBOARD_DATABASE_URL": "mysql://app@db/x"}, "database_url", id="mysql-url"
        ),
        pytest.param(
            "database_url: sqlite:///var/x.db\n", {}, "database_url", id="sync-sqlite-url"
        ),
        pytest.param("", {"SWITCHBOARD_LOG_FORMAT": "xml"}, "log_format", id="log-format"),
        pytest.param("", {"SWITCHBOARD_HOST": ""}, "host", id="empty-host"),
        pytest.param("", {"SWITCHBOARD_SECRET_KEY": "short"}, "secret_key", id="short-secret-key"),
        pytest.param(
            "", {"SWITCHBOARD_REDIS_URL": "localhost:6379"}, "redis_url", id="redis-url-scheme"
        ),
        pytest.param("bot:\n  default_locale: no\n", {}, "bot.default_locale", id="yaml-no"),
        pytest.param(
            "",
            {"SWITCHBOARD_EMAIL__ADDRESS": "support@acme.test"},
            "email.smtp_host",
            id="email-without-smtp",
        ),
        pytest.param(
            "",
            {"SWITCHBOARD_EMAIL__RECEIVER_PORT": "2525"},
            "email.address",
            id="email-receiver-without-address",
        ),
        pytest.param(
            "email:\n  address: support@acme.test\n  smtp_host: mx\n  smtp_tls: yes\n",
            {},
            "email.smtp_tls",
            id="email-tls-yaml-bool",
        ),
        pytest.param(
            "",
            {"SWITCHBOARD_EMAIL__ADDRESS": "not an address"},
            "email.address",
            id="email-address",
        ),
    ],
)
def test_a_bad_setting_is_a_one_line_error_naming_it(
    tmp_path: Path, file_text: str, environ: dict[str, str], named: str
) -> None:
    file = write(tmp_path, "switchboard.yaml", file_text)

    message = load_error(file, environ)

    assert "\n" not in message
    assert f"setting {named}:" in message, message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("port: [1\n", "invalid YAML", id="invalid-yaml"),
        pytest.param("port: 1\n  host: x\n", "invalid YAML", id="bad-indent"),
        pytest.param("- port: 1\n", "mapping", id="a-list"),
        pytest.param("just words\n", "mapping", id="a-scalar"),
        pytest.param(b"host: caf\xe9\n", "UTF-8", id="latin-1"),
    ],
)
def test_a_broken_config_file_is_a_one_line_error_naming_the_file(
    tmp_path: Path, content: str | bytes, problem: str
) -> None:
    file = write(tmp_path, "broken.yaml", content)

    message = load_error(file, {})

    assert "\n" not in message
    assert str(file) in message and problem in message, message


def test_a_missing_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"

    message = load_error(missing, {})

    assert "\n" not in message
    assert str(missing) in message and "not found" in message


def test_a_missing_file_named_by_switchboard_config_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "typo.yaml"

    message = load_error(None, {"SWITCHBOARD_CONFIG": str(missing)})

    assert str(missing) in message and "not found" in message


def test_a_directory_as_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    message = load_error(tmp_path, {})

    assert "\n" not in message
    assert str(tmp_path) in message


# ---- the real command ----------------------------------------------------------------------


def run_switchboard(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [str(SWITCHBOARD), *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_reports_a_bad_environment_setting_in_one_line(
    tmp_path: Path, empty_file: Path
) -> None:
    done = run_switchboard(
        ["db", "current"],
        {
            "SWITCHBOARD_CONFIG": str(empty_file),
            "SWITCHBOARD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
            "SWITCHBOARD_PORT": "abc",
        },
        tmp_path,
    )

    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "port" in lines[0], done.stderr
    assert not (tmp_path / "x.db").exists()


def test_the_command_reports_a_broken_config_file_in_one_line(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", "bot:\n  threshold: [\n")

    done = run_switchboard(["--config", str(broken), "db", "current"], {}, tmp_path)

    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.yaml" in lines[0], done.stderr
