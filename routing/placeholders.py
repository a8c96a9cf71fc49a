"""Placeholders in canned responses: ``{customer_name}`` and friends, filled per conversation.

The syntax is a strict subset of ``str.format``: ``{name}`` with a name from
:data:`PLACEHOLDERS`, and ``{{`` / ``}}`` for literal braces. Attribute and index access
(``{customer_name.upper}``, ``{x[0]}``), conversions (``{x!r}``) and format specs
(``{x:>10}``) are refused, so a stored text can never reach into Python objects.

Missing values (None, empty or absent from the mapping) render as:

* ``customer_name`` → ``"customer"``;
* ``first_name`` → the first word of ``customer_name`` (so ``"customer"`` when that is
  missing too), unless given explicitly;
* anything else → ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

PLACEHOLDERS = ("customer_name", "first_name", "agent_name", "reference", "channel", "subject")
CUSTOMER_FALLBACK = "customer"

_ALLOWED = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)


class PlaceholderError(ValueError):
    """A text with an unknown placeholder or a malformed brace. ``placeholder`` is the
    offending field as written, when there is one."""

    def __init__(self, message: str, placeholder: str | None = None) -> None:
        super().__init__(
            f"{message}; allowed placeholders: {_ALLOWED} ({{{{ and }}}} for literal braces)"
        )
        self.placeholder = placeholder


def check(text: str) -> None:
    """Raise :class:`PlaceholderError` (a ValueError) naming the first bad placeholder."""
    try:
        parts = list(Formatter().parse(text))
    except ValueError as exc:  # "Single '}' encountered", "expected '}' before end of string"
        raise PlaceholderError(f"malformed braces: {exc}") from None
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        written = _as_written(field, spec, conversion)
        if not field:
            raise PlaceholderError("empty placeholder {}", written)
        if "." in field or "[" in field:
            raise PlaceholderError(f"attribute or index access is not allowed: {written}", written)
        if conversion is not None or spec:
            raise PlaceholderError(
                f"conversions and format specs are not allowed: {written}", written
            )
        if field not in PLACEHOLDERS:
            raise PlaceholderError(f"unknown placeholder {written}", written)


def first_name(display_name: str | None) -> str | None:
    """The first word of a display name ("สมชาย ใจดี" → "สมชาย"); a name written without
    spaces ("王小明") is returned whole. None for a missing or blank name."""
    words = (display_name or "").split()
    return words[0] if words else None


def render(text: str, values: Mapping[str, str | None]) -> str:
    """``text`` with its placeholders filled from ``values`` (see the module's fallbacks).

    Values are inserted as they are, never formatted again. A text that does not pass
    :func:`check` is returned with its bad parts left as written, rather than failing.
    """
    try:
        parts = list(Formatter().parse(text))
    except ValueError:
        return text
    filled = _with_fallbacks(values)
    out: list[str] = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        if field in PLACEHOLDERS and not spec and conversion is None:
            out.append(filled[field])
        else:
            out.append(_as_written(field, spec, conversion))
    return "".join(out)


def _with_fallbacks(values: Mapping[str, str | None]) -> dict[str, str]:
    filled = {name: (values.get(name) or "").strip() for name in PLACEHOLDERS}
    filled["customer_name"] = filled["customer_name"] or CUSTOMER_FALLBACK
    filled["first_name"] = filled["first_name"] or first_name(filled["customer_name"]) or ""
    return filled


def _as_written(field: str, spec: str | None, conversion: str | None) -> str:
    return (
        "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
    )
