"""Checkout under load: orders/s and latency of whole purchases through the HTTP API, against the bare SQL.

Twenty shoppers buy at once for a fixed time, each purchase being `POST /api/cart` (a new guest cart with one
item) and then `POST /api/orders` (address, standard shipping, the test card), first each shopper buying items
of their own, then everyone buying the same hot item. The bare SQL of a hot-item purchase (the conditional stock
update, the order insert and the line insert in one transaction, on the same database, by as many threads)
is the ceiling Patron's hot-item throughput is compared with. Between the two, the same bare SQL behind one
request of the same server (`/bench/bare-purchase/`, driven by the same client) shows what the web stack itself
costs on this machine: no checkout served by it could do better.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

SHOPPERS = 20
BENCH_EMAIL = "bench-shopper@example.com"
BARE_PREFIX = "BARE"
STOCK = 1_000_000
TARGET_RATIO = 0.3
ADDRESS = {
    "full_name": "Bench Shopper",
    "line1": "1 Load Test Lane",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


@dataclass
class Row:
    scenario: str
    orders: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def percentile(self, cut: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[cut - 1]


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    shoppers: int = SHOPPERS

    def row(self, scenario: str) -> Row | None:
        return next((row for row in self.rows if row.scenario == scenario), None)

    def share_of_bare(self, scenario: str) -> float | None:
        measured, bare = self.row(scenario), self.row(BARE)
        if measured is None or bare is None or not bare.per_second:
            return None
        return measured.per_second / bare.per_second

    @property
    def ratio(self) -> float | None:
        return self.share_of_bare(HOT)

    @property
    def floor_ratio(self) -> float | None:
        """The most any checkout served by this stack on this machine could reach: the bare SQL behind one request."""
        return self.share_of_bare(FLOOR)

    def summary(self) -> list[str]:
        lines = []
        if self.ratio is not None:
            lines.append(f"Hot-item orders/s as a share of the bare SQL: {self.ratio:.2f} (target ≥ {TARGET_RATIO}).")
        if self.floor_ratio is not None:
            lines.append(
                f"The bare SQL behind one HTTP request of the same server reaches {self.floor_ratio:.2f} of it: the "
                "ceiling of any checkout this server and machine could serve."
            )
        return lines

    def markdown(self) -> list[str]:
        lines = [
            f"#### Checkout ({self.shoppers} concurrent shoppers)",
            "",
            "| Scenario | Orders | Orders/s | p50 ms | p95 ms | Errors |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r.scenario} | {r.orders:,} | {r.per_second:,.1f} | {r.percentile(50):.1f} | {r.percentile(95):.1f} "
            f"| {r.errors} |"
            for r in self.rows
        ]
        if self.summary():
            lines += ["", *self.summary()]
        return [*lines, ""]

    def print(self, console: Console) -> None:
        table = Table(title=f"Checkout ({self.shoppers} concurrent shoppers)")
        for column in ("Scenario", "Orders", "Orders/s", "p50 ms", "p95 ms", "Errors"):
            table.add_column(column, justify="left" if column == "Scenario" else "right")
        for r in self.rows:
            table.add_row(
                r.scenario, f"{r.orders:,}", f"{r.per_second:,.1f}", f"{r.percentile(50):.1f}",
                f"{r.percentile(95):.1f}", str(r.errors),
            )  # fmt: skip
        console.print(table)
        for line in self.summary():
            console.print(line)


SPREAD = "API checkout, different items"
HOT = "API checkout, one hot item"
FLOOR = "Bare SQL behind one HTTP request, one hot item"
BARE = "Bare SQL, one hot item"


def _run(threads: int, seconds: float, buy: Callable[[int, int], None]) -> tuple[int, int, float, list[float], str]:
    """Call `buy(thread, attempt)` in `threads` threads for `seconds`; count successes, errors and latencies."""
    start = threading.Barrier(threads + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    deadline = [0.0]

    def shopper(number: int) -> None:
        start.wait()
        attempt = 0
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            try:
                buy(number, attempt)
            except Exception as exc:  # every failure is counted, and the first one reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                with lock:
                    latencies.append((time.perf_counter() - began) * 1000)
            attempt += 1

    workers = [threading.Thread(target=shopper, args=(number,), daemon=True) for number in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return len(latencies), len(errors), elapsed, latencies, errors[0] if errors else ""


class ApiError(Exception):
    pass


def _post(base_url: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        payload = response.read()
        if response.status not in (200, 201):
            raise ApiError(f"{path} answered {response.status}: {payload[:200].decode(errors='replace')}")
        return json.loads(payload), response.getheader("X-Cart-Token") or ""
    finally:
        connection.close()


def purchase(base_url: str, variant_id: int) -> str:
    """One guest's whole purchase through the API; returns the order number."""
    _, token = _post(base_url, "/api/cart/", {"variant_id": variant_id, "quantity": 1}, {})
    order, _ = _post(
        base_url,
        "/api/orders",
        {"email": BENCH_EMAIL, "shipping_address": ADDRESS, "shipping_method": "standard", "card": CARD},
        {"X-Cart-Token": token, "Idempotency-Key": uuid.uuid4().hex},
    )
    if order.get("payment", {}).get("status") != "succeeded":
        raise ApiError(f"payment not taken: {order.get('payment')}")
    return str(order["number"])


