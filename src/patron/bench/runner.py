"""The benchmark behind `make bench`.

1. Prepare a bench store: migrate, collect static files and seed 10,000 demo products (no pictures) into
   PostgreSQL when DATABASE_URL is set, else into an SQLite file under var/bench.
2. Start the production server (`patron serve`) on a free loopback port and load each target page with wrk
   (16 connections, 10 s), once with the anonymous page cache on and once with it off.
3. In process, with every cache disabled: latency of the catalog services over realistic queries (typos
   included), and the SQL query count of each page.
4. Print the figures and write them to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from patron.bench import checkout, recommendations, wrk
from patron.demo.management.commands.serve import default_workers

PROJECT_DIR = Path(__file__).resolve().parents[3]
BENCH_VAR_DIR = PROJECT_DIR / "var" / "bench"
DOCS = PROJECT_DIR / "docs" / "benchmarks.md"
DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

QUERIES = (
    "bluetooth headphones", "blutooth headphones", "noise cancelling headphones", "wireless earbuds",
    "waterproof jacket", "waterprof jaket", "rain jacket", "down parka", "hiking boots", "running shoes",
    "linen dress", "wrap dress", "merino jumper", "oxford shirt", "slim jeans", "cast iron pan", "non stick frying pan",
    "dutch oven", "coffee maker", "espreso machine", "air fryer", "kettle", "duvet cover", "organic cotton sheets",
    "table lamp", "ceramic vase", "smartphone", "5g phone", "lapotp", "gaming laptop", "tablet", "e-reader",
    "mirrorless camera", "action camera", "smart plug", "video doorbell", "portable speaker", "tent", "sleeping bag",
    "headlamp", "backpack", "trekking poles", "yoga mat", "dumbells", "kettlebell", "bike helmet", "bike lights",
    "vitamin c serum", "moisturiser", "retinol", "lipstick", "mascara", "eau de parfum", "cologne", "board game",
    "card game", "jigsaw puzzle", "1000 piece puzzle", "building set", "robot kit", "mystery novel", "cookbook",
    "italian cookbook", "garden hose", "pruning shears", "seed collection", "sun lounger", "bistro set", "hammock",
)  # fmt: skip


@dataclass(frozen=True)
class Target:
    name: str
    paths: list[str]


@dataclass
class LoadRow:
    target: str
    mode: str
    result: wrk.LoadResult | None = None
    note: str = ""


@dataclass
class Findings:
    load: list[LoadRow] = field(default_factory=list)
    latency: list[tuple[str, int, float, float]] = field(default_factory=list)  # (what, samples, p50, p95) in ms
    # (page, path, status, SQL queries on an empty cache, SQL queries with the data caches warm)
    queries: list[tuple[str, str, int, int, int]] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)
    database: str = "sqlite"
    checkout: checkout.Results | None = None


def markers(database: str) -> tuple[str, str]:
    """The docs keep the latest figures of each database between these two lines."""
    return f"<!-- bench:{database} -->", f"<!-- /bench:{database} -->"


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PATRON_VAR_DIR", str(BENCH_VAR_DIR))
    env["DJANGO_SETTINGS_MODULE"] = "patron.settings"
    env["PATRON_BENCH"] = "1"
    env.setdefault("LOG_LEVEL", "ERROR")
    return env


def patron(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "patron.cli", *args], env=env, check=True)  # noqa: S603 (our own command)


def ensure_database(env: dict[str, str], console: Console) -> None:
    """Create the PostgreSQL database named in DATABASE_URL if it does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    url = env.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    config = dj_database_url.parse(url)
    server: dict[str, Any] = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    try:
        psycopg.connect(dbname=config["NAME"], **server).close()
    except psycopg.OperationalError:
        console.print(f"Creating the PostgreSQL database {config['NAME']}.")
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(config["NAME"]))))


def prepare_store(env: dict[str, str], products: int, console: Console) -> None:
    console.rule("Bench store")
    ensure_database(env, console)
    patron(env, "migrate", "--noinput", "--verbosity", "0")
    patron(env, "collectstatic", "--noinput", "--verbosity", "0")
    from patron.catalog.models import Product

    missing = products - Product.objects.count()
    if missing > 0:
        patron(env, "demo", "--products", str(missing), "--no-images")
    console.print(f"{Product.objects.count():,} products in the bench store.")


