"""Webhooks that the merchant's partners (carriers, the mail provider) sign: one signature scheme for all of them.

The sender puts `sha256=<hex HMAC-SHA256 of the raw body>` in the `X-Patron-Signature` header, keyed with a
secret shared with the merchant; without a configured secret nothing can be verified, so nothing is accepted.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_signed(body: bytes, secret: str, given: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(body, secret), given or "")
