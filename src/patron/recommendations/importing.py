"""Importing a purchase log as customers, products and delivered orders, so a store can start with its history.

The file formats are those of `patron recommend evaluate` (generic user/item/timestamp/quantity CSV or Parquet,
or Online Retail II as published), read and cleaned by the same code.

- Customers: a user id that is an email address becomes that customer's address; any other id gets a stable
  placeholder on a reserved domain (`customer-<id>@customers.invalid`, RFC 2606), so it can never receive mail.
  Imported customers have no usable password (they can set one with a password reset if the address is real),
  and no sign-up events are published: these are past customers, not new sign-ups.
- Products: one per item id (the item id is the variant's SKU), in the "Imported" category, named by the most
  frequent name in the log, priced at the median unit price, with generous stock. Items without any price in
  the log are created inactive rather than sold for nothing.
- Orders: one per basket, delivered, placed at the basket's time, with a line per log line and one status
  history row; the number is `IMP-` and the basket id, so importing the same file twice adds nothing.
  Imported orders never took units from stock (`stock_reserved` is off), and totals are the lines' sum, with
  no shipping or tax, which the log does not record.

Rows are written with bulk inserts in chunks of orders, each chunk in its own transaction.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import batched
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from patron.accounts.models import Preferences, User
from patron.catalog import services as catalog
from patron.catalog.models import Category, Product, Variant
from patron.errors import ValidationFailed
from patron.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange
from patron.progress import Progress, silent_progress
from patron.recommendations.engine.data import PurchaseLog, read_purchase_log

PLACEHOLDER_DOMAIN = "customers.invalid"
ORDER_PREFIX = "IMP-"
CATEGORY_NAME = "Imported"
CATEGORY_SLUG = "imported"
IMPORTED_STOCK = 10_000
ORDERS_PER_CHUNK = 2_000
# Keeps `IN (...)` lists under SQLite's bound-parameter limit.
LOOKUP_BATCH = 5_000
CENT = Decimal("0.01")
_SIMPLE_ID = re.compile(r"[a-z0-9]{1,40}")
_SIMPLE_BASKET = re.compile(r"[A-Za-z0-9_-]{1,16}")


@dataclass
class ImportReport:
    lines: int = 0
    orders: int = 0
    orders_already_imported: int = 0
    order_lines: int = 0
    customers: int = 0
    customers_existing: int = 0
    products: int = 0
    products_existing: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Basket:
    number: str
    user_id: str
    placed_at: datetime
    rows: np.ndarray


def import_orders(path: Path, *, progress: Progress = silent_progress) -> ImportReport:
    """Read a purchase log file and import it; ValidationFailed when the file cannot be used."""
    started = time.perf_counter()
    with progress("Reading the purchase log", 1) as advance:
        try:
            log = read_purchase_log(path)
        except ValueError as error:
            raise ValidationFailed(str(error), fields={"file": [str(error)]}) from error
        advance(1)
    report = import_purchase_log(log, source=Path(path).name, progress=progress)
    report.seconds = time.perf_counter() - started
    return report


def import_purchase_log(log: PurchaseLog, *, source: str, progress: Progress = silent_progress) -> ImportReport:
    """Create what is missing of the log's customers, products and orders; what exists is left as it is."""
    started = time.perf_counter()
    report = ImportReport(lines=len(log))
    baskets = _baskets(log)
    existing = _existing_numbers([basket.number for basket in baskets])
    new = [basket for basket in baskets if basket.number not in existing]
    report.orders_already_imported = len(baskets) - len(new)
    if new:
        rows = np.concatenate([basket.rows for basket in new])
        users = _ensure_customers(log, new, report, progress)
        variants = _ensure_products(log, rows, report, progress)
        _create_orders(log, new, users, variants, source, report, progress)
        with progress("Counting sales", 1) as advance:
            catalog.refresh_sales_counts({variant.product_id for variant in variants.values()})
            advance(1)
    report.seconds = time.perf_counter() - started
    return report


def order_number(basket_id: str) -> str:
    """`IMP-` and the basket id, or a digest of it when it is long or has other characters than letters,
    digits, '-' and '_' (order numbers appear in URLs and have at most 20 characters)."""
    if _SIMPLE_BASKET.fullmatch(basket_id):
        return ORDER_PREFIX + basket_id
    return ORDER_PREFIX + hashlib.sha256(basket_id.encode()).hexdigest()[:16]


def customer_email(user_id: str) -> str:
    """The customer's address: the id itself when it is an email address, else a stable placeholder."""
    if "@" in user_id:
        try:
            validate_email(user_id)
        except ValidationError:
            pass
        else:
            return User.objects.normalize_email(user_id).lower()
    local = user_id if _SIMPLE_ID.fullmatch(user_id) else hashlib.sha256(user_id.encode()).hexdigest()[:20]
    return f"customer-{local}@{PLACEHOLDER_DOMAIN}"


