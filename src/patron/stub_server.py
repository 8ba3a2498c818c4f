"""A stand-in for a partner's HTTP API on loopback (Stripe, Twilio, Meta's Graph API), so that tests run the real SDK
and replace only the cloud behind it. Each stand-in decides the answers; this serves them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    # The form fields of a form-encoded body (Stripe's and Twilio's SDKs).
    params: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    # The body of a JSON request (the Graph API).
    json: Any = None


Answer = Callable[[StubRequest], tuple[int, dict[str, Any]]]


def _handler(answer: Answer) -> type[BaseHTTPRequestHandler]:
    request_ids = count(1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            path, _, query = self.path.partition("?")
            is_json = (self.headers.get("Content-Type") or "").startswith("application/json")
            request = StubRequest(
                method="POST",
                path=path,
                headers={name.lower(): value for name, value in self.headers.items()},
                params={} if is_json else dict(parse_qsl(body, keep_blank_values=True)),
                query=dict(parse_qsl(query, keep_blank_values=True)),
                json=json.loads(body or "null") if is_json else None,
            )
            status, reply = answer(request)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            # Stripe's SDK quotes the request id in its errors.
            self.send_header("Request-Id", f"req_stub{next(request_ids)}")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the stub's requests are asserted on, not logged."""

    return Handler


@contextmanager
def serving(answer: Answer) -> Iterator[str]:
    """Serve `answer` on a free loopback port for the duration; yields the server's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(answer))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
