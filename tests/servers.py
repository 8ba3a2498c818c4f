"""Real servers that tests talk to on loopback: an SMTP inbox (aiosmtpd) and an S3-compatible store (moto)."""

from __future__ import annotations

import email
import email.policy
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """What an aiosmtpd server received, parsed as email messages."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def message_parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a message; both must be present."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


@contextmanager
def moto_server() -> Iterator[str]:
    """An S3-compatible server (moto) on a free loopback port; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = threading.Event()

    def follow() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if "Running on" in line:
                running.set()
        running.set()  # the server exited: stop waiting, the assertion below reports it

    threading.Thread(target=follow, daemon=True).start()
    try:
        assert running.wait(60) and process.poll() is None, "moto_server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@contextmanager
def s3_default_storage(endpoint: str, bucket: str, **overrides: Any) -> Iterator[Any]:
    """Django's default storage on a fresh bucket of the moto server at `endpoint` (with any other settings in
    `overrides`); yields a boto3 client of that server, and empties and removes the bucket afterwards."""
    from django.conf import settings
    from django.test import override_settings

    client = s3_client(endpoint)
    client.create_bucket(Bucket=bucket)
    default = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "access_key": "testing",
            "secret_key": "testing",
            "querystring_auth": False,
            "file_overwrite": False,
        },
    }
    try:
        with override_settings(STORAGES={**settings.STORAGES, "default": default}, **overrides):
            yield client
    finally:
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
