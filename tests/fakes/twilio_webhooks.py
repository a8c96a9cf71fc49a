"""Webhook requests as Twilio sends them: form parameters plus ``X-Twilio-Signature``.

Twilio signs the full URL it requested (scheme, host, path and query, as configured in the
console) followed by every POST parameter name and value, sorted by name, with HMAC-SHA1
keyed by the account's auth token, base64-encoded. Behind a proxy the app must rebuild that
public URL, not the one it sees.

    params = inbound_sms(account_sid=..., from_="+66812345678", to="+15005550006", body="hi")
    req = signed(auth_token, "https://sb.example.com/twilio/sms", params)
    await client.post("/twilio/sms", data=req.body, headers=req.headers)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from tests.fakes.twilio import API_VERSION, sid

SIGNATURE_HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
MESSAGE_STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "read")
CALL_STATUSES = (
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
)


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a POST of ``params`` to ``url``."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


@dataclass(frozen=True)
class SignedRequest:
    url: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        return urlencode(self.params).encode()


def signed(auth_token: str, url: str, params: Mapping[str, str]) -> SignedRequest:
    """``params`` ready to POST to ``url``, headers as Twilio sets them."""
    headers = {
        SIGNATURE_HEADER: sign(auth_token, url, params),
        "Content-Type": FORM,
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }
    return SignedRequest(url, dict(params), headers)


def _clean(params: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in params.items() if value is not None}


def inbound_sms(
    *,
    account_sid: str,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    media: Sequence[tuple[str, str]] = (),
    messaging_service_sid: str | None = None,
    profile_name: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """An incoming SMS/MMS (``media``: (url, content type) pairs). For WhatsApp pass
    ``whatsapp:+…`` addresses and ``profile_name``: WaId is then set too."""
    message_sid = message_sid or sid("MM" if media else "SM")
    whatsapp = from_.startswith("whatsapp:")
    params: dict[str, str | None] = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": str(len(media)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": message_sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "",
        "To": to,
        "MessagingServiceSid": messaging_service_sid,
        "ToZip": "",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
        "ProfileName": profile_name if whatsapp else None,
        "WaId": from_.removeprefix("whatsapp:+") if whatsapp else None,
    }
    for n, (url, content_type) in enumerate(media):
        params[f"MediaUrl{n}"] = url
        params[f"MediaContentType{n}"] = content_type
    return _clean({**params, **extra})


def message_status(
    *,
    account_sid: str,
    message_sid: str,
    status: str,
    from_: str,
    to: str,
    error_code: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """A status callback for an outbound message (``ErrorCode`` for undelivered/failed)."""
    if status not in MESSAGE_STATUSES:
        raise ValueError(f"Twilio has no message status {status!r}")
    params: dict[str, str | None] = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "From": from_,
        "MessageSid": message_sid,
        "MessageStatus": status,
        "SmsSid": message_sid,
        "SmsStatus": status,
        "To": to,
        "ErrorCode": str(error_code) if error_code is not None else None,
    }
    if status == "delivered":
        params["RawDlrDoneDate"] = "2401011200"  # YYMMDDhhmm, from the carrier's receipt
    return _clean({**params, **extra})


def voice(
    *,
    account_sid: str,
    call_sid: str,
    from_: str,
    to: str,
    call_status: str = "ringing",
    direction: str = "inbound",
    digits: str | None = None,
    speech_result: str | None = None,
    confidence: float | None = None,
    recording_url: str | None = None,
    recording_sid: str | None = None,
    recording_duration: int | None = None,
    transcription_text: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """A voice webhook: the incoming call, a <Gather> result (``digits`` or ``speech_result``
    with ``confidence``), a <Record> action or a transcription callback."""
    if call_status not in CALL_STATUSES:
        raise ValueError(f"Twilio has no call status {call_status!r}")
    params: dict[str, str | None] = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid,
        "CallStatus": call_status,
        "Called": to,
        "Caller": from_,
        "Direction": direction,
        "From": from_,
        "To": to,
        "CallerCountry": "",
        "CalledCountry": "",
        "Digits": digits,
        "FinishedOnKey": "#" if digits is not None else None,
        "SpeechResult": speech_result,
        "Confidence": f"{confidence:.8f}" if confidence is not None else None,
    }
    if recording_url is not None:
        recording_sid = recording_sid or sid("RE")
        params |= {
            "RecordingUrl": recording_url,
            "RecordingSid": recording_sid,
            "RecordingDuration": str(recording_duration or 0),
        }
    if transcription_text is not None:
        transcription_sid = sid("TR")
        params |= {
            "TranscriptionSid": transcription_sid,
            "TranscriptionText": transcription_text,
            "TranscriptionStatus": "completed",
            "TranscriptionType": "fast",
            "TranscriptionUrl": f"https://api.twilio.com/{API_VERSION}/Accounts/{account_sid}/Transcriptions/{transcription_sid}",
            "RecordingSid": params.get("RecordingSid") or recording_sid or sid("RE"),
        }
    return _clean({**params, **extra})
