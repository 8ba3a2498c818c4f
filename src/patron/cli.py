"""The `patron` command: Django's management commands plus Patron's own, with shortcuts.

patron serve      run the production server (gunicorn) on 127.0.0.1:8000
patron demo       seed the demo store (if empty)
patron worker     run background task workers
patron <any Django management command>
"""

from __future__ import annotations

import os
import sys

ALIASES = {"worker": "db_worker", "scheduler": "crontask"}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "patron.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ALIASES:
        args[0] = ALIASES[args[0]]
    from django.core.management import execute_from_command_line

    execute_from_command_line(["patron", *args])


if __name__ == "__main__":
    main()
