"""Article bodies are Markdown: rendered to safe HTML for the console, and to plain text for
channels that show no formatting (SMS, WhatsApp, email text parts, the bot's answers).

Raw HTML in a body is shown as text, never interpreted; links with scripts or data URLs are
dropped by the parser; the HTML is then cleaned again against an allow-list (two guards).

Images show only from our own server (a relative URL such as ``/kb-images/a.png``): a remote
image would be fetched by every agent who opens the article, telling its host who reads what
and when. A remote image becomes a link to it, labelled with its alt text, so staff can still
open it deliberately (the console's Content-Security-Policy blocks remote images as well).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

_TAGS = {
    "p", "br", "hr", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
}
# Table column alignment as classes, not style attributes: the console's
# Content-Security-Policy allows no inline styles.
_ALIGN = {"align-left", "align-center", "align-right"}


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )
    md.add_render_rule("image", _image)
    md.core.ruler.push("align_classes", _align_classes)
    return md


def _align_classes(state: StateCore) -> None:
    for token in state.tokens:
        style = token.attrGet("style")
        if token.type in ("th_open", "td_open") and isinstance(style, str):
            token.attrs.pop("style")
            token.attrSet("class", "align-" + style.removeprefix("text-align:"))


def own_url(url: str) -> bool:
    """A URL on this server: relative, with no scheme and no host (``//host`` has one, and
    browsers read a backslash as a slash)."""
    if "\\" in url or any(ord(c) < 33 for c in url):
        return False
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc


def _image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> Any:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    if own_url(src):
        return self.image(tokens, idx, options, env)
    label = escapeHtml(self.renderInlineAsText(token.children or [], options, env) or src)
    in_link = sum(t.type == "link_open" for t in tokens[:idx]) > sum(
        t.type == "link_close" for t in tokens[:idx]
    )
    if in_link or urlsplit(src).scheme not in ("http", "https", ""):
        return label  # a link cannot hold another; a data: or other URL is not worth one
    return f'<a href="{escapeHtml(src)}">{label}</a>'


def to_html(markdown: str) -> str:
    html = _parser().render(markdown)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
        allowed_classes={"th": _ALIGN, "td": _ALIGN},
    )


def to_text(markdown: str) -> str:
    """Readable plain text: emphasis marks gone, links as "text (url)", lists as "• item"."""
    out: list[str] = []
    lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
    for token in _parser().parse(markdown):
        kind = token.type
        if kind == "inline":
            out.append(_inline(token.children or []))
        elif kind in ("paragraph_close", "heading_close", "blockquote_close", "table_close"):
            if not lists:
                out.append("\n\n")
        elif kind in ("fence", "code_block"):
            out.append(token.content.rstrip("\n") + "\n\n")
        elif kind == "bullet_list_open":
            lists.append([])
        elif kind == "ordered_list_open":
            lists.append([int(token.attrGet("start") or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                out.append("\n")
        elif kind == "list_item_open":
            indent = "  " * (len(lists) - 1)
            current = lists[-1] if lists else []
            if current:
                out.append(f"{indent}{current[0]}. ")
                current[0] += 1
            else:
                out.append(f"{indent}• ")
        elif kind == "list_item_close":
            out.append("\n")
        elif kind == "hr":
            out.append("\n")
        elif kind in ("th_close", "td_close"):
            out.append(" | ")
        elif kind == "tr_close":
            out.append("\n")
    text = "".join(out)
    lines = [line.rstrip(" |") if "|" in line else line.rstrip() for line in text.split("\n")]
    cleaned = "\n".join(lines).strip()
    while "\n\n\n" in cleaned:
        cleaned = cleaned.replace("\n\n\n", "\n\n")
    return cleaned


def _inline(children: list[Token]) -> str:
    parts: list[str] = []
    href: list[str | None] = []
    start: list[int] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "link_open":
            href.append(str(child.attrGet("href") or "") or None)
            start.append(len(parts))
        elif kind == "link_close" and href:
            url = href.pop()
            label = "".join(parts[start.pop() :])
            if url and url != label and url.removeprefix("mailto:") != label:
                parts.append(f" ({url})")
        elif kind == "image":
            parts.append(child.content or str(child.attrGet("alt") or ""))
    return "".join(parts)
