"""Mail as it really arrives at the receiver (issue 17): bounces and mail without a usable
From:, announcements without List-* headers, what agents see of odd MIME, and what the logs
say. Fixtures are modelled on CPython's email test corpus (Lib/test/test_email/data)."""

from __future__ import annotations

import json
import logging

import pytest

from switchboard.logs import JsonFormatter
from tests.email_fixtures import ALICE, MailDesk, mail

# ---- logs (17.15) -----------------------------------------------------------------------------


async def test_smtp_sessions_leave_only_structured_logs_without_addresses(
    desk: MailDesk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    await desk.send(mail())
    await desk.relay.wait_for(1)
    await desk.send(mail("Hello again"), sender="")  # a command aiosmtpd would echo

    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.levelno <= logging.INFO]
    assert lines and all(ALICE not in json.dumps(line) for line in lines)
    assert "127.0.0.1" not in json.dumps(lines)  # nor the peer's IP address
    assert not [r for r in caplog.records if r.name == "mail.log" and r.levelno < logging.WARNING]
    assert all(" " not in line["event"] for line in lines if line["logger"] == "mail.log")
