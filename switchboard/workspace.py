"""Reading ``config/workspace.yaml``: how the agent workspace is run (teams, routing rules, SLAs,
presence, close and survey), validated once at start-up into a frozen
:class:`routing.policy.DeskPolicy`.

A mistake is one line naming the file and the place at fault, e.g.
``workspace.yaml: sla.policies.1.first_response_minutes: must be a positive number``. List
entries are counted from 1, as a support manager would count them. Every section is optional:
an empty file gives the defaults of ``DeskPolicy``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml

from channels.errors import SwitchboardError
from ivr.hours import WEEKDAYS, BusinessHours, parse_holidays, parse_ranges, parse_zone
from routing.assignment import AssignMode, TeamPolicy, TeamRule, kind_of
from routing.policy import DeskPolicy, OnDisconnect
from routing.segment_rules import MAX_WINDOW_DAYS, RuleError, parse_group
from routing.segments import LifecyclePolicy, SegmentPolicy, SegmentRule
from routing.sla import AlwaysOpen, BusinessClock, SlaPolicy, WeeklyCalendar

__all__ = ["DeskPolicy", "WorkspaceError", "load_workspace", "parse_workspace"]

_TOP = (
    "default_team",
    "teams",
    "rules",
    "vip_segments",
    "sla",
    "presence",
    "close",
    "csat",
    "assignment",
    "segments",
)
_RULE_CONDITIONS = ("channels", "locales", "keywords", "segments")
_HOURS_ALWAYS = "always"
_HOURS_BUSINESS = "business"
_YAML_HINT = "quote it: YAML reads yes/no/on/off as true/false"
# Column sizes in storage.models: conversations.team 64, customers.segment 32, disposition 64.
_TEAM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SKILL = re.compile(r"[a-z0-9_][a-z0-9_:.-]{0,63}")
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_SEGMENT_KEYS = ("rules", "value_attribute", "lifecycle", "interval_minutes")
_LIFECYCLE_KEYS = (
    "new_days",
    "at_risk_days",
    "lapsed_days",
    "low_csat",
    "escalations",
    "escalation_days",
    "negative_messages",
)
_DISPOSITION = re.compile(r"[a-z0-9_]{1,64}")
_LOCALE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
_LOCALE_MAX = 16  # conversations.locale

_E = TypeVar("_E", AssignMode, OnDisconnect)
_Read = Callable[[Any, str], str]  # a value and where it is → the checked text


class WorkspaceError(SwitchboardError, ValueError):
    """The workspace file is wrong; the message names the file and the place in one line."""


class _Invalid(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def load_workspace(path: str | Path) -> DeskPolicy:
    """Read and validate a workspace file; raises WorkspaceError naming the file and the place."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WorkspaceError(f"{path.name}: not UTF-8 text") from None
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise WorkspaceError(f"{path.name}: {line}not valid YAML ({problem})") from None
    except _Invalid as exc:
        raise WorkspaceError(f"{path.name}: {exc.where}: {exc.problem}") from None
    return parse_workspace(data, source=path.name)


def parse_workspace(data: Any, source: str = "workspace.yaml") -> DeskPolicy:
    """Validate a workspace given as plain data (what YAML gives); None means an empty file."""
    try:
        return _read_workspace(data)
    except _Invalid as exc:
        raise WorkspaceError(f"{source}: {exc.where}: {exc.problem}") from None


# ---------------------------------------------------------------------------------- the file


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load``, refusing a key given twice in one mapping (PyYAML keeps the last)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, "", set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_duplicate_keys(node: yaml.Node, where: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias: checked where its anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value, 1):
            _refuse_duplicate_keys(item, _join(where, str(i)), seen)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            here = _join(where, str(key.value))
            line = key.start_mark.line + 1
            first = lines.get((key.tag, key.value))
            if first is not None:
                at = f"line {line}" if first == line else f"lines {first} and {line}"
                raise _Invalid(here, f"defined twice ({at})")
            lines[(key.tag, key.value)] = line
            _refuse_duplicate_keys(value, here, seen)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# ------------------------------------------------------------------------------------ sections


