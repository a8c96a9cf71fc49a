"""Phone numbers in one shape (E.164), so SMS, voice and WhatsApp find the same customer."""

from __future__ import annotations

import phonenumbers

__all__ = ["InvalidPhoneNumber", "normalize_phone"]

# Address prefixes Twilio puts in front of a number: "whatsapp:+66…" on WhatsApp, "tel:" in
# some SIP and RCS payloads. What follows them is an ordinary number.
_PREFIXES = ("whatsapp:", "tel:")


class InvalidPhoneNumber(ValueError):
    """The text is not a phone number we could send to or match a customer by."""


def normalize_phone(raw: str, default_region: str = "US") -> str:
    """``raw`` in E.164 (``+66812345678``).

    Accepts what customers type and providers send: spaces, dashes, brackets, a national
    number read in ``default_region`` ("081 234 5678" with "TH"), and the ``whatsapp:`` prefix.
    Only the number's length is checked against its country (``is_possible_number``), not the
    allocation tables, so a new number range is never refused because the metadata is old.

    Raises:
        InvalidPhoneNumber: for anything else, extensions included (no SMS can reach one).
    """
    text = raw.strip()
    for prefix in _PREFIXES:
        if text[: len(prefix)].lower() == prefix:
            text = text[len(prefix) :].strip()
            break
    if not text:
        raise InvalidPhoneNumber(f"no phone number in {raw!r}")
    try:
        number = phonenumbers.parse(text, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc._msg}") from None
    if number.extension:
        raise InvalidPhoneNumber(f"{raw!r} has an extension; use the number alone")
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber(
            f"{raw!r} is not a possible phone number (wrong length for country code "
            f"+{number.country_code})"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
