"""The phone menu (IVR) core: the flow file and its one-line errors, business hours, the
engine walked like a caller would, TwiML output, and call state that survives storage."""

from __future__ import annotations

import copy
import dataclasses
import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.actions import (
    AskBot,
    Enqueue,
    EscalationReason,
    Gather,
    GatherPurpose,
    Hangup,
    Leave,
    NoAgentReason,
    Pause,
    Play,
    Record,
    Say,
)
from ivr.engine import Engine, IncomingCall, Step
from ivr.flow import Flow, FlowError, load_flow, parse_flow
from ivr.hours import BusinessHours, parse_ranges
from ivr.speech import normalize, to_speakable
from ivr.state import CallState, Outcome
from ivr.twiml import CallbackUrls, render, render_dequeue

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "ivr.yaml"
BANGKOK = ZoneInfo("Asia/Bangkok")
OPEN = datetime(2026, 3, 2, 11, 0, tzinfo=BANGKOK)  # Monday 11:00
SUNDAY = datetime(2026, 3, 1, 11, 0, tzinfo=BANGKOK)
CALLER = "+66812345678"
URLS = CallbackUrls.under("https://support.example.com/voice")


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(SHIPPED)


@pytest.fixture(scope="module")
def engine(flow: Flow) -> Engine:
    return Engine(flow)


# ---- a small valid flow, to break one thing at a time ------------------------------------

TEXTS = {
    "greeting": "Hello.",
    "invalid": "Sorry.",
    "goodbye": "Bye.",
    "ask_question": "Ask.",
    "more_help": "More?",
    "bot_unsure": "Unsure.",
    "connecting": "Connecting.",
    "queue_position": "Number {position}, {minutes} minutes.",
    "agent_connected": "Connected.",
    "wait_too_long": "Busy.",
    "closed": "Closed.",
    "leave_choice": "1 or 2.",
    "voicemail_prompt": "Speak.",
    "voicemail_thanks": "Thanks.",
    "callback_confirm": "We will call.",
}
WORDS = {
    "agent": ["agent"],
    "main_menu": ["main menu"],
    "another_question": ["yes"],
    "done": ["no"],
    "voicemail": ["message"],
    "callback": ["call back"],
}
SMALL: dict[str, Any] = {
    "languages": {
        "en": {
            "digit": "1",
            "say_language": "en-US",
            "voice": "Polly.Joanna",
            "speech_language": "en-US",
            "prompt": "English, 1.",
        },
        "th": {
            "digit": "2",
            "say_language": "th-TH",
            "voice": "Google.th-TH-Standard-A",
            "speech_language": "th-TH",
            "prompt": "ไทย กด 2",
        },
    },
    "hours": {
        "timezone": "Asia/Bangkok",
        "weekly": {
            "mon": "09:00-18:00",
            "tue": "09:00-18:00",
            "wed": "09:00-18:00",
            "thu": "09:00-18:00",
            "fri": "09:00-12:00, 13:00-18:00",
            "sat": "10:00-14:00",
            "sun": "closed",
        },
        "holidays": ["2026-12-31", date(2027, 1, 1)],
    },
    "texts": {"en": dict(TEXTS), "th": dict(TEXTS)},
    "words": {"en": dict(WORDS), "th": {**WORDS, "agent": ["พนักงาน"]}},
    "menus": {
        "main": {
            "prompt": {"en": "Main.", "th": "เมนูหลัก"},
            "options": [
                {"digit": "1", "words": {"en": ["billing"], "th": ["บิล"]}, "goto": "billing"},
                {"digit": "2", "action": "ask_question"},
            ],
        },
        "billing": {
            "prompt": {"en": "Billing.", "th": "บิล"},
            "options": [{"digit": "8", "goto": "main"}],
        },
    },
}


def small(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SMALL)
    data.update(changes)
    return data


def error_of(data: Any) -> str:
    with pytest.raises(FlowError) as caught:
        parse_flow(data)
    return str(caught.value)


_DELETE = object()


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key) - 1] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last) - 1] = value
        else:
            node[last] = value

    return change


# ---- the flow file -----------------------------------------------------------------------


def test_the_shipped_flow_loads(flow: Flow) -> None:
    assert list(flow.languages) == ["en", "th", "zh"]  # Persian has no Twilio voice
    assert flow.languages["th"].say_language == "th-TH"
    assert flow.languages["zh"].voice.startswith("Google.cmn-CN")
    assert flow.hours.zone.key == "Asia/Bangkok"
    assert {"main", "orders", "returns", "billing"} <= set(flow.menus)
    assert flow.menus["main"].by_digit("1").goto == "orders"  # type: ignore[union-attr]
    assert flow.languages["en"].transcribe and not flow.languages["th"].transcribe


