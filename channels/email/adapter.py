"""The email channel's outbound side: replies rendered from per-locale templates, sent with
aiosmtplib (:mod:`channels.email.transport`). SMTP 4xx and connection trouble are transient
(the outbox retries with backoff); 5xx, and a message that cannot be built, are permanent and
shown to the agent as a failed message. A send the relay took but never confirmed is retried
once; the memory of that is per process (a restart or another worker may try once more)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path

import yaml

from channels.base import DeliveryReceipt, OutboundMessage, Suggestion
from channels.buttons import asks_feedback, feedback_link
from channels.email.compose import compose, reply_subject
from channels.email.mime import is_address
from channels.email.transport import SmtpSettings, UnconfirmedDelivery, transmit
from channels.errors import PermanentChannelError
from routing.clock import Clock, SystemClock
from storage.models import AuthorKind, DeliveryState

CHANNEL = "email"
log = logging.getLogger("switchboard.email")
_UNCONFIRMED_KEPT = 10_000  # touchpoints whose send the relay never confirmed, remembered
__all__ = ["EmailAdapter", "EmailTemplates", "SmtpSettings"]


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
        # Sends the relay took but never confirmed, oldest first (per process: see send).
        self._unconfirmed: dict[int, None] = {}

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
        email = self._build(message, message_id)
        try:
            await transmit(self._smtp, email, self._address, message.address)
        except UnconfirmedDelivery as exc:
            # The relay may have it: one cautious retry (same Message-ID, so the customer's
            # client shows one mail if both arrive), then the agent is told.
            if message.touchpoint_id in self._unconfirmed:
                self._unconfirmed.pop(message.touchpoint_id, None)
                raise PermanentChannelError(f"{exc}; not sent again") from None
            self._unconfirmed[message.touchpoint_id] = None
            while len(self._unconfirmed) > _UNCONFIRMED_KEPT:
                self._unconfirmed.pop(next(iter(self._unconfirmed)))
            log.warning(
                "email_unconfirmed", extra={"fields": {"touchpoint": message.touchpoint_id}}
            )
            raise
        self._unconfirmed.pop(message.touchpoint_id, None)
        log.info("email_sent", extra={"fields": {"touchpoint": message.touchpoint_id}})
        return DeliveryReceipt(provider_message_id=message_id, state=DeliveryState.SENT)

    def _build(self, message: OutboundMessage, message_id: str) -> EmailMessage:
        """The email for ``message``; a message that cannot be built fails at once, with the
        reason, instead of being retried: nothing about it changes by waiting."""
        if not is_address(message.address):
            raise PermanentChannelError(f"not an email address: {message.address!r}")
        try:
            return compose(
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
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise PermanentChannelError(f"the email could not be built: {exc}") from None


def _articles(suggestions: tuple[Suggestion, ...]) -> str:
    lines = []
    for s in suggestions:
        lines.append(f"• {s.title}")
        if s.summary:
            lines.append(f"  {s.summary}")
    return "\n".join(lines)
