"""'Was this helpful?' as links, for channels without buttons (email).

An answer that asks to be rated carries a random ``feedback_token`` (routing.replies); the
links under it (``channels.buttons.feedback_link``) are
``/feedback/{touchpoint_id}/{token}?vote=helpful|not_helpful``. Opening one
shows a small page in the answer's language whose form posts the vote; the page posts it by
itself when the browser runs scripts, so one click is enough, while link scanners that only
fetch the URL record nothing. The vote goes to ``Router.rate_answer``, which also hands the
conversation to a person on "not helpful".
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from aiohttp import web

from bot.templates import say
from routing.router import Rating, Router
from storage.repos import feedback as feedback_repo

VOTES = {"helpful": True, "not_helpful": False}
_SCRIPT = Path(__file__).resolve().parent / "static" / "feedback.js"
_BASE = "/feedback/{touchpoint_id:\\d+}/{token:[A-Za-z0-9_-]{8,64}}"
_RTL = ("fa", "ar", "he", "ur")


class FeedbackLinks:
    def __init__(self, router: Router) -> None:
        self._router = router

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(_BASE, self.page)
        app.router.add_post(_BASE, self.vote)
        app.router.add_get("/feedback/vote.js", _script)

    async def page(self, request: web.Request) -> web.Response:
        """The question with both answers; the one the link chose is sent at once."""
        touchpoint_id, token = _ids(request)
        async with self._router.db.transaction() as session:
            answer = await feedback_repo.rateable_by_link(session, touchpoint_id, token)
        if answer is None:
            return _page("en", say("rate_invalid", "en"), status=404)
        locale = str((answer.meta or {}).get("locale") or "en")
        chosen = request.query.get("vote")
        if chosen is not None and chosen not in VOTES:
            chosen = None
        buttons = "".join(
            f'<button type="submit" name="vote" value="{vote}"'
            f"{' id=chosen autofocus' if vote == chosen else ''}>"
            f"{escape(say('rate_yes' if helpful else 'rate_no', locale))}</button>"
            for vote, helpful in VOTES.items()
        )
        script = '<script src="/feedback/vote.js"></script>' if chosen else ""
        body = f'<form method="post">{buttons}</form>{script}'
        return _page(locale, say("rate_title", locale), body)

    async def vote(self, request: web.Request) -> web.Response:
        touchpoint_id, token = _ids(request)
        form = await request.post()
        choice = form.get("vote")
        if not isinstance(choice, str) or choice not in VOTES:
            text = "vote must be helpful or not_helpful"
            return _page("en", text, status=400)
        rating = await self._router.rate_answer(touchpoint_id, token, VOTES[choice])
        if rating is None:
            return _page("en", say("rate_invalid", "en"), status=404)
        return _page(rating.locale, _outcome(rating))


async def _script(_request: web.Request) -> web.Response:
    return web.Response(
        body=_SCRIPT.read_bytes(), content_type="application/javascript", charset="utf-8"
    )


def _outcome(rating: Rating) -> str:
    if rating.helpful:
        return say("rate_thanks", rating.locale)
    return say("rate_person" if rating.escalated else "rate_noted", rating.locale)


def _ids(request: web.Request) -> tuple[int, str]:
    return int(request.match_info["touchpoint_id"]), request.match_info["token"]


def _page(locale: str, heading: str, body: str = "", status: int = 200) -> web.Response:
    direction = "rtl" if locale.split("-")[0] in _RTL else "ltr"
    html = (
        f'<!DOCTYPE html><html lang="{escape(locale)}" dir="{direction}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(heading)}</title><style>"
        "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
        "color:#1f2937}h1{font-size:1.3rem}form{display:flex;gap:.75rem;flex-wrap:wrap}"
        "button{font:inherit;padding:.6rem 1rem;border:1px solid #c7cbd4;border-radius:.5rem;"
        "background:#fff;cursor:pointer}button#chosen{border-color:#4f46e5}"
        f"</style></head><body><h1>{escape(heading)}</h1>{body}</body></html>"
    )
    return web.Response(text=html, content_type="text/html", status=status)
