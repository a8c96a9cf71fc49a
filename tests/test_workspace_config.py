"""The workspace file (config/workspace.yaml): teams, rules, SLAs, presence, close and survey,
validated into a DeskPolicy with one clear line per mistake. Plain unit tests, no database."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from routing.assignment import AssignMode, TeamPolicy, Waiting, route
from routing.policy import DEFAULT_DISPOSITIONS, DeskPolicy, OnDisconnect
from routing.sla import (
    AlwaysOpen,
    SlaStatus,
    SlaTarget,
    WeeklyCalendar,
    due_at,
    find_policy,
    status,
)
from switchboard.workspace import WorkspaceError, load_workspace, parse_workspace

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "workspace.yaml"
BANGKOK = ZoneInfo("Asia/Bangkok")
QUEUED = datetime(2026, 3, 2, 11, 0, tzinfo=BANGKOK)  # a Monday
SMALL_SLA = {"first_response_minutes": 5, "next_response_minutes": 10}


def bangkok(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BANGKOK)


@pytest.fixture(scope="module")
def shipped() -> DeskPolicy:
    return load_workspace(SHIPPED)


def team_of(policy: DeskPolicy, **kw: Any) -> str:
    fields: dict[str, Any] = {"channel": "webchat", "locale": "en"}
    fields.update(kw)
    conversation = Waiting(conversation_id=1, queued_at=QUEUED, **fields)
    assert policy.default_team is not None
    return route(conversation, policy.rules, policy.default_team)


# ---- the shipped file ------------------------------------------------------------------------


def test_the_shipped_workspace_loads(shipped: DeskPolicy) -> None:
    assert shipped.team_names() == (
        "general",
        "thai",
        "chinese",
        "persian",
        "billing",
        "phone",
        "vip",
    )
    assert shipped.team("phone").channel_skills and not shipped.team("thai").channel_skills
    assert shipped.default_team == "general"
    assert shipped.team("thai") == TeamPolicy("thai", AssignMode.AUTO, True)
    assert shipped.team("vip") == TeamPolicy("vip", AssignMode.MANUAL, False)
    assert shipped.auto("billing") and not shipped.auto("vip")
    assert shipped.vip_segments == {"vip"}
    assert shipped.at_risk_within == timedelta(minutes=5)
    assert shipped.disconnect_grace == timedelta(seconds=60)
    assert shipped.on_disconnect is OnDisconnect.REQUEUE
    assert "refund_issued" in shipped.dispositions and shipped.dispositions[0] == "resolved"
    assert shipped.disposition_required and shipped.csat
    assert shipped.csat_window == shipped.reopen_window == timedelta(hours=24)
    assert shipped.average_handle == timedelta(minutes=6)
    assert shipped.sweep_interval == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("conversation", "team"),
    [
        ({"locale": "en", "text": "Where is my parcel?"}, "general"),
        ({"locale": "th", "text": "สวัสดีค่ะ"}, "thai"),
        ({"locale": "th-TH", "text": "ขอคืนเงินค่ะ"}, "billing"),  # keywords come before locales
        ({"locale": "zh-TW", "text": "你好"}, "chinese"),
        ({"locale": "zh", "text": "我要退款"}, "billing"),
        ({"locale": "fa", "text": "سلام"}, "persian"),
        ({"locale": "fa-IR", "text": "بازپرداخت پول من"}, "billing"),
        ({"locale": "en", "text": "I was CHARGED twice"}, "billing"),
        ({"locale": "th", "text": "ขอคืนเงินค่ะ", "segment": "vip"}, "vip"),  # VIP first
        ({"channel": "line", "locale": None, "text": "hi"}, "thai"),
        ({"channel": "line", "locale": "zh", "text": "你好"}, "chinese"),
        ({"channel": "email", "locale": None, "text": "Hello"}, "general"),
        ({"channel": "voice", "locale": "th", "text": "สวัสดี"}, "phone"),
        ({"locale": "en", "text": "I want to file a chargeback"}, "billing"),
    ],
)
def test_the_shipped_rules_route(shipped: DeskPolicy, conversation: Any, team: str) -> None:
    assert team_of(shipped, **conversation) == team


def test_the_shipped_sla_policies(shipped: DeskPolicy) -> None:
    def targets(team: str | None, segment: str | None) -> tuple[timedelta, timedelta, timedelta]:
        policy = find_policy(shipped.sla, team, segment)
        assert policy is not None
        return policy.first_response, policy.next_response, policy.resolution

    minutes = [timedelta(minutes=n) for n in (2, 5, 240)]
    assert targets("vip", "vip") == tuple(minutes)
    assert targets("billing", None) == (
        timedelta(minutes=10),
        timedelta(minutes=30),
        timedelta(hours=48),
    )
    assert targets("persian", None)[0] == timedelta(minutes=20)
    assert targets("thai", None) == (
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(hours=24),
    )
    assert isinstance(shipped.calendar, WeeklyCalendar)


# ---- business hours through the loaded calendar ----------------------------------------------


def test_an_sla_is_not_due_while_the_desk_is_closed(shipped: DeskPolicy) -> None:
    catch_all = find_policy(shipped.sla, "thai", None)
    assert catch_all is not None
    # Saturday 13:55: five minutes of Saturday, Sunday closed, five minutes of Monday.
    due = due_at(catch_all, SlaTarget.FIRST_RESPONSE, bangkok("2026-03-07 13:55"), shipped.calendar)
    assert due == bangkok("2026-03-09 09:05")
    # Friday 16:00 with four hours for a VIP: two on Friday, two on Saturday morning.
    vip = find_policy(shipped.sla, "vip", "vip")
    assert vip is not None
    due = due_at(vip, SlaTarget.RESOLUTION, bangkok("2026-03-06 16:00"), shipped.calendar)
    assert due == bangkok("2026-03-07 12:00")
    # Saturday before Songkran: Sunday closed, then three holidays.
    due = due_at(catch_all, SlaTarget.FIRST_RESPONSE, bangkok("2026-04-11 13:58"), shipped.calendar)
    assert due == bangkok("2026-04-16 09:08")
    # The clock is read in Bangkok: 03:00 UTC on a Monday is 10:00 there.
    due = due_at(
        catch_all,
        SlaTarget.FIRST_RESPONSE,
        datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        shipped.calendar,
    )
    assert due == bangkok("2026-03-02 10:10")


WEEKDAYS_ONLY = {
    "sla": {
        "hours": "business",
        "business_hours": {
            "timezone": "Asia/Bangkok",
            "weekly": {
                **{day: "09:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri")},
                "sat": "closed",
                "sun": "closed",
            },
            "holidays": [date(2026, 3, 9)],
        },
        "at_risk_minutes": 10,
        "policies": [
            {"first_response_minutes": 30, "next_response_minutes": 60, "resolution_hours": 8}
        ],
    }
}


def test_business_hours_over_a_closed_weekend_and_a_holiday() -> None:
    policy = parse_workspace(WEEKDAYS_ONLY)
    [sla] = policy.sla
    friday = bangkok("2026-03-06 17:45")
    # 15 minutes on Friday; Saturday and Sunday closed; Monday the 9th a holiday.
    due = due_at(sla, SlaTarget.FIRST_RESPONSE, friday, policy.calendar)
    assert due == bangkok("2026-03-10 09:15")
    assert due_at(sla, SlaTarget.RESOLUTION, friday, policy.calendar) == bangkok("2026-03-10 16:45")
    # Sunday evening it is not yet at risk, in the last ten opening minutes it is.
    assert status(due, bangkok("2026-03-08 20:00"), policy.at_risk_within) is SlaStatus.OK
    assert status(due, bangkok("2026-03-10 09:06"), policy.at_risk_within) is SlaStatus.AT_RISK
    assert status(due, bangkok("2026-03-10 09:15"), policy.at_risk_within) is SlaStatus.BREACHED


def test_round_the_clock_is_the_default() -> None:
    policy = parse_workspace(
        {"sla": {"policies": [SMALL_SLA | {"resolution_minutes": 60}]}},
    )
    assert isinstance(policy.calendar, AlwaysOpen)
    saturday = bangkok("2026-03-07 23:50")
    assert due_at(policy.sla[0], SlaTarget.FIRST_RESPONSE, saturday, policy.calendar) == (
        saturday + timedelta(minutes=5)
    )


# ---- defaults ----------------------------------------------------------------------------------


def _fields(policy: DeskPolicy) -> dict[str, Any]:
    """Every field but the calendar (AlwaysOpen instances are not equal to each other)."""
    values = dataclasses.asdict(policy)
    del values["calendar"]
    return values


@pytest.mark.parametrize("data", [None, {}], ids=["empty-file", "empty-mapping"])
def test_nothing_given_is_the_defaults(data: Any) -> None:
    policy = parse_workspace(data)
    assert _fields(policy) == _fields(DeskPolicy())
    assert isinstance(policy.calendar, AlwaysOpen)
    assert policy.default_team is None and policy.dispositions == DEFAULT_DISPOSITIONS


@pytest.mark.parametrize("text", ["", "# nothing configured yet\n", "{}\n"])
def test_an_empty_file_is_the_defaults(tmp_path: Path, text: str) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text(text, encoding="utf-8")
    assert _fields(load_workspace(path)) == _fields(DeskPolicy())


def test_omitted_settings_take_their_defaults() -> None:
    policy = parse_workspace(
        {
            "teams": {"general": None, "thai": {"language_skills": True}},
            "sla": {"hours": "always"},
            "presence": {"on_disconnect": "keep"},
            "close": {"require_disposition": False},
            "csat": None,
        }
    )
    assert policy.default_team == "general"  # the first team
    assert policy.team("general") == TeamPolicy("general", AssignMode.AUTO, False)
    assert policy.team("thai").required_skills_from_locale
    assert policy.on_disconnect is OnDisconnect.KEEP
    assert policy.disconnect_grace == DeskPolicy().disconnect_grace
    assert policy.dispositions == DEFAULT_DISPOSITIONS and not policy.disposition_required
    assert policy.csat and policy.csat_window == timedelta(hours=24)
    assert policy.rules == () and policy.sla == ()


def test_numbers_may_have_fractions_and_some_may_be_zero() -> None:
    policy = parse_workspace(
        {
            "sla": {"at_risk_minutes": 0},
            "presence": {"disconnect_grace_seconds": 0},
            "close": {"reopen_window_hours": 0},
            "assignment": {"average_handle_minutes": 4.5, "sweep_seconds": 0.5},
            "vip_segments": [],
        }
    )
    assert policy.at_risk_within == policy.disconnect_grace == policy.reopen_window == timedelta()
    assert policy.average_handle == timedelta(minutes=4, seconds=30)
    assert policy.sweep_interval == timedelta(milliseconds=500)
    assert policy.vip_segments == frozenset()


# ---- mistakes: one line naming the place -----------------------------------------------------

SMALL: dict[str, Any] = {
    "default_team": "general",
    "teams": {
        "general": {"assignment": "auto"},
        "thai": {"assignment": "auto", "language_skills": True},
        "billing": {"assignment": "manual"},
    },
    "rules": [
        {"team": "billing", "keywords": ["refund", "คืนเงิน"], "channels": ["email", "line"]},
        {"team": "thai", "locales": ["th"]},
    ],
    "vip_segments": ["vip"],
    "sla": {
        "hours": "business",
        "business_hours": copy.deepcopy(WEEKDAYS_ONLY["sla"]["business_hours"]),
        "at_risk_minutes": 5,
        "policies": [
            {"segment": "vip", **SMALL_SLA, "resolution_minutes": 240},
            {"team": "billing", **SMALL_SLA, "resolution_hours": 48},
            {**SMALL_SLA, "resolution_hours": 24},
        ],
    },
    "presence": {"disconnect_grace_seconds": 60, "on_disconnect": "requeue"},
    "close": {
        "dispositions": ["resolved", "spam"],
        "require_disposition": True,
        "reopen_window_hours": 24,
    },
    "csat": {"enabled": True, "window_hours": 24},
    "assignment": {"average_handle_minutes": 6, "sweep_seconds": 5},
}
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


def _each(*changes: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        for one in changes:
            one(data)

    return change


def error_of(data: Any) -> str:
    with pytest.raises(WorkspaceError) as caught:
        parse_workspace(data)
    return str(caught.value)


def test_the_small_workspace_is_valid() -> None:
    policy = parse_workspace(copy.deepcopy(SMALL))
    assert policy.team_names() == ("general", "thai", "billing")
    assert not policy.auto("billing")
    assert policy.rules[0].channels == {"email", "line"}
    assert [p.team for p in policy.sla] == [None, "billing", None]


MISTAKES = [
    (
        "string-minutes",
        _set("sla.policies.1.first_response_minutes", "5"),
        "workspace.yaml: sla.policies.1.first_response_minutes: must be a positive number",
    ),
    (
        "zero-minutes",
        _set("sla.policies.2.next_response_minutes", 0),
        "workspace.yaml: sla.policies.2.next_response_minutes: must be a positive number",
    ),
    (
        "negative-hours",
        _set("sla.policies.3.resolution_hours", -1),
        "workspace.yaml: sla.policies.3.resolution_hours: must be a positive number",
    ),
    (
        "boolean-minutes",
        _set("sla.policies.1.first_response_minutes", True),
        "workspace.yaml: sla.policies.1.first_response_minutes: must be a positive number",
    ),
    (
        "infinite-minutes",
        _set("assignment.average_handle_minutes", float("inf")),
        "workspace.yaml: assignment.average_handle_minutes: must be a positive number",
    ),
    (
        "huge-hours",
        _set("csat.window_hours", 1e300),
        "workspace.yaml: csat.window_hours: is too large",
    ),
    (
        "negative-at-risk",
        _set("sla.at_risk_minutes", -5),
        "workspace.yaml: sla.at_risk_minutes: must be zero or a positive number",
    ),
    (
        "zero-csat-window",
        _set("csat.window_hours", 0),
        "workspace.yaml: csat.window_hours: must be a positive number",
    ),
    (
        "text-sweep",
        _set("assignment.sweep_seconds", "5s"),
        "workspace.yaml: assignment.sweep_seconds: must be a positive number",
    ),
    (
        "negative-grace",
        _set("presence.disconnect_grace_seconds", -1),
        "workspace.yaml: presence.disconnect_grace_seconds: must be zero or a positive number",
    ),
    (
        "unknown-top-key",
        _set("team", "general"),
        "workspace.yaml: team: unknown key (known: default_team, teams, rules, vip_segments, sla,",
    ),
    (
        "unknown-team-key",
        _set("teams.thai.skills", ["lang:th"]),
        "workspace.yaml: teams.thai.skills: unknown key (known: assignment, language_skills, "
        "channel_skills)",
    ),
    (
        "unknown-section-key",
        _set("csat.window_minutes", 30),
        "workspace.yaml: csat.window_minutes: unknown key (known: enabled, window_hours)",
    ),
    (
        "bad-assignment",
        _set("teams.thai.assignment", "round_robin"),
        "workspace.yaml: teams.thai.assignment: must be one of: auto, manual",
    ),
    (
        "unquoted-no-as-assignment",
        _set("teams.thai.assignment", False),
        "workspace.yaml: teams.thai.assignment: must be one of: auto, manual (quote it: YAML reads",
    ),
    (
        "text-language-skills",
        _set("teams.thai.language_skills", "yes"),
        "workspace.yaml: teams.thai.language_skills: must be true or false",
    ),
    (
        "bad-team-name",
        _set("teams.Thai Team", {}),
        "workspace.yaml: teams.Thai Team: a team name must be lowercase letters, digits, _ or -",
    ),
    (
        "boolean-team-name",
        _set("teams", {True: {}}),
        "workspace.yaml: teams.True: keys must be text (quote it: YAML reads yes/no/on/off",
    ),
    (
        "teams-as-list",
        _set("teams", ["general", "thai"]),
        "workspace.yaml: teams: must be a mapping of key: value",
    ),
    (
        "undefined-default-team",
        _set("default_team", "sales"),
        "workspace.yaml: default_team: no team named 'sales' (teams: general, thai, billing)",
    ),
    (
        "default-team-without-teams",
        _each(_set("teams", _DELETE), _set("rules", _DELETE), _set("sla.policies", [])),
        "workspace.yaml: default_team: no team named 'general' (no teams are defined)",
    ),
    (
        "undefined-rule-team",
        _set("rules.2.team", "thai_team"),
        "workspace.yaml: rules.2.team: no team named 'thai_team' (teams: general, thai, billing)",
    ),
    (
        "rule-without-team",
        _set("rules.2.team", _DELETE),
        "workspace.yaml: rules.2: missing team",
    ),
    (
        "rule-without-conditions",
        _set("rules.2", {"team": "thai"}),
        "workspace.yaml: rules.2: needs at least one of channels, locales, keywords, segments",
    ),
    (
        "unknown-rule-key",
        _set("rules.1.keyword", ["refund"]),
        "workspace.yaml: rules.1.keyword: unknown key (known: team, channels, locales,",
    ),
    (
        "unknown-channel",
        _set("rules.1.channels", ["email", "fax"]),
        "workspace.yaml: rules.1.channels.2: unknown channel 'fax'",
    ),
    (
        "channels-not-a-list",
        _set("rules.1.channels", "email"),
        "workspace.yaml: rules.1.channels: must be a list, like [a, b]",
    ),
    (
        "empty-keywords",
        _set("rules.1.keywords", []),
        "workspace.yaml: rules.1.keywords: list at least one, or leave the key out",
    ),
    (
        "unquoted-no-keyword",
        _set("rules.1.keywords", ["refund", False]),
        "workspace.yaml: rules.1.keywords.2: must be text (quote it: YAML reads yes/no/on/off",
    ),
    (
        "number-keyword",
        _set("rules.1.keywords", [404]),
        "workspace.yaml: rules.1.keywords.1: must be non-empty text",
    ),
    (
        "bad-locale",
        _set("rules.2.locales", ["thai"]),
        "workspace.yaml: rules.2.locales.1: 'thai' is not a locale",
    ),
    (
        "bad-segment",
        _set("rules.2.segments", ["Gold Members"]),
        "workspace.yaml: rules.2.segments.1: 'Gold Members' is not a segment name",
    ),
    (
        "vip-segments-not-a-list",
        _set("vip_segments", "vip"),
        "workspace.yaml: vip_segments: must be a list, like [a, b]",
    ),
    (
        "undefined-sla-team",
        _set("sla.policies.2.team", "payments"),
        "workspace.yaml: sla.policies.2.team: no team named 'payments'",
    ),
    (
        "duplicate-sla",
        _set("sla.policies.3.team", "billing"),
        "workspace.yaml: sla.policies.3: same team and segment as sla.policies.2 "
        "(team billing, segment any)",
    ),
    (
        "duplicate-catch-all",
        _set("sla.policies.1.segment", None),
        "workspace.yaml: sla.policies.3: same team and segment as sla.policies.1 "
        "(team any, segment any)",
    ),
    (
        "both-resolutions",
        _set("sla.policies.1.resolution_hours", 4),
        "workspace.yaml: sla.policies.1: has both resolution_minutes and resolution_hours",
    ),
    (
        "no-resolution",
        _set("sla.policies.3.resolution_hours", _DELETE),
        "workspace.yaml: sla.policies.3: missing resolution_minutes (or resolution_hours)",
    ),
    (
        "no-first-response",
        _set("sla.policies.2.first_response_minutes", _DELETE),
        "workspace.yaml: sla.policies.2: missing first_response_minutes",
    ),
    (
        "resolution-before-first-response",
        _set("sla.policies.1.resolution_minutes", 1),
        "workspace.yaml: sla.policies.1.resolution_minutes: must not be shorter than",
    ),
    (
        "policies-not-a-list",
        _set("sla.policies", {"vip": SMALL_SLA}),
        "workspace.yaml: sla.policies: must be a list of policies",
    ),
    (
        "business-without-hours",
        _set("sla.business_hours", _DELETE),
        "workspace.yaml: sla: missing business_hours",
    ),
    (
        "hours-unused",
        _set("sla.hours", "always"),
        "workspace.yaml: sla.business_hours: only used with hours: business",
    ),
    (
        "bad-hours-kind",
        _set("sla.hours", "weekdays"),
        "workspace.yaml: sla.hours: must be one of: always, business",
    ),
    (
        "bad-timezone",
        _set("sla.business_hours.timezone", "Asia/Bangkog"),
        "workspace.yaml: sla.business_hours.timezone: unknown time zone 'Asia/Bangkog'",
    ),
    (
        "missing-day",
        _set("sla.business_hours.weekly.sun", _DELETE),
        "workspace.yaml: sla.business_hours.weekly: missing sun (write 'closed' for a closed day)",
    ),
    (
        "bad-range",
        _set("sla.business_hours.weekly.mon", "9-18"),
        "workspace.yaml: sla.business_hours.weekly.mon: '9-18' is not HH:MM-HH:MM",
    ),
    (
        "never-open",
        _set(
            "sla.business_hours.weekly",
            dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "closed"),
        ),
        "workspace.yaml: sla.business_hours.weekly: open on at least one day",
    ),
    (
        "bad-holiday",
        _set("sla.business_hours.holidays", ["2026-12-31", "2026-02-30"]),
        "workspace.yaml: sla.business_hours.holidays.2: '2026-02-30' is not a date (write",
    ),
    (
        "bad-on-disconnect",
        _set("presence.on_disconnect", "drop"),
        "workspace.yaml: presence.on_disconnect: must be one of: requeue, keep",
    ),
    (
        "no-dispositions",
        _set("close.dispositions", []),
        "workspace.yaml: close.dispositions: list at least one",
    ),
    (
        "bad-disposition",
        _set("close.dispositions", ["resolved", "No Response"]),
        "workspace.yaml: close.dispositions.2: 'No Response' is not a short slug",
    ),
    (
        "long-disposition",
        _set("close.dispositions", ["x" * 65]),
        "workspace.yaml: close.dispositions.1: 'xxxx",
    ),
    (
        "duplicate-disposition",
        _set("close.dispositions", ["resolved", "spam", "resolved"]),
        "workspace.yaml: close.dispositions.3: 'resolved' is already listed (close.dispositions.1)",
    ),
    (
        "text-require-disposition",
        _set("close.require_disposition", "yes"),
        "workspace.yaml: close.require_disposition: must be true or false",
    ),
    (
        "csat-as-boolean",
        _set("csat", False),
        "workspace.yaml: csat: must be a mapping of key: value",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_a_mistake_names_the_place_in_one_line(change: Any, expected: str) -> None:
    data = copy.deepcopy(SMALL)
    change(data)
    message = error_of(data)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_the_top_level_must_be_a_mapping() -> None:
    assert error_of(["teams"]) == "workspace.yaml: top level: must be a mapping of key: value"
    assert error_of({1: "x"}).startswith("workspace.yaml: 1: keys must be text")


def test_the_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^desk\.yaml: csat\.enabled: must be true or false$"):
        parse_workspace({"csat": {"enabled": "no"}}, source="desk.yaml")


# ---- the file ----------------------------------------------------------------------------------


def test_a_file_mistake_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text(
        SHIPPED.read_text(encoding="utf-8").replace(
            "first_response_minutes: 2", "first_response_minutes: two"
        ),
        encoding="utf-8",
    )
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(path)
    assert str(caught.value) == (
        "desk.yaml: sla.policies.1.first_response_minutes: must be a positive number"
    )


def test_an_unquoted_no_in_the_file_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text("close:\n  dispositions: [resolved, no]\n", encoding="utf-8")
    with pytest.raises(
        WorkspaceError, match=r"^workspace\.yaml: close\.dispositions\.2: must be text \(quote it"
    ):
        load_workspace(path)


def test_a_team_defined_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text(
        "teams:\n  general: {}\n  thai: {assignment: auto}\n  thai: {assignment: manual}\n",
        encoding="utf-8",
    )
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(path)
    assert str(caught.value) == "workspace.yaml: teams.thai: defined twice (lines 3 and 4)"
    path.write_text("sla:\n  policies:\n    - {team: a, team: b}\n", encoding="utf-8")
    with pytest.raises(
        WorkspaceError, match=r"^workspace\.yaml: sla\.policies\.1\.team: defined twice \(line 3\)$"
    ):
        load_workspace(path)


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text(
        "teams:\n"
        "  general: &auto {assignment: auto, language_skills: true}\n"
        "  thai: *auto\n"
        "  vip: {<<: *auto, assignment: manual}\n",
        encoding="utf-8",
    )
    policy = load_workspace(path)
    assert policy.team("thai").required_skills_from_locale
    assert policy.team("vip") == TeamPolicy("vip", AssignMode.MANUAL, True)


def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "workspace.yaml"
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(missing)
    assert str(caught.value) == f"{missing}: cannot read: No such file or directory"
    with pytest.raises(WorkspaceError, match="cannot read"):
        load_workspace(tmp_path)  # a directory
    path = tmp_path / "workspace.yaml"
    path.write_text("teams: {general: [\n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match=r"^workspace\.yaml: line \d+: not valid YAML \("):
        load_workspace(path)
    path.write_bytes("csat: {enabled: true}  # ทดสอบ\n".encode("tis-620"))
    with pytest.raises(WorkspaceError, match=r"^workspace\.yaml: not UTF-8 text$"):
        load_workspace(path)


def test_a_rule_can_ask_for_skills_and_a_team_for_channel_skills(shipped: DeskPolicy) -> None:
    dispute = next(r for r in shipped.rules if "chargeback" in r.keywords)
    assert dispute.team == "billing" and dispute.skills == {"product:cards"}
    policy = parse_workspace(
        {
            "teams": {"calls": {"channel_skills": True}},
            "rules": [{"team": "calls", "channels": ["voice"], "skills": ["product:cards"]}],
        }
    )
    assert policy.rules[0].skills == {"product:cards"}
    assert policy.team("calls").channel_skills
    with pytest.raises(WorkspaceError, match=r"rules\.1\.skills\.1: 'Cards!' is not a skill name"):
        parse_workspace(
            {
                "teams": {"a": {}},
                "rules": [{"team": "a", "channels": ["sms"], "skills": ["Cards!"]}],
            }
        )
    with pytest.raises(WorkspaceError, match=r"rules\.1: needs at least one of channels"):
        parse_workspace({"teams": {"a": {}}, "rules": [{"team": "a", "skills": ["x"]}]})