def _read_workspace(data: Any) -> DeskPolicy:
    root = _mapping(data, "top level")
    _keys(root, "top level", (), _TOP)
    d = DeskPolicy()
    teams = _read_teams(root.get("teams"))
    names = tuple(t.team for t in teams)
    default_team = names[0] if names else None
    if root.get("default_team") is not None:
        default_team = _team_ref(root["default_team"], "default_team", names)
    rules = _read_rules(root.get("rules"), names)
    vip = root.get("vip_segments")
    vip_segments = (
        d.vip_segments
        if vip is None
        else frozenset(_list_of(vip, "vip_segments", _segment, required=False))
    )
    sla, calendar, at_risk = _read_sla(root.get("sla"), names, d)
    presence = _section(root, "presence", ("disconnect_grace_seconds", "on_disconnect"))
    close = _section(root, "close", ("dispositions", "require_disposition", "reopen_window_hours"))
    csat = _section(root, "csat", ("enabled", "window_hours"))
    assignment = _section(
        root, "assignment", ("average_handle_minutes", "sweep_seconds", "open_queues")
    )
    return DeskPolicy(
        teams=teams,
        rules=rules,
        default_team=default_team,
        sla=sla,
        calendar=calendar,
        at_risk_within=at_risk,
        vip_segments=vip_segments,
        disconnect_grace=_duration(
            presence, "presence", "disconnect_grace_seconds", d.disconnect_grace, zero=True
        ),
        on_disconnect=_choice(
            presence.get("on_disconnect", d.on_disconnect), "presence.on_disconnect", OnDisconnect
        ),
        dispositions=_read_dispositions(close.get("dispositions"), d.dispositions),
        disposition_required=_bool(
            close.get("require_disposition", d.disposition_required), "close.require_disposition"
        ),
        reopen_window=_duration(close, "close", "reopen_window_hours", d.reopen_window, zero=True),
        csat=_bool(csat.get("enabled", d.csat), "csat.enabled"),
        csat_window=_duration(csat, "csat", "window_hours", d.csat_window),
        average_handle=_duration(
            assignment, "assignment", "average_handle_minutes", d.average_handle
        ),
        sweep_interval=_duration(assignment, "assignment", "sweep_seconds", d.sweep_interval),
        open_queues=_bool(assignment.get("open_queues", d.open_queues), "assignment.open_queues"),
        segments=_read_segments(root.get("segments"), d.segments),
    )


def _read_teams(value: Any) -> tuple[TeamPolicy, ...]:
    specs = _mapping(value, "teams")
    teams: list[TeamPolicy] = []
    for name, spec in specs.items():
        where = f"teams.{name}"
        if not _TEAM_NAME.fullmatch(name):
            raise _Invalid(
                where,
                "a team name must be lowercase letters, digits, _ or -, up to 64 characters",
            )
        m = _mapping(spec, where)
        _keys(m, where, (), ("assignment", "language_skills", "channel_skills"))
        teams.append(
            TeamPolicy(
                team=name,
                mode=_choice(
                    m.get("assignment", AssignMode.AUTO), f"{where}.assignment", AssignMode
                ),
                required_skills_from_locale=_bool(
                    m.get("language_skills", False), f"{where}.language_skills"
                ),
                channel_skills=_bool(m.get("channel_skills", False), f"{where}.channel_skills"),
            )
        )
    return tuple(teams)


def _read_rules(value: Any, teams: Sequence[str]) -> tuple[TeamRule, ...]:
    specs = _list(value, "rules", "a list of rules (each a mapping with team: …)")
    rules: list[TeamRule] = []
    for i, spec in enumerate(specs, 1):
        where = f"rules.{i}"
        m = _mapping(spec, where)
        _keys(m, where, ("team",), (*_RULE_CONDITIONS, "skills"))
        if not any(key in m for key in _RULE_CONDITIONS):
            raise _Invalid(
                where,
                f"needs at least one of {', '.join(_RULE_CONDITIONS)} "
                "(default_team takes what no rule matches)",
            )
        rules.append(
            TeamRule(
                team=_team_ref(m["team"], f"{where}.team", teams),
                channels=frozenset(_condition(m, where, "channels", _channel)),
                locales=frozenset(_condition(m, where, "locales", _locale)),
                keywords=_condition(m, where, "keywords", _text),
                segments=frozenset(_condition(m, where, "segments", _segment)),
                skills=frozenset(_condition(m, where, "skills", _skill)),
            )
        )
    return tuple(rules)


