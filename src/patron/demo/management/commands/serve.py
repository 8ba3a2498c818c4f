from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.wsgi import get_wsgi_application
from django.db import connections
from gunicorn.app.base import BaseApplication


def default_workers() -> int:
    """Gunicorn's rule of thumb (2 x cores + 1), capped so that a big machine does not exhaust the database."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(2 * cores + 1, 12)


class PatronServer(BaseApplication):
    """Gunicorn serving Patron's WSGI application with synchronous workers."""

    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return get_wsgi_application()


class Command(BaseCommand):
    help = "Run Patron with the production server (gunicorn, sync workers; WhiteNoise serves static files)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=default_workers())
        parser.add_argument("--timeout", type=int, default=30, help="seconds before a stuck worker is restarted")
        parser.add_argument("--access-log", action="store_true", help="log every request to stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        # Workers are forked from this process: none of them may inherit its database connections.
        connections.close_all()
        # WhiteNoise warns on every worker start while `collectstatic` has not run yet.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        host = options["host"]
        bind = f"[{host}]:{options['port']}" if ":" in host else f"{host}:{options['port']}"
        self.stdout.write(f"Patron on http://{bind}/ with {options['workers']} workers (Ctrl+C to stop)")
        PatronServer(
            {
                "bind": bind,
                "workers": options["workers"],
                "worker_class": "sync",
                "timeout": options["timeout"],
                "graceful_timeout": 10,
                "accesslog": "-" if options["access_log"] else None,
                "errorlog": "-",
                "loglevel": "info",
                "proc_name": "patron",
                # The control socket would be shared by every server of this user (one path in $HOME).
                "control_socket_disable": True,
            }
        ).run()
