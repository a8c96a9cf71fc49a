"""One message to the SMTP relay, every failure sorted into "retry" or "give up".

SMTP 4xx and an unreachable relay are transient; 5xx is permanent. The final reply to DATA gets
its own, long timeout (RFC 5321 section 4.5.3.2 recommends 10 minutes): a relay may store the
message and only then answer. When the message was sent but that answer never came (a timeout
or a dropped connection after the data), the relay may well have delivered it:
:class:`UnconfirmedDelivery` says so, and the caller retries at most once.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from channels.errors import PermanentChannelError, TransientChannelError

__all__ = ["SmtpSettings", "UnconfirmedDelivery", "transmit"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str = ""
    password: str = ""
    tls: str = "starttls"  # "ssl" | "starttls" | "none"
    timeout: float = 30.0  # each command but DATA
    tls_context: ssl.SSLContext | None = None  # None: the system's trusted certificates
    data_timeout: float = 600.0  # the DATA command, up to its final reply


class UnconfirmedDelivery(TransientChannelError):
    """The message went to the relay but its answer was lost: it may have been delivered."""


async def transmit(smtp: SmtpSettings, message: EmailMessage, sender: str, recipient: str) -> None:
    """Send ``message`` from ``sender`` to ``recipient`` through the relay.

    Raises:
        PermanentChannelError: the relay refused with 5xx.
        UnconfirmedDelivery: the data was sent but no final answer came.
        TransientChannelError: anything else worth retrying (4xx, unreachable, login failed).
    """
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        username=smtp.user or None,
        password=smtp.password or None,
        use_tls=smtp.tls == "ssl",
        start_tls=smtp.tls == "starttls",
        tls_context=smtp.tls_context,
        timeout=smtp.timeout,
    )
    stage = "connect"
    try:
        async with client:
            await client.mail(sender)
            await client.rcpt(recipient)
            stage = "data"  # from here on, the relay may have the message
            await client.data(message.as_bytes(), timeout=smtp.data_timeout)
            stage = "accepted"  # a failing QUIT afterwards changes nothing
    except aiosmtplib.SMTPResponseException as exc:
        if stage == "accepted":
            return
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            # The server's password, not this message, is wrong: retry once it is fixed.
            raise TransientChannelError(f"SMTP authentication failed ({exc.code})") from None
        raise _by_code(exc.code, f"SMTP {exc.code} {exc.message}".strip()) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        if stage == "accepted":
            return
        reason = str(exc) or type(exc).__name__
        if stage == "data":
            raise UnconfirmedDelivery(
                f"SMTP server {smtp.host}:{smtp.port} did not confirm the message "
                f"({reason}): it may have been delivered"
            ) from None
        raise TransientChannelError(
            f"SMTP server {smtp.host}:{smtp.port} unreachable: {reason}"
        ) from None


def _by_code(code: int, text: str) -> TransientChannelError | PermanentChannelError:
    return TransientChannelError(text) if 400 <= code < 500 else PermanentChannelError(text)
