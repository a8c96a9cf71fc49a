"""The email channel's outbound side: replies rendered from per-locale templates, sent with
aiosmtplib. SMTP 4xx and connection trouble are transient (the outbox retries with backoff);
5xx is permanent and shown to the agent as a failed message."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import yaml

from channels.base import DeliveryReceipt, OutboundMessage, Suggestion
from channels.buttons import asks_feedback, feedback_link
from channels.email.compose import compose, reply_subject
from channels.errors import PermanentChannelError, TransientChannelError
from routing.clock import Clock, SystemClock
from storage.models import AuthorKind, DeliveryState

CHANNEL = "email"
log = logging.getLogger("switchboard.email")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str = ""
    password: str = ""
    tls: str = "starttls"  # "ssl" | "starttls" | "none"
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None  # None: the system's trusted certificates


# The shipped texts: a key a site's own templates file lacks (one added by a newer release)
# comes from here, in the same language when there is one.
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "email_templates.yaml"


class EmailTemplates:
    """Per-locale texts from ``config/email_templates.yaml``; English fills any gap."""

    def __init__(self, table: Mapping[str, Mapping[str, str]]) -> None:
        if "en" not in table:
            raise ValueError("email templates need an 'en' section (the fallback)")
        self._table = table

    @classmethod
    def load(cls, path: str | Path) -> EmailTemplates:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"email templates {path}: {exc}") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
            raise ValueError(f"email templates {path}: must map each locale to its texts")
        if Path(path).resolve() != SHIPPED_TEMPLATES and SHIPPED_TEMPLATES.exists():
            shipped = cls.load(SHIPPED_TEMPLATES)._table
            for locale in {"en", *loaded}:
                loaded[locale] = {**shipped.get(locale, {}), **loaded.get(locale, {})}
        return cls(loaded)

    def text(self, key: str, locale: str | None, **values: str) -> str:
        table = self._table.get((locale or "en").split("-")[0], {})
        template = table.get(key) or self._table["en"][key]
        return str(template).format(**values)


class EmailAdapter:
    name = CHANNEL

    def __init__(
        self,
        smtp: SmtpSettings,
        *,
        address: str,
        display_name: str,
        templates: EmailTemplates,
        clock: Clock | None = None,
        feedback_url: str | None = None,
    ) -> None:
        self._smtp = smtp
        self._address = address
        self._display_name = display_name
        self._domain = address.rpartition("@")[2].lower()
        self._templates = templates
        self._clock = clock or SystemClock()
        # The public base URL of the "was this helpful?" links; None: answers carry none.
        self._feedback_url = feedback_url

    def message_id(self, message: OutboundMessage) -> str:
        """Stable per touchpoint, so a retried send carries the same Message-ID."""
        return f"sb.{(message.reference or 'x').lower()}.{message.touchpoint_id}@{self._domain}"

    def render(self, message: OutboundMessage) -> str:
        """The plain-text body: greeting, acknowledgement, the reply, articles, signature."""
        locale = message.meta.get("locale")
        t = self._templates.text
        code = message.meta.get("verification_code")
        if code:  # a chat visitor proving this address (routing.identify): nothing else
            minutes = str(message.meta.get("verification_minutes") or 15)
            return "\n\n".join(
                [
                    t("greeting_no_name", locale),
                    t("verification", locale, code=str(code), minutes=minutes),
                    t("bot_signature", locale, team=self._display_name),
                ]
            )
        name = message.meta.get("to_name")
        parts = [t("greeting", locale, name=name) if name else t("greeting_no_name", locale)]
        if message.meta.get("acknowledgement"):
            parts.append(t("acknowledgement", locale, reference=f"[#{message.reference}]"))
        if message.text.strip():
            parts.append(message.text.strip())
        token = message.meta.get("feedback_token")
        if self._feedback_url and asks_feedback(message.meta) and token:
            yes, no = (
                feedback_link(self._feedback_url, message.touchpoint_id, token, vote)
                for vote in ("helpful", "not_helpful")
            )
            parts.append(t("feedback", locale, yes=yes, no=no))
        if message.suggestions:
            parts.append(t("articles", locale) + "\n" + _articles(message.suggestions))
        if message.author_kind is AuthorKind.AGENT:
            agent = message.author_name or self._display_name
            parts.append(t("agent_signature", locale, agent=agent, team=self._display_name))
        else:
            parts.append(t("bot_signature", locale, team=self._display_name))
        parts.append(t("footer", locale))
        return "\n\n".join(parts)

    def _subject(self, message: OutboundMessage) -> str:
        if message.meta.get("verification_code"):
            return self._templates.text("verification_subject", message.meta.get("locale"))
        subject = str(message.meta.get("subject") or "")
        if not message.reference:  # every conversation has one; never fail a send over it
            return subject or self._display_name
        return reply_subject(subject, message.reference)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        message_id = self.message_id(message)
        email = compose(
            from_address=self._address,
            from_name=self._display_name,
            to=message.address,
            subject=self._subject(message),
            text=self.render(message),
            message_id=message_id,
            in_reply_to=message.meta.get("in_reply_to"),
            references=list(message.meta.get("references") or []),
            # RFC 3834: everything but a person's reply is an automatic response.
            auto_submitted=message.author_kind is not AuthorKind.AGENT,
            date=self._clock.now(),
        )
        smtp = self._smtp
        try:
            await aiosmtplib.send(
                email,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.user or None,
                password=smtp.password or None,
                use_tls=smtp.tls == "ssl",
                start_tls=smtp.tls == "starttls",
                tls_context=smtp.tls_context,
                timeout=smtp.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise _by_code(min(codes, default=550), f"recipient refused: {exc}") from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            # The server's password, not this message, is wrong: retry once it is fixed.
            raise TransientChannelError(f"SMTP authentication failed ({exc.code})") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"SMTP {exc.code} {exc.message}".strip()) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientChannelError(
                f"SMTP server {smtp.host}:{smtp.port} unreachable: {exc or type(exc).__name__}"
            ) from None
        log.info("email_sent", extra={"fields": {"touchpoint": message.touchpoint_id}})
        return DeliveryReceipt(provider_message_id=message_id, state=DeliveryState.SENT)


def _by_code(code: int, text: str) -> TransientChannelError | PermanentChannelError:
    return TransientChannelError(text) if 400 <= code < 500 else PermanentChannelError(text)


def _articles(suggestions: tuple[Suggestion, ...]) -> str:
    lines = []
    for s in suggestions:
        lines.append(f"• {s.title}")
        if s.summary:
            lines.append(f"  {s.summary}")
    return "\n".join(lines)