def test_the_small_flow_is_valid() -> None:
    parsed = parse_flow(small())
    assert parsed.hours.holidays == {date(2026, 12, 31), date(2027, 1, 1)}
    assert parsed.default_language.code == "en"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _set("menus.main.options.1.goto", "billling"),
            "ivr.yaml: menus.main.options.1.goto: no menu named 'billling'",
        ),
        (
            _set("menus.main.options.2.digit", "1"),
            "ivr.yaml: menus.main.options.2.digit: '1' is already used by option 1",
        ),
        (_set("texts.th.goodbye", _DELETE), "ivr.yaml: texts.th: missing goodbye"),
        (
            _set("hours.timezone", "Asia/Bangkog"),
            "ivr.yaml: hours.timezone: unknown time zone 'Asia/Bangkog'",
        ),
        (
            _set("hours.weekly.mon", "9-18"),
            "ivr.yaml: hours.weekly.mon: '9-18' is not HH:MM-HH:MM (or 'closed')",
        ),
        (
            _set("hours.weekly.fri", "22:00-02:00"),
            "ivr.yaml: hours.weekly.fri: '22:00-02:00' ends before it starts",
        ),
        (
            _set("hours.weekly.tue", "09:00-13:00,12:00-18:00"),
            "ivr.yaml: hours.weekly.tue: ranges overlap",
        ),
        (
            _set("hours.weekly.sun", _DELETE),
            "ivr.yaml: hours.weekly: missing sun (write 'closed' for a closed day)",
        ),
        (
            _set("hours.holidays", ["2026-12-31", "2026-02-30"]),
            "ivr.yaml: hours.holidays.2: '2026-02-30' is not a date (write YYYY-MM-DD)",
        ),
        (
            _set("menus.main.options.2.digit", 0),
            "ivr.yaml: menus.main.options.2.digit: 0 is reserved",
        ),
        (_set("languages.th.digit", "0"), "ivr.yaml: languages.th.digit: 0 is reserved"),
        (
            _set("languages.th.digit", "1"),
            "ivr.yaml: languages.th.digit: '1' is already used by languages.en",
        ),
        (
            _set("menus.billing.prompt", {"en": "Billing."}),
            "ivr.yaml: menus.billing.prompt: missing language th",
        ),
        (
            _set("menus.main.options.1.words", {"fr": ["facture"]}),
            "ivr.yaml: menus.main.options.1.words.fr: not a language listed under languages",
        ),
        (
            _set("words.en.done", [False]),  # what YAML makes of an unquoted no
            "ivr.yaml: words.en.done.1: must be text (quote it: YAML reads yes/no/on/off",
        ),
        (
            _set(
                "menus.orphan",
                {"prompt": {"en": "x", "th": "x"}, "options": [{"digit": "1", "goto": "main"}]},
            ),
            "ivr.yaml: menus.orphan: no option leads here from menus.main",
        ),
        (
            _set("texts.en.queue_position", "You are {place} in line."),
            "ivr.yaml: texts.en.queue_position: unknown placeholder {place}",
        ),
        (
            _set("menus.main.options.1.gotoo", "billing"),
            "ivr.yaml: menus.main.options.1.gotoo: unknown key",
        ),
        (
            _set("menus.main.options.2.goto", "billing"),
            "ivr.yaml: menus.main.options.2: has both goto and action",
        ),
        (
            _set("menus.main.options.2.action", "transfer"),
            "ivr.yaml: menus.main.options.2.action: unknown action 'transfer'",
        ),
        (
            _set("after_hours", {"action": "sms"}),
            "ivr.yaml: after_hours.action: must be one of: voicemail, callback, choice",
        ),
        (_set("menus.main", _DELETE), "ivr.yaml: menus: missing main"),
        (_set("queue", {"max_wait_seconds": "ten"}), "ivr.yaml: queue.max_wait_seconds: must be"),
    ],
    ids=[
        "bad-goto",
        "duplicate-digit",
        "missing-thai-text",
        "bad-timezone",
        "bad-hours",
        "overnight-hours",
        "overlapping-hours",
        "missing-day",
        "bad-holiday",
        "digit-0-in-menu",
        "digit-0-for-language",
        "duplicate-language-digit",
        "missing-thai-prompt",
        "unknown-language",
        "unquoted-no",
        "unreachable-menu",
        "unknown-placeholder",
        "unknown-key",
        "goto-and-action",
        "unknown-action",
        "bad-after-hours",
        "no-main-menu",
        "bad-queue-number",
    ],
)
def test_a_broken_flow_names_the_place_in_one_line(change: Any, expected: str) -> None:
    data = small()
    change(data)
    message = error_of(data)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_flow_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "phone.yaml"
    path.write_text(SHIPPED.read_text(encoding="utf-8").replace("goto: billing", "goto: bill"))
    with pytest.raises(FlowError, match=r"^phone\.yaml: menus\.main\.options\.2\.goto: no menu"):
        load_flow(path)
    path.write_text("languages: [en\n")
    with pytest.raises(FlowError, match=r"^phone\.yaml: line \d+: not valid YAML"):
        load_flow(path)
    with pytest.raises(FlowError, match="cannot read"):
        load_flow(tmp_path / "missing.yaml")


