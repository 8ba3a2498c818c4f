"""The recommendations bench: wrk's rotating script sends each call's own bearer token; the figures' table."""

from __future__ import annotations

import io
import random
from urllib.parse import parse_qs, urlsplit

import pytest
from rich.console import Console

from patron.bench import recommendations, wrk
from patron.recommendations.models import ItemNeighbour, ModelVersion, NeighbourKind
from tests.factories import make_product


def test_each_call_is_sent_with_its_own_token_and_anonymous_ones_with_none() -> None:
    lua = recommendations.script([("/api/recommendations/?context=home", ""), ('/a"b', "tok.en")])
    assert 'local paths = {"/api/recommendations/?context=home", "/a\\"b"}' in lua
    assert 'local tokens = {"", "tok.en"}' in lua
    assert 'headers["Authorization"] = "Bearer " .. tokens[i]' in lua
    assert 'return wrk.format("GET", paths[i], headers)' in lua
    # The rest is wrk's own script: the same result line is parsed.
    assert wrk.RESULT_MARK in lua and "latency:percentile(95)" in lua
    # Python's formatting has run: Lua sees single percent signs.
    assert "local i = (counter % #paths) + 1" in lua and "%%" not in lua


def test_the_table_names_each_cache_and_a_skipped_one_says_why() -> None:
    measured = wrk.LoadResult(
        requests=12_000, seconds=10.0, p50_ms=8.0, p95_ms=18.5, p99_ms=25.0, non2xx=0, socket_errors=1
    )
    results = recommendations.Results(
        rows=[
            recommendations.Row("local memory", measured, warm_ups=3),
            recommendations.Row("Redis", note="skipped: no Redis at redis://127.0.0.1:6379/2"),
        ],
        requests=1600,
        model="ease@3",
        context="2026-11-28 09:00 UTC; 10,000 products",
    )
    lines = results.markdown()
    assert lines[0] == "#### Recommendations API (1,600 rotating calls, model ease@3)"
    assert "2026-11-28 09:00 UTC; 10,000 products" in lines
    assert "| local memory | 1,200 | 8.0 | 18.5 | 25.0 | 1 | 3 |" in lines
    assert "| Redis | skipped: no Redis at redis://127.0.0.1:6379/2 | | | | | |" in lines
    assert lines[-2] == "Target: p95 under 20 ms."


def test_warming_up_stops_once_the_throughput_settles() -> None:
    rates = iter([300.0, 900.0, 1000.0, 1010.0, 1500.0])

    def load() -> wrk.LoadResult:
        rate = next(rates)
        return wrk.LoadResult(
            requests=int(rate * 10), seconds=10.0, p50_ms=1.0, p95_ms=2.0, p99_ms=3.0, non2xx=0, socket_errors=0
        )

    assert recommendations.warm_up(load, Console(file=io.StringIO()), "Redis") == 4  # 1,010 is within 3% of 1,000


def test_warming_up_gives_up_after_the_most_runs() -> None:
    rates = iter(float(100 * 2**run) for run in range(recommendations.MAX_WARM_UP_RUNS))

    def load() -> wrk.LoadResult:
        rate = next(rates)
        return wrk.LoadResult(
            requests=int(rate * 10), seconds=10.0, p50_ms=1.0, p95_ms=2.0, p99_ms=3.0, non2xx=0, socket_errors=0
        )

    assert recommendations.warm_up(load, Console(file=io.StringIO()), "Redis") == recommendations.MAX_WARM_UP_RUNS


@pytest.mark.django_db
def test_bought_together_calls_ask_only_for_products_with_co_purchases() -> None:
    products = [make_product(f"Product {number}") for number in range(12)]
    paired, partner = products[0], products[1]
    version = ModelVersion.objects.create(name="ease", version=1, status=ModelVersion.Status.READY, is_active=True)
    for kind, product, neighbour in (
        (NeighbourKind.BOUGHT_TOGETHER, paired, partner),
        (NeighbourKind.SIMILAR, products[2], products[3]),
    ):
        ItemNeighbour.objects.create(
            model_version=version, kind=kind, product_id=product.pk, rank=0, neighbour_id=neighbour.pk, score=1.0
        )

    queries = [parse_qs(urlsplit(path).query) for path, _ in recommendations.calls(random.Random(3))]

    together = [query for query in queries if query.get("type") == ["bought_together"]]
    similar = [query for query in queries if query.get("type") == ["similar"]]
    assert together and all(query["product_id"] == [str(paired.pk)] for query in together)
    assert len({query["product_id"][0] for query in similar}) == len(similar) > len(together)
