"""Reading ``config/ivr.yaml``: validated once at start-up, with one clear line naming the place
at fault (``ivr.yaml: menus.main.options.2.goto: no menu named 'billing'``), then frozen.

Options are counted from 1 in those places, as a support manager would count them.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ivr.hours import WEEKDAYS, BusinessHours, parse_holidays, parse_ranges, parse_zone
from ivr.model import (
    AGENT_DIGIT,
    KEYS,
    MAIN_MENU,
    TEXT_KEYS,
    TEXT_PLACEHOLDERS,
    WORD_KEYS,
    Flow,
    FlowError,
    GatherConfig,
    Language,
    LeaveMode,
    Menu,
    Option,
    OptionAction,
    QueueConfig,
)

__all__ = ["Flow", "FlowError", "Language", "Menu", "Option", "load_flow", "parse_flow"]

_TOP_REQUIRED = ("languages", "hours", "texts", "words", "menus")
_TOP_OPTIONAL = ("queue", "gather", "after_hours", "voicemail")
_YAML_HINT = "quote it: YAML reads yes/no/on/off as true/false"


class _Invalid(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def load_flow(path: str | Path) -> Flow:
    """Read and validate a flow file; raises FlowError naming the file and the place."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlowError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise FlowError(f"{path.name}: {line}not valid YAML ({problem})") from None
    return parse_flow(data, source=path.name)


def parse_flow(data: Any, source: str = "ivr.yaml") -> Flow:
    """Validate a flow given as plain data (what YAML gives)."""
    try:
        return _read_flow(data)
    except _Invalid as exc:
        raise FlowError(f"{source}: {exc.where}: {exc.problem}") from None


def _read_flow(data: Any) -> Flow:
    root = _mapping(data, "top level")
    _keys(root, "top level", _TOP_REQUIRED, _TOP_OPTIONAL)
    languages = _read_languages(root["languages"])
    after = _mapping(root.get("after_hours", {}), "after_hours")
    _keys(after, "after_hours", (), ("action",))
    voicemail = _mapping(root.get("voicemail", {}), "voicemail")
    _keys(voicemail, "voicemail", (), ("max_seconds",))
    return Flow(
        languages=languages,
        hours=_read_hours(root["hours"]),
        queue=_read_queue(root.get("queue", {})),
        gather=_read_gather(root.get("gather", {})),
        after_hours=_leave_mode(after.get("action", "choice"), "after_hours.action"),
        voicemail_max_seconds=_int_in(voicemail, "voicemail", "max_seconds", 120, 5, 3600),
        texts=_read_texts(root["texts"], languages),
        words=_read_words(root["words"], languages),
        menus=_read_menus(root["menus"], languages),
    )


# ------------------------------------------------------------------------------------ sections


def _read_languages(value: Any) -> dict[str, Language]:
    specs = _mapping(value, "languages")
    if not specs:
        raise _Invalid("languages", "list at least one language")
    languages: dict[str, Language] = {}
    used: dict[str, str] = {}
    for code, spec in specs.items():
        where = f"languages.{code}"
        m = _mapping(spec, where)
        required = ("digit", "say_language", "voice", "speech_language", "prompt")
        _keys(m, where, required, ("names", "transcribe"))
        digit = _digit(m["digit"], f"{where}.digit")
        if digit in used:
            raise _Invalid(
                f"{where}.digit", f"{digit!r} is already used by languages.{used[digit]}"
            )
        used[digit] = code
        languages[code] = Language(
            code=code,
            digit=digit,
            say_language=_text(m["say_language"], f"{where}.say_language"),
            voice=_text(m["voice"], f"{where}.voice"),
            speech_language=_text(m["speech_language"], f"{where}.speech_language"),
            prompt=_text(m["prompt"], f"{where}.prompt"),
            names=_phrases(m.get("names", []), f"{where}.names"),
            transcribe=_bool(m.get("transcribe", False), f"{where}.transcribe"),
        )
    return languages


def _read_hours(value: Any) -> BusinessHours:
    m = _mapping(value, "hours")
    _keys(m, "hours", ("timezone", "weekly"), ("holidays",))
    weekly = _mapping(m["weekly"], "hours.weekly")
    _keys(weekly, "hours.weekly", WEEKDAYS, (), missing_hint=" (write 'closed' for a closed day)")
    try:
        zone = parse_zone(_text(m["timezone"], "hours.timezone"))
    except ValueError as exc:
        raise _Invalid("hours.timezone", str(exc)) from None
    days = []
    for day in WEEKDAYS:
        try:
            days.append(parse_ranges(_text(weekly[day], f"hours.weekly.{day}")))
        except ValueError as exc:
            raise _Invalid(f"hours.weekly.{day}", str(exc)) from None
    holidays = m.get("holidays") or []
    if not isinstance(holidays, list):
        raise _Invalid("hours.holidays", "must be a list of dates (YYYY-MM-DD)")
    for i, day in enumerate(holidays, 1):
        try:
            parse_holidays([day])
        except ValueError as exc:
            raise _Invalid(f"hours.holidays.{i}", str(exc)) from None
    return BusinessHours(zone=zone, weekly=tuple(days), holidays=parse_holidays(holidays))


