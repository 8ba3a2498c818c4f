"""Recommendations under load: p95 latency of GET /api/recommendations at 16 connections, with and without Redis.

The bench store gets a trained model first (`patron recommend train`) when it has none. wrk then rotates over a
mix of calls for 1,000 products and the demo shoppers: similar items and frequently bought together (for
products with co-purchases) on product pages, trending in categories, and "recommended for you" for anonymous
visitors and for signed-in customers (bearer tokens, so their purchases are read on every call). Each cache
setting gets its own server, warmed by unrecorded runs until the throughput settles: each worker keeps its own
copy of what it has read (with the local-memory cache, read from the database), so a worker serves from memory
only once it has seen most calls.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from patron.bench import wrk

TARGET_P95_MS = 20.0
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
PRODUCTS = 1000
# Warm-up runs go on until one is within SETTLED of the one before (at least MIN, at most MAX of them).
MIN_WARM_UP_RUNS = 4
MAX_WARM_UP_RUNS = 8
SETTLED = 0.03
# wrk's request() picks the next path; here each path also has the bearer token it is sent with ("" = none).
REQUEST = 'return wrk.format("GET", paths[(counter %% #paths) + 1])'
REQUEST_WITH_HEADERS = """local i = (counter %% #paths) + 1
  local headers = {}
  if tokens[i] ~= "" then headers["Authorization"] = "Bearer " .. tokens[i] end
  return wrk.format("GET", paths[i], headers)"""
PATHS = "local paths = {%(paths)s}"


@dataclass
class Row:
    mode: str
    result: wrk.LoadResult | None = None
    note: str = ""
    warm_ups: int = 0


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    requests: int = 0
    model: str = ""
    context: str = ""

    def markdown(self) -> list[str]:
        lines = [
            f"#### Recommendations API ({self.requests:,} rotating calls, model {self.model})",
            "",
            self.context,
            "",
            "| Cache | Requests/s | p50 ms | p95 ms | p99 ms | non-2xx | Warm-up runs |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.rows:
            if row.result is None:
                lines.append(f"| {row.mode} | {row.note} | | | | | |")
                continue
            r = row.result
            lines.append(
                f"| {row.mode} | {r.per_second:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} "
                f"| {r.non2xx + r.socket_errors} | {row.warm_ups} |"
            )
        return [*lines, "", f"Target: p95 under {TARGET_P95_MS:.0f} ms.", ""]

    def print(self, console: Console) -> None:
        table = Table(title=f"Recommendations API (model {self.model})")
        for column in ("Cache", "Requests/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx", "Warm-up runs"):
            table.add_column(column, justify="left" if column == "Cache" else "right")
        for row in self.rows:
            if row.result is None:
                table.add_row(row.mode, row.note, "", "", "", "", "")
            else:
                r = row.result
                table.add_row(
                    row.mode, f"{r.per_second:,.0f}", f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p99_ms:.1f}",
                    str(r.non2xx + r.socket_errors), str(row.warm_ups),
                )  # fmt: skip
        console.print(table)


def script(calls: list[tuple[str, str]]) -> str:
    """wrk's rotating script, sending each path with its own bearer token."""
    if REQUEST not in wrk.SCRIPT or PATHS not in wrk.SCRIPT:
        raise RuntimeError("wrk's script changed: update the recommendations bench")
    tokens = ", ".join(wrk._lua_string(token) for _, token in calls)
    template = wrk.SCRIPT.replace(REQUEST, REQUEST_WITH_HEADERS).replace(PATHS, f"{PATHS}\nlocal tokens = {{{tokens}}}")
    return template % {"paths": ", ".join(wrk._lua_string(path) for path, _ in calls), "mark": wrk.RESULT_MARK}


def run_wrk(
    base_url: str, calls: list[tuple[str, str]], *, workdir: Path, connections: int, seconds: int
) -> wrk.LoadResult:
    lua = workdir / "recommendations.lua"
    lua.write_text(script(calls))
    completed = subprocess.run(  # noqa: S603 (fixed command line)
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(lua), base_url],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return wrk.parse(completed.stdout)


def calls(rng: random.Random) -> list[tuple[str, str]]:
    """(path, bearer token) pairs: product pages, categories, anonymous and signed-in home pages."""
    from patron.accounts.models import User
    from patron.accounts.tokens import issue_tokens
    from patron.catalog.models import Category, Product
    from patron.recommendations.models import ItemNeighbour, NeighbourKind

    url = "/api/recommendations/?"
    products = list(Product.objects.filter(is_active=True, total_stock__gt=0).values_list("pk", flat=True))
    sample = rng.sample(products, k=min(PRODUCTS, len(products)))
    # "Frequently bought together" is asked for products that have co-purchases, so that those calls do the work
    # of a full answer rather than return an empty list at once.
    together = sorted(
        set(
            ItemNeighbour.objects.filter(model_version__is_active=True, kind=NeighbourKind.BOUGHT_TOGETHER)
            .values_list("product_id", flat=True)
            .distinct()
        ).intersection(products)
    )
    categories = list(Category.objects.values_list("slug", flat=True))
    customers = list(User.objects.filter(orders__isnull=False, is_active=True).distinct()[:20])
    tokens = [issue_tokens(user).access for user in customers]
    result: list[tuple[str, str]] = []
    for number, product_id in enumerate(sample):
        if number % 3 or not together:
            query = {"context": "product", "type": "similar", "product_id": product_id}
        else:
            query = {"context": "product", "type": "bought_together", "product_id": rng.choice(together)}
        result.append((url + urlencode(query), ""))
        if number % 4 == 0:
            result.append((url + urlencode({"context": "home"}), ""))
        if number % 4 == 1 and tokens:
            result.append((url + urlencode({"context": "home"}), tokens[number % len(tokens)]))
        if number % 10 == 2 and categories:
            result.append((url + urlencode({"context": "category", "category": rng.choice(categories)}), ""))
    return result


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def measure(env: dict[str, str], args: argparse.Namespace, console: Console) -> Results:
    """Train if needed, then load the endpoint with the local-memory cache and with Redis."""
    from patron.bench.runner import cpu_reference_ms, patron, server
    from patron.catalog.models import Product
    from patron.recommendations.models import ModelVersion

    console.rule("Recommendations API")
    if not ModelVersion.objects.filter(is_active=True).exists():
        patron(env, "recommend", "train")
    active = ModelVersion.objects.get(is_active=True)
    requests = calls(random.Random(3))
    products = Product.objects.filter(is_active=True).count()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    context = (
        f"{when}; {products:,} products; CPU reference {cpu_reference_ms():.0f} ms (see the machine table); "
        f"patron serve with {args.workers} workers; wrk with {args.connections} connections for {args.seconds} s "
        f"after unrecorded runs until the throughput settled (within "
        f"{SETTLED:.0%}); load average before the run "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    )
    results = Results(requests=len(requests), model=active.label, context=context)
    redis_url = env.get("REDIS_URL") or DEFAULT_REDIS_URL
    without_redis = {key: value for key, value in env.items() if key != "REDIS_URL"}
    modes = (("local memory", without_redis), ("Redis", {**env, "REDIS_URL": redis_url}))
    with tempfile.TemporaryDirectory() as workdir:
        for mode, mode_env in modes:
            if mode == "Redis" and not redis_reachable(redis_url):
                results.rows.append(Row(mode, note=f"skipped: no Redis at {redis_url}"))
                continue
            with server(mode_env, args.workers) as base_url:

                def load() -> wrk.LoadResult:
                    return run_wrk(
                        base_url, requests, workdir=Path(workdir), connections=args.connections, seconds=args.seconds
                    )

                warm_ups = warm_up(load, console, mode)
                result = load()
            results.rows.append(Row(mode, result, warm_ups=warm_ups))
            console.print(f"{mode}: {result.per_second:,.0f} requests/s, p95 {result.p95_ms:.1f} ms")
    return results


def warm_up(load: Callable[[], wrk.LoadResult], console: Console, mode: str) -> int:
    """Unrecorded runs until the throughput settles; returns how many ran."""
    previous = 0.0
    for run in range(1, MAX_WARM_UP_RUNS + 1):
        rate = load().per_second
        console.print(f"{mode}: warm-up {run}, {rate:,.0f} requests/s")
        if run >= MIN_WARM_UP_RUNS and abs(rate - previous) <= SETTLED * previous:
            return run
        previous = rate
    return MAX_WARM_UP_RUNS


def write_docs(results: Results, database: str) -> None:
    """Replace this database's recommendation figures in docs/benchmarks.md, or add them at the end."""
    from patron.bench.runner import DATABASE_NAMES, DOCS

    start, end = f"<!-- bench:recommendations:{database} -->", f"<!-- /bench:recommendations:{database} -->"
    block = "\n".join(
        [start, f"### Recommendations, {DATABASE_NAMES.get(database, database)}", "", *results.markdown(), end]
    )
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)


def run(env: dict[str, str], args: argparse.Namespace, database: str, console: Console) -> Results | None:
    """The recommendations part of `make bench`: measure, print, and record in the docs (unless --no-docs)."""
    if args.no_http or shutil.which("wrk") is None:
        return None
    results = measure(env, args, console)
    results.print(console)
    if not args.no_docs:
        write_docs(results, database)
    return results
