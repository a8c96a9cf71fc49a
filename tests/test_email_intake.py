"""Mail as it really arrives at the receiver (issue 17): bounces and mail without a usable
From:, announcements without List-* headers, what agents see of odd MIME, and what the logs
say. Fixtures are modelled on CPython's email test corpus (Lib/test/test_email/data)."""

from __future__ import annotations

import json
import logging
from email.utils import make_msgid

import aiosmtplib
import pytest

from switchboard.logs import JsonFormatter
from tests.email_fixtures import (
    ALICE,
    PASSWORD_QUESTION,
    SUPPORT,
    UNANSWERABLE,
    MailDesk,
    mail,
)

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


async def send_raw(desk: MailDesk, raw: bytes, *, sender: str) -> None:
    """Hand raw bytes to the receiver as a relay would (``sender=""``: MAIL FROM:<>)."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=desk.receiver_port, timeout=15)
    async with smtp:
        await smtp.sendmail(sender, [SUPPORT], raw)


async def addresses(desk: MailDesk) -> set[str]:
    """Every email address a customer record holds."""
    listed = await desk.agent.call("GET", "/api/v1/conversations")
    found = set()
    for conv in listed["items"]:
        customer = await desk.agent.call("GET", f"/api/v1/customers/{conv['customer']['id']}")
        found |= {i["address"] for i in customer["identities"] if i["channel"] == "email"}
    return found


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def bounce(returned_headers: str, reporting: str = "mx.customer.test") -> bytes:
    """A spam firewall's bounce as in CPython's corpus: From: is no address, a report whose
    last part holds the headers of the returned message."""
    return crlf(
        "From: MAILER DAEMON <>\n"
        f"To: <{SUPPORT}>\n"
        "Subject: Banned file: invoice.bat in mail from you\n"
        "Date: Fri, 26 Nov 2026 19:41:44 -0800\n"
        f"Message-ID: {make_msgid(domain=reporting)}\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="rep"\n'
        "\n--rep\nContent-Type: text/plain\n\n"
        "BANNED FILENAME ALERT\n\nThe email you sent has NOT BEEN DELIVERED.\n"
        "--rep\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {reporting}\n\n"
        "Final-Recipient: rfc822; alice@customer.test\nAction: failed\nStatus: 5.7.1\n"
        "--rep\nContent-Type: text/rfc822-headers\n\n"
        f"{returned_headers}\n"
        "--rep--\n"
    )


# ---- bounces and mail without a usable From: (17.11) -----------------------------------------


async def test_a_bounce_of_our_reply_is_kept_in_the_customers_conversation_unanswered(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    [ack] = await desk.relay.wait_for(1)
    returned = (
        f"From: Acme Support <{SUPPORT}>\nTo: {ALICE}\n"
        f"Subject: {ack.message['Subject']}\nMessage-ID: {ack.message['Message-ID']}"
    )

    await send_raw(desk, bounce(returned), sender="")  # no 550: stored

    [conv] = await desk.conversations_of(ALICE)
    history = await desk.history(conv["id"])
    [notice] = [m for m in history if "BANNED FILENAME ALERT" in m["text"]]
    assert notice["direction"] == "inbound"
    await desk.send(mail(sender="person@customer.test", subject="Password"))
    assert [r.rcpt_tos for r in await desk.relay.wait_for(2)] == [
        (ALICE,),
        ("person@customer.test",),
    ]
    assert await addresses(desk) == {ALICE, "person@customer.test"}


async def test_a_bounce_from_nobody_about_other_mail_is_kept_under_the_reporting_postmaster(
    desk: MailDesk,
) -> None:
    returned = "From: webmaster@acme.test\nTo: xxxxxxx@dot.example.gov\nMessage-ID: <x1@acme.test>"

    await send_raw(desk, bounce(returned, reporting="mx.dot.example.gov"), sender="")

    [conv] = await desk.conversations_of("postmaster@mx.dot.example.gov")
    [notice] = [m for m in await desk.history(conv["id"]) if m["direction"] == "inbound"]
    assert "NOT BEEN DELIVERED" in notice["text"]
    assert conv["status"] == "queued" and conv["priority"] < 0  # kept, behind people
    await desk.send(mail(sender="person@customer.test", subject="Password"))
    assert [r.rcpt_tos for r in await desk.relay.wait_for(1)] == [("person@customer.test",)]


async def test_a_from_that_is_no_address_falls_back_to_the_envelope_sender(
    desk: MailDesk,
) -> None:
    raw = crlf(
        "From: {}\nTo: support@acme.test\nSubject: Password help\n"
        f"Message-ID: {make_msgid(domain='customer.test')}\n\n{PASSWORD_QUESTION}\n"
    )

    await send_raw(desk, raw, sender="bob@customer.test")

    [ack] = await desk.relay.wait_for(1)
    assert ack.rcpt_tos == ("bob@customer.test",)
    assert await addresses(desk) == {"bob@customer.test"}
    [conv] = await desk.conversations_of("bob@customer.test")
    assert PASSWORD_QUESTION in [m["text"] for m in await desk.history(conv["id"])]


async def test_mail_from_no_address_at_all_is_still_refused(desk: MailDesk) -> None:
    raw = crlf("From: {}\nTo: support@acme.test\nSubject: Hi\n\nHello\n")

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send_raw(desk, raw, sender="")

    assert refused.value.code == 550 and "no sender address" in refused.value.message
    assert await addresses(desk) == set()


# ---- announcements without List-* headers (17.12) --------------------------------------------

ANNOUNCEMENTS = [
    pytest.param(
        "To: IETF-Announce:;\nCc: rfc-editor@ietf.test\n", id="to-a-group-without-members"
    ),
    pytest.param("To: undisclosed-recipients:;\n", id="undisclosed-recipients"),
    pytest.param(f"To: {SUPPORT}\nX-Mailer: phpList v3.6\n", id="x-mailer-of-a-newsletter-tool"),
    pytest.param(f"To: {SUPPORT}\nX-Campaign-Id: 8812\n", id="campaign-header"),
    pytest.param(f"To: {SUPPORT}\nList-Post: <mailto:news@shop.test>\n", id="list-post"),
]


@pytest.mark.parametrize("recipients", ANNOUNCEMENTS)
async def test_announcements_are_kept_but_never_acknowledged(
    desk: MailDesk, recipients: str
) -> None:
    raw = crlf(
        f"From: IESG Secretary <iesg-secretary@ietf.test>\n{recipients}"
        "Subject: Protocol Action: 'Hardening mail' to Proposed Standard\n"
        f"Message-ID: {make_msgid(domain='ietf.test')}\n\n"
        "The IESG has approved the following document.\n"
    )

    await send_raw(desk, raw, sender="iesg-secretary@ietf.test")

    await desk.send(mail(sender="person@customer.test", subject="Password"))
    assert [r.rcpt_tos for r in await desk.relay.wait_for(1)] == [("person@customer.test",)]
    [conv] = await desk.conversations_of("iesg-secretary@ietf.test")
    assert conv["status"] == "queued" and conv["priority"] < 0


async def test_a_person_writing_to_us_and_a_group_is_answered(desk: MailDesk) -> None:
    raw = crlf(
        f"From: Alice <{ALICE}>\nTo: friends:;\nCc: {SUPPORT}\nSubject: Password help\n"
        f"Message-ID: {make_msgid(domain='customer.test')}\n\n{PASSWORD_QUESTION}\n"
    )

    await send_raw(desk, raw, sender=ALICE)

    [ack] = await desk.relay.wait_for(1)
    assert ack.rcpt_tos == (ALICE,)


# ---- what agents see (17.13) -----------------------------------------------------------------

CONTENT = [
    pytest.param(
        'Content-Type: multipart/mixed; boundary="b"\n\n'
        '--b\nContent-Type: text/plain\nContent-Disposition: inline; filename="note.txt"\n\n'
        "My blender broke, the receipt number is 4471.\n--b--\n",
        "My blender broke, the receipt number is 4471.",
        id="inline-text-with-a-filename",
    ),
    pytest.param(
        'Content-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nSee below.\n"
        "--b\nContent-Type: message/rfc822\n\n"
        "From: Shop Courier <courier@shop.test>\nSubject: Delivery failed\n\n"
        "We could not deliver parcel 889 to your address.\n--b--\n",
        "We could not deliver parcel 889 to your address.",
        id="forwarded-message",
    ),
    pytest.param(
        "Content-Type: multipart/alternative;\n"
        'boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nMy blender broke again.\n"
        "--b\nContent-Type: text/html\n\n<p>My blender broke again.</p>\n--b--\n",
        "My blender broke again.",
        id="boundary-folded-without-indentation",
    ),
]


@pytest.mark.parametrize(("body", "shown"), CONTENT)
async def test_agents_see_the_text_of_odd_mime(desk: MailDesk, body: str, shown: str) -> None:
    raw = crlf(
        f"From: Alice <{ALICE}>\nTo: {SUPPORT}\nSubject: Blender\n"
        f"Message-ID: {make_msgid(domain='customer.test')}\nMIME-Version: 1.0\n{body}"
    )

    await send_raw(desk, raw, sender=ALICE)

    [conv] = await desk.conversations_of(ALICE)
    [inbound] = [m for m in await desk.history(conv["id"]) if m["direction"] == "inbound"]
    assert shown in inbound["text"]
    assert "Content-Type" not in inbound["text"] and "--b" not in inbound["text"]