def _read_queue(value: Any) -> QueueConfig:
    m = _mapping(value, "queue")
    _keys(m, "queue", (), tuple(f.name for f in dataclasses.fields(QueueConfig)))
    d = QueueConfig()
    name = _text(m.get("name", d.name), "queue.name")
    if len(name) > 64:
        raise _Invalid("queue.name", "must be 64 characters or fewer (a Twilio queue name)")
    music = m.get("hold_music_url", d.hold_music_url) or ""
    if not isinstance(music, str) or (music and not music.startswith(("https://", "http://"))):
        raise _Invalid("queue.hold_music_url", "must be an http(s) URL, or empty for silence")
    limit = m.get("on_wait_limit", d.on_wait_limit.value)
    return QueueConfig(
        name=name,
        max_wait_seconds=_int_in(m, "queue", "max_wait_seconds", d.max_wait_seconds, 30, 86400),
        average_handle_seconds=_int_in(
            m, "queue", "average_handle_seconds", d.average_handle_seconds, 10, 86400
        ),
        hold_music_url=music,
        announce_every_seconds=_int_in(
            m, "queue", "announce_every_seconds", d.announce_every_seconds, 5, 600
        ),
        on_wait_limit=_leave_mode(limit, "queue.on_wait_limit"),
    )


def _read_gather(value: Any) -> GatherConfig:
    m = _mapping(value, "gather")
    _keys(m, "gather", (), tuple(f.name for f in dataclasses.fields(GatherConfig)))
    d = GatherConfig()
    confidence = m.get("min_confidence", d.min_confidence)
    number = isinstance(confidence, int | float) and not isinstance(confidence, bool)
    if not number or not 0 <= confidence < 1:
        raise _Invalid("gather.min_confidence", "must be a number from 0 up to (not including) 1")
    return GatherConfig(
        timeout_seconds=_int_in(m, "gather", "timeout_seconds", d.timeout_seconds, 1, 60),
        max_invalid=_int_in(m, "gather", "max_invalid", d.max_invalid, 1, 10),
        min_confidence=float(confidence),
    )


def _read_texts(value: Any, languages: Mapping[str, Language]) -> dict[str, dict[str, str]]:
    per_language = _per_language(value, "texts", languages)
    texts: dict[str, dict[str, str]] = {}
    for code, spec in per_language.items():
        where = f"texts.{code}"
        m = _mapping(spec, where)
        _keys(m, where, TEXT_KEYS, ())
        texts[code] = {}
        for key in TEXT_KEYS:
            text = _text(m[key], f"{where}.{key}")
            _check_placeholders(text, f"{where}.{key}", TEXT_PLACEHOLDERS.get(key, frozenset()))
            texts[code][key] = text
    return texts


def _read_words(
    value: Any, languages: Mapping[str, Language]
) -> dict[str, dict[str, tuple[str, ...]]]:
    per_language = _per_language(value, "words", languages)
    words: dict[str, dict[str, tuple[str, ...]]] = {}
    for code, spec in per_language.items():
        where = f"words.{code}"
        m = _mapping(spec, where)
        _keys(m, where, WORD_KEYS, ())
        words[code] = {key: _phrases(m[key], f"{where}.{key}", required=True) for key in WORD_KEYS}
    return words


def _read_menus(value: Any, languages: Mapping[str, Language]) -> dict[str, Menu]:
    specs = _mapping(value, "menus")
    if MAIN_MENU not in specs:
        raise _Invalid("menus", f"missing {MAIN_MENU} (the menu callers start in)")
    menus = {name: _read_menu(name, spec, specs.keys(), languages) for name, spec in specs.items()}
    _check_reachable(menus)
    return menus


def _read_menu(name: str, spec: Any, names: Any, languages: Mapping[str, Language]) -> Menu:
    where = f"menus.{name}"
    m = _mapping(spec, where)
    _keys(m, where, ("prompt", "options"), ())
    prompt = _localized(m["prompt"], f"{where}.prompt", languages)
    options = m["options"]
    if not isinstance(options, list) or not options:
        raise _Invalid(f"{where}.options", "must be a list with at least one option")
    read: list[Option] = []
    for i, spec_i in enumerate(options, 1):
        option = _read_option(spec_i, f"{where}.options.{i}", names, languages)
        taken = next((n for n, o in enumerate(read, 1) if o.digit == option.digit), None)
        if taken is not None:
            raise _Invalid(
                f"{where}.options.{i}.digit", f"{option.digit!r} is already used by option {taken}"
            )
        read.append(option)
    return Menu(name=name, prompt=prompt, options=tuple(read))


