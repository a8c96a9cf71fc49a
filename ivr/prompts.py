"""What the caller hears: texts in the caller's voice, and each gather with its prompts and the
phrases the speech recogniser should expect."""

from __future__ import annotations

from ivr.actions import Gather, GatherPurpose, Say
from ivr.model import Flow

_PROMPT_TEXTS = {
    GatherPurpose.QUESTION: "ask_question",
    GatherPurpose.MORE_HELP: "more_help",
    GatherPurpose.LEAVE_CHOICE: "leave_choice",
}


class Prompts:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def say(self, language: str, key: str, **values: object) -> Say:
        """The text ``key`` in ``language``'s voice, a template filled with ``values``."""
        return self.speak(language, self.flow.text(language, key, **values))

    def speak(self, language: str, text: str) -> Say:
        voice = self.flow.language(language)
        return Say(text, voice.say_language, voice.voice)

    def gather(
        self,
        language: str,
        purpose: GatherPurpose,
        lead: tuple[Say, ...] = (),
        menu: str | None = None,
    ) -> Gather:
        """A gather in ``language`` (the default one for the language menu), ``lead`` first."""
        chosen = self.flow.language(language)
        if purpose is GatherPurpose.LANGUAGE:  # asked before a language is chosen
            chosen = self.flow.default_language
        prompts, hints = self._prompts(chosen.code, purpose, menu)
        return Gather(
            purpose=purpose,
            prompts=(*lead, *prompts),
            language=chosen.speech_language,
            hints=tuple(dict.fromkeys(hints)),
            timeout=self.flow.gather.timeout_seconds,
            menu=menu if purpose is GatherPurpose.MENU else None,
        )

    def _prompts(
        self, language: str, purpose: GatherPurpose, menu: str | None
    ) -> tuple[tuple[Say, ...], tuple[str, ...]]:
        words = self.flow.words[language]
        if purpose is GatherPurpose.LANGUAGE:  # each language offered in its own voice
            languages = self.flow.languages.values()
            prompts = tuple(Say(lang.prompt, lang.say_language, lang.voice) for lang in languages)
            return prompts, tuple(name for lang in languages for name in lang.names)
        if purpose is GatherPurpose.MENU:
            if menu is None:
                raise ValueError("a menu gather needs the menu's name")
            current = self.flow.menus[menu]
            options = tuple(w for o in current.options for w in o.words.get(language, ()))
            hints = options + words["agent"] + words["main_menu"]
            return (self.speak(language, current.prompt[language]),), hints
        prompt = (self.say(language, _PROMPT_TEXTS[purpose]),)
        if purpose is GatherPurpose.LEAVE_CHOICE:
            return prompt, words["voicemail"] + words["callback"]
        return prompt, ()  # free speech: the caller's own question
