"""The pure email layer: parsing (charsets, MIME, quotes), auto-reply rules and composing."""

from __future__ import annotations

import base64
import quopri
import random
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import pytest

from channels.email.compose import compose, new_message_id, reply_subject, text_to_html
from channels.email.mime import (
    MailParseError,
    ParsedMail,
    parse,
    strip_reply_prefixes,
    subject_token,
)
from channels.email.rules import automatic_reason
from channels.errors import SwitchboardError

THAI = "สวัสดีครับ ขอสอบถามเรื่องการคืนสินค้า"
CHINESE = "你好，我想查询订单状态"
TRADITIONAL = "您好，請問退貨流程"
PERSIAN = "سلام، سفارش من کجاست؟"
JAPANESE = "お問い合わせありがとうございます"
LIMIT = 1_000_000


def raw_mail(
    body: bytes,
    *,
    headers: str = "",
    content_type: str = "text/plain",
    charset: str | None = "utf-8",
    cte: str = "8bit",
    subject: str = "Hello",
    sender: str = "Alice Example <alice@example.com>",
) -> bytes:
    """Hand-written mail bytes, so legacy charsets and malformations stay exactly as given."""
    params = f'; charset="{charset}"' if charset else ""
    head = (
        f"From: {sender}\r\nTo: support@shop.test\r\nSubject: {subject}\r\n"
        f"Date: Mon, 01 Jan 2024 10:00:00 +0700\r\n{headers}MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}{params}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode("ascii") + body


def encoded_word(text: str, charset: str, codec: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode('ascii')}?="


def transfer_encode(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        return quopri.encodestring(data)
    return data


def parse_message(message: EmailMessage, limit: int = LIMIT) -> ParsedMail:
    return parse(message.as_bytes(), attachment_limit=limit)


# --- charsets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "charset", "codec", "cte"),
    [
        (THAI, "tis-620", "tis-620", "8bit"),
        (THAI, "windows-874", "cp874", "base64"),
        (THAI, "TIS-620", "tis-620", "quoted-printable"),
        (CHINESE, "gb2312", "gb2312", "quoted-printable"),
        (CHINESE, "gbk", "gbk", "base64"),
        (CHINESE, "GB18030", "gb18030", "8bit"),
        (TRADITIONAL, "big5", "big5", "base64"),
        (PERSIAN, "windows-1256", "cp1256", "quoted-printable"),
        (JAPANESE, "iso-2022-jp", "iso2022_jp", "7bit"),
        (f"{THAI} {CHINESE} {PERSIAN}", "utf-8", "utf-8", "base64"),
    ],
)
def test_legacy_charsets_decode_in_body_and_subject(
    text: str, charset: str, codec: str, cte: str
) -> None:
    raw = raw_mail(
        transfer_encode(text.encode(codec), cte),
        charset=charset,
        cte=cte,
        subject=encoded_word(text, charset, codec),
    )
    mail = parse(raw, attachment_limit=LIMIT)
    assert mail.text == text
    assert mail.subject == text


def test_thai_windows_punctuation_under_a_tis620_label_is_not_control_characters() -> None:
    text = "ราคา 100€ … “ส่งฟรี”"
    mail = parse(raw_mail(text.encode("cp874"), charset="tis-620"), attachment_limit=LIMIT)
    assert mail.text == text


def test_gbk_characters_under_a_gb2312_label() -> None:
    text = "朱镕基 碁"  # neither 镕 nor 碁 is in GB2312
    raw = raw_mail(
        text.encode("gbk"), charset="gb2312", subject=encoded_word(text, "gb2312", "gbk")
    )
    mail = parse(raw, attachment_limit=LIMIT)
    assert (mail.text, mail.subject) == (text, text)


def test_character_split_across_encoded_words_is_rejoined() -> None:
    data = CHINESE.encode("gbk")
    first, rest = (base64.b64encode(part).decode() for part in (data[:3], data[3:]))
    raw = raw_mail(b"x", subject=f"=?gbk?B?{first}?=\r\n =?GBK?B?{rest}?=")
    assert parse(raw, attachment_limit=LIMIT).subject == CHINESE


def test_raw_8bit_headers_use_the_body_charset() -> None:
    raw = raw_mail(CHINESE.encode("gbk"), charset="gbk", subject="Order 42")
    raw = raw.replace(b"Subject: Order 42", b"Subject: " + CHINESE.encode("gbk"))
    raw = raw.replace(b"Alice Example", "王小明".encode("gbk"))
    mail = parse(raw, attachment_limit=LIMIT)
    assert mail.subject == CHINESE
    assert mail.from_name == "王小明"


def test_raw_utf8_header_and_address() -> None:
    raw = raw_mail(b"hi", subject="SUBJECT", sender="NAME <ADDRESS>")
    raw = raw.replace(b"SUBJECT", THAI.encode()).replace(b"NAME", "สมชาย".encode())
    raw = raw.replace(b"ADDRESS", "สมชาย@ตัวอย่าง.ไทย".encode())
    mail = parse(raw, attachment_limit=LIMIT)
    assert mail.subject == THAI
    assert mail.from_name == "สมชาย"
    assert mail.from_address == "สมชาย@ตัวอย่าง.ไทย"


def test_windows_iso2022jp_extensions() -> None:
    # NEC row 13 (①) inside ESC $ B: what Outlook on Windows sends, rejected by Python's codecs.
    body = JAPANESE.encode("iso2022_jp")[:-3] + b"-!\x1b(B"
    mail = parse(raw_mail(body, charset="iso-2022-jp", cte="7bit"), attachment_limit=LIMIT)
    assert mail.text == JAPANESE + "①"


@pytest.mark.parametrize(
    ("body", "charset", "expected"),
    [
        ("café ✓".encode(), "x-unknown-charset", "café ✓"),
        ("café ✓".encode(), "iso-8859-1", "café ✓"),  # a mislabel, not Latin-1
        ("naïve".encode("latin-1"), None, "naïve"),
        ("“quoted”".encode("cp1252"), "us-ascii", "“quoted”"),
    ],
)
def test_mislabelled_and_missing_charsets(body: bytes, charset: str | None, expected: str) -> None:
    assert parse(raw_mail(body, charset=charset), attachment_limit=LIMIT).text == expected


def test_undecodable_bytes_never_raise_and_keep_the_rest() -> None:
    mail = parse(raw_mail(CHINESE.encode("gbk") + b"\xff", charset="gbk"), attachment_limit=LIMIT)
    assert mail.text.startswith(CHINESE)


def test_nul_and_surrogates_are_removed() -> None:
    raw = raw_mail(b"a\x00b", subject="x\x00y")
    raw = raw.replace(b"Alice Example", b"Al\xffice")
    mail = parse(raw, attachment_limit=LIMIT)
    assert mail.text == "ab"
    for value in (mail.text, mail.subject, mail.from_name or ""):
        assert "\x00" not in value
        assert not any("\ud800" <= char <= "\udfff" for char in value)


def test_transfer_encoding_with_trailing_space_is_still_decoded() -> None:
    raw = raw_mail(base64.encodebytes(THAI.encode()), cte="base64 ")
    assert parse(raw, attachment_limit=LIMIT).text == THAI


# --- headers and malformed mail ------------------------------------------------------------


def test_headers_are_parsed() -> None:
    headers = (
        "Message-ID: <Abc.123@example.com>\r\nIn-Reply-To: <parent@shop.test>\r\n"
        "References: <root@shop.test>\r\n <parent@shop.test>\r\n"
        "Cc: Bob <BOB@Example.com>, carol@example.com\r\nReply-To: replies@example.com\r\n"
        "Return-Path: <alice@example.com>\r\n"
    )
    sender = f"{encoded_word('Ålice Ĕxample', 'utf-8', 'utf-8')} <Alice@Example.COM>"
    mail = parse(raw_mail(b"hi", headers=headers, sender=sender), attachment_limit=LIMIT)
    assert mail.message_id == "Abc.123@example.com"
    assert mail.in_reply_to == ("parent@shop.test",)
    assert mail.references == ("root@shop.test", "parent@shop.test")
    assert (mail.from_address, mail.from_name) == ("alice@example.com", "Ålice Ĕxample")
    assert mail.to == ("support@shop.test",)
    assert mail.cc == ("bob@example.com", "carol@example.com")
    assert mail.reply_to == "replies@example.com"
    assert mail.return_path == "<alice@example.com>"
    assert mail.date == datetime(2024, 1, 1, 10, tzinfo=timezone(timedelta(hours=7)))
    assert mail.subject == "Hello"


def test_subject_whitespace_is_normalised() -> None:
    raw = raw_mail(b"x", subject="  Order\r\n\t  42   please ")
    assert parse(raw, attachment_limit=LIMIT).subject == "Order 42 please"


def test_unknown_timezone_date_is_utc_and_bad_date_is_none() -> None:
    unknown = raw_mail(b"x").replace(b"+0700", b"-0000")
    assert parse(unknown, attachment_limit=LIMIT).date == datetime(2024, 1, 1, 10, tzinfo=UTC)
    broken = raw_mail(b"x").replace(b"Mon, 01 Jan 2024 10:00:00 +0700", b"next tuesday")
    assert parse(broken, attachment_limit=LIMIT).date is None


def test_mail_with_few_headers_parses() -> None:
    mail = parse(b"Subject: just this\r\n\r\nbody text\r\n", attachment_limit=LIMIT)
    assert (mail.subject, mail.text) == ("just this", "body text")
    assert mail.message_id is None and mail.from_address is None and mail.date is None
    assert mail.return_path is None


@pytest.mark.parametrize("raw", [b"", b"  \r\n\r\n ", b"this is not an email at all"])
def test_input_that_is_not_mail_raises_one_error(raw: bytes) -> None:
    with pytest.raises(MailParseError) as caught:
        parse(raw, attachment_limit=LIMIT)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, SwitchboardError)