# ---- business hours ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hours() -> BusinessHours:
    return parse_flow(small()).hours


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        ("2026-03-02 08:59", False),  # Monday
        ("2026-03-02 09:00", True),
        ("2026-03-02 17:59", True),
        ("2026-03-02 18:00", False),  # the end is exclusive
        ("2026-03-06 12:30", False),  # Friday lunch break between two ranges
        ("2026-03-06 13:00", True),
        ("2026-03-07 13:59", True),  # Saturday
        ("2026-03-07 14:00", False),
        ("2026-03-01 11:00", False),  # Sunday
        ("2026-12-30 11:00", True),
        ("2026-12-31 11:00", False),  # holiday (a Thursday)
        ("2027-01-01 11:00", False),
    ],
)
def test_open_and_closed(hours: BusinessHours, local: str, is_open: bool) -> None:
    at = datetime.fromisoformat(local).replace(tzinfo=BANGKOK)
    assert hours.is_open(at) is is_open


def test_hours_are_read_in_the_configured_zone(hours: BusinessHours) -> None:
    # Sunday 22:00 in New York is Monday 10:00 in Bangkok.
    assert hours.is_open(datetime(2026, 3, 1, 22, 0, tzinfo=ZoneInfo("America/New_York")))
    # Friday 23:30 UTC is already Saturday 06:30 in Bangkok: closed; 03:30 UTC Saturday is open.
    assert not hours.is_open(datetime(2026, 3, 6, 23, 30, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 3, 7, 3, 30, tzinfo=UTC))
    # The holiday is the Bangkok date: 17:30 UTC on the 30th is 00:30 on the 31st.
    assert hours.next_open(datetime(2026, 12, 30, 17, 30, tzinfo=UTC)) == datetime(
        2027, 1, 2, 10, 0, tzinfo=BANGKOK
    )
    with pytest.raises(ValueError, match="aware"):
        hours.is_open(datetime(2026, 3, 2, 11, 0))


@pytest.mark.parametrize(
    ("local", "opens"),
    [
        ("2026-03-02 11:00", "2026-03-02 11:00"),  # open now: now
        ("2026-03-02 07:00", "2026-03-02 09:00"),
        ("2026-03-06 12:15", "2026-03-06 13:00"),  # after the lunch break
        ("2026-03-06 18:30", "2026-03-07 10:00"),  # Friday evening: Saturday
        ("2026-03-07 15:00", "2026-03-09 09:00"),  # Saturday afternoon: Monday
        ("2026-12-30 19:00", "2027-01-02 10:00"),  # two holidays skipped
    ],
)
def test_next_open(hours: BusinessHours, local: str, opens: str) -> None:
    at = datetime.fromisoformat(local).replace(tzinfo=BANGKOK)
    assert hours.next_open(at) == datetime.fromisoformat(opens).replace(tzinfo=BANGKOK)


def test_a_line_that_never_opens_has_no_next_open() -> None:
    never = BusinessHours(zone=BANGKOK, weekly=((),) * 7)
    assert never.next_open(OPEN) is None
    assert parse_ranges("00:00-24:00")[0].end == 24 * 60


# ---- walking the menus -------------------------------------------------------------------


def call(engine: Engine, now: datetime = OPEN, caller: str = CALLER) -> Step:
    return engine.start(IncomingCall(caller=caller, called="+6620000000", now=now))


def press(engine: Engine, step: Step, digits: str | None, now: datetime = OPEN) -> Step:
    return checked(engine.on_input(step.state, digits, None, None, now))


def say(
    engine: Engine, step: Step, text: str, now: datetime = OPEN, confidence: float = 0.9
) -> Step:
    return checked(engine.on_input(step.state, None, text, confidence, now))


