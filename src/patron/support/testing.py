"""Helpers for tests of the text channels: a local stand-in for Twilio's Messages API, and webhooks signed as Twilio
signs them (with the SDK's own RequestValidator)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.test import Client
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from patron.support import text_channel

STUB_ACCOUNT_SID = "AC" + "0" * 31 + "1"
STUB_AUTH_TOKEN = "patron-stub-auth-token"  # noqa: S105 (a fake token the stub accepts)
TWILIO_API = "https://api.twilio.com"


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class TwilioStub:
    """Answers POST /2010-04-01/Accounts/<sid>/Messages.json like Twilio (a queued message with a new SID), checks
    the account's credentials, and keeps every request it saw."""

    base_url: str = ""
    requests: list[StubRequest] = field(default_factory=list)
    # A status and Twilio error body to answer the next request with, to play an outage or a refusal.
    fail_next: tuple[int, dict[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            expected = base64.b64encode(f"{STUB_ACCOUNT_SID}:{STUB_AUTH_TOKEN}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return 401, {"code": 20003, "message": "Authenticate", "status": 401}
            if self.fail_next is not None:
                status, body = self.fail_next
                self.fail_next = None
                return status, body
            if request.path != f"/2010-04-01/Accounts/{STUB_ACCOUNT_SID}/Messages.json":
                return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
            sid = "SM" + secrets.token_hex(16)
            params = request.params
            return 201, {
                "sid": sid,
                "account_sid": STUB_ACCOUNT_SID,
                "to": params.get("To"),
                "from": params.get("From"),
                "body": params.get("Body"),
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "num_media": "0",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{STUB_ACCOUNT_SID}/Messages/{sid}.json",
            }

    def messages(self) -> list[dict[str, str]]:
        """The messages the store asked Twilio to send, as the form fields it posted."""
        return [r.params for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]


def _handler(stub: TwilioStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            request = StubRequest(
                method="POST",
                path=self.path.split("?", 1)[0],
                headers={name.lower(): value for name, value in self.headers.items()},
                params=dict(parse_qsl(body, keep_blank_values=True)),
            )
            status, reply = stub.answer(request)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the stub's requests are asserted on, not logged."""

    return Handler


class LoopbackHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending what it would send to api.twilio.com to the stub instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=5)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


@contextmanager
def running_twilio_stub() -> Iterator[TwilioStub]:
    """Serve the stub on a free loopback port and send the SDK's requests there for the duration."""
    stub = TwilioStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    saved = text_channel.make_http_client

    def loopback() -> HttpClient:
        return LoopbackHttpClient(stub.base_url)

    text_channel.make_http_client = loopback
    try:
        yield stub
    finally:
        text_channel.make_http_client = saved
        server.shutdown()
        server.server_close()
        thread.join()


def twilio_signature(path: str, params: dict[str, str], *, token: str = STUB_AUTH_TOKEN) -> str:
    """The `X-Twilio-Signature` Twilio would send for a webhook to SITE_URL + path."""
    return str(RequestValidator(token).compute_signature(settings.SITE_URL.rstrip("/") + path, params))


def deliver_twilio_webhook(
    client: Client, path: str, params: dict[str, str], *, signature: str | None = None, token: str = STUB_AUTH_TOKEN
) -> Any:
    """POST a form-encoded webhook as Twilio does; `signature=""` sends none."""
    given = twilio_signature(path, params, token=token) if signature is None else signature
    headers = {text_channel.SIGNATURE_HEADER: given} if given else {}
    return client.post(path, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers)