def test_broken_boundary_still_yields_the_text() -> None:
    raw = raw_mail(
        b"Nobody wrote the boundary.\r\n", content_type='multipart/mixed; boundary="nope"'
    )
    assert "Nobody wrote the boundary." in parse(raw, attachment_limit=LIMIT).text


def test_unterminated_multipart_keeps_its_parts() -> None:
    body = b'--b1\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nfirst part\r\n--b1\r\n'
    raw = raw_mail(body, content_type='multipart/mixed; boundary="b1"', charset=None)
    assert parse(raw, attachment_limit=LIMIT).text == "first part"


def test_corrupted_mail_never_raises_anything_but_mail_parse_error() -> None:
    samples = [
        raw_mail(transfer_encode(THAI.encode("cp874"), "base64"), charset="windows-874"),
        build_html_mail().as_bytes(),
        build_attachment_mail().as_bytes(),
        multipart_with_part("Content-Type: message/rfc822", b"From: b@x.test\r\n\r\nhi"),
        multipart_with_part("Content-Disposition: attachment; filename*0*=gbk''%C4%E3"),
    ]
    rng = random.Random(3834)
    for _ in range(400):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 12)):
            position = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[position] = rng.randrange(256)
            else:
                del data[position : position + rng.randint(1, 40)]
        try:
            mail = parse(bytes(data), attachment_limit=100)
        except MailParseError:
            continue
        assert "\x00" not in mail.text


