"""`patron serve` over real HTTP: gunicorn serves pages, WhiteNoise the static files, Patron the local media."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from patron.bench import wrk
from tests.servers import free_port

STARTUP_TIMEOUT = 60


def patron_env(var_dir: Path) -> dict[str, str]:
    """A throwaway SQLite store under var_dir, whatever database or bucket the test run itself uses."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME", "MEDIA_ROOT", "SERVE_MEDIA"}
    }
    env |= {"PATRON_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "patron.settings"}
    return env


def patron(var_dir: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "patron.cli", *args],
        env=patron_env(var_dir),
        check=True,
        capture_output=True,
        timeout=300,
    )


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    ready: threading.Event = field(default_factory=threading.Event)
    log: list[str] = field(default_factory=list)

    def follow_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            if "Listening at:" in line:
                self.ready.set()
        self.ready.set()  # the server died: stop waiting, the test reports its log

    def get(self, path: str) -> tuple[int, str, bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var_dir = tmp_path_factory.mktemp("served-store")
    patron(var_dir, "migrate", "--noinput")
    patron(var_dir, "demo", "--products", "8", "--seed", "1")
    return var_dir


@pytest.fixture
def server(store: Path) -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "patron.cli", "serve", "--port", str(port), "--workers", "2"],
        env=patron_env(store),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    running = Server(process, port)
    threading.Thread(target=running.follow_log, daemon=True).start()
    try:
        assert running.ready.wait(STARTUP_TIMEOUT), "the server did not start"
        assert process.poll() is None, "".join(running.log)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_serves_pages_static_files_and_product_pictures(server: Server, store: Path) -> None:
    status, content_type, body = server.get("/")
    assert status == 200, "".join(server.log)
    assert content_type.startswith("text/html")
    assert b"</html>" in body

    status, content_type, body = server.get("/static/storefront/patron.css")
    assert status == 200
    assert content_type.startswith("text/css")
    assert body == (Path(__file__).parents[2] / "src/patron/storefront/static/storefront/patron.css").read_bytes()

    media = store / "media"
    pictures = sorted(media.rglob("*.jpg"))
    assert len(pictures) == 8
    status, content_type, body = server.get("/media/" + pictures[0].relative_to(media).as_posix())
    assert status == 200
    assert content_type == "image/jpeg"
    assert body == pictures[0].read_bytes()


def test_bench_page_is_not_mounted_outside_the_bench(server: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.get("/bench/bare/")
    assert refused.value.code == 404


@pytest.mark.skipif(shutil.which("wrk") is None, reason="the wrk load generator is not installed")
def test_bench_load_generator_counts_requests_and_failed_answers(server: Server, tmp_path: Path) -> None:
    result = wrk.run(
        f"http://127.0.0.1:{server.port}", ["/", "/p/no-such-product/"], workdir=tmp_path, connections=4, seconds=1
    )

    assert result.requests > 4
    # Every other request asks for a missing product: about half the answers are 404s.
    assert 0.3 < result.non2xx / result.requests < 0.7
    assert result.socket_errors == 0
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms


def test_stops_cleanly_on_sigterm(server: Server) -> None:
    assert server.get("/")[0] == 200  # the workers are up and serving
    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=30) == 0
    assert any("Booting worker" in line for line in server.log)
