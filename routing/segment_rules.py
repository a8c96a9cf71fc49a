"""The segment rule language: one condition per line, ``field operator value``, parsed into
plain values and evaluated against a customer's profile. Never ``eval``'d.

A condition reads like ``attr.plan == "gold"``, ``attr.lifetime_value >= 1000``,
``contacts_30d >= 3``, ``channels has "email"``, ``lifecycle in ["active", "new"]``. Conditions
are combined with ``all`` / ``any`` (nested as deep as wanted) in the workspace file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

VALUE_TIERS = ("top", "high", "medium", "low")
LIFECYCLE_STAGES = ("new", "active", "at_risk", "lapsed")
MAX_WINDOW_DAYS = 3650
MAX_CONDITION_CHARS = 500

Scalar = str | int | float | bool | None
Literal = Scalar | tuple[Scalar, ...]

_NUMBER_FIELDS = (
    "contacts",
    "days_since_contact",
    "csat_avg",
    "channel_count",
    "escalations",
    "negative_messages",
)
_WINDOWED = re.compile(r"(contacts|escalations|negative_messages)_([0-9]{1,4})d")
_ATTR = re.compile(r"attr\.([A-Za-z_][A-Za-z0-9_-]{0,63})")
_LIST_FIELDS = ("tags", "channels")
_CHOICE_FIELDS = {"value_tier": VALUE_TIERS, "lifecycle": LIFECYCLE_STAGES}
_ORDER = ("<", "<=", ">", ">=")
_EQUAL = ("==", "!=")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<number>-?[0-9]+(?:\.[0-9]+)?)
    | (?P<op>==|!=|<=|>=|<|>)
    | (?P<punct>[\[\],])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.-]*)
    )""",
    re.VERBOSE,
)
FIELDS_HELP = (
    "attr.<name>, tags, channels, channel_count, contacts, contacts_<N>d, escalations, "
    "escalations_<N>d, negative_messages, negative_messages_<N>d, days_since_contact, "
    "csat_avg, value_tier, lifecycle"
)


class RuleError(ValueError):
    """A condition that cannot be read; the message says what is wrong and where."""


class Facts(Protocol):
    """What a condition may ask of a customer (routing.segments.Profile)."""

    def value(self, field: str, window: int | None) -> Any: ...


@dataclass(frozen=True)
class Condition:
    field: str  # "attr", "contacts", "tags", …
    op: str  # == != < <= > >= in not_in has
    value: Literal
    attr: str | None = None  # the attribute's name for field "attr"
    window: int | None = None  # N of contacts_<N>d, escalations_<N>d …
    text: str = ""

    def matches(self, facts: Facts) -> bool:
        name = self.field if self.attr is None else f"attr.{self.attr}"
        return _compare(facts.value(name, self.window), self.op, self.value)


@dataclass(frozen=True)
class Group:
    """``all`` (every part holds) or ``any`` (one part holds) of conditions and groups."""

    mode: str  # "all" | "any"
    parts: tuple[Condition | Group, ...]

    def matches(self, facts: Facts) -> bool:
        results = (part.matches(facts) for part in self.parts)
        return all(results) if self.mode == "all" else any(results)

    def to_data(self) -> dict[str, list[Any]]:
        """As written in the workspace file."""
        return {self.mode: [p.to_data() if isinstance(p, Group) else p.text for p in self.parts]}

    def windows(self) -> frozenset[int]:
        found: set[int] = set()
        for part in self.parts:
            if isinstance(part, Group):
                found |= part.windows()
            elif part.window is not None:
                found.add(part.window)
        return frozenset(found)


def parse_group(spec: Any, where: str) -> Group:
    """``{"all": [...]}`` or ``{"any": [...]}``; items are condition texts or nested groups.
    RuleError's message starts with the place (``where.all.2``)."""
    if not isinstance(spec, Mapping):
        raise RuleError(f"{where}: must be a mapping with all: [...] or any: [...]")
    modes = [m for m in ("all", "any") if m in spec]
    if len(modes) != 1:
        raise RuleError(f"{where}: give exactly one of all: [...] or any: [...]")
    mode = modes[0]
    items = spec[mode]
    if not isinstance(items, list) or not items:
        raise RuleError(f"{where}.{mode}: must be a list of at least one condition")
    parts: list[Condition | Group] = []
    for i, item in enumerate(items, 1):
        here = f"{where}.{mode}.{i}"
        if isinstance(item, Mapping):
            extra = sorted(set(map(str, item)) - {"all", "any"})
            if extra:
                raise RuleError(f"{here}.{extra[0]}: unknown key (known: all, any)")
            parts.append(parse_group(item, here))
        elif isinstance(item, str):
            try:
                parts.append(parse_condition(item))
            except RuleError as exc:
                raise RuleError(f"{here}: {exc}") from None
        else:
            raise RuleError(f'{here}: must be a condition as text, like attr.plan == "gold"')
    return Group(mode, tuple(parts))


def parse_condition(text: str) -> Condition:
    """One condition: ``field operator value``."""
    if len(text) > MAX_CONDITION_CHARS:
        raise RuleError(f"a condition is at most {MAX_CONDITION_CHARS} characters")
    tokens = _tokens(text)
    if not tokens or tokens[0][0] != "word":
        raise RuleError(f"{text.strip()!r}: start with a field ({FIELDS_HELP})")
    field, attr, window = _field(tokens[0][1])
    rest = tokens[1:]
    op, rest = _operator(rest, tokens[0][1])
    value, rest = _literal(rest, op, text)
    if rest:
        raise RuleError(f"{text.strip()!r}: unexpected {rest[0][1]!r} after the value")
    _check_types(field, attr, op, value, text.strip())
    return Condition(field, op, value, attr=attr, window=window, text=text.strip())


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None or m.end() == pos:
            rest = stripped[pos:].strip()
            hint = ""
            if rest.startswith("="):
                hint = " (write == to compare)"
            elif rest[:1] in "\"'":
                hint = " (a quote is not closed)"
            raise RuleError(f"{text.strip()!r}: cannot read {rest[:20]!r}{hint}")
        kind = m.lastgroup or ""
        found.append((kind, m.group(kind)))
        pos = m.end()
    return found