# --- bodies: HTML, alternatives, attachments ----------------------------------------------

HTML = (
    "<html><head><title>Ignored title</title><style>p { color: red }</style></head><body>"
    "<p>Dear&nbsp;team,</p><p>Line one<br>Line two &amp; more</p>"
    "<ul><li>first item</li><li>second item</li></ul>"
    '<p>Track it <a href="https://shop.test/track/1">here</a> or at '
    '<a href="https://shop.test">https://shop.test</a>.</p>'
    "<script>alert('no')</script><div dir='rtl'>سلام</div></body></html>"
)


def build_html_mail() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["Subject"] = "html"
    message.set_content(HTML, subtype="html")
    return message


def test_html_only_mail_becomes_readable_text() -> None:
    mail = parse_message(build_html_mail())
    assert mail.text == (
        "Dear team,\n\nLine one\nLine two & more\n\n- first item\n- second item\n\n"
        "Track it here (https://shop.test/track/1) or at https://shop.test.\n\nسلام"
    )
    assert mail.html is not None and "<script>" in mail.html


def test_alternative_prefers_the_plain_part() -> None:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message.set_content("Plain version")
    message.add_alternative("<p>HTML version</p>", subtype="html")
    mail = parse_message(message)
    assert mail.text == "Plain version"
    assert mail.html is not None and "HTML version" in mail.html
    assert mail.attachments == ()


def build_attachment_mail() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["Subject"] = "receipt"
    message.set_content("See attached.")
    message.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf",
                           filename="ใบเสร็จ.pdf")  # fmt: skip
    message.add_attachment(b"x" * 5000, maintype="image", subtype="png", filename="big.png")
    return message


def test_attachments_are_listed_and_oversized_data_is_omitted() -> None:
    mail = parse_message(build_attachment_mail(), limit=1000)
    assert mail.text == "See attached."
    small, big = mail.attachments
    assert (small.name, small.content_type, small.size) == ("ใบเสร็จ.pdf", "application/pdf", 14)
    assert (small.data, small.omitted) == (b"%PDF-1.4 small", False)
    assert (big.name, big.content_type, big.size) == ("big.png", "image/png", 5000)
    assert (big.data, big.omitted) == (None, True)


