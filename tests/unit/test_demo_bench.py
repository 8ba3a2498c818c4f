"""The benchmark's plumbing: wrk's Lua script and its report, the query set, and the figures in the docs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from patron.bench import runner, wrk

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000
  2 threads and 16 connections
PATRON-BENCH {"requests": 4500, "duration_us": 10000000, "p50_us": 3100, "p95_us": 9800, "p99_us": 15000, \
"non2xx": 3, "socket_errors": 1}
"""


def test_script_lists_every_path_safely_quoted() -> None:
    script = wrk.script(["/p/a/", '/search/?q="quoted"', "/back\\slash"])
    assert 'local paths = {"/p/a/", "/search/?q=\\"quoted\\"", "/back\\\\slash"}' in script
    assert "latency:percentile(95)" in script
    assert wrk.RESULT_MARK in script
    with pytest.raises(ValueError, match="at least one path"):
        wrk.script([])


def test_parse_reads_the_done_hook_line() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.requests == 4500
    assert result.per_second == 450
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (3.1, 9.8, 15.0)
    assert (result.non2xx, result.socket_errors) == (3, 1)
    with pytest.raises(ValueError, match="no result"):
        wrk.parse("Running 10s test\n")


def test_realistic_queries_are_reproducible_and_include_typos() -> None:
    first = runner.realistic_queries(random.Random(7), 200)
    assert first == runner.realistic_queries(random.Random(7), 200)
    assert len(first) == 200
    assert first[: len(runner.QUERIES)] == list(runner.QUERIES)
    assert "blutooth headphones" in first
    assert len(set(first)) > 120


def test_figures_replace_the_previous_ones_of_the_same_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "benchmarks.md"
    start, end = runner.markers("sqlite")
    docs.write_text(f"# Benchmarks\n\nMethod.\n\n{start}\nold figures\n{end}\n\nAfter.\n")
    monkeypatch.setattr(runner, "DOCS", docs)
    findings = runner.Findings(
        load=[
            runner.LoadRow("Bare Django page", "page cache on", wrk.parse(WRK_OUTPUT)),
            runner.LoadRow("API product list", "page cache off", note="skipped: HTTP 404"),
        ],
        latency=[("search_products: text queries", 200, 12.5, 30.25)],
        queries=[("Search", "/search/?q=x", 200, 8, 6)],
        context={"Database": "sqlite 3.46"},
        database="sqlite",
    )

    runner.write_docs(findings)
    runner.write_docs(runner.Findings(context={"Database": "postgresql 15.8"}, database="postgresql"))

    text = docs.read_text()
    assert "old figures" not in text
    assert text.startswith("# Benchmarks\n\nMethod.")
    assert text.index("### SQLite") < text.index("After.") < text.index("### PostgreSQL")
    assert text.endswith("<!-- /bench:postgresql -->\n")
    assert "| Bare Django page | on | 450 | 3.1 | 9.8 | 15.0 | 4 |" in text
    assert "| API product list | off | skipped: HTTP 404 |" in text
    assert "| search_products: text queries | 200 | 12.5 | 30.2 |" in text
    assert "| Search | `/search/?q=x` | 200 | 8 | 6 |" in text
    assert "- **Database:** sqlite 3.46" in text
    assert "- **Database:** postgresql 15.8" in text

    runner.write_docs(findings)
    assert docs.read_text() == text, "a new run replaces its own figures only"