def _field(word: str) -> tuple[str, str | None, int | None]:
    if m := _ATTR.fullmatch(word):
        return "attr", m.group(1), None
    if m := _WINDOWED.fullmatch(word):
        days = int(m.group(2))
        if not 1 <= days <= MAX_WINDOW_DAYS:
            raise RuleError(f"{word}: the days must be 1..{MAX_WINDOW_DAYS}")
        return m.group(1), None, days
    if word in _NUMBER_FIELDS or word in _LIST_FIELDS or word in _CHOICE_FIELDS:
        return word, None, None
    raise RuleError(f"unknown field {word!r} (known: {FIELDS_HELP})")


def _operator(tokens: Sequence[tuple[str, str]], after: str) -> tuple[str, list[tuple[str, str]]]:
    ops = "==, !=, <, <=, >, >=, in, not in, has"
    if not tokens:
        raise RuleError(f"expected an operator after {after!r} ({ops})")
    kind, text = tokens[0]
    if kind == "op":
        return text, list(tokens[1:])
    if kind == "word" and text in ("in", "has"):
        return text, list(tokens[1:])
    if kind == "word" and text == "not" and len(tokens) > 1 and tokens[1] == ("word", "in"):
        return "not_in", list(tokens[2:])
    raise RuleError(f"expected an operator after {after!r}, got {text!r} ({ops})")


def _literal(
    tokens: list[tuple[str, str]], op: str, text: str
) -> tuple[Literal, list[tuple[str, str]]]:
    if op in ("in", "not_in"):
        if not tokens or tokens[0] != ("punct", "["):
            raise RuleError(f"{text.strip()!r}: {op.replace('_', ' ')} takes a list, like [a, b]")
        items: list[Scalar] = []
        rest = tokens[1:]
        while rest and rest[0] != ("punct", "]"):
            item, rest = _scalar(rest, text)
            items.append(item)
            if rest and rest[0] == ("punct", ","):
                rest = rest[1:]
            elif rest and rest[0] != ("punct", "]"):
                raise RuleError(f"{text.strip()!r}: separate list items with commas")
        if not rest:
            raise RuleError(f"{text.strip()!r}: the list has no closing ]")
        if not items:
            raise RuleError(f"{text.strip()!r}: the list is empty")
        return tuple(items), rest[1:]
    return _scalar(tokens, text)


def _scalar(tokens: list[tuple[str, str]], text: str) -> tuple[Scalar, list[tuple[str, str]]]:
    if not tokens:
        raise RuleError(f"{text.strip()!r}: expected a value after the operator")
    kind, raw = tokens[0]
    rest = tokens[1:]
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", raw[1:-1]), rest
    if kind == "number":
        return (float(raw) if "." in raw else int(raw)), rest
    if kind == "word" and raw in ("true", "false"):
        return raw == "true", rest
    if kind == "word" and raw == "null":
        return None, rest
    hint = f' (put text in quotes: "{raw}")' if kind == "word" else ""
    raise RuleError(f"{text.strip()!r}: {raw!r} is not a value{hint}")


def _check_types(field: str, attr: str | None, op: str, value: Literal, text: str) -> None:
    values = value if isinstance(value, tuple) else (value,)
    if field in _LIST_FIELDS:
        if op != "has" or not isinstance(value, str):
            raise RuleError(f'{text!r}: {field} is a list: write {field} has "name"')
        return
    if op == "has" and field != "attr":
        raise RuleError(f"{text!r}: has is for lists (tags, channels, list attributes)")
    if field in _CHOICE_FIELDS:
        allowed = _CHOICE_FIELDS[field]
        if op in _ORDER:
            raise RuleError(f"{text!r}: {field} is compared with ==, !=, in or not in")
        for v in values:
            if v not in allowed:
                raise RuleError(f"{text!r}: {field} is one of {', '.join(allowed)}, not {v!r}")
        return
    if field != "attr":  # a number field
        for v in values:
            if v is not None and not _is_number(v):
                raise RuleError(f"{text!r}: {field} is a number; compare it with a number")
    if op in _ORDER and not _is_number(value):
        raise RuleError(f"{text!r}: {op} compares numbers; give a number")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _compare(actual: Any, op: str, expected: Literal) -> bool:
    """Missing values (None) match only ``== null`` / ``!= <something>``; a type mismatch
    never matches an ordering."""
    if op == "has":
        return isinstance(actual, list | tuple | frozenset | set) and expected in actual
    if op in ("in", "not_in"):
        assert isinstance(expected, tuple)
        found = any(_equal(actual, v) for v in expected)
        return found if op == "in" else not found
    if op == "==":
        return _equal(actual, expected)
    if op == "!=":
        return not _equal(actual, expected)
    a, b = as_number(actual), as_number(expected)
    if a is None or b is None:
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def as_number(v: Any) -> float | None:
    """A number, or text that is one (attributes imported from CSV are text)."""
    if _is_number(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def _equal(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _is_number(expected):
        return bool(float(actual) == float(expected))
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return bool(actual == expected)