def _read_option(spec: Any, where: str, names: Any, languages: Mapping[str, Language]) -> Option:
    m = _mapping(spec, where)
    _keys(m, where, ("digit",), ("words", "goto", "action", "say"))
    if "goto" in m and "action" in m:
        raise _Invalid(where, "has both goto and action; an option does one thing")
    if not {"goto", "action", "say"} & m.keys():
        raise _Invalid(where, "needs goto (a menu), action or say")
    goto = None
    if "goto" in m:
        goto = _text(m["goto"], f"{where}.goto")
        if goto not in names:
            raise _Invalid(f"{where}.goto", f"no menu named {goto!r}")
    action = None
    if "action" in m:
        raw = _text(m["action"], f"{where}.action")
        if raw not in OptionAction.__members__.values():
            allowed = ", ".join(a.value for a in OptionAction)
            raise _Invalid(f"{where}.action", f"unknown action {raw!r} (one of: {allowed})")
        action = OptionAction(raw)
    words = _per_language(m.get("words", {}), f"{where}.words", languages, complete=False)
    return Option(
        digit=_digit(m["digit"], f"{where}.digit"),
        words={code: _phrases(v, f"{where}.words.{code}") for code, v in words.items()},
        goto=goto,
        action=action,
        say=_localized(m["say"], f"{where}.say", languages) if "say" in m else None,
    )


def _check_reachable(menus: Mapping[str, Menu]) -> None:
    seen, todo = {MAIN_MENU}, [MAIN_MENU]
    while todo:
        for option in menus[todo.pop()].options:
            if option.goto is not None and option.goto not in seen:
                seen.add(option.goto)
                todo.append(option.goto)
    for name in menus:
        if name not in seen:
            raise _Invalid(f"menus.{name}", f"no option leads here from menus.{MAIN_MENU}")


# ------------------------------------------------------------------------------------- values


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _Invalid(where, "must be a mapping of key: value")
    for key in value:
        if not isinstance(key, str):
            raise _Invalid(f"{where}.{key}", f"keys must be text ({_YAML_HINT})")
    return dict(value)


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
            raise _Invalid(
                f"{where}.{key}" if where != "top level" else key, f"unknown key (known: {known})"
            )


def _per_language(
    value: Any, where: str, languages: Mapping[str, Language], complete: bool = True
) -> dict[str, Any]:
    m = _mapping(value, where)
    for code in m:
        if code not in languages:
            raise _Invalid(f"{where}.{code}", "not a language listed under languages")
    if complete:
        for code in languages:
            if code not in m:
                raise _Invalid(where, f"missing language {code}")
    return m


def _localized(value: Any, where: str, languages: Mapping[str, Language]) -> dict[str, str]:
    m = _per_language(value, where, languages)
    return {code: _text(m[code], f"{where}.{code}") for code in languages}


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        raise _Invalid(where, f"must be text ({_YAML_HINT})")
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(where, "must be non-empty text")
    return value.strip()


def _phrases(value: Any, where: str, required: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(where, "must be a list of words or phrases")
    if required and not value:
        raise _Invalid(where, "list at least one word or phrase")
    return tuple(_text(v, f"{where}.{i}") for i, v in enumerate(value, 1))


def _digit(value: Any, where: str) -> str:
    digit = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if digit == AGENT_DIGIT:
        raise _Invalid(where, "0 is reserved: it reaches an agent from every menu")
    if not isinstance(digit, str) or len(digit) != 1 or digit not in KEYS:
        raise _Invalid(where, f"must be one key of {' '.join(KEYS)}")
    return digit


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Invalid(where, f"must be a whole number from {low} to {high}")
    return value


def _int_in(m: Mapping[str, Any], section: str, key: str, default: int, low: int, high: int) -> int:
    return _int(m.get(key, default), f"{section}.{key}", low, high)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(where, "must be true or false")
    return value


def _leave_mode(value: Any, where: str) -> LeaveMode:
    if value not in LeaveMode.__members__.values():
        allowed = ", ".join(m.value for m in LeaveMode)
        raise _Invalid(where, f"must be one of: {allowed}")
    return LeaveMode(value)


def _check_placeholders(text: str, where: str, allowed: frozenset[str]) -> None:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        raise _Invalid(where, "has an unmatched { or } (write {{ or }} for a brace)") from None
    unknown = fields - allowed
    if unknown:
        hint = (
            f"only {', '.join('{' + a + '}' for a in sorted(allowed))}" if allowed else "none here"
        )
        raise _Invalid(
            where, f"unknown placeholder {{{sorted(unknown)[0]}}} (placeholders: {hint})"
        )