def checked(step: Step) -> Step:
    """Every step renders to TwiML that parses."""
    ET.fromstring(render(step.actions, URLS))
    return step


def gather(step: Step) -> Gather:
    last = step.actions[-1]
    assert isinstance(last, Gather), step.actions
    return last


def spoken(step: Step) -> list[str]:
    says = [a for a in step.actions if isinstance(a, Say)]
    for g in step.actions:
        if isinstance(g, Gather):
            says.extend(g.prompts)
    return [s.text for s in says]


def test_a_call_starts_with_the_greeting_and_the_language_menu(engine: Engine) -> None:
    step = call(engine)
    g = gather(step)
    assert g.purpose is GatherPurpose.LANGUAGE
    assert g.prompts[0].text == "Thank you for calling Acme Store."
    # each language is offered in its own voice
    assert [(p.language, p.voice) for p in g.prompts[1:]] == [
        ("en-US", "Polly.Joanna"),
        ("th-TH", "Google.th-TH-Standard-A"),
        ("cmn-CN", "Google.cmn-CN-Standard-A"),
    ]
    assert g.input == "dtmf speech" and g.language == "en-US"


def test_a_flow_with_one_language_goes_straight_to_the_main_menu() -> None:
    data = small()
    for section in ("languages", "texts", "words"):
        del data[section]["th"]
    for menu in data["menus"].values():
        menu["prompt"].pop("th")
        for option in menu["options"]:
            option.get("words", {}).pop("th", None)
    step = call(Engine(parse_flow(data)))
    assert gather(step).purpose is GatherPurpose.MENU
    assert spoken(step) == ["Hello.", "Main."]


@pytest.mark.parametrize("choice", ["2", "Thai.", "ภาษาไทย"])
def test_choosing_thai_by_key_or_by_voice(engine: Engine, choice: str) -> None:
    step = call(engine)
    step = press(engine, step, choice) if choice.isdigit() else say(engine, step, choice)
    g = gather(step)
    assert step.state.language == "th"
    assert (g.purpose, g.menu, g.language) == (GatherPurpose.MENU, "main", "th-TH")
    assert g.prompts[0].language == "th-TH" and g.prompts[0].voice == "Google.th-TH-Standard-A"
    assert g.prompts[0].text.startswith("คำสั่งซื้อและการจัดส่ง")
    assert "คืนเงิน" in g.hints


def test_navigating_by_keys(engine: Engine) -> None:
    step = press(engine, call(engine), "1")
    step = press(engine, step, "1")  # orders
    assert gather(step).menu == "orders"
    step = press(engine, step, "2")  # returns, a third level
    assert gather(step).menu == "returns"
    step = press(engine, step, "8")  # back
    assert gather(step).menu == "orders"
    step = press(engine, step, "1")  # a say-only option: spoken, then the same menu again
    assert spoken(step)[0].startswith("You can follow your parcel")
    assert gather(step).menu == "orders"
    assert step.state.path[:6] == (
        "menu:language",
        "key:1",
        "lang:en",
        "menu:main",
        "key:1",
        "menu:orders",
    )


@pytest.mark.parametrize(
    ("language", "utterance", "menu"),
    [
        ("1", "Billing, please.", "billing"),
        ("1", "I'd like to PAY my invoice", "billing"),
        ("1", "where is my parcel", "orders"),
        ("2", "เช็คพัสดุค่ะ", "orders"),
        ("2", "เรื่อง คืน เงิน ค่ะ", "billing"),  # the recogniser may put spaces in Thai
        ("3", "我想查订单", "orders"),
    ],
)
def test_navigating_by_voice(engine: Engine, language: str, utterance: str, menu: str) -> None:
    step = say(engine, press(engine, call(engine), language), utterance)
    assert gather(step).menu == menu
    assert f"said:{utterance!r}" in step.state.path


def test_english_words_match_whole_words_only(engine: Engine) -> None:
    step = say(engine, press(engine, call(engine), "1"), "my paycheck")  # not "pay"
    assert gather(step).menu == "main"
    assert step.state.invalid == 1
    assert normalize("  That's   ALL. ") == "that s all"


def test_invalid_input_is_repeated_and_the_third_in_a_row_reaches_an_agent(engine: Engine) -> None:
    step = press(engine, call(engine), "1")
    step = press(engine, step, "7")
    assert spoken(step) == ["Sorry, I didn't get that.", gather(step).prompts[1].text]
    assert gather(step).menu == "main" and step.state.invalid == 1
    step = say(engine, step, "banana")
    assert step.state.invalid == 2
    step = press(engine, step, None)  # silence: Twilio redirects without Digits
    assert step.enqueue == Enqueue("support", EscalationReason.INVALID_INPUT)
    assert step.state.path.count("invalid") == 3


