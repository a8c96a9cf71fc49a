"""Engine actions as TwiML, through the Twilio library's ``VoiceResponse``.

Every call's state is stored per CallSid (``CallState.to_dict``), so the callback URLs carry
nothing of it: each kind of request has one fixed URL, and the engine knows from the stored
state what a gather was for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twilio.twiml.voice_response import Dial, VoiceResponse
from twilio.twiml.voice_response import Gather as TwimlGather

from ivr.actions import Action, Enqueue, Gather, Hangup, Leave, Pause, Play, Record, Say


@dataclass(frozen=True)
class CallbackUrls:
    """Absolute URLs Twilio calls back (POST), one per kind of request.

    ``incoming`` and ``status`` are set on the phone number (voice URL and status callback);
    the others appear in the TwiML rendered here."""

    incoming: str  # a call arrives → Engine.start
    gather: str  # Digits / SpeechResult / Confidence, or none on silence → Engine.on_input
    queue_wait: str  # QueuePosition, QueueTime while holding → Engine.queue_wait
    queue_exit: str  # QueueResult, QueueTime when leaving the queue → Engine.queue_exit
    agent_connected: str  # just before the agent is bridged → Engine.agent_connected
    recording: str  # RecordingUrl, RecordingDuration → Engine.voicemail_done
    transcription: str  # TranscriptionText, TranscriptionStatus → store it on the voicemail
    status: str  # CallStatus, CallDuration at the end → Engine.call_ended

    @classmethod
    def under(cls, base: str) -> CallbackUrls:
        """The standard layout under ``base``, e.g. ``https://support.example.com/voice``."""
        base = base.rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise ValueError(f"callback URLs must be absolute, not {base!r}")
        return cls(
            incoming=f"{base}/incoming",
            gather=f"{base}/gather",
            queue_wait=f"{base}/queue/wait",
            queue_exit=f"{base}/queue/exit",
            agent_connected=f"{base}/queue/connected",
            recording=f"{base}/voicemail",
            transcription=f"{base}/voicemail/transcription",
            status=f"{base}/status",
        )


def render(actions: Iterable[Action], urls: CallbackUrls) -> str:
    """A TwiML document doing ``actions`` in order."""
    response = VoiceResponse()
    for action in actions:
        _add(response, action, urls)
    return str(response)


def render_dequeue(queue: str, urls: CallbackUrls) -> str:
    """TwiML for the agent's leg: connect to the first caller in ``queue``; the caller hears
    the agent_connected announcement first."""
    response = VoiceResponse()
    dial = Dial()
    dial.queue(queue, url=urls.agent_connected, method="POST")
    response.append(dial)
    return str(response)


def _add(response: VoiceResponse, action: Action, urls: CallbackUrls) -> None:
    match action:
        case Say():
            response.say(action.text, language=action.language, voice=action.voice)
        case Play():
            response.play(action.url)
        case Pause():
            response.pause(length=action.seconds)
        case Gather():
            response.append(_gather(action, urls))
            # Silence makes Twilio fall through to here: the engine counts it as invalid input.
            response.redirect(urls.gather, method="POST")
        case Enqueue():
            response.enqueue(
                action.queue,
                action=urls.queue_exit,
                method="POST",
                wait_url=urls.queue_wait,
                wait_url_method="POST",
            )
        case Leave():
            response.leave()
        case Record():
            response.record(
                action=urls.recording,
                method="POST",
                max_length=action.max_length,
                play_beep=True,
                transcribe=action.transcribe,
                transcribe_callback=urls.transcription if action.transcribe else None,
            )
        case Hangup():
            response.hangup()


def _gather(action: Gather, urls: CallbackUrls) -> TwimlGather:
    hints = ",".join(h.replace(",", " ") for h in action.hints)  # Twilio splits hints on commas
    gather = TwimlGather(
        input=action.input,
        action=urls.gather,
        method="POST",
        language=action.language,
        speech_timeout="auto",
        num_digits=action.num_digits,
        timeout=action.timeout,
        hints=hints or None,
    )
    for say in action.prompts:
        gather.say(say.text, language=say.language, voice=say.voice)
    return gather
