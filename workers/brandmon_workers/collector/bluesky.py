"""The Bluesky source's pure logic: Jetstream events, brand matching, posts, cursors.

Jetstream (the AT Protocol firehose as JSON over WebSocket) sends one event per frame:
`{"did", "time_us", "kind": "commit"|"identity"|"account", "commit": {"operation":
"create"|"update"|"delete", "collection", "rkey", "cid", "record"}}`. `time_us` (Unix
microseconds) is the resume cursor; several operations of one commit share it. Only
`app.bsky.feed.post` records are posts (reposts and likes carry no text and are not asked
for); a create or an update is read, a delete is counted and skipped (the post was sent
when it was created, or never). `Matcher` decides whether a post is about the brand: its
terms as whole words in any case and any script, mentions of its handles (in the text or as
mention facets, DIDs too), posts by its DIDs, and links to its domains (link facets,
external embeds, or the text). `event_post` maps a matched post to the message contract:
the id is the record's AT URI, the reach comes from a profile look-up done by the I/O side
(`bluesky_stream`). `connect_cursor` says where to resume after a restart or disconnect.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from brandmon_workers.collector.items import Stamp
from brandmon_workers.collector.markup import bounded
from brandmon_workers.contract.messages import Post
from brandmon_workers.contract.sources import BlueskySource

PLATFORM = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
# Jetstream's own advice: resume a little before the saved cursor, because a cursor is a
# time, not a position, and events of the same moment may straddle a disconnect. What is
# read twice is dropped by id.
REWIND_US = 5_000_000
_FACET_MENTION = "app.bsky.richtext.facet#mention"
_FACET_LINK = "app.bsky.richtext.facet#link"
_FACET_TAG = "app.bsky.richtext.facet#tag"
_HASHTAG = re.compile(r"(?:^|\s)#([^\s#.,!?;:()\[\]]{1,64})")
_URL_HOST = re.compile(r"(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]|\b)", re.IGNORECASE)


class EventFormatError(ValueError):
    """A frame that is not a Jetstream event."""


@dataclass(frozen=True)
class Commit:
    """A repository operation."""

    operation: str
    collection: str
    rkey: str
    record: Mapping[str, Any] | None
    cid: str | None


@dataclass(frozen=True)
class Event:
    """One Jetstream event."""

    did: str
    time_us: int
    kind: str
    commit: Commit | None

    @property
    def is_post(self) -> bool:
        """Return whether it creates or updates a post."""
        return (
            self.kind == "commit"
            and self.commit is not None
            and self.commit.collection == POST_COLLECTION
            and self.commit.operation in ("create", "update")
            and isinstance(self.commit.record, Mapping)
        )

    @property
    def uri(self) -> str:
        """Return the AT URI of the record (at://did/collection/rkey)."""
        commit = self.commit
        return f"at://{self.did}/{commit.collection}/{commit.rkey}" if commit else ""


def parse_event(frame: str | bytes) -> Event:
    """Parse one frame; raise EventFormatError for anything that is not an event.

    A binary frame or one with bytes that are not UTF-8 is decoded with replacement: a
    broken character must not hide a post about the brand.
    """
    text = frame.decode("utf-8", errors="replace") if isinstance(frame, bytes) else frame
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise EventFormatError(f"not JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise EventFormatError("an event is a JSON object")
    did, time_us, kind = data.get("did"), data.get("time_us"), data.get("kind")
    if not isinstance(did, str) or not isinstance(time_us, int) or not isinstance(kind, str):
        raise EventFormatError("an event has did, time_us and kind")
    commit = None
    raw = data.get("commit")
    if kind == "commit":
        if not isinstance(raw, dict):
            raise EventFormatError("a commit event has a commit")
        record = raw.get("record")
        commit = Commit(
            operation=str(raw.get("operation") or ""),
            collection=str(raw.get("collection") or ""),
            rkey=str(raw.get("rkey") or ""),
            record=record if isinstance(record, dict) else None,
            cid=raw.get("cid") if isinstance(raw.get("cid"), str) else None,
        )
    return Event(did=did, time_us=time_us, kind=kind, commit=commit)


# --- matching -------------------------------------------------------------------------------


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _word_char(char: str) -> bool:
    # Letters of alphabetic scripts and digits join words; CJK and other scripts without
    # spaces between words do not, so "ACMEのスケート" mentions ACME.
    if not char:
        return False
    if char.isdigit() or char == "_":
        return True
    return char.isalpha() and unicodedata.name(char, "").split(" ")[0] in (
        "LATIN", "GREEK", "CYRILLIC", "ARMENIAN", "GEORGIAN",
    )  # fmt: skip


def contains_word(text: str, term: str) -> bool:
    """Return whether folded `text` holds folded `term` not inside a longer word."""
    start = text.find(term)
    while start >= 0:
        end = start + len(term)
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        edge_before = not (_word_char(term[0]) and _word_char(before))
        edge_after = not (_word_char(term[-1]) and _word_char(after))
        if edge_before and edge_after:
            return True
        start = text.find(term, start + 1)
    return False


def _host_matches(host: str, domains: Iterable[str]) -> str | None:
    host = host.lower().rstrip(".")
    for domain in domains:
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def _facets(record: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for facet in record.get("facets") or []:
        if isinstance(facet, Mapping):
            for feature in facet.get("features") or []:
                if isinstance(feature, Mapping):
                    yield feature


def _links(record: Mapping[str, Any]) -> list[str]:
    links = [str(f.get("uri")) for f in _facets(record) if f.get("$type") == _FACET_LINK]
    embed = record.get("embed")
    for candidate in (embed, embed.get("media") if isinstance(embed, Mapping) else None):
        if isinstance(candidate, Mapping) and isinstance(candidate.get("external"), Mapping):
            links.append(str(candidate["external"].get("uri") or ""))
    return links


@dataclass(frozen=True)
class Matcher:
    """What makes a post about the brand."""

    terms: tuple[str, ...]
    handles: tuple[str, ...]
    dids: frozenset[str]
    domains: tuple[str, ...]

    @classmethod
    def of(cls, config: BlueskySource, brand: str) -> Matcher:
        """Build the matcher of a source (the brand name counts when matchBrand is on)."""
        terms = [_fold(t) for t in config.terms]
        if config.match_brand and brand.strip():
            terms.append(_fold(brand.strip()))
        accounts = [h.removeprefix("@").lower() for h in config.handles]
        return cls(
            terms=tuple(dict.fromkeys(t for t in terms if t)),
            handles=tuple(a for a in accounts if not a.startswith("did:")),
            dids=frozenset(a for a in accounts if a.startswith("did:")),
            domains=tuple(d.lower() for d in config.domains),
        )

    def why(self, event: Event) -> str | None:
        """Return why a post event matches (for logs and tests), or None."""
        record = event.commit.record if event.commit else None
        if not isinstance(record, Mapping):
            return None
        if event.did in self.dids:
            return f"by {event.did}"
        text = str(record.get("text") or "")
        return self._in_text(_fold(text)) or self._in_facets(record) or self._in_links(record, text)

    def _in_text(self, folded: str) -> str | None:
        for term in self.terms:
            if contains_word(folded, term):
                return f"term {term!r}"
        for handle in self.handles:
            if contains_word(folded, "@" + handle):
                return f"mentions @{handle}"
        return None

    def _in_facets(self, record: Mapping[str, Any]) -> str | None:
        for feature in _facets(record):
            if feature.get("$type") == _FACET_MENTION and feature.get("did") in self.dids:
                return f"mentions {feature.get('did')}"
        return None

    def _in_links(self, record: Mapping[str, Any], text: str) -> str | None:
        if not self.domains:
            return None
        hosts = [urllib.parse.urlsplit(link).hostname or "" for link in _links(record)]
        for host in [*hosts, *_URL_HOST.findall(text)]:
            found = _host_matches(host, self.domains)
            if found:
                return f"links to {found}"
        return None


# --- the message --------------------------------------------------------------------------


def post_url(did: str, rkey: str, handle: str | None = None) -> str:
    """Return the post's bsky.app address."""
    return f"https://bsky.app/profile/{handle or did}/post/{rkey}"


def _created(record: Mapping[str, Any], time_us: int) -> datetime:
    text = record.get("createdAt")
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(time_us / 1_000_000, UTC)


@dataclass(frozen=True)
class Author:
    """What a profile look-up says about a post's author."""

    handle: str | None = None
    followers: int | None = None


def event_post(event: Event, stamp: Stamp, author: Author | None = None) -> Post:
    """Return the Post of a post event (create or update)."""
    commit = event.commit
    if commit is None or not isinstance(commit.record, Mapping):
        raise EventFormatError("not a post event")
    record = commit.record
    text = str(record.get("text") or "")
    tags = [str(f.get("tag")) for f in _facets(record) if f.get("$type") == _FACET_TAG]
    tags += [t for t in _HASHTAG.findall(text) if t not in tags]
    mentions = [str(f.get("did")) for f in _facets(record) if f.get("$type") == _FACET_MENTION]
    langs = record.get("langs")
    who = author or Author()
    return Post(
        post_id=f"bluesky:{event.uri}",
        shortcode=commit.rkey,
        username=who.handle or event.did,
        url=post_url(event.did, commit.rkey, who.handle),
        caption=bounded(text),
        hashtags=tags[:50],
        mentions=mentions[:50],
        posted_at=_created(record, event.time_us),
        platform=PLATFORM,
        author_followers=who.followers,
        language=str(langs[0]) if isinstance(langs, list) and langs else "",
        provenance=stamp(),
    )


# --- cursors --------------------------------------------------------------------------------


def connect_cursor(saved: int | None, now_us: int) -> int | None:
    """Return the cursor to connect with: a little before the saved one; None for live.

    A saved cursor in the future (a clock that jumped, a state from elsewhere) would make
    the stream start at its live end anyway; saying so (None) keeps the logs honest.
    """
    if saved is None or saved <= 0:
        return None
    if saved > now_us:
        return None
    return max(1, saved - REWIND_US)


def subscribe_url(base: str, cursor: int | None) -> str:
    """Return the Jetstream subscription URL asking for posts only, from a cursor."""
    query = [("wantedCollections", POST_COLLECTION)]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urllib.parse.urlencode(query)}"