def multipart_with_part(part_headers: str, data: bytes = b"payload") -> bytes:
    body = (
        b'--b1\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nbody\r\n--b1\r\n'
        + part_headers.encode("ascii")
        + b"\r\n\r\n"
        + data
        + b"\r\n--b1--\r\n"
    )
    return raw_mail(body, content_type='multipart/mixed; boundary="b1"', charset=None)


@pytest.mark.parametrize(
    ("part_headers", "expected"),
    [
        (
            "Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
            " filename*0*=gb2312''%D7%A3%B8%A3; filename*1*=%DF%E3.pdf",
            "祝福咩.pdf",
        ),
        (
            "Content-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename*=UTF-8''%E0%B8%9A%E0%B8%B4%E0%B8%A5.pdf",
            "บิล.pdf",
        ),
        (
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
            f'filename="{encoded_word("ใบเสร็จ.pdf", "windows-874", "cp874")}"',
            "ใบเสร็จ.pdf",
        ),
        ('Content-Type: application/pdf; name="C:\\\\Users\\\\me\\\\scan.pdf"', "scan.pdf"),
        ("Content-Type: application/octet-stream", "attachment-1"),
    ],
)
def test_attachment_names(part_headers: str, expected: str) -> None:
    (attachment,) = parse(multipart_with_part(part_headers), attachment_limit=LIMIT).attachments
    assert attachment.name == expected
    assert attachment.data == b"payload"


def test_input_that_crashes_the_standard_library_does_not_crash_parse() -> None:
    # policy.default's header classes raise IndexError on "filename*" (CPython 3.11).
    raw = multipart_with_part(
        "Content-Type: application/pdf\r\nContent-Disposition: attachment; x*"
    )
    (attachment,) = parse(raw, attachment_limit=LIMIT).attachments
    assert (attachment.name, attachment.data) == ("attachment-1", b"payload")
    # Message.get_payload() decodes 8-bit text with the label and raises on this one.
    raw = multipart_with_part('Content-Type: text/plain; charset="bad\x00name"', "café".encode())
    assert parse(raw, attachment_limit=LIMIT).text == "body\ncafé"
    # html.parser raises AssertionError on an unknown "<![" marked section.
    html = b"<p>a<![foo]>b</p><p><![if !supportLists]>- <![endif]>item</p>"
    mail = parse(raw_mail(html, content_type="text/html"), attachment_limit=LIMIT)
    assert mail.text == "a<![foo]>b\n\n- item"


def test_attached_message_is_kept_whole_and_its_text_shown() -> None:
    inner = b"From: bob@example.com\r\nSubject: inner\r\n\r\ninner body"
    raw = multipart_with_part("Content-Type: message/rfc822", inner)
    mail = parse(raw, attachment_limit=LIMIT)
    assert mail.text == (
        "body\n\n---------- Forwarded message ----------\n"
        "From: bob@example.com\nSubject: inner\n\ninner body"
    )
    assert "inner body" in mail.reply_text
    (attachment,) = mail.attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.data is not None and b"inner body" in attachment.data


# --- reply text ----------------------------------------------------------------------------

QUOTED_REPLIES = [
    (
        "Thanks, that fixed it!\n\nOn Mon, Jan 1, 2024 at 10:00 AM Shop Support <support@shop.test>\n"
        "wrote:\n\n> Please restart the router.\n>\n> -- \n> Shop",
        "Thanks, that fixed it!",
    ),
    (
        "Please cancel the order.\n\n-----Original Message-----\nFrom: Shop\n"
        "Sent: Monday, January 1, 2024 10:00 AM\nTo: Alice\nSubject: Order\n\nWe shipped it.",
        "Please cancel the order.",
    ),
    (
        "Yes, go ahead.\n\n________________________________\nFrom: Shop <support@shop.test>\n"
        "Sent: Monday, January 1, 2024 10:00\nTo: Alice\nSubject: RE: refund\n\nShall we refund?",
        "Yes, go ahead.",
    ),
    (
        "On 1 Jan 2024, at 10:00, Shop <support@shop.test> wrote:\n> Which size?\nLarge.\n"
        "> Which colour?\n\nBlue.\n\n-- \nAlice Example\nCEO, Example Ltd",
        "Large.\n\nBlue.",
    ),
    (
        "ได้รับของแล้วครับ\n\nเมื่อ วันจันทร์ที่ 1 ม.ค. 2567 เวลา 10:00 น. Shop "
        "<support@shop.test> เขียนว่า:\n> จัดส่งแล้ว",
        "ได้รับของแล้วครับ",
    ),
    (
        "收到了，谢谢\n\nShop <support@shop.test> 于2024年1月1日周一 10:00写道：\n> 已发货",
        "收到了，谢谢",
    ),
    (
        "ممنون\n\n\u202bدر تاریخ دوشنبه ۱ ژانویه ۲۰۲۴ ساعت ۱۰:۰۰ Shop <support@shop.test> "
        "نوشت:\u202c\n> ارسال شد",
        "ممنون",
    ),
    ("好的\n\n发件人: Shop <support@shop.test>\n发送时间: 2024年1月1日 10:00\n主题: 订单", "好的"),
]