def _baskets(log: PurchaseLog) -> list[_Basket]:
    """The log's baskets in time order, each with its rows (the reader guarantees one user per basket)."""
    ids, inverse = np.unique(log.basket_ids, return_inverse=True)
    order = np.lexsort((np.arange(len(log)), inverse))
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    groups = np.split(order, bounds)
    placed = [log.timestamps[rows].min() for rows in groups]
    current = timezone.get_current_timezone()
    baskets = [
        _Basket(
            number=order_number(str(ids[inverse[rows[0]]])),
            user_id=str(log.user_ids[rows[0]]),
            placed_at=timezone.make_aware(at.astype(datetime), current),
            rows=rows,
        )
        for rows, at in zip(groups, placed, strict=True)
    ]
    baskets.sort(key=lambda basket: (basket.placed_at, basket.number))
    return baskets


def _existing_numbers(numbers: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for batch in batched(numbers, LOOKUP_BATCH):
        found.update(Order.objects.filter(number__in=batch).values_list("number", flat=True))
    return found


def _ensure_customers(
    log: PurchaseLog, baskets: Sequence[_Basket], report: ImportReport, progress: Progress
) -> dict[str, User]:
    """The user of every customer id in `baskets`, creating the missing ones (joined at their first order)."""
    first_order: dict[str, datetime] = {}
    for basket in baskets:
        first_order.setdefault(basket.user_id, basket.placed_at)
    emails = {user_id: customer_email(user_id) for user_id in first_order}
    with progress("Customers", len(emails)) as advance:
        by_email: dict[str, User] = {}
        for batch in batched(sorted(set(emails.values())), LOOKUP_BATCH):
            by_email.update((user.email, user) for user in User.objects.filter(email__in=batch))
        report.customers_existing = len(by_email)
        missing: dict[str, datetime] = {}
        for user_id, email in emails.items():
            if email not in by_email:
                missing[email] = min(first_order[user_id], missing.get(email, first_order[user_id]))
        with transaction.atomic():
            created = User.objects.bulk_create(
                [
                    User(email=email, password=make_password(None), date_joined=joined)
                    for email, joined in missing.items()
                ],
                batch_size=LOOKUP_BATCH,
            )
            Preferences.objects.bulk_create([Preferences(user=user) for user in created], batch_size=LOOKUP_BATCH)
        by_email.update((user.email, user) for user in created)
        report.customers = len(created)
        advance(len(emails))
    return {user_id: by_email[email] for user_id, email in emails.items()}


def _money(value: float) -> Decimal | None:
    """A positive price in cents, or None for a missing, zero or negative one."""
    if not math.isfinite(value):
        return None
    amount = Decimal(repr(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    return amount if amount > 0 else None


def _product_name(names: Iterable[str], sku: str) -> str:
    counted = Counter(name.strip() for name in names if name and name.strip())
    if not counted:
        return f"Item {sku}"[:200]
    name = counted.most_common(1)[0][0]
    # Logs such as Online Retail II shout their names in capitals; the shelf should not.
    return (" ".join(word.capitalize() for word in name.split()) if name.isupper() else name)[:200]


def _ensure_products(
    log: PurchaseLog, rows: np.ndarray, report: ImportReport, progress: Progress
) -> dict[str, Variant]:
    """The variant of every item id in `rows` (its SKU), creating a product for each missing one."""
    skus = sorted(set(log.item_ids[rows].tolist()))
    with progress("Products", len(skus)) as advance:
        variants: dict[str, Variant] = {}
        for batch in batched(skus, LOOKUP_BATCH):
            variants.update(
                (variant.sku, variant) for variant in Variant.objects.filter(sku__in=batch).select_related("product")
            )
        report.products_existing = len(variants)
        missing = [sku for sku in skus if sku not in variants]
        if missing:
            variants.update(_create_products(log, rows, missing))
        report.products = len(missing)
        advance(len(skus))
    created = [variants[sku].product_id for sku in missing]
    with progress("Indexing products", len(created)) as advance:
        for batch in batched(created, LOOKUP_BATCH):
            catalog.refresh_products(batch)
            advance(len(batch))
    return variants


def _create_products(log: PurchaseLog, rows: np.ndarray, skus: Sequence[str]) -> dict[str, Variant]:
    wanted = set(skus)
    rows = rows[np.fromiter((sku in wanted for sku in log.item_ids[rows].tolist()), dtype=bool, count=len(rows))]
    names: dict[str, list[str]] = {}
    paid: dict[str, list[float]] = {}
    first_seen: dict[str, np.datetime64] = {}
    for sku, name, price, at in zip(
        log.item_ids[rows].tolist(),
        log.item_names[rows].tolist(),
        log.unit_prices[rows],
        log.timestamps[rows],
        strict=True,
    ):
        names.setdefault(sku, []).append(name)
        if math.isfinite(price) and price > 0:
            paid.setdefault(sku, []).append(float(price))
        first_seen[sku] = min(first_seen.get(sku, at), at)
    prices = {sku: _money(float(np.median(paid[sku]))) if sku in paid else None for sku in skus}
    category = _imported_category()
    titles = [_product_name(names.get(sku, ()), sku) for sku in skus]
    slugs = _slugs(titles, skus)
    current = timezone.get_current_timezone()
    with transaction.atomic():
        products = Product.objects.bulk_create(
            [
                Product(name=title, slug=slug, category=category, is_active=prices[sku] is not None)
                for sku, title, slug in zip(skus, titles, slugs, strict=True)
            ],
            batch_size=LOOKUP_BATCH,
        )
        # `auto_now_add` stamps inserts with the current time; an imported product dates from the day of its
        # first sale. One update per day is far cheaper than a bulk_update's CASE over thousands of rows.
        by_day: dict[np.datetime64, list[int]] = {}
        for product, sku in zip(products, skus, strict=True):
            by_day.setdefault(first_seen[sku].astype("datetime64[D]"), []).append(product.pk)
        for day, ids in by_day.items():
            created_at = timezone.make_aware(day.astype("datetime64[s]").astype(datetime), current)
            for batch in batched(ids, LOOKUP_BATCH):
                Product.objects.filter(pk__in=batch).update(created_at=created_at)
        variants = Variant.objects.bulk_create(
            [
                Variant(
                    product=product,
                    sku=sku,
                    price=prices[sku] or Decimal("0.00"),
                    stock=IMPORTED_STOCK,
                )
                for product, sku in zip(products, skus, strict=True)
            ],
            batch_size=LOOKUP_BATCH,
        )
    return {variant.sku: variant for variant in variants}


def _imported_category() -> Category:
    category = Category.objects.filter(slug=CATEGORY_SLUG).first()
    if category is None:
        category = Category(name=CATEGORY_NAME, slug=CATEGORY_SLUG, description="Products imported with their orders.")
        category.save()
    return category


def _slugs(titles: Sequence[str], skus: Sequence[str]) -> list[str]:
    """Slugs from name and SKU, numbered on the rare clash with an existing product or each other."""
    bases = [(slugify(f"{title} {sku}")[:200] or "product") for title, sku in zip(titles, skus, strict=True)]
    taken: set[str] = set()
    for batch in batched(sorted(set(bases)), LOOKUP_BATCH):
        taken.update(Product.objects.filter(slug__in=batch).values_list("slug", flat=True))
    slugs = []
    for base in bases:
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        slugs.append(slug)
    return slugs


def _create_orders(
    log: PurchaseLog,
    baskets: Sequence[_Basket],
    users: dict[str, User],
    variants: dict[str, Variant],
    source: str,
    report: ImportReport,
    progress: Progress,
) -> None:
    currency = settings.STORE_CURRENCY
    note = f"Imported from {source}"[:500]
    products = {variant.pk: variant.product for variant in variants.values()}
    prices: dict[float, Decimal | None] = {}
    with progress("Orders", len(baskets)) as advance:
        for chunk in batched(baskets, ORDERS_PER_CHUNK):
            orders: list[Order] = []
            lines: list[list[OrderLine]] = []
            for basket in chunk:
                order_lines = []
                for row in basket.rows.tolist():
                    variant = variants[log.item_ids[row]]
                    price = float(log.unit_prices[row])
                    if price not in prices:
                        prices[price] = _money(price)
                    unit_price = prices[price] or variant.price
                    quantity = max(1, round(float(log.quantities[row])))
                    order_lines.append(
                        OrderLine(
                            product_id=variant.product_id,
                            variant=variant,
                            product_name=products[variant.pk].name,
                            sku=variant.sku,
                            unit_price=unit_price,
                            quantity=quantity,
                            line_total=unit_price * quantity,
                        )
                    )
                subtotal = sum((line.line_total for line in order_lines), Decimal("0.00"))
                user = users[basket.user_id]
                orders.append(
                    Order(
                        number=basket.number,
                        user=user,
                        email=user.email,
                        status=OrderStatus.DELIVERED,
                        currency=currency,
                        subtotal=subtotal,
                        total=subtotal,
                        stock_reserved=False,
                        placed_at=basket.placed_at,
                    )
                )
                lines.append(order_lines)
            with transaction.atomic():
                created = Order.objects.bulk_create(orders)
                for order, order_lines in zip(created, lines, strict=True):
                    for line in order_lines:
                        line.order = order
                OrderLine.objects.bulk_create([line for group in lines for line in group], batch_size=LOOKUP_BATCH)
                OrderStatusChange.objects.bulk_create(
                    [
                        OrderStatusChange(order=order, to_status=OrderStatus.DELIVERED, at=order.placed_at, note=note)
                        for order in created
                    ]
                )
            report.orders += len(created)
            report.order_lines += sum(len(group) for group in lines)
            advance(len(chunk))
