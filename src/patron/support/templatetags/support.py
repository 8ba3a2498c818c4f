"""Template helpers of support: messages with their links made clickable."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Absolute links, and the store's own paths the assistant writes ("/account/orders/T000001/").
LINK = re.compile(r"(https?://[^\s<>\"']+|(?<!\S)/[a-z0-9][\w\-/.?=&%~]*)", re.IGNORECASE)


@register.filter
def linkify(text: str) -> SafeString:
    """Escaped text with its links as anchors and its line breaks kept."""
    parts: list[str] = []
    position = 0
    for match in LINK.finditer(text or ""):
        url = match.group(0).rstrip(".,;:)")
        parts.append(escape(text[position : match.start()]))
        # Signed links carry a long token: the path alone reads better.
        parts.append(format_html('<a href="{}">{}</a>', url, url.split("?")[0]))
        position = match.start() + len(url)
    parts.append(escape((text or "")[position:]))
    return mark_safe("".join(parts).replace("\n", "<br>"))  # noqa: S308 (every part is escaped above)