@pytest.mark.parametrize(("text", "reply"), QUOTED_REPLIES)
def test_reply_text_drops_quoted_history_and_signature(text: str, reply: str) -> None:
    mail = parse(raw_mail(text.encode()), attachment_limit=LIMIT)
    assert mail.text == text
    assert mail.reply_text == reply


def test_html_reply_quote_is_trimmed_too() -> None:
    html = (
        "<div>Works now, thanks!</div><div class='gmail_quote'><div>On Mon, Jan 1, 2024 at "
        "10:00 AM Shop &lt;support@shop.test&gt; wrote:<br></div><blockquote>"
        "<div>Try again please.</div></blockquote></div>"
    )
    mail = parse(raw_mail(html.encode(), content_type="text/html"), attachment_limit=LIMIT)
    assert mail.text.endswith("> Try again please.")
    assert mail.reply_text == "Works now, thanks!"


@pytest.mark.parametrize(
    "text",
    [
        "> everything\n> is quoted",
        "On Monday I wrote: the box was empty.\nOn Monday I wrote:\nit still is.",
    ],
)
def test_reply_text_falls_back_to_the_whole_text(text: str) -> None:
    assert parse(raw_mail(text.encode()), attachment_limit=LIMIT).reply_text == text


def test_forwarded_mail_is_kept_in_reply_text() -> None:
    text = (
        "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <orders@shop.test>\n"
        "Date: Mon, Jan 1, 2024\nSubject: Order 42\n\nYour order 42 has shipped."
    )
    reply = parse(raw_mail(text.encode()), attachment_limit=LIMIT).reply_text
    assert reply.startswith("See below.")
    assert reply.endswith("Your order 42 has shipped.")


# --- dedupe hash ---------------------------------------------------------------------------


def test_content_hash_is_stable_across_relays_and_changes_with_content() -> None:
    raw = raw_mail(THAI.encode())
    relayed = (
        b"Received: from mx2.shop.test by imap.shop.test; Mon, 1 Jan 2024 10:00:05 +0700\r\n"
        b"Delivered-To: support@shop.test\r\nX-Spam-Score: 0.1\r\n"
        b"Return-Path: <alice@example.com>\r\n" + raw
    ).replace(b"\r\n", b"\n")
    first = parse(raw, attachment_limit=LIMIT).content_hash
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert parse(relayed, attachment_limit=LIMIT).content_hash == first
    other = raw_mail((THAI + "!").encode())
    assert parse(other, attachment_limit=LIMIT).content_hash != first
    resubjected = raw_mail(THAI.encode(), subject="Other")
    assert parse(resubjected, attachment_limit=LIMIT).content_hash != first


# --- subjects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "token"),
    [
        ("Re: Order [#ab12cd34]", "AB12CD34"),
        ("[#ABCDEF] first", "ABCDEF"),
        ("Re: [#AAAAAA] and later [#BBBBBBBB]", "BBBBBBBB"),
        ("[#0123456789ABCDEF]", "0123456789ABCDEF"),
        ("Order [#ABCDE]", None),  # too short
        ("Order [#0123456789ABCDEFG]", None),  # too long
        ("Order [# ABCDEF] [ABCDEF] #ABCDEF", None),
        ("", None),
    ],
)
def test_subject_token(subject: str, token: str | None) -> None:
    assert subject_token(subject) == token


@pytest.mark.parametrize(
    ("subject", "stripped"),
    [
        ("Re: Order 42", "Order 42"),
        ("RE: Fwd: FW: re:  Order 42", "Order 42"),
        ("AW: WG: SV: Bestellung", "Bestellung"),
        ("Re[2]: Order", "Order"),
        ("回复：回覆: 答复: 转发: 订单", "订单"),
        ("ตอบกลับ: คำสั่งซื้อ", "คำสั่งซื้อ"),
        ("پاسخ: سفارش", "سفارش"),
        ("Review: my order", "Review: my order"),
        ("Regarding order", "Regarding order"),
        ("Re:", ""),
    ],
)
def test_strip_reply_prefixes(subject: str, stripped: str) -> None:
    assert strip_reply_prefixes(subject) == stripped