def ensure_wrk(console: Console) -> bool:
    if shutil.which("wrk"):
        return True
    console.print("wrk is missing; installing the Debian package.")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for command in (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        try:
            subprocess.run([*sudo, *command], check=True)  # noqa: S603 (fixed command line)
        except (OSError, subprocess.CalledProcessError):
            continue
        if shutil.which("wrk"):
            return True
    console.print("[red]Could not install wrk; HTTP load tests skipped.[/red]")
    return False


def targets(rng: random.Random) -> list[Target]:
    from django.db.models import Count
    from django.urls import reverse

    from patron.catalog.models import Category, Product

    roots = Category.objects.filter(parent=None)
    sizes = {
        root.slug: Product.objects.filter(is_active=True, category__path__startswith=root.path).count()
        for root in roots
    }
    biggest = max(sizes, key=lambda slug: sizes[slug]) if sizes else "none"
    slugs = list(Product.objects.filter(is_active=True).values_list("slug", flat=True).order_by("pk"))
    sample = rng.sample(slugs, k=min(1000, len(slugs))) or ["none"]
    busiest = Category.objects.annotate(n=Count("products")).order_by("-n").values_list("slug", flat=True).first()
    return [
        Target("Bare Django page", ["/bench/bare/"]),
        Target("Home page", [reverse("storefront:home")]),
        Target(f"Category page ({biggest})", [reverse("storefront:category", args=[biggest])]),
        Target(
            "Category, filtered and sorted",
            [f"{reverse('storefront:category', args=[busiest or biggest])}?sort=price&in_stock=1&page=2"],
        ),
        Target("API product list", ["/api/products/?page_size=24"]),
        Target("Product page (1,000 products)", [reverse("storefront:product", args=[slug]) for slug in sample]),
        Target(
            f"Search ({len(QUERIES)} queries, typos)",
            [f"{reverse('storefront:search')}?{urlencode({'q': query})}" for query in QUERIES],
        ),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(env: dict[str, str], workers: int) -> Iterator[str]:
    """`patron serve` on a free loopback port, stopped on exit; yields its base URL once it listens."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "patron.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    listening = threading.Event()
    log: list[str] = []

    def follow() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            if "Listening at:" in line:
                listening.set()
        listening.set()

    threading.Thread(target=follow, daemon=True).start()
    try:
        if not listening.wait(60) or process.poll() is not None:
            raise RuntimeError("the server did not start:\n" + "".join(log))
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe(url: str) -> int:
    """The status of a URL, redirects included: wrk must not measure redirects instead of pages."""
    try:
        with urllib.request.build_opener(_NoRedirects).open(url, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def load_test(
    env: dict[str, str], pages: list[Target], args: argparse.Namespace, findings: Findings, console: Console
) -> None:
    # (mode, server environment, warm-up run first?)
    modes = (("page cache on", env, True), ("page cache off", {**env, "CATALOG_PAGE_CACHE_SECONDS": "0"}, False))
    with tempfile.TemporaryDirectory() as workdir:
        for mode, mode_env, warm_up in modes:
            console.rule(f"HTTP load, {mode}")
            with server(mode_env, args.workers) as base_url:
                for target in pages:
                    status = probe(base_url + target.paths[0])
                    if status != 200:
                        findings.load.append(LoadRow(target.name, mode, note=f"skipped: HTTP {status}"))
                        console.print(f"{target.name}: skipped, {target.paths[0]} answers HTTP {status}")
                        continue
                    runs = 2 if warm_up else 1
                    for _ in range(runs):
                        # The first of two runs fills the page cache; only the steady state is reported.
                        result = wrk.run(
                            base_url,
                            target.paths,
                            workdir=Path(workdir),
                            connections=args.connections,
                            seconds=args.seconds,
                        )
                    findings.load.append(LoadRow(target.name, mode, result))
                    console.print(f"{target.name}: {result.per_second:,.0f} requests/s, p95 {result.p95_ms:.1f} ms")


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[94]


def timed(calls: Sequence[Callable[[], object]]) -> tuple[float, float]:
    """p50 and p95 in ms, each call on an empty cache."""
    from django.core.cache import cache

    samples = []
    for call in calls:
        cache.clear()
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def realistic_queries(rng: random.Random, count: int) -> list[str]:
    """The bench's queries plus vocabulary-built ones, a quarter of them with a typo (two letters swapped)."""
    from patron.demo.vocabulary import CATEGORY_TREE, CategorySpec

    def leaves(specs: tuple[CategorySpec, ...]) -> Iterator[CategorySpec]:
        for spec in specs:
            if spec.products is not None:
                yield spec
            yield from leaves(spec.children)

    specs = [spec.products for spec in leaves(CATEGORY_TREE) if spec.products is not None]
    queries = list(QUERIES)
    while len(queries) < count:
        spec = rng.choice(specs)
        query = f"{rng.choice(spec.features)} {rng.choice(spec.nouns)}".lower()
        if rng.random() < 0.25:
            words = query.split()
            word = max(words, key=len)
            if len(word) > 4:
                i = rng.randrange(1, len(word) - 2)
                words[words.index(word)] = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
            query = " ".join(words)
        queries.append(query)
    return queries[:count]


def measure_services(args: argparse.Namespace, findings: Findings, console: Console) -> None:
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from patron.catalog import services as catalog
    from patron.catalog.models import Category, Product

    console.rule("Catalog services in process, empty cache")
    rng = random.Random(7)
    queries = realistic_queries(rng, args.queries)
    slugs = list(Product.objects.filter(is_active=True).values_list("slug", flat=True).order_by("pk"))
    categories = list(Category.objects.values_list("slug", flat=True))
    product_slugs = rng.sample(slugs, k=min(args.queries, len(slugs)))
    sorts = list(catalog.SORT_OPTIONS)

    def search(params: dict[str, str]) -> object:
        return catalog.search_products(catalog.parse_filters(params))

    # An empty private cache for every call rather than a dummy one: the catalog keeps counters in the cache.
    cold = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "patron-bench"}}
    with override_settings(CACHES=cold, CATALOG_PAGE_CACHE_SECONDS=0):
        texts = [partial(search, {"q": query}) for query in queries]
        findings.latency.append(("search_products: text queries", len(texts), *timed(texts)))
        listings = [
            partial(search, {"category": rng.choice(categories), "sort": rng.choice(sorts[1:])})
            for _ in range(args.queries)
        ]
        findings.latency.append(("search_products: category listings", len(listings), *timed(listings)))
        # What /api/products/ does without filters: facets over the whole catalog.
        everything = [
            partial(search, {"sort": rng.choice(sorts[1:]), "page": str(rng.randint(1, 20))})
            for _ in range(max(1, args.queries // 4))
        ]
        findings.latency.append(("search_products: whole catalog", len(everything), *timed(everything)))
        reads = [partial(catalog.get_product, slug) for slug in product_slugs]
        findings.latency.append(("get_product", len(reads), *timed(reads)))
        for what, samples, p50, p95 in findings.latency:
            console.print(f"{what}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {samples}")

        client = Client()
        category = categories[0] if categories else "none"
        pages = [
            ("Home", "/"),
            ("Category page", f"/c/{category}/"),
            ("Category page, 100 per page", f"/c/{category}/?page_size=100"),
            ("Product page", f"/p/{product_slugs[0] if product_slugs else 'none'}/"),
            ("Search", "/search/?" + urlencode({"q": "bluetooth headphones"})),
            ("Search with a typo", "/search/?" + urlencode({"q": "blutooth headphnes"})),
            ("API product list", "/api/products/?page_size=24"),
            ("API product list, 100 per page", "/api/products/?page_size=100"),
        ]
        for page, path in pages:
            cache.clear()
            counts = []
            for _ in ("cold", "warm"):
                with CaptureQueriesContext(connection) as captured:
                    status = client.get(path).status_code
                counts.append(len(captured.captured_queries))
            findings.queries.append((page, path, status, counts[0], counts[1]))
            console.print(f"{page}: HTTP {status}, {counts[0]} SQL queries on an empty cache, {counts[1]} warm")


def cpu_reference_ms() -> float:
    """Milliseconds one core takes for a fixed pure-Python loop (best of five): machines of the same name differ by
    two times and more, so figures from two runs compare only next to this."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for number in range(2_000_000):
            total += number
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


def describe_machine(args: argparse.Namespace) -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    from patron.catalog.models import Product, Variant

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    cpu = models[0] if models else platform.processor() or "unknown CPU"
    with connection.cursor() as cursor:
        cursor.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
        version = cursor.fetchone()[0]
    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Machine": f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}",
        "CPU reference": f"{cpu_reference_ms():.0f} ms for 2 million additions in a Python loop (lower is faster)",
        "Database": f"{connection.vendor} {version}",
        "Cache": cache,
        "Catalog": f"{Product.objects.count():,} products, {Variant.objects.count():,} variants",
        "Server": f"patron serve (gunicorn, {args.workers} sync workers), WhiteNoise",
        "Load": f"wrk, {args.connections} connections, 2 threads, {args.seconds} s per target",
    }


def markdown(findings: Findings) -> str:
    start, end = markers(findings.database)
    lines = [start, f"### {DATABASE_NAMES.get(findings.database, findings.database)}", ""]
    lines += [*[f"- **{key}:** {value}" for key, value in findings.context.items()], ""]
    if findings.load:
        lines += [
            "#### HTTP load (wrk)",
            "",
            "| Target | Page cache | Requests/s | p50 ms | p95 ms | p99 ms | non-2xx |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in findings.load:
            if row.result is None:
                lines.append(f"| {row.target} | {row.mode.removeprefix('page cache ')} | {row.note} | | | | |")
                continue
            r = row.result
            lines.append(
                f"| {row.target} | {row.mode.removeprefix('page cache ')} | {r.per_second:,.0f} | {r.p50_ms:.1f} "
                f"| {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.non2xx + r.socket_errors} |"
            )
        lines.append("")
    if findings.checkout is not None:
        lines += findings.checkout.markdown()
    lines += [
        "#### Catalog services in process (empty cache on every call)",
        "",
        "| Call | Samples | p50 ms | p95 ms |",
    ]
    lines += ["|---|---:|---:|---:|"]
    lines += [f"| {what} | {n} | {p50:.1f} | {p95:.1f} |" for what, n, p50, p95 in findings.latency]
    lines += [
        "",
        "#### SQL queries per page (page cache off)",
        "",
        "| Page | Path | HTTP | Queries, empty cache | Queries, data caches warm |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {page} | `{path}` | {status} | {cold} | {warm} |" for page, path, status, cold, warm in findings.queries
    ]
    return "\n".join([*lines, "", end])


def write_docs(findings: Findings) -> None:
    """Replace this database's figures in the docs, or add them at the end."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n## Latest figures\n"
    start, end = markers(findings.database)
    block = markdown(findings)
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)


def print_tables(findings: Findings, console: Console) -> None:
    table = Table(title="HTTP load (wrk)")
    for column in ("Target", "Page cache", "Requests/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx"):
        table.add_column(column, justify="left" if column in ("Target", "Page cache") else "right")
    for row in findings.load:
        mode = row.mode.removeprefix("page cache ")
        if row.result is None:
            table.add_row(row.target, mode, row.note, "", "", "", "")
        else:
            r = row.result
            table.add_row(
                row.target, mode, f"{r.per_second:,.0f}", f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p99_ms:.1f}",
                str(r.non2xx + r.socket_errors),
            )  # fmt: skip
    console.print(table)
    if findings.checkout is not None:
        findings.checkout.print(console)
    latency = Table(title="Catalog services in process (empty cache on every call)")
    for column in ("Call", "Samples", "p50 ms", "p95 ms"):
        latency.add_column(column, justify="left" if column == "Call" else "right")
    for what, n, p50, p95 in findings.latency:
        latency.add_row(what, str(n), f"{p50:.1f}", f"{p95:.1f}")
    console.print(latency)
    queries = Table(title="SQL queries per page (page cache off)")
    for column in ("Page", "HTTP", "Queries, empty cache", "Queries, warm"):
        queries.add_column(column, justify="left" if column == "Page" else "right")
    for page, _, status, cold, warm in findings.queries:
        queries.add_row(page, str(status), str(cold), str(warm))
    console.print(queries)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m patron.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000, help="size of the bench catalog (default 10,000)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=default_workers(), help="gunicorn workers")
    parser.add_argument("--queries", type=int, default=200, help="samples per in-process measurement")
    parser.add_argument("--no-http", action="store_true", help="only the in-process measurements")
    parser.add_argument("--no-checkout", action="store_true", help="skip the checkout load test")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 110))
    env = bench_env()
    os.environ.update(env)
    import django

    django.setup()
    prepare_store(env, args.products, console)
    from django.db import connection

    findings = Findings(context=describe_machine(args), database=connection.vendor)
    if not args.no_http and ensure_wrk(console):
        load_test(env, targets(random.Random(1)), args, findings, console)
    if not args.no_http and not args.no_checkout:
        with server(env, args.workers) as base_url:
            findings.checkout = checkout.measure(base_url, args.seconds, console)
    recommendations.run(env, args, findings.database, console)
    measure_services(args, findings, console)
    from patron.bench import support as support_bench

    support_bench.measure(args.queries, findings.latency, console)
    console.rule("Results")
    print_tables(findings, console)
    if not args.no_docs:
        write_docs(findings)
        console.print(f"Written to {DOCS.relative_to(PROJECT_DIR)}")
