"""Readable plain text from an HTML mail body, for agents, the bot and search.

Paragraphs, line breaks and list items survive; scripts and styles do not; entities are decoded;
a link reads ``text (url)`` when its text is not already the address. ``<blockquote>`` content
is prefixed with ``>`` the way plain-text mail quotes, so the reply trimmer treats both alike.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_SKIPPED = frozenset({"script", "style", "title", "template"})
_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "pre", "hr"}
)
_LINES = frozenset(
    {"div", "li", "tr", "dl", "dt", "dd", "section", "article", "header", "footer", "address"}
)
_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
# ASCII whitespace and no-break space collapse; other Unicode spaces (ideographic space,
# zero-width non-joiner in Persian) are text and stay.
_SPACES = re.compile("[ \t\n\r\f\v\xa0]+")
# html.parser raises AssertionError on a "<![" marked section with a keyword it does not know
# (CPython 3.11); Word's "<![if !supportLists]>" is fine, anything else is shown as text.
_BAD_MARKED_SECTION = re.compile(
    r"<!\[(?!(?:cdata|if|else|endif|temp|ignore|include|rcdata)(?![-_.a-z0-9]))", re.IGNORECASE
)


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text) of finished lines
        self._line: list[str] = []
        self._line_depth = 0
        self._breaks = 0  # line breaks owed before the next text
        self._skip = 0
        self._pre = 0
        self._quote = 0
        self._lists: list[int | None] = []  # next number of each open <ol>, None for <ul>
        self._links: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._block(tag, opening=True)
        if tag == "body":
            self._skip = 0  # an unclosed <title> must not swallow the whole body
        elif tag in _SKIPPED:
            self._skip += 1
        elif tag == "br":
            self._breaks = min(self._breaks + 1, 2)
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", []))
        elif tag == "li":
            self._list_item()
        elif tag in ("td", "th"):
            self._write(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(self._skip - 1, 0)
        elif tag == "a" and self._links:
            self._end_link(*self._links.pop())
        self._block(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        for links in self._links:
            links[1].append(data)
        if self._pre:
            first, *rest = data.split("\n")
            self._write(first, raw=True)
            for line in rest:
                self._breaks = max(self._breaks, 1)
                self._write(line, raw=True, force=True)
        else:
            self._write(_SPACES.sub(" ", data))

    def _block(self, tag: str, *, opening: bool) -> None:
        if tag == "blockquote" and opening:
            self._quote += 1
        if tag == "pre":
            self._pre = max(self._pre + (1 if opening else -1), 0)
        elif tag in ("ul", "ol"):
            if opening:
                self._lists.append(1 if tag == "ol" else None)
            elif self._lists:
                self._lists.pop()
        nested_list = tag in ("ul", "ol") and len(self._lists) > (1 if opening else 0)
        if tag in _PARAGRAPHS and not nested_list:
            self._breaks = 2
        elif tag in _LINES:
            self._breaks = max(self._breaks, 1)
        if tag == "blockquote" and not opening:
            self._quote = max(self._quote - 1, 0)

    def _list_item(self) -> None:
        self._breaks = max(self._breaks, 1)
        number = self._lists[-1] if self._lists else None
        if number is not None:
            self._lists[-1] = number + 1
        indent = "  " * max(len(self._lists) - 1, 0)
        self._write(f"{indent}{number}. " if number is not None else f"{indent}- ", raw=True)

    def _end_link(self, href: str, parts: list[str]) -> None:
        text = _SPACES.sub(" ", "".join(parts)).strip()
        if not text or not href.lower().startswith(_LINK_SCHEMES):
            return
        bare = href.split(":", 1)[1] if href.lower().startswith(("mailto:", "tel:")) else href
        if bare.rstrip("/") != text.rstrip("/"):
            self._write(f" ({href})")

    def _write(self, text: str, *, raw: bool = False, force: bool = False) -> None:
        if not raw and (self._breaks or not self._line):
            text = text.lstrip(" ")
        if not text and not force:
            return
        if self._breaks:
            if self._line or self.lines:
                # A blank line between a quote and the text around it belongs to neither.
                blank_depth = min(self._line_depth, self._quote)
                self._end_line()
                self.lines.extend((blank_depth, "") for _ in range(self._breaks - 1))
            self._breaks = 0
        if not self._line:
            self._line_depth = self._quote
        elif not raw and text.startswith(" ") and self._line[-1].endswith(" "):
            text = text.lstrip(" ")
        if text:
            self._line.append(text)
        elif force:
            self._line.append("")

    def _end_line(self) -> None:
        self.lines.append((self._line_depth, "".join(self._line).rstrip()))
        self._line = []

    def finish(self) -> str:
        self.close()
        if self._line:
            self._end_line()
        rendered = [
            (">" * depth + " " + text).rstrip() if depth else text for depth, text in self.lines
        ]
        return "\n".join(rendered).strip("\n")


def html_to_text(markup: str) -> str:
    """Render ``markup`` as readable plain text; never raises on broken HTML."""
    writer = _TextWriter()
    writer.feed(_BAD_MARKED_SECTION.sub("&lt;![", markup))
    return writer.finish()
