"""Helpers for tests of the text and social channels: local stand-ins for Twilio's Messages API and Meta's Graph API
(Send API), and webhooks signed as Twilio (with the SDK's own RequestValidator) and Meta sign them."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.test import Client
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from patron.stub_server import StubRequest, serving
from patron.support import social_channel, text_channel

STUB_ACCOUNT_SID = "AC" + "0" * 31 + "1"
STUB_AUTH_TOKEN = "patron-stub-auth-token"  # noqa: S105 (a fake token the stub accepts)
TWILIO_API = "https://api.twilio.com"
STUB_PAGE_ID = "104560000000001"
STUB_INSTAGRAM_ID = "17841400000000001"
STUB_PAGE_TOKEN = "patron-stub-page-access-token"  # noqa: S105 (a fake token the stub accepts)
STUB_APP_SECRET = "patron-stub-app-secret"  # noqa: S105 (a fake secret)


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
    saved = text_channel.make_http_client
    with serving(stub.answer) as base_url:
        stub.base_url = base_url

        def loopback() -> HttpClient:
            return LoopbackHttpClient(stub.base_url)

        text_channel.make_http_client = loopback
        try:
            yield stub
        finally:
            text_channel.make_http_client = saved


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


# --- Meta ----------------------------------------------------------------------------------------------------------


@dataclass
class GraphStub:
    """Answers the Send API like Meta's Graph API: POST /me/messages (the Page of the token) and
    POST /<instagram id>/messages, checking the Page access token (`access_token` in the query) and the body, with
    `{"recipient_id", "message_id"}`; errors as Graph errors (`{"error": {"message", "type", "code", ...}}`). Keeps
    every request it saw."""

    base_url: str = ""
    requests: list[StubRequest] = field(default_factory=list)
    # A status and Graph error body to answer the next request with, to play an outage or a refusal.
    fail_next: tuple[int, dict[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            if request.query.get("access_token") != STUB_PAGE_TOKEN:
                return 400, graph_error(190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")
            if self.fail_next is not None:
                status, body = self.fail_next
                self.fail_next = None
                return status, body
            if request.path not in ("/me/messages", f"/{STUB_INSTAGRAM_ID}/messages"):
                return 400, graph_error(100, "Unsupported post request.", "GraphMethodException")
            payload = request.json if isinstance(request.json, dict) else {}
            recipient = (payload.get("recipient") or {}).get("id")
            text = (payload.get("message") or {}).get("text")
            if not recipient or not isinstance(text, str) or payload.get("messaging_type") != "RESPONSE":
                return 400, graph_error(100, "(#100) Invalid parameter", "OAuthException")
            prefix = "m_" if request.path == "/me/messages" else "aWdf"
            return 200, {"recipient_id": recipient, "message_id": prefix + secrets.token_urlsafe(24)}

    def messages(self) -> list[dict[str, Any]]:
        """What the store asked Meta to send: the JSON bodies, with the path and token they went to."""
        return [
            {**(r.json or {}), "path": r.path, "access_token": r.query.get("access_token")}
            for r in self.requests
            if r.path.endswith("/messages")
        ]


def graph_error(code: int, message: str, kind: str = "OAuthException", **extra: Any) -> dict[str, Any]:
    """A Graph API error body as Meta writes it."""
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123", **extra}}


@contextmanager
def running_graph_stub() -> Iterator[GraphStub]:
    """Serve the stub on a free loopback port; point META_GRAPH_URL at `stub.base_url` for the duration."""
    stub = GraphStub()
    with serving(stub.answer) as base_url:
        stub.base_url = base_url
        yield stub


def deliver_meta_webhook(
    client: Client, path: str, payload: dict[str, Any], *, signature: str | None = None, secret: str = STUB_APP_SECRET
) -> Any:
    """POST a JSON webhook as Meta does, signed with the app secret; `signature=""` sends none."""
    body = json.dumps(payload).encode()
    given = social_channel.signature(body, secret) if signature is None else signature
    headers = {social_channel.SIGNATURE_HEADER: given} if given else {}
    return client.post(path, body, content_type="application/json", headers=headers)
