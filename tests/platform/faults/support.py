"""Helpers of the fault tests: a webhook receiver that can fail on command, alert messages.

`FlakyReceiver` answers 200 and records the delivery, or answers 500, or holds the request
without an answer (past the notifier's timeout) until told otherwise; it counts every
attempt, so a test can see the retries.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self, cast

from brandmon_devtools.platform.runtime import stop_processes
from brandmon_workers import notifier
from brandmon_workers.contract.messages import Alert
from brandmon_workers.contract.settings import WorkerSettings

__all__ = ["FlakyReceiver", "alert", "stop_processes"]

Mode = Literal["ok", "error", "hang"]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver = cast(_Server, self.server).receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode = receiver.attempt()
        if mode == "hang":
            receiver.released.wait()
            self.close_connection = True
            return
        if mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        receiver.deliver(dict(self.headers.items()), json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: FlakyReceiver) -> None:
        self.receiver = receiver
        super().__init__(("127.0.0.1", 0), _Handler)


class FlakyReceiver:
    """A local webhook receiver whose answers a test switches between ok, error and hang."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode: Mode = "ok"
        self.released = threading.Event()
        self.released.set()
        self.attempts: dict[Mode, int] = {"ok": 0, "error": 0, "hang": 0}
        self.deliveries: list[dict[str, Any]] = []
        """Bodies answered with 200, in order."""
        self.delivery_ids: list[str] = []
        """Their X-Brandmon-Delivery headers."""
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The receiver's URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/pr-team"

    def set_mode(self, mode: Mode) -> None:
        """Answer every following request this way; leaving `hang` drops the held ones."""
        with self._lock:
            self._mode = mode
            if mode == "hang":
                self.released.clear()
            else:
                self.released.set()

    def attempt(self) -> Mode:
        """Count one request and return how to answer it."""
        with self._lock:
            self.attempts[self._mode] += 1
            return self._mode

    def deliver(self, headers: dict[str, str], body: dict[str, Any]) -> None:
        """Record a delivery answered with 200."""
        with self._lock:
            self.deliveries.append(body)
            self.delivery_ids.append(headers.get("X-Brandmon-Delivery", ""))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


def delivery_id(settings: WorkerSettings, post_id: str) -> str:
    """Return the X-Brandmon-Delivery id of a post's alert to the settings' only webhook."""
    (webhook,) = settings.webhooks
    return notifier.delivery_id(settings.namespace, settings.monitor, webhook.name, post_id)


def alert(post_id: str, username: str, score: float = 0.9) -> Alert:
    """Return an alert as the engine would write it."""
    return Alert(post_id=post_id, username=username, text_score=score, final_score=score,
                 keywords=["data breach"], negativity=0.4)  # fmt: skip
