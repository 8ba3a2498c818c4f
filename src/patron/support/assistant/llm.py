"""Optional generative phrasing through an OpenAI-compatible `/chat/completions` endpoint (Ollama, vLLM, ...).

The assistant decides and acts without it; the model only rewords the assistant's draft reply, given the facts
(tool results, article passages) the draft was built from. Any failure, timeout or empty answer keeps the draft,
so a slow or broken model server never breaks the chat.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence

from django.conf import settings

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are the customer support assistant of an online store called {store}. Rewrite the DRAFT reply to the "
    "customer in a friendly, concise way (at most 3 sentences). Use only the FACTS and the DRAFT: never add order "
    "details, amounts, dates, policies or promises that are not there, never say an action was done unless the "
    "DRAFT says so, and keep every order number, amount and link exactly as written. Answer in the customer's "
    "language."
)
MAX_ANSWER_LENGTH = 1200


def enabled() -> bool:
    return bool(settings.SUPPORT_LLM_BASE_URL and settings.SUPPORT_LLM_MODEL)


def complete(messages: Sequence[dict[str, str]]) -> str | None:
    """The model's answer to `messages`, or None when the endpoint fails or answers nothing usable."""
    url = settings.SUPPORT_LLM_BASE_URL.rstrip("/") + "/chat/completions"
    if not url.startswith(("http://", "https://")):
        return None
    body = json.dumps({"model": settings.SUPPORT_LLM_MODEL, "messages": list(messages), "temperature": 0.2}).encode()
    headers = {"Content-Type": "application/json"}
    if settings.SUPPORT_LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.SUPPORT_LLM_API_KEY}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=settings.SUPPORT_LLM_TIMEOUT_SECONDS) as response:  # noqa: S310
            payload = json.loads(response.read())
        content = payload["choices"][0]["message"]["content"]
    except (urllib.error.URLError, TimeoutError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        logger.warning("Support LLM endpoint failed: %s", exc)
        return None
    if not isinstance(content, str) or not content.strip():
        return None
    return content.strip()[:MAX_ANSWER_LENGTH]


def phrase(draft: str, facts: Sequence[str], customer_message: str) -> str | None:
    """The draft reworded by the model, grounded in `facts`; None to keep the draft."""
    if not enabled():
        return None
    context = "FACTS:\n" + ("\n".join(f"- {fact}" for fact in facts) or "- (none)") + f"\n\nDRAFT:\n{draft}"
    return complete(
        [
            {"role": "system", "content": SYSTEM_PROMPT.format(store=settings.STORE_NAME)},
            {"role": "user", "content": f"Customer: {customer_message}\n\n{context}"},
        ]
    )