def _bench_variants(count: int) -> list[int]:
    """Active variants of active products with plenty of stock for the duration of the bench."""
    from patron.catalog.models import Variant
    from patron.catalog.services import bump_catalog_version, refresh_products

    chosen = list(
        Variant.objects.filter(is_active=True, product__is_active=True, product__archived_at=None)
        .order_by("pk")
        .values_list("pk", "product_id")[:count]
    )
    if len(chosen) < count:
        raise RuntimeError(f"The bench store needs {count} active variants; it has {len(chosen)}.")
    Variant.objects.filter(pk__in=[pk for pk, _ in chosen]).update(stock=STOCK)
    refresh_products({product_id for _, product_id in chosen})
    bump_catalog_version()
    return [pk for pk, _ in chosen]


class BareSql:
    """The SQL a hot-item purchase cannot do without, each thread on a connection of its own kept open
    (as the server's workers keep theirs): take a unit, write the order and its line, commit."""

    def __init__(self) -> None:
        from django.db import connection

        self.config = connection.settings_dict
        self.vendor = connection.vendor
        self.local = threading.local()
        self.opened: list[Any] = []
        self.lock = threading.Lock()

    def _connection(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            if self.vendor == "postgresql":
                import psycopg

                conn = psycopg.connect(
                    dbname=self.config["NAME"],
                    host=self.config.get("HOST") or None,
                    port=self.config.get("PORT") or None,
                    user=self.config.get("USER") or None,
                    password=self.config.get("PASSWORD") or None,
                )
            else:
                conn = sqlite3.connect(self.config["NAME"], timeout=60, isolation_level=None, check_same_thread=False)
            self.local.conn = conn
            with self.lock:
                self.opened.append(conn)
        return conn

    def purchase(self, variant_id: int, product_id: int, number: str) -> None:
        conn = self._connection()
        if self.vendor == "postgresql":
            with conn.transaction():
                bare_statements(conn.cursor(), variant_id, product_id, number, "%s")
            return
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            bare_statements(cursor, variant_id, product_id, number, "?")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def close(self) -> None:
        for conn in self.opened:
            conn.close()


def bare_statements(cursor: Any, variant_id: int, product_id: int, number: str, p: str) -> int:
    """Take a unit, write the order and its line; the new order's id."""
    price = Decimal("10.00")
    cursor.execute(f"UPDATE catalog_variant SET stock = stock - 1 WHERE id = {p} AND stock >= 1", (variant_id,))  # noqa: S608 (placeholders only)
    if cursor.rowcount != 1:
        raise RuntimeError("out of stock")
    cursor.execute(
        "INSERT INTO orders_order (number, email, status, currency, subtotal, shipping, tax, discount, total, "  # noqa: S608
        "shipping_address, shipping_method, stock_reserved, placed_at) "
        f"VALUES ({p}, {p}, 'pending_payment', 'USD', {p}, 0, 0, 0, {p}, '{{}}', 'standard', {p}, {p}) RETURNING id",
        (number, BENCH_EMAIL, str(price), str(price), True, time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime())),
    )
    order_id = cursor.fetchone()[0]
    cursor.execute(
        "INSERT INTO orders_orderline (order_id, product_id, variant_id, product_name, sku, options, unit_price, "  # noqa: S608
        f"quantity, line_total) VALUES ({p}, {p}, {p}, 'Hot item', 'HOT', '{{}}', {p}, 1, {p})",
        (order_id, product_id, variant_id, str(price), str(price)),
    )
    return int(order_id)


def remove_bench_orders() -> None:
    """Remove the bench's orders so that repeated runs leave the store as the demo made it."""
    from patron.orders.models import Order
    from patron.payments.models import Payment

    Payment.objects.filter(order__email=BENCH_EMAIL).delete()
    Order.objects.filter(email=BENCH_EMAIL).delete()


def measure(base_url: str, seconds: float, console: Console, shoppers: int = SHOPPERS) -> Results:
    from patron.catalog.models import Variant

    console.rule(f"Checkout, {shoppers} concurrent shoppers")
    results = Results(shoppers=shoppers)
    spread = _bench_variants(shoppers * 5)
    hot = spread[0]
    hot_product = Variant.objects.values_list("product_id", flat=True).get(pk=hot)
    sql = BareSql()
    try:
        # Warm the server's workers (imports, connections) before anything is measured.
        purchase(base_url, hot)

        def different(shopper: int, attempt: int) -> None:
            purchase(base_url, spread[shopper * 5 + attempt % 5])

        def same(shopper: int, attempt: int) -> None:
            purchase(base_url, hot)

        def bare(shopper: int, attempt: int) -> None:
            sql.purchase(hot, hot_product, f"{BARE_PREFIX}{shopper:02d}{attempt:010d}")

        def floor(shopper: int, attempt: int) -> None:
            _post(base_url, "/bench/bare-purchase/", {"variant_id": hot, "product_id": hot_product}, {})

        for scenario, buy in ((SPREAD, different), (HOT, same), (FLOOR, floor), (BARE, bare)):
            orders, errors, elapsed, latencies, first_error = _run(shoppers, seconds, buy)
            row = Row(scenario, orders, errors, elapsed, latencies, first_error)
            results.rows.append(row)
            console.print(
                f"{scenario}: {row.per_second:,.1f} orders/s, p95 {row.percentile(95):.1f} ms, {errors} errors"
                + (f" (first: {first_error})" if first_error else "")
            )
    finally:
        sql.close()
        remove_bench_orders()
    for line in results.summary():
        console.print(line)
    return results
