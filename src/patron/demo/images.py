"""Product pictures for the demo store: a clean coloured card with a shape, the initials and a short name."""

from __future__ import annotations

import colorsys
import io
from functools import cache
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

SIZE = 600
Shape = Literal["circle", "square", "hexagon", "triangle"]


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font keeps the generator free of system font files.
    return ImageFont.load_default(size=size)


@cache
def _gradient() -> Image.Image:
    return Image.linear_gradient("L").resize((SIZE, SIZE))


def _rgb(hue: float, lightness: float, saturation: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


def initials(name: str) -> str:
    words = [word for word in name.replace("-", " ").split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "P"


def _fit(text: str, size: int, width: int) -> tuple[str, ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    """Shrink the font, then the text, until it fits the card."""
    font = _font(size)
    while size > 22 and font.getlength(text) > width:
        size -= 4
        font = _font(size)
    while font.getlength(text) > width and " " in text:
        text = text.rsplit(" ", 1)[0]
    return text, font


def render_card(*, title: str, caption: str, brand: str, hue: float, shape: Shape, quality: int = 90) -> bytes:
    """A 600x600 JPEG (about 20 KB) picturing a product."""
    light, deeper = _rgb(hue, 0.90, 0.55), _rgb(hue + 0.05, 0.75, 0.50)
    card = Image.composite(Image.new("RGB", (SIZE, SIZE), deeper), Image.new("RGB", (SIZE, SIZE), light), _gradient())
    draw = ImageDraw.Draw(card)
    accent = _rgb(hue, 0.45, 0.60)
    box = (140, 90, 460, 410)
    if shape == "circle":
        draw.ellipse(box, fill=accent)
    elif shape == "square":
        draw.rounded_rectangle(box, radius=56, fill=accent)
    elif shape == "hexagon":
        draw.regular_polygon((300, 250, 175), 6, fill=accent)
    else:
        draw.regular_polygon((300, 275, 190), 3, fill=accent)
    draw.text((300, 262), initials(title), font=_font(150), fill="white", anchor="mm")
    draw.text((300, 40), brand.upper(), font=_font(24), fill=_rgb(hue, 0.30, 0.35), anchor="mm")
    text, font = _fit(caption, 38, SIZE - 80)
    draw.text((300, 500), text, font=font, fill=_rgb(hue, 0.18, 0.30), anchor="mm")
    out = io.BytesIO()
    card.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()
