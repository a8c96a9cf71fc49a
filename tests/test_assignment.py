"""Routing policy: team rules, priority, skills, capacity, fairness, SLA in business hours."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.hours import BusinessHours, parse_ranges
from routing.assignment import (
    AgentState,
    Assignment,
    AssignMode,
    ChannelKind,
    Presence,
    TeamPolicy,
    TeamRule,
    Waiting,
    assign,
    estimated_wait,
    kind_of,
    order,
    route,
    skills_needed,
    take,
)
from routing.sla import (
    AlwaysOpen,
    SlaPolicy,
    SlaStatus,
    SlaTarget,
    WeeklyCalendar,
    due_at,
    find_policy,
    status,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BANGKOK = ZoneInfo("Asia/Bangkok")
CHAT, CALL, MESSAGE = ChannelKind.CHAT, ChannelKind.CALL, ChannelKind.MESSAGE
SUPPORT = (TeamPolicy("support"),)


def agent(agent_id: int, **kw: Any) -> AgentState:
    fields: dict[str, Any] = {
        "teams": frozenset({"support"}),
        "skills": frozenset({"lang:en"}),
        "presence": Presence.ONLINE,
    }
    fields.update(kw)
    return AgentState(agent_id=agent_id, **fields)


def waiting(conversation_id: int, minutes_ago: int = 0, **kw: Any) -> Waiting:
    fields: dict[str, Any] = {"channel": "webchat", "locale": "en", "team": "support"}
    fields.update(kw)
    queued_at = NOW - timedelta(minutes=minutes_ago)
    return Waiting(conversation_id=conversation_id, queued_at=queued_at, **fields)


def pairs(assignments: list[Assignment]) -> list[tuple[int, int]]:
    return [(a.conversation_id, a.agent_id) for a in assignments]


def load(**kinds: int) -> MappingProxyType[ChannelKind, int]:
    return MappingProxyType({ChannelKind(k): n for k, n in kinds.items()})


# --- channel kinds ----------------------------------------------------------------------------


def test_channel_kinds() -> None:
    assert {kind_of(c) for c in ("webchat", "telegram", "whatsapp", "messenger", "line")} == {CHAT}
    assert kind_of("sms") is kind_of("email") is MESSAGE
    assert kind_of("voice") is CALL
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        kind_of("fax")
    with pytest.raises(ValueError, match="unknown channel"):
        waiting(1, channel="fax")


# --- fairness ---------------------------------------------------------------------------------


def test_least_busy_agent_wins() -> None:
    agents = [agent(1, load=load(chat=2)), agent(2, load=load(chat=1)), agent(3, load=load(chat=2))]
    assert pairs(assign([waiting(10)], agents, SUPPORT, NOW)) == [(10, 2)]


def test_busy_counts_every_kind_then_this_kind() -> None:
    on_call = agent(1, load=load(call=1))  # 1/1 of calls: fuller than 2/3 of chats
    chatting = agent(2, load=load(chat=2))
    assert pairs(assign([waiting(10)], [on_call, chatting], SUPPORT, NOW)) == [(10, 2)]
    # Equally busy overall (1/5 + 0 vs 0 + 1/5): the one with fewer chats takes the chat.
    emailing = agent(3, load=load(message=1), capacity=load(chat=5, message=5))
    chat = agent(4, load=load(chat=1), capacity=load(chat=5, message=5))
    assert pairs(assign([waiting(10)], [chat, emailing], SUPPORT, NOW)) == [(10, 3)]


def test_longest_idle_breaks_ties_never_assigned_first_then_lowest_id() -> None:
    agents = [
        agent(1, last_assigned_at=NOW - timedelta(minutes=5)),
        agent(2, last_assigned_at=NOW - timedelta(minutes=30)),
        agent(3, last_assigned_at=NOW - timedelta(minutes=1)),
    ]
    assert pairs(assign([waiting(10)], agents, SUPPORT, NOW)) == [(10, 2)]
    fresh = [agent(5), agent(4), *agents]
    assert pairs(assign([waiting(10)], fresh, SUPPORT, NOW)) == [(10, 4)]


def test_one_pass_spreads_work_and_tracks_load() -> None:
    agents = [agent(1), agent(2)]
    queue = [waiting(i, minutes_ago=20 - i) for i in range(10, 16)]
    result = pairs(assign(queue, agents, SUPPORT, NOW))
    assert result == [(10, 1), (11, 2), (12, 1), (13, 2), (14, 1), (15, 2)]
    assert len(assign([*queue, waiting(16)], agents, SUPPORT, NOW)) == 6  # 2 agents x 3 chats


def test_round_robin_emerges_over_passes() -> None:
    agents = {i: agent(i) for i in (1, 2, 3)}
    now, winners = NOW, []
    for conversation_id in range(10, 16):
        now += timedelta(minutes=1)
        [a] = assign([waiting(conversation_id)], list(agents.values()), SUPPORT, now)
        winners.append(a.agent_id)
        # Answered and closed before the next one arrives: the load is back to zero.
        agents[a.agent_id] = replace(agents[a.agent_id], last_assigned_at=now)
    assert winners == [1, 2, 3, 1, 2, 3]


def test_take_records_load_and_time_without_changing_the_original() -> None:
    before = agent(1, load=load(chat=1))
    after = take(before, CALL, NOW)
    assert dict(after.load) == {CHAT: 1, CALL: 1} and after.last_assigned_at == NOW
    assert dict(before.load) == {CHAT: 1} and before.last_assigned_at is None
    assert after.spare(CALL) == 0 and after.spare(CHAT) == 2


def test_conversation_is_never_assigned_twice() -> None:
    queue = [waiting(10), waiting(10), waiting(11)]
    result = pairs(assign(queue, [agent(1), agent(2)], SUPPORT, NOW))
    assert [c for c, _ in result] == [10, 11]


def test_agent_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="agent 1 listed twice"):
        assign([waiting(10)], [agent(1), agent(1)], SUPPORT, NOW)


# --- skills -----------------------------------------------------------------------------------


def test_thai_conversation_goes_to_a_thai_speaker() -> None:
    agents = [agent(1), agent(2, skills=frozenset({"lang:th", "lang:en"}))]
    assert pairs(assign([waiting(10, locale="th-TH")], agents, SUPPORT, NOW)) == [(10, 2)]


def test_missing_skill_stays_queued_without_blocking_the_next() -> None:
    queue = [waiting(10, minutes_ago=9, locale="th"), waiting(11, minutes_ago=1)]
    assert pairs(assign(queue, [agent(1)], SUPPORT, NOW)) == [(11, 1)]


def test_required_skills_and_locale_skills_can_be_turned_off() -> None:
    billing = waiting(10, locale="th", required_skills=frozenset({"product:billing"}))
    agents = [agent(1), agent(2, skills=frozenset({"product:billing"}))]
    assert assign([billing], agents, SUPPORT, NOW) == []
    relaxed = (TeamPolicy("support", required_skills_from_locale=False),)
    assert pairs(assign([billing], agents, relaxed, NOW)) == [(10, 2)]


# --- capacity and presence --------------------------------------------------------------------


def test_capacity_per_channel_kind() -> None:
    one = [agent(1)]  # default capacity: 3 chats, 5 messages, 1 call
    chats = [waiting(i, minutes_ago=20 - i) for i in range(10, 14)]
    calls = [waiting(i, minutes_ago=20 - i, channel="voice") for i in range(14, 16)]
    result = pairs(assign([*chats, *calls], one, SUPPORT, NOW))
    assert result == [(10, 1), (11, 1), (12, 1), (14, 1)]


def test_agent_on_a_call_still_takes_chats_but_no_second_call() -> None:
    on_call = [agent(1, load=load(call=1))]
    queue = [waiting(10, channel="voice", minutes_ago=5), waiting(11, channel="line")]
    assert pairs(assign(queue, on_call, SUPPORT, NOW)) == [(11, 1)]


def test_kind_without_capacity_is_never_assigned() -> None:
    chat_only = [agent(1, capacity=load(chat=3))]
    assert assign([waiting(10, channel="email")], chat_only, SUPPORT, NOW) == []


@pytest.mark.parametrize("presence", [Presence.AWAY, Presence.OFFLINE])
def test_away_and_offline_agents_get_no_work(presence: Presence) -> None:
    assert assign([waiting(10)], [agent(1, presence=presence)], SUPPORT, NOW) == []
    both = [agent(1, presence=presence), agent(2, last_assigned_at=NOW)]
    assert pairs(assign([waiting(10)], both, SUPPORT, NOW)) == [(10, 2)]


def test_backlog_drains_when_agents_come_online() -> None:
    queue = [waiting(i, minutes_ago=60 - i) for i in range(10, 14)]
    assert assign(queue, [agent(1, presence=Presence.AWAY)], SUPPORT, NOW) == []
    back = pairs(assign(queue, [agent(1), agent(2)], SUPPORT, NOW))
    assert [c for c, _ in back] == [10, 11, 12, 13]


# --- teams and modes --------------------------------------------------------------------------


def test_manual_team_is_never_auto_assigned() -> None:
    policies = (TeamPolicy("vip-desk", mode=AssignMode.MANUAL), *SUPPORT)
    queue = [waiting(10, minutes_ago=9, team="vip-desk"), waiting(11)]
    agents = [agent(1, teams=frozenset({"support", "vip-desk"}))]
    assert pairs(assign(queue, agents, policies, NOW)) == [(11, 1)]


def test_agents_only_take_their_teams_work_and_unrouted_work_goes_to_anyone() -> None:
    sales = [agent(1, teams=frozenset({"sales"}))]
    assert assign([waiting(10)], sales, SUPPORT, NOW) == []
    assert pairs(assign([waiting(10, team=None)], sales, SUPPORT, NOW)) == [(10, 1)]
    assert pairs(assign([waiting(10, team="sales")], sales, (), NOW)) == [(10, 1)]


RULES = (
    TeamRule("voice-desk", channels=frozenset({"voice"})),
    TeamRule("vip", segments=frozenset({"vip"})),
    TeamRule("billing", keywords=("ใบแจ้งหนี้", "invoice", "账单", "فاکتور")),
    TeamRule("thai", locales=frozenset({"th"})),
    TeamRule("pt-br", locales=frozenset({"pt-BR"})),
)


@pytest.mark.parametrize(
    ("fields", "team"),
    [
        ({"channel": "voice", "segment": "vip"}, "voice-desk"),
        ({"segment": "vip", "text": "invoice"}, "vip"),
        ({"locale": "th", "text": "ขอใบแจ้งหนี้เดือนนี้ค่ะ"}, "billing"),  # no spaces
        ({"text": "Where is my INVOICE?"}, "billing"),
        ({"locale": "zh-CN", "text": "我的账单有问题"}, "billing"),
        ({"locale": "fa", "text": "فاكتور من کجاست"}, "billing"),  # Arabic kaf, Persian keheh
        ({"text": "ＩＮＶＯＩＣＥ please"}, "billing"),  # full-width
        ({"locale": "th_TH", "text": "สวัสดีครับ"}, "thai"),
        ({"locale": "pt-br"}, "pt-br"),
        ({"locale": "pt-PT"}, "general"),
        ({"locale": None, "text": "hello"}, "general"),
    ],
)
def test_route_first_matching_rule_wins(fields: dict[str, Any], team: str) -> None:
    assert route(waiting(10, team=None, **fields), RULES, "general") == team


def test_rule_conditions_all_apply() -> None:
    rule = TeamRule("thai-line", channels=frozenset({"line"}), locales=frozenset({"th"}))
    assert route(waiting(1, channel="line", locale="th"), [rule], "general") == "thai-line"
    assert route(waiting(1, channel="webchat", locale="th"), [rule], "general") == "general"
    assert route(waiting(1, channel="line", locale="en"), [rule], "general") == "general"


# --- priority ---------------------------------------------------------------------------------


def test_vip_beats_an_older_regular() -> None:
    queue = [waiting(10, minutes_ago=30), waiting(11, minutes_ago=1, segment="vip")]
    assert [w.conversation_id for w in order(queue, NOW)] == [11, 10]
    assert pairs(assign(queue, [agent(1, capacity=load(chat=1))], SUPPORT, NOW)) == [(11, 1)]


def test_sla_at_risk_beats_plain_and_earliest_due_first() -> None:
    plain = waiting(10, minutes_ago=30)
    due_soon = waiting(11, minutes_ago=1, sla_due_at=NOW + timedelta(minutes=4))
    breached = waiting(12, minutes_ago=2, sla_due_at=NOW - timedelta(minutes=1))
    far = waiting(13, minutes_ago=3, sla_due_at=NOW + timedelta(hours=2))
    vip = waiting(14, minutes_ago=0, segment="vip")
    got = order([plain, due_soon, breached, far, vip], NOW)
    assert [w.conversation_id for w in got] == [14, 12, 11, 10, 13]
    wider = order([plain, far], NOW, at_risk_within=timedelta(hours=3))
    assert [w.conversation_id for w in wider] == [13, 10]


def test_oldest_first_otherwise() -> None:
    queue = [waiting(10, minutes_ago=1), waiting(11, minutes_ago=9), waiting(12, minutes_ago=5)]
    assert [w.conversation_id for w in order(queue, NOW)] == [11, 12, 10]
    assert pairs(assign(queue, [agent(1, capacity=load(chat=2))], SUPPORT, NOW)) == [
        (11, 1),
        (12, 1),
    ]


# --- SLA --------------------------------------------------------------------------------------

WEEKDAYS = parse_ranges("09:00-18:00")
OFFICE = BusinessHours(
    zone=BANGKOK,
    weekly=(WEEKDAYS,) * 5 + ((), ()),
    holidays=frozenset({date(2026, 3, 9)}),  # a Monday
)
POLICY = SlaPolicy(
    "support",
    None,
    first_response=timedelta(hours=1),
    next_response=timedelta(hours=4),
    resolution=timedelta(hours=18),
)


def bkk(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BANGKOK)


def test_friday_evening_question_is_due_monday_morning() -> None:
    calendar = WeeklyCalendar(OFFICE)  # ivr's BusinessHours is the shape routing reads
    friday = bkk(1, 9, 17, 30)
    assert due_at(POLICY, SlaTarget.FIRST_RESPONSE, friday, calendar) == bkk(1, 12, 9, 30)
    # Start given in UTC, answer in the calendar's zone; the same instant either way.
    due = due_at(POLICY, SlaTarget.FIRST_RESPONSE, friday.astimezone(UTC), calendar)
    assert due == bkk(1, 12, 9, 30)
    assert due.tzinfo == BANGKOK


def test_holidays_are_skipped() -> None:
    friday = bkk(3, 6, 17, 30)  # Monday 9 March is a holiday
    calendar = WeeklyCalendar(OFFICE)
    assert due_at(POLICY, SlaTarget.FIRST_RESPONSE, friday, calendar) == bkk(3, 10, 9, 30)
    assert due_at(POLICY, SlaTarget.RESOLUTION, friday, calendar) == bkk(3, 11, 17, 30)


def test_business_time_before_opening_within_and_between() -> None:
    calendar = WeeklyCalendar(OFFICE)
    assert due_at(POLICY, SlaTarget.NEXT_RESPONSE, bkk(1, 5, 7), calendar) == bkk(1, 5, 13)
    assert due_at(POLICY, SlaTarget.NEXT_RESPONSE, bkk(1, 5, 10), calendar) == bkk(1, 5, 14)
    assert calendar.is_open(bkk(1, 9, 17, 59)) and not calendar.is_open(bkk(1, 9, 18))
    assert not calendar.is_open(bkk(1, 10, 12)) and not calendar.is_open(bkk(3, 9, 12))
    between = calendar.business_time_between(bkk(1, 9, 17, 30), bkk(1, 12, 9, 30))
    assert between == timedelta(hours=1)
    assert calendar.business_time_between(bkk(1, 12, 9), bkk(1, 9, 9)) == timedelta()


def test_split_shifts_and_midnight_and_always_open() -> None:
    split = BusinessHours(zone=BANGKOK, weekly=(parse_ranges("09:00-12:00, 13:00-24:00"),) * 7)
    calendar = WeeklyCalendar(split)
    assert calendar.add_business_time(bkk(1, 5, 11, 30), timedelta(hours=1)) == bkk(1, 5, 13, 30)
    assert calendar.add_business_time(bkk(1, 5, 23, 30), timedelta(hours=1)) == bkk(1, 6, 9, 30)
    start = bkk(1, 9, 17, 30)
    assert due_at(POLICY, SlaTarget.FIRST_RESPONSE, start, AlwaysOpen()) == bkk(1, 9, 18, 30)


def test_calendar_refuses_what_it_cannot_count() -> None:
    never = WeeklyCalendar(BusinessHours(zone=BANGKOK, weekly=((),) * 7))
    with pytest.raises(ValueError, match="do not open"):
        never.add_business_time(bkk(1, 5, 9), timedelta(minutes=1))
    with pytest.raises(ValueError, match="aware"):
        WeeklyCalendar(OFFICE).add_business_time(datetime(2026, 1, 5, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        WeeklyCalendar(OFFICE).add_business_time(bkk(1, 5, 9), timedelta(hours=-1))


def test_status_ok_at_risk_breached() -> None:
    due, window = NOW + timedelta(minutes=10), timedelta(minutes=5)
    assert status(due, NOW, window) is SlaStatus.OK
    assert status(due, NOW + timedelta(minutes=5), window) is SlaStatus.AT_RISK
    assert status(due, due, window) is SlaStatus.BREACHED
    assert status(due.astimezone(BANGKOK), NOW + timedelta(minutes=11), window) == "breached"
    assert status(None, NOW, window) is SlaStatus.OK


def test_most_specific_sla_policy_applies() -> None:
    vip = SlaPolicy("support", "vip", *(timedelta(minutes=m) for m in (5, 15, 60)))
    anyone = SlaPolicy(None, None, *(timedelta(hours=h) for h in (8, 8, 72)))
    policies = [anyone, POLICY, vip]
    assert find_policy(policies, "support", "vip") is vip
    assert find_policy(policies, "support", None) is POLICY
    assert find_policy(policies, "sales", "vip") is anyone
    assert find_policy([POLICY], "sales", None) is None


# --- estimated wait ---------------------------------------------------------------------------


def test_estimated_wait() -> None:
    handle = timedelta(minutes=6)
    assert estimated_wait(0, 2, handle) == timedelta()
    assert estimated_wait(4, 2, handle) == timedelta(minutes=12)
    assert estimated_wait(1, 3, handle) == timedelta(minutes=2)
    assert estimated_wait(3, 0, handle) is None
    with pytest.raises(ValueError, match="negative"):
        estimated_wait(-1, 2, handle)


def test_skills_needed_adds_the_rules_skills_the_language_and_the_channel() -> None:
    waiting = Waiting(
        conversation_id=1,
        channel="voice",
        locale="th-TH",
        queued_at=datetime(2026, 1, 5, tzinfo=UTC),
        required_skills=frozenset({"product:cards"}),
    )
    plain = TeamPolicy("billing", required_skills_from_locale=False)
    both = TeamPolicy("billing", required_skills_from_locale=True, channel_skills=True)

    assert skills_needed(waiting, plain) == {"product:cards"}
    assert skills_needed(waiting, both) == {"product:cards", "lang:th", "channel:voice"}