# --- automatic mail rules ------------------------------------------------------------------

OWN = {"Support@Shop.test"}


def reason_for(headers: str = "", *, sender: str = "Alice <alice@example.com>", **kw: str) -> str | None:  # fmt: skip
    mail = parse(raw_mail(b"hello", headers=headers, sender=sender, **kw), attachment_limit=LIMIT)
    return automatic_reason(mail, OWN)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied; owner-email=x@example.com\r\n", "auto_submitted"),
        ("Auto-Submitted: AUTO-GENERATED\r\n", "auto_submitted"),
        ("Auto-Submitted: No\r\n", None),
        ("Precedence: bulk\r\n", "precedence_bulk"),
        ("Precedence: junk\r\n", "precedence_bulk"),
        ("Precedence: list\r\n", "precedence_bulk"),
        ("Precedence: first-class\r\n", None),
        ("List-Id: Buyers <buyers.lists.example.com>\r\n", "mailing_list"),
        ("List-Unsubscribe: <mailto:leave@example.com>\r\n", "mailing_list"),
        ("Return-Path: <>\r\n", "null_return_path"),
        ("Return-Path: < >\r\n", "null_return_path"),
        ("Return-Path: <alice@example.com>\r\n", None),
        ("X-Auto-Response-Suppress: DR, OOF\r\n", "auto_response_suppressed"),
        ("X-Auto-Response-Suppress: All\r\n", "auto_response_suppressed"),
        ("X-Auto-Response-Suppress: DR, RN, NRN\r\n", None),
        ("X-Autoreply: yes\r\n", "autoreply_header"),
        ("X-Autorespond: vacation\r\n", "autoreply_header"),
        ("", None),
    ],
)
def test_header_rules(headers: str, reason: str | None) -> None:
    assert reason_for(headers) == reason


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("MAILER-DAEMON@mx.example.com", "system_sender"),
        ("Mail Delivery System <mailer-daemon@example.com>", "system_sender"),
        ("postmaster@example.com", "system_sender"),
        ("noreply@example.com", "system_sender"),
        ("No-Reply+receipts@example.com", "system_sender"),
        ("do-not-reply@example.com", "system_sender"),
        ("DoNotReply@example.com", "system_sender"),
        ("bounces+abc=shop.test@example.com", "system_sender"),
        ("bounce-123@example.com", "system_sender"),
        ("listserv@example.com", "system_sender"),
        ("majordomo@example.com", "system_sender"),
        ("auto-reply@example.com", "system_sender"),
        ("owner-buyers@example.com", "system_sender"),
        ("buyers-request@example.com", "system_sender"),
        ("Shop <SUPPORT@shop.test>", "own_address"),
        ("noreen@example.com", None),
        ("bouncer.fan@example.com", None),
        ("Alice <alice@example.com>", None),
    ],
)
def test_sender_rules(sender: str, reason: str | None) -> None:
    assert reason_for(sender=sender) == reason


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("Automatic reply: Your order", "autoreply_subject"),
        ("Auto: Your order", "autoreply_subject"),
        ("Out of Office: back Monday", "autoreply_subject"),
        ("自动答复: 订单", "autoreply_subject"),
        ("Automatic transmission question", None),
        ("Re: out of stock?", None),
    ],
)
def test_subject_rules(subject: str, reason: str | None) -> None:
    assert reason_for(subject=encoded_word(subject, "utf-8", "utf-8")) == reason


def test_delivery_report_is_a_bounce() -> None:
    body = (
        b"--r1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--r1\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n"
        b"\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\n--r1--\r\n"
    )
    content_type = 'multipart/report; report-type=delivery-status; boundary="r1"'
    raw = raw_mail(body, content_type=content_type, charset=None, sender="Alice <alice@x.test>")
    mail = parse(raw, attachment_limit=LIMIT)
    assert mail.is_report
    assert mail.text == "Delivery failed."
    assert automatic_reason(mail, OWN) == "bounce"


# --- composing -----------------------------------------------------------------------------


