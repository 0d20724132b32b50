"""Webhook receiver for the demo on kind, standing in for the PR team's endpoint.

It runs in the brandmon image (`python /scripts/receiver.py`, mounted from a ConfigMap),
answers every POST with 200 and logs one line per delivery,
`delivered <path> <delivery id> <body as one line of JSON>`, which the demo reads with
`kubectl logs`. Each demo run posts to a path of its own, so a run counts only its own
deliveries even when the receiver served an earlier one.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8080


class Receiver(BaseHTTPRequestHandler):
    """Accepts the notifier's generic JSON alerts."""

    def do_POST(self) -> None:
        """Log the delivery and acknowledge it."""
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        delivery = self.headers.get("X-Brandmon-Delivery", "-")
        line = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
        print(f"delivered {self.path} {delivery} {line}", flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        """Keep the log to delivery lines only."""
        return


def main() -> None:
    """Serve until the pod stops."""
    # Inside a pod: every interface is the pod's own.
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Receiver)  # noqa: S104
    server.serve_forever()


if __name__ == "__main__":
    main()
