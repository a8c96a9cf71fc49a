"""Email end to end: customers' mail reaches Switchboard's own SMTP receiver (sent with
aiosmtplib), replies leave through a real SMTP relay on loopback (aiosmtpd), agents work
through the staff API. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import pytest

from switchboard.app import EMAIL_INGEST, create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.email_fixtures import (
    ALICE,
    PASSWORD_QUESTION,
    SUPPORT,
    UNANSWERABLE,
    MailDesk,
    mail,
    token_of,
)
from tests.fakes.dovecot import Mailbox
from tests.fakes.smtp import Received, SmtpSink
from tests.helpers import AgentApi, eventually

# ---- acknowledgement and answers ----------------------------------------------------------


async def test_a_new_email_gets_one_acknowledgement_carrying_the_bots_answer(
    desk: MailDesk,
) -> None:
    question = mail()

    await desk.send(question)

    [ack] = await desk.relay.wait_for(1)
    headers = ack.message
    assert ack.rcpt_tos == (ALICE,)
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["In-Reply-To"] == question["Message-ID"]
    assert question["Message-ID"] in headers["References"]
    assert headers["From"].addresses[0].addr_spec == SUPPORT
    assert str(headers["Subject"]).startswith("Re: Password help [#")
    reference = token_of(ack)
    assert f"[#{reference}]" in ack.text  # the acknowledgement names the request
    assert "Forgot password?" in ack.text  # ... and carries the answer itself
    assert ack.message.get_body(("html",)) is not None  # multipart text + HTML
    [conv] = await desk.conversations_of(ALICE)
    assert conv["reference"] == reference and conv["status"] == "bot"
    assert conv["subject"] == "Password help"


def feedback_links(received: Received) -> dict[str, str]:
    """The "was this helpful?" links of a mail, by vote, as paths on our server."""
    found = re.findall(r"https?://[^/\s]+(/feedback/\d+/[\w-]+\?vote=(\w+))", received.text)
    return {vote: path for path, vote in found}


async def test_an_answer_asks_was_this_helpful_and_a_no_from_its_link_reaches_a_person(
    desk: MailDesk,
) -> None:
    await desk.send(mail())
    [ack] = await desk.relay.wait_for(1)
    links = feedback_links(ack)
    assert sorted(links) == ["helpful", "not_helpful"]
    assert "Did this answer your question?" in ack.text
    html = ack.message.get_body(("html",)).get_content()
    assert '<a href="http://' in html and links["not_helpful"] in html
    [conv] = await desk.conversations_of(ALICE)
    client = desk.client

    # Opening the link shows the question with both answers; it records nothing by itself
    # (a link scanner fetching it changes nothing), the page's form does.
    page = await client.get(links["helpful"])
    assert page.status == 200
    text = await page.text()
    assert "Was this answer helpful?" in text and 'method="post"' in text
    assert "👍 Yes, it helped" in text and "👎 No, I still need help" in text
    assert not [m for m in await desk.history(conv["id"]) if "feedback" in m["meta"]]

    yes = await client.post(links["helpful"], data={"vote": "helpful"})
    assert yes.status == 200 and "Glad it helped" in await yes.text()
    assert (await desk.agent.queue())["items"] == []

    no = await client.post(links["not_helpful"], data={"vote": "not_helpful"})
    assert no.status == 200 and "A person will reply to your email." in await no.text()
    [queued] = (await desk.agent.queue())["items"]
    assert queued["id"] == conv["id"]
    history = await desk.history(conv["id"])
    votes = [m for m in history if m["kind"] == "message" and "feedback" in m["meta"]]
    assert [(m["text"], m["meta"]["via"]) for m in votes] == [("👍", "link"), ("👎", "link")]
    [escalation] = [m for m in history if m["kind"] == "escalation"]
    assert escalation["meta"]["question"] == PASSWORD_QUESTION
    article = await desk.agent.call("GET", "/api/v1/kb/articles/reset-password/en")
    assert (article["helpful"], article["unhelpful"]) == (0, 1)
    assert article["unhelpful_questions"][0]["channel"] == "email"

    # Changing one's mind later is recorded; the request stays with the people.
    again = await client.post(links["helpful"], data={"vote": "helpful"})
    assert "Glad it helped" in await again.text()
    assert [c["id"] for c in (await desk.agent.queue())["items"]] == [conv["id"]]


async def test_a_feedback_link_that_was_tampered_with_or_a_bad_vote_is_refused(
    desk: MailDesk,
) -> None:
    await desk.send(mail())
    [ack] = await desk.relay.wait_for(1)
    path = feedback_links(ack)["not_helpful"]
    forged = re.sub(r"/feedback/(\d+)/[\w-]+", r"/feedback/\1/forged-token-123", path)

    for response in (
        await desk.client.get(forged),
        await desk.client.post(forged, data={"vote": "not_helpful"}),
    ):
        assert response.status == 404
        assert "This link is not valid" in await response.text()
    bad = await desk.client.post(path, data={"vote": "maybe"})
    assert bad.status == 400 and "vote must be helpful or not_helpful" in await bad.text()
    assert (await desk.agent.queue())["items"] == []


async def test_an_email_the_bot_cannot_answer_is_acknowledged_and_queued_for_a_person(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))

    [ack] = await desk.relay.wait_for(1)
    assert "queue" in ack.text and f"[#{token_of(ack)}]" in ack.text
    queue = await desk.agent.queue()
    assert [c["reference"] for c in queue["items"]] == [token_of(ack)]


async def test_an_agent_reply_leaves_threaded_as_a_personal_email_and_staff_events_stay_internal(
    desk: MailDesk,
) -> None:
    question = mail(UNANSWERABLE, subject="Blender")
    await desk.send(question)
    [ack] = await desk.relay.wait_for(1)
    conv = await desk.agent.claim_next()

    await desk.agent.reply(conv["id"], "Send us a photo of the receipt and we will sort it out.")
    await desk.agent.close(conv["id"])

    replies = await desk.relay.wait_for(2)
    reply = replies[1]
    assert "Send us a photo of the receipt" in reply.text
    assert "Agent 1" in reply.text  # signed by the agent
    assert reply.message["Auto-Submitted"] is None  # a person wrote it
    assert reply.message["In-Reply-To"] == question["Message-ID"]
    assert token_of(reply) == token_of(ack)
    # Claiming and closing are not emailed: the customer got exactly the two mails above.
    await desk.send(mail("Thanks!", sender="bob@customer.test", subject="Another"))
    everything = await desk.relay.wait_for(3)
    assert [r.rcpt_tos for r in everything] == [(ALICE,), (ALICE,), ("bob@customer.test",)]


# ---- threading ------------------------------------------------------------------------------


async def test_a_reply_to_our_mail_joins_its_conversation_by_in_reply_to(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    [ack] = await desk.relay.wait_for(1)
    follow_up = mail("Also, the lid is cracked.", subject="Re: Blender", reply_to=ack)

    await desk.send(follow_up)

    [conv] = await desk.conversations_of(ALICE)
    texts = [m["text"] for m in await desk.history(conv["id"])]
    assert "Also, the lid is cracked." in texts
    assert len(desk.relay.received) == 1  # no second acknowledgement


async def test_a_reply_threads_by_our_message_id_even_before_the_send_was_recorded(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    [ack] = await desk.relay.wait_for(1)
    follow_up = mail("Photo attached.", subject="Re: Blender")
    # Our ids name the conversation: this one was never recorded as any message's id.
    follow_up["In-Reply-To"] = f"<sb.{token_of(ack).lower()}.999999@acme.test>"

    await desk.send(follow_up)

    [conv] = await desk.conversations_of(ALICE)
    assert "Photo attached." in [m["text"] for m in await desk.history(conv["id"])]


async def test_a_reply_whose_client_dropped_the_headers_threads_by_the_subject_token(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    [ack] = await desk.relay.wait_for(1)
    # Outlook-style: no In-Reply-To / References, a rewritten prefix, the token kept.
    follow_up = mail("Any news?", subject=f"AW: Blender [#{token_of(ack).lower()}]")

    await desk.send(follow_up)

    [conv] = await desk.conversations_of(ALICE)
    assert "Any news?" in [m["text"] for m in await desk.history(conv["id"])]


async def test_someone_else_quoting_a_token_does_not_join_that_conversation(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    [ack] = await desk.relay.wait_for(1)

    await desk.send(mail("Hi", sender="mallory@evil.test", subject=f"Re: [#{token_of(ack)}]"))

    [alice] = await desk.conversations_of(ALICE)
    assert "Hi" not in [m["text"] for m in await desk.history(alice["id"])]
    assert len(await desk.conversations_of("mallory@evil.test")) == 1


async def test_a_new_subject_from_the_same_sender_opens_a_new_conversation_on_the_same_customer(
    desk: MailDesk,
) -> None:
    await desk.send(mail())
    await desk.relay.wait_for(1)

    await desk.send(mail("Where is my order 1234?", subject="Order"))

    convs = await desk.conversations_of(ALICE)
    assert len(convs) == 2
    assert len({c["customer"]["id"] for c in convs}) == 1


async def test_the_same_message_delivered_twice_is_stored_and_answered_once(
    desk: MailDesk,
) -> None:
    question = mail()

    await desk.send(question)
    await desk.send(question)  # the relay retried after a lost 250

    [conv] = await desk.conversations_of(ALICE)
    inbound = [m for m in await desk.history(conv["id"]) if m["direction"] == "inbound"]
    assert len(inbound) == 1
    await desk.send(mail("Thanks!", sender="bob@customer.test", subject="Other"))
    assert [r.rcpt_tos for r in await desk.relay.wait_for(2)] == [(ALICE,), ("bob@customer.test",)]


# ---- never answer a machine (RFC 3834) -------------------------------------------------------

MACHINE_MAIL = [
    pytest.param({"headers": {"Auto-Submitted": "auto-replied"}}, id="auto-submitted"),
    pytest.param({"headers": {"Auto-Submitted": "auto-generated"}}, id="auto-generated"),
    pytest.param({"headers": {"Precedence": "bulk"}}, id="precedence-bulk"),
    pytest.param({"headers": {"Precedence": "list"}}, id="precedence-list"),
    pytest.param({"headers": {"List-Id": "<news.shop.test>"}}, id="list-id"),
    pytest.param(
        {"headers": {"List-Unsubscribe": "<mailto:leave@shop.test>"}}, id="list-unsubscribe"
    ),
    pytest.param({"envelope_sender": ""}, id="null-return-path"),
    pytest.param({"sender": "MAILER-DAEMON@mx.customer.test"}, id="mailer-daemon"),
    pytest.param({"sender": "no-reply@shop.test"}, id="noreply"),
    pytest.param({"sender": "postmaster@customer.test"}, id="postmaster"),
    pytest.param({"sender": SUPPORT}, id="our-own-address"),
    pytest.param({"bounce": True}, id="multipart-report-bounce"),
]


@pytest.mark.parametrize("kind", MACHINE_MAIL)
async def test_machine_mail_is_kept_for_the_agents_but_never_answered(
    desk: MailDesk, kind: dict[str, Any]
) -> None:
    sender = kind.get("sender", ALICE)
    message = mail(UNANSWERABLE, sender=sender, headers=kind.get("headers"))
    if kind.get("bounce"):
        message = bounce_for(sender)

    await desk.send(message, sender=kind.get("envelope_sender"))

    # A person's mail afterwards is answered; the machine's never was.
    await desk.send(mail(sender="person@customer.test", subject="Password"))
    await desk.relay.wait_for(1)
    assert [r.rcpt_tos for r in desk.relay.received] == [("person@customer.test",)]
    [conv] = await desk.conversations_of(sender.lower())
    history = await desk.history(conv["id"])
    assert [m["direction"] for m in history if m["kind"] == "message"] == ["inbound"]
    assert not [m for m in history if m["direction"] == "outbound"]
    assert conv["status"] == "queued" and conv["priority"] < 0  # waits behind people


def bounce_for(sender: str) -> EmailMessage:
    raw = (
        f"From: Mail Delivery System <{sender}>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.customer.test')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system. Your message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        "Final-Recipient: rfc822; x@y.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b1--\r\n"
    ).encode()
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_an_out_of_office_reply_never_reopens_a_closed_conversation(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    await desk.relay.wait_for(1)
    conv = await desk.agent.claim_next()
    await desk.agent.reply(conv["id"], "Fixed, a new blender is on its way.")
    await desk.agent.close(conv["id"])
    [_, reply] = await desk.relay.wait_for(2)

    out_of_office = mail(
        "I am out of the office until Monday.",
        subject="Automatic reply: Blender",
        headers={"Auto-Submitted": "auto-replied"},
        reply_to=reply,
    )
    await desk.send(out_of_office)

    [after] = await desk.conversations_of(ALICE)
    assert after["status"] == "closed"
    assert "I am out of the office until Monday." in [
        m["text"] for m in await desk.history(after["id"])
    ]
    assert len(desk.relay.received) == 2


async def test_a_persons_reply_to_a_closed_conversation_reopens_it_for_the_agents(
    desk: MailDesk,
) -> None:
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    await desk.relay.wait_for(1)
    conv = await desk.agent.claim_next()
    await desk.agent.reply(conv["id"], "Fixed, a new blender is on its way.")
    await desk.agent.close(conv["id"])
    [_, reply] = await desk.relay.wait_for(2)

    await desk.send(mail("It arrived broken again!", subject="Re: Blender", reply_to=reply))

    [after] = await desk.conversations_of(ALICE)
    assert after["id"] == conv["id"] and after["status"] == "queued"


async def test_one_sender_gets_at_most_one_automatic_reply_per_window(desk: MailDesk) -> None:
    # Another helpdesk that answers everything, without Auto-Submitted: no loop.
    await desk.send(mail(subject="Password"))
    await desk.relay.wait_for(1)

    await desk.send(mail("Your ticket #991 was received.", subject="Ticket received"))
    await desk.send(mail("Your ticket #992 was received.", subject="Ticket received"))

    await desk.send(mail(sender="person@customer.test", subject="Password"))
    sent = await desk.relay.wait_for(2)
    assert [r.rcpt_tos for r in sent] == [(ALICE,), ("person@customer.test",)]
    convs = await desk.conversations_of(ALICE)
    assert len(convs) == 3
    assert sorted(c["status"] for c in convs) == ["bot", "queued", "queued"]  # people take over


# ---- content ----------------------------------------------------------------------------------


async def test_a_thai_email_in_tis_620_is_read_and_answered_in_thai(desk: MailDesk) -> None:
    text = "ลืมรหัสผ่านครับ เข้าระบบไม่ได้"
    message = mail(subject="รหัสผ่าน")
    message.set_content(text.encode("tis-620"), maintype="text", subtype="plain")
    message.replace_header("Content-Type", 'text/plain; charset="tis-620"')

    await desk.send(message)

    [ack] = await desk.relay.wait_for(1)
    assert "ลืมรหัสผ่าน" in ack.text  # the Thai article's answer
    [conv] = await desk.conversations_of(ALICE)
    assert text in [m["text"] for m in await desk.history(conv["id"])]


async def test_attachments_are_kept_listed_and_downloadable_and_oversized_ones_noted(
    desk: MailDesk,
) -> None:
    message = mail(UNANSWERABLE, subject="Blender")
    message.add_attachment(
        b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="receipt.pdf"
    )
    message.add_attachment(
        b"x" * 200_000, maintype="image", subtype="png", filename="huge photo.png"
    )

    await desk.send(message)

    [conv] = await desk.conversations_of(ALICE)
    [inbound] = [m for m in await desk.history(conv["id"]) if m["direction"] == "inbound"]
    listed = {a["name"]: a for a in inbound["meta"]["attachments"]}
    assert listed["receipt.pdf"]["size"] == len(b"%PDF-1.4 receipt")
    assert listed["huge photo.png"]["omitted"] is True
    pdf = await desk.client.get(
        f"/api/v1/attachments/{listed['receipt.pdf']['id']}", headers=desk.agent.headers
    )
    assert pdf.status == 200 and await pdf.read() == b"%PDF-1.4 receipt"
    assert "receipt.pdf" in pdf.headers["Content-Disposition"]
    huge = await desk.client.get(
        f"/api/v1/attachments/{listed['huge photo.png']['id']}", headers=desk.agent.headers
    )
    assert huge.status == 410 and (await huge.json())["error"]["code"] == "attachment_omitted"


async def test_the_bot_and_agents_see_the_new_text_while_the_quoted_thread_is_kept(
    desk: MailDesk,
) -> None:
    body = (
        "I forgot my password, how do I reset it?\n\n"
        "On Mon, 2 Nov 2026 at 10:00, Acme Support <support@acme.test> wrote:\n"
        "> Thank you for writing to us.\n> Anything else?\n"
    )

    await desk.send(mail(body))

    [conv] = await desk.conversations_of(ALICE)
    [inbound] = [m for m in await desk.history(conv["id"]) if m["direction"] == "inbound"]
    assert inbound["text"] == "I forgot my password, how do I reset it?"
    assert "> Anything else?" in inbound["meta"]["full_text"]


# ---- the receiver and the relay ---------------------------------------------------------------


async def test_the_receiver_refuses_to_relay_for_other_domains(desk: MailDesk) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            mail(),
            hostname="127.0.0.1",
            port=desk.receiver_port,
            recipients=["someone@elsewhere.test"],
            start_tls=False,
        )
    assert refused.value.recipients[0].code == 550


async def test_a_relay_outage_delays_replies_and_loses_none(desk: MailDesk) -> None:
    await desk.relay.stop()
    await desk.send(mail())
    await desk.send(mail("Where is my order?", sender="bob@customer.test", subject="Order"))
    [conv] = await desk.conversations_of(ALICE)

    async def pending() -> bool:
        history = await desk.history(conv["id"])
        failed_once = [m for m in history if m["direction"] == "outbound"]
        return bool(failed_once) and failed_once[0]["state"] == "pending"

    await eventually(pending)
    await desk.relay.start()

    sent = await desk.relay.wait_for(2)
    assert sorted(r.rcpt_tos for r in sent) == [(ALICE,), ("bob@customer.test",)]
    await desk.send(mail("Thanks", sender="carol@customer.test", subject="Hi"))
    assert len(await desk.relay.wait_for(3)) == 3  # exactly once each


async def test_a_permanent_refusal_marks_the_reply_failed_for_the_agent(desk: MailDesk) -> None:
    desk.relay.refuse_with = "550 5.1.1 No such user"

    await desk.send(mail(UNANSWERABLE, subject="Blender"))

    [conv] = await desk.conversations_of(ALICE)

    async def failed() -> bool:
        history = await desk.history(conv["id"])
        return any(m["direction"] == "outbound" and m["state"] == "failed" for m in history)

    await eventually(failed)


# ---- IMAP polling (a real Dovecot) ------------------------------------------------------------


@pytest.fixture
async def imap_desk(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    relay: SmtpSink,
    mailbox: Mailbox,
) -> MailDesk:
    settings = make_settings(
        email={
            "address": SUPPORT,
            "smtp_host": "127.0.0.1",
            "smtp_port": relay.port,
            "smtp_tls": "none",
            "imap_host": "127.0.0.1",
            "imap_port": mailbox.server.port,
            "imap_user": mailbox.user,
            "imap_password": mailbox.password,
            "imap_tls": "none",
            "imap_poll_seconds": 0.5,
        }
    )
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    desk = MailDesk(client, relay, 0)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    return desk


async def test_mail_in_the_imap_mailbox_is_stored_acknowledged_and_marked_seen(
    imap_desk: MailDesk, mailbox: Mailbox
) -> None:
    await asyncio.to_thread(mailbox.deliver, mail().as_bytes())

    [ack] = await imap_desk.relay.wait_for(1)

    assert ack.rcpt_tos == (ALICE,) and "Forgot password?" in ack.text

    async def seen() -> bool:
        [(_uid, flags, _raw)] = await asyncio.to_thread(mailbox.messages, "INBOX")
        return "\\Seen" in flags

    await eventually(seen)


async def test_an_imap_message_stored_before_a_crash_is_not_duplicated_when_read_again(
    imap_desk: MailDesk, mailbox: Mailbox
) -> None:
    raw = mail().as_bytes()
    # The poller stored this message, then died before marking it seen: it is still unseen.
    await imap_desk.client.app[EMAIL_INGEST].deliver(raw)
    await asyncio.to_thread(mailbox.deliver, raw)
    await asyncio.to_thread(
        mailbox.deliver, mail(sender="bob@customer.test", subject="Order").as_bytes()
    )

    sent = await imap_desk.relay.wait_for(2)

    assert sorted(r.rcpt_tos for r in sent) == [(ALICE,), ("bob@customer.test",)]
    [conv] = await imap_desk.conversations_of(ALICE)
    inbound = [m for m in await imap_desk.history(conv["id"]) if m["direction"] == "inbound"]
    assert len(inbound) == 1


async def test_the_receiver_refuses_a_message_over_the_size_limit(
    aiohttp_client: Any, email_settings: Settings
) -> None:
    settings = dataclasses.replace(
        email_settings,
        email=dataclasses.replace(email_settings.email, receiver_max_bytes=20_000),
    )
    await aiohttp_client(create_app(settings))
    big = mail("x" * 50_000)

    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await aiosmtplib.send(
            big,
            hostname="127.0.0.1",
            port=settings.email.receiver_port,
            recipients=[SUPPORT],
            start_tls=False,
        )

    assert refused.value.code == 552


async def test_mail_that_cannot_be_stored_is_refused_for_now_and_taken_when_retried(
    desk: MailDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = desk.client.app[EMAIL_INGEST]
    store = ingest._handle

    async def database_down(message: Any) -> None:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(ingest, "_handle", database_down)
    question = mail()
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await desk.send(question)
    assert refused.value.code == 451  # the relay keeps the message and retries

    monkeypatch.setattr(ingest, "_handle", store)
    await desk.send(question)

    [ack] = await desk.relay.wait_for(1)
    assert ack.rcpt_tos == (ALICE,)