def _condition(m: Mapping[str, Any], where: str, key: str, read: _Read) -> tuple[str, ...]:
    if key not in m:
        return ()
    return _list_of(m[key], f"{where}.{key}", read, required=True)


def _read_sla(
    value: Any, teams: Sequence[str], d: DeskPolicy
) -> tuple[tuple[SlaPolicy, ...], BusinessClock, timedelta]:
    m = _mapping(value, "sla")
    _keys(m, "sla", (), ("hours", "business_hours", "at_risk_minutes", "policies"))
    hours = _text(m.get("hours", _HOURS_ALWAYS), "sla.hours")
    calendar: BusinessClock
    if hours == _HOURS_ALWAYS:
        if m.get("business_hours") is not None:
            raise _Invalid("sla.business_hours", "only used with hours: business (hours is always)")
        calendar = AlwaysOpen()
    elif hours == _HOURS_BUSINESS:
        if m.get("business_hours") is None:
            raise _Invalid(
                "sla", "missing business_hours (hours: business counts SLA time only while open)"
            )
        calendar = WeeklyCalendar(_read_hours(m["business_hours"], "sla.business_hours"))
    else:
        raise _Invalid("sla.hours", f"must be one of: {_HOURS_ALWAYS}, {_HOURS_BUSINESS}")
    at_risk = _duration(m, "sla", "at_risk_minutes", d.at_risk_within, zero=True)
    policies: list[SlaPolicy] = []
    for i, spec in enumerate(_list(m.get("policies"), "sla.policies", "a list of policies"), 1):
        policy = _read_sla_policy(spec, f"sla.policies.{i}", teams)
        for n, other in enumerate(policies, 1):
            if (other.team, other.segment) == (policy.team, policy.segment):
                raise _Invalid(
                    f"sla.policies.{i}",
                    f"same team and segment as sla.policies.{n} "
                    f"(team {policy.team or 'any'}, segment {policy.segment or 'any'})",
                )
        policies.append(policy)
    return tuple(policies), calendar, at_risk


def _read_sla_policy(spec: Any, where: str, teams: Sequence[str]) -> SlaPolicy:
    m = _mapping(spec, where)
    required = ("first_response_minutes", "next_response_minutes")
    _keys(m, where, required, ("team", "segment", "resolution_minutes", "resolution_hours"))
    if "resolution_minutes" in m and "resolution_hours" in m:
        raise _Invalid(where, "has both resolution_minutes and resolution_hours; give one")
    if "resolution_minutes" not in m and "resolution_hours" not in m:
        raise _Invalid(where, "missing resolution_minutes (or resolution_hours)")
    first = _duration(m, where, "first_response_minutes")
    resolution_key = "resolution_minutes" if "resolution_minutes" in m else "resolution_hours"
    resolution = _duration(m, where, resolution_key)
    if resolution < first:
        raise _Invalid(
            f"{where}.{resolution_key}", "must not be shorter than first_response_minutes"
        )
    return SlaPolicy(
        team=None if m.get("team") is None else _team_ref(m["team"], f"{where}.team", teams),
        segment=None if m.get("segment") is None else _segment(m["segment"], f"{where}.segment"),
        first_response=first,
        next_response=_duration(m, where, "next_response_minutes"),
        resolution=resolution,
    )


def _read_hours(value: Any, where: str) -> BusinessHours:
    """The same shape as ``hours:`` in ``config/ivr.yaml``."""
    m = _mapping(value, where)
    _keys(m, where, ("timezone", "weekly"), ("holidays",))
    weekly = _mapping(m["weekly"], f"{where}.weekly")
    _keys(
        weekly,
        f"{where}.weekly",
        WEEKDAYS,
        (),
        missing_hint=" (write 'closed' for a closed day)",
    )
    try:
        zone = parse_zone(_text(m["timezone"], f"{where}.timezone"))
    except ValueError as exc:
        raise _Invalid(f"{where}.timezone", str(exc)) from None
    days = []
    for day in WEEKDAYS:
        try:
            days.append(parse_ranges(_text(weekly[day], f"{where}.weekly.{day}")))
        except ValueError as exc:
            raise _Invalid(f"{where}.weekly.{day}", str(exc)) from None
    if not any(days):
        raise _Invalid(f"{where}.weekly", "open on at least one day (the SLA clock would stop)")
    holidays = _list(m.get("holidays"), f"{where}.holidays", "a list of dates (YYYY-MM-DD)")
    for i, day in enumerate(holidays, 1):
        try:
            parse_holidays([day])
        except ValueError as exc:
            raise _Invalid(f"{where}.holidays.{i}", str(exc)) from None
    return BusinessHours(zone=zone, weekly=tuple(days), holidays=parse_holidays(holidays))