def test_a_valid_answer_resets_the_invalid_count(engine: Engine) -> None:
    step = press(engine, press(engine, call(engine), "1"), "7")
    step = press(engine, step, "1")  # orders
    assert step.state.invalid == 0
    step = press(engine, press(engine, step, "7"), "7")
    assert step.enqueue is None and step.state.invalid == 2


def test_zero_reaches_an_agent_from_a_submenu(engine: Engine) -> None:
    step = press(engine, call(engine), "2")
    step = press(engine, press(engine, step, "1"), "2")  # orders, returns
    step = press(engine, step, "0")
    assert step.enqueue == Enqueue("support", EscalationReason.REQUESTED)
    connecting = step.actions[0]
    assert isinstance(connecting, Say) and connecting.language == "th-TH"
    assert step.state.enqueued_at == OPEN and step.state.awaiting is None


@pytest.mark.parametrize(("language", "utterance"), [("1", "Operator!"), ("2", "ขอคุยกับพนักงานค่ะ")])
def test_saying_agent_reaches_an_agent(engine: Engine, language: str, utterance: str) -> None:
    step = say(engine, press(engine, call(engine), language), utterance)
    assert step.enqueue is not None and step.enqueue.reason is EscalationReason.REQUESTED


def _asked(engine: Engine, question: str = "How long does shipping take?") -> Step:
    step = press(engine, press(engine, call(engine), "1"), "3")
    g = gather(step)
    assert g.purpose is GatherPurpose.QUESTION and g.prompts[-1].text.startswith("Please ask")
    return say(engine, step, question)


def test_a_question_goes_to_the_bot_and_a_confident_answer_is_spoken(engine: Engine) -> None:
    step = _asked(engine)
    assert step.ask == AskBot("How long does shipping take?", "en")
    assert step.actions == ()
    answer = "Orders ship within 1 working day. See [our page](https://acme.example/ship)."
    step = checked(engine.bot_answered(step.state, answer, OPEN))
    g = gather(step)
    assert g.purpose is GatherPurpose.MORE_HELP
    assert g.prompts[0] == Say(
        "Orders ship within 1 working day. See our page.", "en-US", "Polly.Joanna"
    )
    assert g.prompts[1].text.startswith("Is there anything else?")
    assert step.state.answers == 1 and step.state.question is None


def test_an_answer_in_another_language_is_spoken_in_its_voice(engine: Engine) -> None:
    step = say(engine, press(engine, press(engine, call(engine), "2"), "3"), "ส่งของกี่วัน")
    assert step.ask == AskBot("ส่งของกี่วัน", "th")
    step = engine.bot_answered(step.state, "Orders ship within one day.", OPEN, locale="en")
    assert gather(step).prompts[0].language == "en-US"


def test_no_confident_answer_goes_to_an_agent(engine: Engine) -> None:
    step = checked(engine.bot_answered(_asked(engine).state, None, OPEN))
    assert spoken(step)[0].startswith("I'm not sure")
    assert step.enqueue == Enqueue("support", EscalationReason.BOT_UNSURE)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("No thanks.", "goodbye"),
        ("9", "goodbye"),
        (None, "goodbye"),  # silence after an answer
        ("Yes.", GatherPurpose.QUESTION),
        ("1", GatherPurpose.QUESTION),
        ("main menu", GatherPurpose.MENU),
        ("2", GatherPurpose.MENU),
        ("0", "agent"),
        ("And how do I return a jacket?", "bot"),  # the next question, asked straight away
        ("5", "invalid"),
    ],
)
def test_after_an_answer_the_caller_is_offered_more_help(
    engine: Engine, reply: str | None, expected: object
) -> None:
    step = engine.bot_answered(_asked(engine).state, "One working day.", OPEN)
    if reply is None or reply.isdigit():
        step = press(engine, step, reply)
    else:
        step = say(engine, step, reply)
    if expected == "goodbye":
        assert isinstance(step.actions[-1], Hangup)
        assert spoken(step)[-1].startswith("Thank you for calling")
    elif expected == "agent":
        assert step.enqueue is not None
    elif expected == "bot":
        assert step.ask == AskBot("And how do I return a jacket?", "en")
    elif expected == "invalid":
        assert gather(step).purpose is GatherPurpose.MORE_HELP and step.state.invalid == 1
    else:
        assert gather(step).purpose is expected