def compose_reply(**changes: object) -> EmailMessage:
    arguments: dict[str, object] = {
        "from_address": "support@shop.test",
        "from_name": "ฝ่ายบริการลูกค้า",
        "to": "Somchai <somchai@example.co.th>",
        "subject": reply_subject("RE: Re: คืนสินค้า [#ab12cd34]", "AB12CD34"),
        "text": f"{THAI}\nบรรทัดที่สอง\n\n{PERSIAN} <b>&",
        "message_id": "reply-1@shop.test",
        "in_reply_to": "<customer-2@example.co.th>",
        "references": ["root@shop.test", "customer-2@example.co.th"],
        "auto_submitted": True,
        "date": datetime(2024, 1, 1, 10, tzinfo=UTC),
    }
    arguments.update(changes)
    return compose(**arguments)  # type: ignore[arg-type]


def test_compose_round_trip() -> None:
    message = compose_reply()
    mail = parse(message.as_bytes(), attachment_limit=LIMIT)
    assert mail.text == f"{THAI}\nบรรทัดที่สอง\n\n{PERSIAN} <b>&"
    assert mail.subject == "Re: คืนสินค้า [#AB12CD34]"
    assert subject_token(mail.subject) == "AB12CD34"
    assert (mail.from_address, mail.from_name) == ("support@shop.test", "ฝ่ายบริการลูกค้า")
    assert mail.message_id == "reply-1@shop.test"
    assert mail.in_reply_to == ("customer-2@example.co.th",)
    assert mail.references == ("root@shop.test", "customer-2@example.co.th")
    assert mail.date == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert mail.headers["auto-submitted"] == "auto-replied"
    assert mail.headers["x-auto-response-suppress"] == "All"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    assert message["MIME-Version"] == "1.0"
    assert all("MIME-Version" not in part for part in message.iter_parts())
    assert "Precedence" not in message
    assert message.as_bytes().isascii()  # 7-bit: no relay needs 8BITMIME


def test_agent_reply_is_not_marked_automatic() -> None:
    mail = parse(compose_reply(auto_submitted=False).as_bytes(), attachment_limit=LIMIT)
    assert "auto-submitted" not in mail.headers
    assert "x-auto-response-suppress" not in mail.headers
    assert automatic_reason(mail, set()) is None


def test_generated_html_is_escaped_and_direction_aware() -> None:
    html = text_to_html("<script>x</script> & hi\nsecond line\n\nسلام")
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; hi<br>\nsecond line</p>" in html
    assert '<div dir="auto">' in html and '<p dir="auto">سلام</p>' in html
    message = compose_reply(text="Hello <b>", html=None)
    assert "Hello &lt;b&gt;" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_explicit_html_is_used() -> None:
    message = compose_reply(html="<p>Custom</p>")
    assert message.get_body(("html",)).get_content() == "<p>Custom</p>\n"  # type: ignore[union-attr]


def test_references_keep_the_root_and_the_latest() -> None:
    references = [f"m{number}@example.com" for number in range(30)] + ["m5@example.com"]
    message = compose_reply(references=references, in_reply_to="m29@example.com")
    ids = parse(message.as_bytes(), attachment_limit=LIMIT).references
    assert len(ids) == 20
    assert ids[0] == "m0@example.com"
    assert ids[-1] == "m29@example.com"
    assert ids[1:] == tuple(f"m{number}@example.com" for number in range(11, 30))


@pytest.mark.parametrize(
    "changes",
    [
        {"date": datetime(2024, 1, 1, 10)},
        {"message_id": "not an id"},
        {"message_id": "<xxxx>"},
        {"extra_headers": {"Subject": "override"}},
        {"extra_headers": {"X-Note": "a\r\nBcc: victim@example.com"}},
        {"from_address": "not an address"},
    ],
)
def test_compose_rejects_bad_input(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        compose_reply(**changes)


def test_threading_ids_that_are_not_left_at_right_are_left_out() -> None:
    message = compose_reply(in_reply_to="<1234567>", references=["<xxxx>", "root@shop.test", "<>"])
    assert message["In-Reply-To"] is None
    assert message["References"] == "<root@shop.test>"


def test_extra_headers_are_added() -> None:
    message = compose_reply(extra_headers={"X-Switchboard-Conversation": "AB12CD34"})
    assert message["X-Switchboard-Conversation"] == "AB12CD34"


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Re: RE: Fwd: Order 42 [#ab12cd34]", "Re: Order 42 [#AB12CD34]"),
        ("[#OLDTOKEN1] Re: Order 42", "Re: Order 42 [#AB12CD34]"),
        ("回复：订单", "Re: 订单 [#AB12CD34]"),
        ("", "Your request [#AB12CD34]"),
        ("Re: [#ab12cd34]", "Your request [#AB12CD34]"),
    ],
)
def test_reply_subject(original: str, expected: str) -> None:
    assert reply_subject(original, "ab12cd34") == expected


