"""Logged-in Instagram sessions, from the Secret the operator mounts at INSTAGRAM_SESSION_PATH.

Two file formats are accepted (see docs/replay-format.md, "Instagram sessions"):

* JSON `{"username": "alice", "session": {"sessionid": "...", "csrftoken": "...", ...}}`:
  the cookie dict instaloader's `Instaloader.load_session(username, session)` takes.
  `username` may be omitted.
* The file `instaloader --login alice` saves (~/.config/instaloader/session-alice): a
  pickled cookie dict. It is unpickled by an unpickler that refuses every class, so a
  crafted file cannot run code; only plain dicts, strings and numbers load.

A file without a username is completed by asking Instagram who the session belongs to
(`test_login`, one request), which also tells an expired session early. Cookie values are
secrets: they never appear in logs, errors or reprs.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import instaloader

# instaloader's own session requests need the CSRF token cookie.
REQUIRED_COOKIES = ("sessionid", "csrftoken")


class SessionError(Exception):
    """The session file cannot be used (its content is never part of the message)."""


@dataclass(frozen=True)
class InstagramSession:
    """A logged-in session: whose it is (if known) and its cookies."""

    username: str | None
    cookies: dict[str, str] = field(repr=False)


class _CookieUnpickler(pickle.Unpickler):
    """Unpickle plain data only: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        """Refuse every global; a cookie dict needs none."""
        raise SessionError("the session file references code; only a plain cookie dict is accepted")


def parse_session(data: bytes) -> InstagramSession:
    """Parse a session file in either accepted format."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        return _parse_json(stripped)
    try:
        cookies = _CookieUnpickler(io.BytesIO(data)).load()
    except SessionError:
        raise
    except Exception as error:  # any unpickling failure means "not a session file"
        raise SessionError(
            "the session file is neither JSON nor an instaloader session file"
        ) from error
    return InstagramSession(username=None, cookies=_cookie_dict(cookies))


def _parse_json(data: bytes) -> InstagramSession:
    try:
        document = json.loads(data)
    except ValueError as error:
        raise SessionError("the session file is not valid JSON") from error
    if not isinstance(document, dict) or not set(document) <= {"username", "session"}:
        raise SessionError('a JSON session file is {"username": ..., "session": {cookies}}')
    username = document.get("username")
    if username is not None and (not isinstance(username, str) or not username):
        raise SessionError("'username' must be a non-empty string")
    return InstagramSession(username=username, cookies=_cookie_dict(document.get("session")))


def _cookie_dict(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) for k, v in value.items()
    ):
        raise SessionError("the session must be a dict of cookie names to values")
    cookies = {name: str(content) for name, content in value.items()}
    missing = [name for name in REQUIRED_COOKIES if not cookies.get(name)]
    if missing:
        raise SessionError(f"the session lacks the cookies {', '.join(missing)}")
    return cookies


def read_session(path: Path) -> InstagramSession:
    """Read and parse the mounted session file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SessionError(f"cannot read the session file {path}: {error.strerror}") from error
    return parse_session(data)


def apply_session(loader: instaloader.Instaloader, session: InstagramSession) -> str:
    """Log `loader` in with the session; return the username it belongs to."""
    loader.load_session(session.username or "", session.cookies)
    if session.username:
        return session.username
    username = loader.test_login()
    if not username:
        raise SessionError("Instagram does not accept the session (expired or logged out)")
    # instaloader marks a context logged in by its username.
    loader.context.username = username
    return str(username)