# ---- closed, voicemail and call back -----------------------------------------------------


def test_after_hours_the_caller_chooses_voicemail(engine: Engine) -> None:
    step = press(engine, call(engine, SUNDAY), "1", SUNDAY)
    assert spoken(step)[0].startswith("Our support line is open Monday to Friday")
    assert gather(step).purpose is GatherPurpose.LEAVE_CHOICE
    step = press(engine, step, "1", SUNDAY)
    assert [type(a) for a in step.actions] == [Say, Record, Say, Hangup]
    assert step.actions[1] == Record(max_length=120, transcribe=True)
    assert step.state.no_agent is NoAgentReason.CLOSED
    step = checked(engine.voicemail_done(step.state))
    assert spoken(step) == ["Thank you, we got your message and will get back to you soon."]
    assert step.state.result is Outcome.VOICEMAIL


def test_thai_voicemail_is_not_sent_for_english_transcription(engine: Engine) -> None:
    step = press(engine, press(engine, call(engine, SUNDAY), "2", SUNDAY), "1", SUNDAY)
    record = next(a for a in step.actions if isinstance(a, Record))
    assert record.transcribe is False
    assert (
        spoken(step)[0]
        == "กรุณาฝากชื่อ หมายเลขคำสั่งซื้อ และข้อความหลังเสียงสัญญาณ เมื่อพูดจบกดเครื่องหมายสี่เหลี่ยมค่ะ"
    )


def test_after_hours_the_caller_asks_for_a_call_back(engine: Engine) -> None:
    step = say(engine, press(engine, call(engine, SUNDAY), "1", SUNDAY), "Call me back", SUNDAY)
    assert step.callback is not None
    assert step.callback.number == CALLER and step.callback.locale == "en"
    assert step.callback.due == datetime(2026, 3, 2, 9, 0, tzinfo=BANGKOK)  # Monday opening
    assert step.callback.reason is NoAgentReason.CLOSED
    assert isinstance(step.actions[-1], Hangup)
    assert step.state.result is Outcome.CALLBACK


def test_a_withheld_number_gets_voicemail_without_a_choice(engine: Engine) -> None:
    step = press(engine, call(engine, SUNDAY, caller="+266696687"), "1", SUNDAY)
    assert any(isinstance(a, Record) for a in step.actions)
    assert step.callback is None


def test_the_closed_line_can_go_straight_to_voicemail() -> None:
    data = small(after_hours={"action": "voicemail"})
    step = press(Engine(parse_flow(data)), call(Engine(parse_flow(data)), SUNDAY), "1", SUNDAY)
    assert [type(a) for a in step.actions] == [Say, Say, Record, Say, Hangup]


def test_invalid_choices_when_closed_end_in_voicemail(engine: Engine) -> None:
    step = press(engine, call(engine, SUNDAY), "1", SUNDAY)
    for _ in range(3):
        step = press(engine, step, "5", SUNDAY)
    assert any(isinstance(a, Record) for a in step.actions) and step.enqueue is None


def test_asking_for_an_agent_when_closed_offers_voicemail_or_call_back(engine: Engine) -> None:
    step = press(engine, call(engine), "1")
    step = press(engine, step, "0", SUNDAY)  # the line closed while the caller was in the menu
    assert step.enqueue is None
    assert gather(step).purpose is GatherPurpose.LEAVE_CHOICE


def test_a_menu_option_can_book_a_call_back(engine: Engine) -> None:
    step = press(engine, press(engine, call(engine), "1"), "9")
    assert step.callback is not None and step.callback.due == OPEN
    assert step.callback.reason is NoAgentReason.CHOSEN


# ---- holding in the queue ----------------------------------------------------------------


def _queued(engine: Engine) -> Step:
    step = press(engine, press(engine, call(engine), "1"), "0")
    assert step.enqueue is not None
    return step


@pytest.mark.parametrize(("position", "agents", "minutes"), [(3, 2, 5), (3, 0, 9), (1, 4, 1)])
def test_holding_callers_hear_their_position_and_wait(
    engine: Engine, position: int, agents: int, minutes: int
) -> None:
    step = checked(engine.queue_wait(_queued(engine).state, position, 40, agents, OPEN))
    assert step.actions == (
        Say(
            f"You are number {position} in line. The estimated wait is about {minutes} minutes.",
            "en-US",
            "Polly.Joanna",
        ),
        Pause(30),
    )


