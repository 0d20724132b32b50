"""HTML to plain text, for sources whose posts are HTML (Mastodon statuses, feed summaries).

The analyzers score words, so markup is dropped: tags go, block elements and `<br>` become
line breaks, entities are decoded, whitespace is folded, scripts and styles are skipped.
The result is bounded: a post longer than `MAX_TEXT` characters is cut at a word.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_TEXT = 10_000
_BLOCKS = {"p", "br", "div", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "tr"}
_SKIPPED = {"script", "style"}
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BREAKS = re.compile(r"\s*\n\s*")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """Return the text cut at a word to at most `limit` characters."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + "…"


def html_text(html: str, limit: int = MAX_TEXT) -> str:
    """Return the readable text of an HTML fragment, whitespace folded, bounded."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = _SPACES.sub(" ", "".join(parser.parts))
    return bounded(_BREAKS.sub("\n", text).strip(), limit)