def _read_segments(value: Any, d: SegmentPolicy) -> SegmentPolicy:
    m = _section({"segments": value}, "segments", _SEGMENT_KEYS)
    attribute = d.value_attribute
    if "value_attribute" in m:
        attribute = _text(m["value_attribute"], "segments.value_attribute").removeprefix("attr.")
        if not _ATTRIBUTE.fullmatch(attribute):
            raise _Invalid(
                "segments.value_attribute",
                f"{attribute!r} is not an attribute name (like attr.lifetime_value)",
            )
    rules: list[SegmentRule] = []
    for i, spec in enumerate(_list(m.get("rules"), "segments.rules", "a list of segments"), 1):
        where = f"segments.rules.{i}"
        r = _mapping(spec, where)
        _keys(r, where, ("name",), ("all", "any"))
        name = _segment(r["name"], f"{where}.name")
        for n, other in enumerate(rules, 1):
            if other.name == name:
                raise _Invalid(f"{where}.name", f"{name!r} is already segments.rules.{n}")
        try:
            condition = parse_group({k: v for k, v in r.items() if k != "name"}, where)
        except RuleError as exc:
            raise _Invalid(*str(exc).split(": ", 1)) from None
        rules.append(SegmentRule(name, condition))
    return SegmentPolicy(
        rules=tuple(rules),
        value_attribute=attribute,
        lifecycle=_read_lifecycle(m.get("lifecycle"), d.lifecycle),
        interval=_duration(m, "segments", "interval_minutes", d.interval, zero=True),
        batch_size=d.batch_size,
    )


def _read_lifecycle(value: Any, d: LifecyclePolicy) -> LifecyclePolicy:
    where = "segments.lifecycle"
    m = _section({where: value}, where, _LIFECYCLE_KEYS)
    days = {
        key: _whole(m.get(key, getattr(d, key)), f"{where}.{key}", 1, MAX_WINDOW_DAYS)
        for key in ("new_days", "at_risk_days", "lapsed_days", "escalation_days")
    }
    if days["at_risk_days"] >= days["lapsed_days"]:
        raise _Invalid(f"{where}.at_risk_days", "must be fewer than lapsed_days")
    low_csat = m.get("low_csat", d.low_csat)
    if (
        isinstance(low_csat, bool)
        or not isinstance(low_csat, int | float)
        or not 0 <= low_csat <= 5
    ):
        raise _Invalid(f"{where}.low_csat", "must be a number 0..5 (0: never at risk for it)")
    return LifecyclePolicy(
        low_csat=float(low_csat),
        escalations=_whole(m.get("escalations", d.escalations), f"{where}.escalations", 1, 1000),
        negative_messages=_whole(
            m.get("negative_messages", d.negative_messages),
            f"{where}.negative_messages",
            1,
            1000,
        ),
        **days,
    )


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Invalid(where, f"must be a whole number {low}..{high}")
    return value