def test_hold_music_plays_between_announcements() -> None:
    data = small(queue={"hold_music_url": "https://cdn.example.com/hold.mp3"})
    engine = Engine(parse_flow(data))
    step = engine.queue_wait(_queued(engine).state, 1, 0, 1, OPEN)
    assert step.actions[-1] == Play("https://cdn.example.com/hold.mp3")


def test_past_the_wait_limit_the_caller_leaves_for_voicemail_or_call_back(engine: Engine) -> None:
    step = engine.queue_wait(_queued(engine).state, 2, 600, 1, OPEN)
    assert step.actions == (Leave(),)
    step = checked(engine.queue_exit(step.state, "leave", 600, OPEN))
    assert spoken(step)[0] == "We're sorry, all our agents are still busy."
    assert gather(step).purpose is GatherPurpose.LEAVE_CHOICE
    step = press(engine, step, "2")
    assert step.callback is not None and step.callback.reason is NoAgentReason.WAIT_LIMIT
    assert step.state.queue_seconds == 600


def test_when_the_line_closes_holding_callers_leave(engine: Engine) -> None:
    evening = OPEN.replace(hour=18, minute=1)
    step = engine.queue_wait(_queued(engine).state, 2, 120, 1, evening)
    assert step.actions == (Leave(),)
    step = engine.queue_exit(step.state, "leave", 120, evening)
    assert spoken(step)[0].startswith("Our support line is open")


def test_a_full_queue_offers_voicemail_or_call_back(engine: Engine) -> None:
    step = engine.queue_exit(_queued(engine).state, "queue-full", None, OPEN)
    assert gather(step).purpose is GatherPurpose.LEAVE_CHOICE
    assert step.state.no_agent is NoAgentReason.QUEUE_ERROR


def test_an_answered_call_is_recorded_with_wait_and_talk_time(engine: Engine) -> None:
    step = _queued(engine)
    step = checked(engine.agent_connected(step.state, OPEN + timedelta(seconds=95)))
    assert spoken(step) == ["Thank you for waiting. You are now connected to an agent."]
    step = engine.queue_exit(step.state, "bridged", 95, OPEN + timedelta(seconds=395))
    assert isinstance(step.actions[-1], Hangup)
    summary = engine.call_ended(step.state, "completed", 420, OPEN + timedelta(seconds=420))
    assert summary.outcome is Outcome.AGENT
    assert (summary.wait_seconds, summary.talk_seconds) == (95, 300)
    assert summary.duration_seconds == 420 and summary.caller == CALLER
    assert summary.path[-3:] == ("agent:connected", "agent:done", "goodbye")
    assert json.loads(json.dumps(summary.to_dict()))["outcome"] == "agent"


@pytest.mark.parametrize(
    ("walk", "status", "outcome"),
    [
        (lambda e: _queued(e), "completed", Outcome.ABANDONED),
        (lambda e: press(e, call(e), "1"), "completed", Outcome.HUNG_UP),
        (lambda e: e.bot_answered(_asked(e).state, "Yes.", OPEN), "completed", Outcome.BOT),
        (lambda e: call(e), "busy", Outcome.FAILED),
    ],
)
def test_each_call_gets_an_outcome(
    engine: Engine, walk: Any, status: str, outcome: Outcome
) -> None:
    state = walk(engine).state
    summary = engine.call_ended(state, status, None, OPEN + timedelta(seconds=60))
    assert summary.outcome is outcome
    if outcome is Outcome.ABANDONED:
        assert summary.wait_seconds == 60 and summary.talk_seconds is None


# ---- TwiML -------------------------------------------------------------------------------


def parse(step_or_actions: Step | tuple[Any, ...]) -> ET.Element:
    actions = step_or_actions.actions if isinstance(step_or_actions, Step) else step_or_actions
    root = ET.fromstring(render(actions, URLS))
    assert root.tag == "Response"
    return root


def test_a_menu_renders_as_a_gather_for_keys_and_speech(engine: Engine) -> None:
    root = parse(press(engine, call(engine), "2"))
    g, redirect = list(root)
    assert g.tag == "Gather"
    assert g.attrib == {
        "input": "dtmf speech",
        "action": "https://support.example.com/voice/gather",
        "method": "POST",
        "language": "th-TH",
        "speechTimeout": "auto",
        "numDigits": "1",
        "timeout": "5",
        "hints": g.attrib["hints"],
    }
    assert "คำสั่งซื้อ" in g.attrib["hints"].split(",")
    said = g.find("Say")
    assert said is not None
    assert said.attrib == {"language": "th-TH", "voice": "Google.th-TH-Standard-A"}
    assert said.text is not None and said.text.startswith("คำสั่งซื้อ")
    # silence falls through to a redirect back, counted as an invalid answer
    assert (redirect.tag, redirect.text) == ("Redirect", "https://support.example.com/voice/gather")


