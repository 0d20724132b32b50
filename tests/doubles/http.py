"""A scripted local HTTP server: each path answers with a queue of canned replies.

Tests register replies per path (`route`); a path's replies are served in order and the
last one repeats, so "429 then 200" or "page 1, page 2" are one line. Every request is
kept (`requests`) so tests can check what the collector asked, with which headers.
`wait_for` waits for a number of requests instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Reply:
    """One canned answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    """Path and query."""
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Request], Reply]


class HttpDouble:
    """A threaded HTTP server on a free port (loopback unless a kind test gives its bridge)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._routes: dict[str, list[Reply] | Responder] = {}
        self.requests: list[Request] = []
        self._changed = threading.Condition()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                reply = double._reply(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                with double._changed:
                    double.requests.append(request)
                    double._changed.notify_all()

            do_GET = _serve  # noqa: N815 - http.server's naming
            do_POST = _serve  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests check requests themselves."""

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the server's base URL (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, *replies: Reply | Responder) -> None:
        """Answer `path` (without query) with the replies in order, the last repeating."""
        if len(replies) == 1 and callable(replies[0]):
            self._routes[path] = replies[0]
        else:
            self._routes[path] = [r for r in replies if isinstance(r, Reply)]

    def _reply(self, request: Request) -> Reply:
        route = self._routes.get(request.path.split("?", 1)[0])
        if route is None:
            return Reply(404, b"not found")
        if callable(route):
            return route(request)
        return route.pop(0) if len(route) > 1 else route[0]

    def paths(self, prefix: str = "") -> list[str]:
        """Return the paths (with query) requested so far, optionally those under a prefix."""
        return [r.path for r in self.requests if r.path.startswith(prefix)]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Request]:
        """Wait until at least `count` requests were served; return them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} requests after {timeout}s")
            return list(self.requests)

    def __enter__(self) -> HttpDouble:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve() -> Iterator[HttpDouble]:
    """Yield a running double (for fixtures)."""
    with HttpDouble() as double:
        yield double
