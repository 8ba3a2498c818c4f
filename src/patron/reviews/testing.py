"""Helpers for tests of reviews and follow-ups: orders taken to delivery the way staff and carriers do it."""

from __future__ import annotations

import io
from datetime import datetime

from django.utils import timezone
from PIL import Image

from patron.accounts.models import User
from patron.orders import services as orders
from patron.orders.models import Order, Shipment


def ship(order: Order, *, staff: User, at: datetime | None = None) -> Shipment:
    """Hand a paid order to a carrier (at `at`, default now)."""
    shipment = orders.add_shipment(order, carrier="Parcelo", tracking_number=f"PX-{order.pk}", actor=staff)
    if at is not None:
        Shipment.objects.filter(pk=shipment.pk).update(shipped_at=at)
        shipment.shipped_at = at
    return shipment


def deliver(order: Order, *, staff: User, at: datetime | None = None, shipped_at: datetime | None = None) -> Order:
    """Ship a paid order and record the carrier's delivery scan at `at` (default now)."""
    shipment = ship(order, staff=staff, at=shipped_at)
    orders.add_tracking_event(shipment, at=at or timezone.now(), status="delivered")
    order.refresh_from_db()
    return order


def photo_bytes(
    width: int = 40, height: int = 30, *, image_format: str = "JPEG", colour: str = "navy", exif: bytes | None = None
) -> bytes:
    """An image file as a phone would upload it, optionally with EXIF data (e.g. a GPS location)."""
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), colour)
    options = {"exif": exif} if exif is not None else {}
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def gps_exif() -> bytes:
    """EXIF with a GPS position and a camera serial number, the kind of metadata photos must lose."""
    exif = Image.Exif()
    exif[0x0110] = "Pixel 9"  # camera model
    exif[0xA431] = "SN-1234567"  # body serial number
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 0.0)
    return exif.tobytes()