@pytest.mark.parametrize("reference", ["", "AB12", "AB-12-CD", "A" * 17])
def test_reply_subject_rejects_bad_references(reference: str) -> None:
    with pytest.raises(ValueError):
        reply_subject("Order", reference)


def test_new_message_id() -> None:
    first, second = new_message_id("Shop.test"), new_message_id("shop.test")
    assert first != second
    assert first.endswith("@shop.test") and "<" not in first
    with pytest.raises(ValueError):
        new_message_id("bad domain")


# --- malformed mail as in CPython's corpus (issue 17) --------------------------------------


def test_a_subject_wrapped_without_indentation_keeps_the_headers_below_it() -> None:
    raw = (
        b"From: Alice <alice@example.com>\r\nSubject: My order\r\nhas not arrived\r\n"
        b"To: support@shop.test\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is it?"
    )
    mail = parse(raw, attachment_limit=LIMIT)
    assert (mail.subject, mail.text, mail.to) == (
        "My order has not arrived",
        "Where is it?",
        ("support@shop.test",),
    )


def test_text_right_after_the_headers_stays_the_body() -> None:
    raw = b"From: a@example.com\r\nSubject: here's something\r\ncounter to RFC 5322, no newline\r\n"
    mail = parse(raw, attachment_limit=LIMIT)
    assert mail.subject == "here's something"
    assert mail.text == "counter to RFC 5322, no newline"


@pytest.mark.parametrize("sender", ["{}", "MAILER DAEMON <>", "undisclosed-recipients:;", "bob"])
def test_a_from_that_is_no_address_gives_no_sender(sender: str) -> None:
    mail = parse(raw_mail(b"hi", sender=sender), attachment_limit=LIMIT)
    assert mail.from_address is None


def test_the_envelope_sender_is_read_from_return_path() -> None:
    mail = parse(
        raw_mail(b"hi", headers="Return-Path: <Bob@Example.com>\r\n"), attachment_limit=LIMIT
    )
    assert mail.envelope_sender == "bob@example.com"
    assert parse(raw_mail(b"hi"), attachment_limit=LIMIT).envelope_sender is None


def test_a_report_names_the_returned_message_and_the_reporting_server() -> None:
    body = (
        b"--r1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--r1\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n"
        b"\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\n--r1\r\n"
        b"Content-Type: message/rfc822\r\n\r\nFrom: support@shop.test\r\n"
        b"To: Gone <gone@example.com>\r\nMessage-ID: <sb.ab12cd34.7@shop.test>\r\n\r\nHello\r\n"
        b"--r1--\r\n"
    )
    content_type = 'multipart/report; report-type=delivery-status; boundary="r1"'
    mail = parse(raw_mail(body, content_type=content_type, charset=None), attachment_limit=LIMIT)
    assert mail.report is not None
    assert mail.report.returned_ids == ("sb.ab12cd34.7@shop.test",)
    assert mail.report.returned_to == ("gone@example.com",)
    assert mail.report.reporting_host == "mx.example.com"
    assert mail.text == "Delivery failed."  # the returned message is evidence, not the text


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("List-Post: <mailto:news@example.com>\r\n", "mailing_list"),
        ("X-Mailman-Version: 2.1.39\r\n", "mailing_list"),
        ("X-Mailer: phpList v3.6.12\r\n", "bulk_mailer"),
        ("X-Campaign-Id: 8812\r\n", "bulk_mailer"),
        ("X-Mailer: Apple Mail (2.3731)\r\n", None),
    ],
)
def test_list_and_bulk_mailer_rules(headers: str, reason: str | None) -> None:
    assert reason_for(headers) == reason


@pytest.mark.parametrize(
    ("to", "cc", "reason"),
    [
        ("IETF-Announce:;", "", "group_recipients"),
        ("undisclosed-recipients: ;", "", "group_recipients"),
        ("friends:;", "Cc: support@shop.test\r\n", None),
        ("Team: a@example.com, b@example.com;", "", None),
    ],
)
def test_group_recipients_rule(to: str, cc: str, reason: str | None) -> None:
    raw = (
        f"From: Alice <alice@example.com>\r\nTo: {to}\r\n{cc}Subject: News\r\n\r\nhello"
    ).encode()
    assert automatic_reason(parse(raw, attachment_limit=LIMIT), OWN) == reason