def _read_dispositions(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    dispositions = _list_of(value, "close.dispositions", _disposition, required=True)
    for i, slug in enumerate(dispositions, 1):
        first = dispositions.index(slug) + 1
        if first != i:
            raise _Invalid(
                f"close.dispositions.{i}",
                f"{slug!r} is already listed (close.dispositions.{first})",
            )
    return dispositions


# ------------------------------------------------------------------------------------- values


def _mapping(value: Any, where: str) -> dict[str, Any]:
    """A mapping with text keys; None (a key written with nothing after it) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Invalid(where, "must be a mapping of key: value")
    for key in value:
        if not isinstance(key, str):
            raise _Invalid(
                _join(_section_path(where), str(key)), f"keys must be text ({_YAML_HINT})"
            )
    return dict(value)


def _section(root: Mapping[str, Any], name: str, known: Sequence[str]) -> dict[str, Any]:
    m = _mapping(root.get(name), name)
    _keys(m, name, (), known)
    return m


def _section_path(where: str) -> str:
    return "" if where == "top level" else where


def _keys(
    m: Mapping[str, Any],
    where: str,
    required: Sequence[str],
    optional: Sequence[str],
    missing_hint: str = "",
) -> None:
    for key in required:
        if key not in m:
            raise _Invalid(where, f"missing {key}{missing_hint}")
    for key in m:
        if key not in required and key not in optional:
            known = ", ".join((*required, *optional))
            raise _Invalid(_join(_section_path(where), key), f"unknown key (known: {known})")


def _list(value: Any, where: str, what: str) -> list[Any]:
    """A list; None (a key written with nothing after it) is an empty one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid(where, f"must be {what}")
    return value


def _list_of(value: Any, where: str, read: _Read, required: bool) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(where, "must be a list, like [a, b]")
    if required and not value:
        raise _Invalid(where, "list at least one, or leave the key out")
    return tuple(read(item, f"{where}.{i}") for i, item in enumerate(value, 1))


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        raise _Invalid(where, f"must be text ({_YAML_HINT})")
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(where, "must be non-empty text")
    return value.strip()


def _team_ref(value: Any, where: str, teams: Sequence[str]) -> str:
    name = _text(value, where)
    if name not in teams:
        known = f"teams: {', '.join(teams)}" if teams else "no teams are defined"
        raise _Invalid(where, f"no team named {name!r} ({known})")
    return name


def _segment(value: Any, where: str) -> str:
    segment = _text(value, where)
    if not _SEGMENT.fullmatch(segment):
        raise _Invalid(
            where,
            f"{segment!r} is not a segment name "
            "(lowercase letters, digits, _ or -, up to 32 characters)",
        )
    return segment


def _skill(value: Any, where: str) -> str:
    skill = _text(value, where)
    if not _SKILL.fullmatch(skill):
        raise _Invalid(
            where,
            f"{skill!r} is not a skill name (lowercase, like lang:th or product:cards, "
            "up to 64 characters)",
        )
    return skill


def _channel(value: Any, where: str) -> str:
    channel = _text(value, where)
    try:
        kind_of(channel)
    except ValueError as exc:
        raise _Invalid(where, str(exc)) from None
    return channel


def _locale(value: Any, where: str) -> str:
    locale = _text(value, where)
    if not _LOCALE.fullmatch(locale) or len(locale) > _LOCALE_MAX:
        raise _Invalid(where, f"{locale!r} is not a locale (write a code like th, zh or fa-IR)")
    return locale


def _disposition(value: Any, where: str) -> str:
    slug = _text(value, where)
    if not _DISPOSITION.fullmatch(slug):
        raise _Invalid(
            where,
            f"{slug!r} is not a short slug (lowercase letters, digits and _, up to 64 characters)",
        )
    return slug


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(where, "must be true or false")
    return value


def _choice(value: Any, where: str, kind: type[_E]) -> _E:
    allowed = ", ".join(member.value for member in kind)
    if isinstance(value, bool):
        raise _Invalid(where, f"must be one of: {allowed} ({_YAML_HINT})")
    if value not in kind.__members__.values():
        raise _Invalid(where, f"must be one of: {allowed}")
    return kind(value)


_UNITS = {"_seconds": "seconds", "_minutes": "minutes", "_hours": "hours"}


def _duration(
    m: Mapping[str, Any],
    section: str,
    key: str,
    default: timedelta | None = None,
    *,
    zero: bool = False,
) -> timedelta:
    """``key`` (ending in _seconds, _minutes or _hours) as a timedelta; ``default`` if absent."""
    where = f"{section}.{key}"
    unit = next(u for suffix, u in _UNITS.items() if key.endswith(suffix))
    if key not in m and default is not None:
        return default
    value: Any = m.get(key)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise _Invalid(where, f"must be {'zero or ' if zero else ''}a positive number")
    try:
        return timedelta(**{unit: value})
    except OverflowError:
        raise _Invalid(where, "is too large") from None