def test_the_queue_renders_as_enqueue_with_a_wait_url(engine: Engine) -> None:
    root = parse(_queued(engine))
    say_el, enqueue = list(root)
    assert say_el.tag == "Say" and say_el.attrib["language"] == "en-US"
    assert enqueue.tag == "Enqueue" and enqueue.text == "support"
    assert enqueue.attrib["waitUrl"] == "https://support.example.com/voice/queue/wait"
    assert enqueue.attrib["action"] == "https://support.example.com/voice/queue/exit"


def test_voicemail_renders_as_record_with_a_transcription_callback() -> None:
    root = parse((Record(max_length=120, transcribe=True), Hangup()))
    record, hangup = list(root)
    assert record.attrib == {
        "action": "https://support.example.com/voice/voicemail",
        "method": "POST",
        "maxLength": "120",
        "playBeep": "true",
        "transcribe": "true",
        "transcribeCallback": "https://support.example.com/voice/voicemail/transcription",
    }
    assert hangup.tag == "Hangup"
    untranscribed = parse((Record(max_length=60, transcribe=False),))[0]
    assert untranscribed.attrib["transcribe"] == "false"
    assert "transcribeCallback" not in untranscribed.attrib


def test_wait_url_verbs_render() -> None:
    root = parse((Play("https://cdn.example.com/hold.mp3"), Pause(30), Leave()))
    assert [(el.tag, el.text, el.attrib) for el in root] == [
        ("Play", "https://cdn.example.com/hold.mp3", {}),
        ("Pause", None, {"length": "30"}),
        ("Leave", None, {}),
    ]


def test_the_agent_leg_dequeues_with_the_announcement_url() -> None:
    root = ET.fromstring(render_dequeue("support", URLS))
    queue = root.find("Dial/Queue")
    assert queue is not None and queue.text == "support"
    assert queue.attrib["url"] == "https://support.example.com/voice/queue/connected"


def test_callback_urls_are_absolute() -> None:
    assert URLS.status == "https://support.example.com/voice/status"
    with pytest.raises(ValueError, match="absolute"):
        CallbackUrls.under("/voice")


def test_bot_text_is_made_speakable() -> None:
    long = "First sentence here. " * 60
    spoken_text = to_speakable("**Bold** answer: see https://acme.example/x now. " + long)
    assert spoken_text.startswith("Bold answer: see now. First sentence here.")
    assert len(spoken_text) <= 700 and spoken_text.endswith(".")


# ---- call state --------------------------------------------------------------------------


def test_call_state_survives_json(engine: Engine) -> None:
    step = say(engine, press(engine, call(engine), "2"), "บิล")
    step = engine.agent_connected(press(engine, step, "0").state, OPEN + timedelta(seconds=30))
    state = step.state
    assert state.bridged_at is not None and state.enqueued_at is not None
    again = CallState.from_dict(json.loads(json.dumps(state.to_dict(), ensure_ascii=False)))
    assert again == state
    # and the engine carries on from the stored state
    assert (
        engine.queue_exit(again, "bridged", 30, OPEN + timedelta(minutes=5)).state.talk_seconds
        == 270
    )


def test_a_stored_gather_state_carries_on_after_a_round_trip(engine: Engine) -> None:
    step = press(engine, press(engine, call(engine), "1"), "1")  # in the orders menu
    stored = CallState.from_dict(json.loads(json.dumps(step.state.to_dict())))
    assert gather(press(engine, Step(stored), "2")).menu == "returns"


def test_unreadable_call_state_is_refused() -> None:
    state = CallState(caller=CALLER, called="+6620000000", started_at=OPEN, language="en")
    data = state.to_dict()
    with pytest.raises(ValueError, match="version"):
        CallState.from_dict({**data, "v": 99})
    with pytest.raises(ValueError, match="time zone"):
        CallState.from_dict({**data, "started_at": "2026-03-02T11:00:00"})
    with pytest.raises(ValueError, match="incomplete"):
        CallState.from_dict({"v": 1})


def test_a_call_survives_a_menu_removed_by_a_flow_reload(engine: Engine) -> None:
    step = press(engine, press(engine, call(engine), "1"), "1")
    gone = dataclasses.replace(step.state, menu="retired", language="fa")
    step = press(engine, Step(gone), "2")
    assert gather(step).menu == "billing" and step.state.language == "en"
